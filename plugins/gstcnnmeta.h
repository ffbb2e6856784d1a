/* gstcnnmeta.h - result conventions of the cnn elements, and the
 * segmentation mask meta.
 *
 * Detections and classifications are standard GstVideoRegionOfInterestMeta,
 * so any element can read them:
 *  - a detection: roi_type = the label's quark, with a "detection" param
 *    structure: label (string), class-id (int), confidence (double);
 *  - a whole-frame classification: a ROI covering the frame, roi_type
 *    "frame", with one "classification" structure per top-k entry: label,
 *    class-id, confidence, rank (0 = best);
 *  - a classification of a detected object: "classification" structures
 *    added to that object's ROI meta.
 * A segmentation is a GstCnnSegmentationMeta.
 */
#ifndef GST_CNN_META_H
#define GST_CNN_META_H

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#define GST_CNN_ROI_FRAME "frame"

typedef struct {
  GstMeta meta;
  guint width, height;          /* mask size (the model's output size) */
  guint n_classes;
  guint8 *mask;                 /* class per pixel, row-major; 255 = none */
  /* the frame region the mask covers: mask pixel (x, y) shows frame pixel
   * (rect_x + x * rect_w / width, rect_y + y * rect_h / height) */
  gint rect_x, rect_y, rect_w, rect_h;
  gchar **labels;               /* class names, may be NULL */
} GstCnnSegmentationMeta;

GType gst_cnn_segmentation_meta_api_get_type (void);
const GstMetaInfo *gst_cnn_segmentation_meta_get_info (void);
#define GST_CNN_SEGMENTATION_META_API_TYPE (gst_cnn_segmentation_meta_api_get_type ())
#define gst_buffer_get_cnn_segmentation_meta(b) \
  ((GstCnnSegmentationMeta *) gst_buffer_get_meta ((b), GST_CNN_SEGMENTATION_META_API_TYPE))

/* Adds a mask meta; @mask is copied, @labels (may be NULL) too. */
GstCnnSegmentationMeta *gst_buffer_add_cnn_segmentation_meta (GstBuffer * buffer, guint width,
    guint height, guint n_classes, const guint8 * mask, gint rect_x, gint rect_y, gint rect_w,
    gint rect_h, gchar ** labels);

/* A fixed, well-separated color per class (RGB). */
void gst_cnn_class_color (guint class_id, guint8 rgb[3]);

G_END_DECLS

#endif
