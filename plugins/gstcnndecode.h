/* gstcnndecode.h - detector output decoding and NMS, independent of
 * GStreamer buffers so they can be tested on their own.
 *
 * Boxes come out in the model's input pixel space (x1, y1, x2, y2); the
 * element maps them back to the frame. */
#ifndef GST_CNN_DECODE_H
#define GST_CNN_DECODE_H

#include <glib.h>
#include "cnn.h"

G_BEGIN_DECLS

typedef enum {
  GST_CNN_DECODER_AUTO,
  GST_CNN_DECODER_YOLOV2,       /* [1, A*(5+C), H, W], anchors in grid cells, softmax classes */
  GST_CNN_DECODER_YOLOV3,       /* one or more [1, A*(5+C), H, W], anchors in pixels, sigmoid */
  GST_CNN_DECODER_YOLOV5,       /* [1, N, 5+C] rows cx, cy, w, h, obj, classes (pixels) */
  GST_CNN_DECODER_YOLOX,        /* [1, N, 5+C] raw: grid decode with strides 8, 16, 32 */
  GST_CNN_DECODER_YOLOV8,       /* [1, 4+C, N] columns cx, cy, w, h, classes */
  GST_CNN_DECODER_SSD,          /* scores [1, N, C] + boxes [1, N, 4] x1,y1,x2,y2 normalized */
  GST_CNN_DECODER_SSD_PRIORS,   /* the same, boxes as offsets from generated priors */
} GstCnnDecoderType;

typedef struct {
  GstCnnDecoderType type;
  gint input_width, input_height;
  gfloat threshold;
  gint background_class;        /* SSD: score column to ignore, -1 none */
  gfloat anchors[3][18];        /* per output: (w, h) pairs */
  gint n_anchors[3];            /* pairs per output */
  gint n_anchor_sets;
  /* SSD priors (UltraFace style) */
  gfloat min_sizes[4][3];
  gint n_min_sizes[4];
  gint steps[4];
  gint n_steps;
  gfloat center_variance, size_variance;
} GstCnnDecoderOptions;

typedef struct {
  gfloat x1, y1, x2, y2;
  gfloat confidence;
  gint class_id;
} GstCnnBox;

/* Fills defaults: tiny-YOLOv2 VOC anchors, YOLOv3 COCO anchors, UltraFace
 * priors, threshold 0.5, background class 0 for SSD (its first score
 * column), none for YOLO. */
void gst_cnn_decoder_options_init (GstCnnDecoderOptions * o, GstCnnDecoderType type);

/* Guesses the decoder from output shapes; AUTO if nothing fits. */
GstCnnDecoderType gst_cnn_decoder_guess (const cnn_tensor * const *outputs, gint n_outputs);

/* Number of classes the outputs hold for this decoder, or -1 with @error set. */
gint gst_cnn_decoder_n_classes (const GstCnnDecoderOptions * o, const cnn_tensor * const *outputs,
    gint n_outputs, GError ** error);

/* Tests: FALSE makes gst_cnn_decode() go through every row with the plain
 * loops, which its vectorized scans (AVX-512, where the CPU has it and
 * CNN_NO_AVX512 is unset) are checked against; TRUE goes back. */
void gst_cnn_decode_set_vector (gboolean on);

/* Appends the boxes above the threshold to @boxes (GstCnnBox).  The
 * outputs must be finite (the elements check them before). */
gboolean gst_cnn_decode (const GstCnnDecoderOptions * o, const cnn_tensor * const *outputs,
    gint n_outputs, GArray * boxes, GError ** error);

/* Greedy NMS by confidence, per class unless @agnostic; keeps at most
 * @max_boxes (0: all). */
void gst_cnn_nms (GArray * boxes, gfloat iou_threshold, gboolean agnostic, guint max_boxes);

gfloat gst_cnn_box_iou (const GstCnnBox * a, const GstCnnBox * b);

const gchar *gst_cnn_decoder_type_name (GstCnnDecoderType type);
GstCnnDecoderType gst_cnn_decoder_type_from_name (const gchar * name);

G_END_DECLS

#endif
