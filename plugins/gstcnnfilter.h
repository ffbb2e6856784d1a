/* gstcnnfilter.h - GstCnnFilter, the abstract base of the cnn elements.
 *
 * It owns what every element has: the model (loaded once per file and
 * shared between elements), a run session (`backend`, `precision`), the
 * labels, the pre-processing (colour order, mean, std or scale, layout,
 * letterbox; `preprocess`: on the GPU or in our CPU code), `interval`, batching (`batch-size`, `batch-timeout`: frames
 * wait for their batch, then one run infers them all and `process` runs per
 * frame, reading its item; `model-instance-id`: elements filling one batch
 * together), what happens to late frames (`qos-policy`), the
 * latency it reports in live pipelines (`latency`) and its counters
 * (`stats`, and a "cnn-stats" message at EOS).
 *
 * Settings come first from properties, else from a model description file
 * next to the model, MODEL.json for MODEL.onnx:
 *
 *   {
 *     "task": "classify",                     (classify, detect, segment, style)
 *     "labels": "labels.txt",                 (a file next to the JSON, or a list)
 *     "preprocess": { "color_order": "rgb", "mean": [123.7, 116.3, 103.5],
 *                     "std": [58.4, 57.1, 57.4], "layout": "nchw",
 *                     "keep_aspect": false, "pad_value": 114 },
 *     "decoder": { ... }                      (read by the element, see each one)
 *   }
 *
 * "scale": s is the same as "std": 1/s.  Pixels are 0..255 before
 * normalization.  Without either source the defaults are RGB, mean 0, std 1,
 * the layout guessed from the input shape and no letterbox.
 */
#ifndef GST_CNN_FILTER_H
#define GST_CNN_FILTER_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>
#include <json-glib/json-glib.h>
#include "cnn.h"
#include "gstcnnutil.h"

G_BEGIN_DECLS

#define GST_TYPE_CNN_FILTER (gst_cnn_filter_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstCnnFilter, gst_cnn_filter, GST, CNN_FILTER, GstVideoFilter)

struct _GstCnnFilterClass {
  GstVideoFilterClass parent_class;

  /* Checks that the model fits the element (outputs, task) once it is
   * loaded; a FALSE with @error set stops the pipeline with that message. */
  gboolean (*setup) (GstCnnFilter * self, GError ** error);
  /* Runs on frames that are inferred (see `interval`); uses
   * gst_cnn_filter_infer() and attaches results. */
  GstFlowReturn (*process) (GstCnnFilter * self, GstVideoFrame * frame);
  /* Runs on the frames in between: re-attaches the last results. */
  GstFlowReturn (*reuse) (GstCnnFilter * self, GstVideoFrame * frame);
  /* Frees results kept for reuse (on stop). */
  void (*reset) (GstCnnFilter * self);
  /* Whether process and reuse write the frame's pixels (an overlay, a
   * styled picture); NULL: never.  Frames are mapped for reading only
   * otherwise, which spares a copy of each frame a decoder still holds. */
  gboolean (*writes_frame) (GstCnnFilter * self);
};

/* Preprocesses @rect of @frame (NULL: whole frame) and runs the model.
 * Outputs are then read with gst_cnn_filter_get_output(); float outputs
 * holding NaN or Inf fail with GST_CNN_ERROR_NONFINITE. */
gboolean gst_cnn_filter_infer (GstCnnFilter * self, const GstVideoFrame * frame,
    const GstCnnRect * rect, GstCnnLetterbox * lb, GError ** error);
/* For setup: output @index (below 64) is left out of gst_cnn_filter_infer()'s
 * check for NaN and Inf, as the subclass checks it itself, in the same pass
 * as its own reading of it (cnnsegment's argmax); it reports what it finds
 * with gst_cnn_filter_nonfinite_error(). */
void gst_cnn_filter_skip_check (GstCnnFilter * self, gint index);
/* The error gst_cnn_filter_infer() gives for value @bad of output @index:
 * GST_CNN_ERROR_NONFINITE, naming the output, the value and its place. */
void gst_cnn_filter_nonfinite_error (GstCnnFilter * self, gint index, gint64 bad, GError ** error);
/* Output @index of the last inference; with batch-size > 1, the current
 * frame's item of the batch (first dimension 1). */
const cnn_tensor *gst_cnn_filter_get_output (GstCnnFilter * self, gint index);
/* The detector's outputs of the current frame (gst_cnn_filter_get_output())
 * to boxes: decoded with @o, then @nms (cnn-detect.h), into @boxes
 * (cnn_box, emptied first).  @on_backend: cnn_session_detect(), on the GPU
 * for a CUDA session (a batch shared with other elements, whose session
 * may have run again since, is decoded from this element's copy instead). */
gboolean gst_cnn_filter_detect (GstCnnFilter * self, const cnn_decoder_options * o,
    const cnn_nms_options * nms, gboolean on_backend, GArray * boxes, GError ** error);
/* For setup: FALSE when this element infers regions of frames (one run per
 * region), which batch-size cannot gather; it then runs unbatched. */
void gst_cnn_filter_set_batchable (GstCnnFilter * self, gboolean batchable);
gint gst_cnn_filter_get_n_outputs (GstCnnFilter * self);
cnn_model *gst_cnn_filter_get_model (GstCnnFilter * self);
const GstCnnPreprocess *gst_cnn_filter_get_preprocess (GstCnnFilter * self);
/* A GstCnnParallelFor over the session's CPU threads, which are idle
 * between runs, for the subclasses' pixel work; @pool is the element. */
void gst_cnn_filter_parallel_for (gpointer pool, gint n, void (*func) (gint i, gint thread, gpointer data),
    gpointer data);

/* Labels (from the `labels` property or the description), or NULL. */
const gchar *gst_cnn_filter_get_label (GstCnnFilter * self, gint index);
gint gst_cnn_filter_get_n_labels (GstCnnFilter * self);
/* Checks the label count against the model's class count. */
gboolean gst_cnn_filter_check_labels (GstCnnFilter * self, gint n_classes, GError ** error);

/* Typed reads of member @name of a description object (@o may be NULL):
 * TRUE when absent (@out unchanged) or of the right type and range, else
 * FALSE with an error naming the member. */
gboolean gst_cnn_json_string (JsonObject * o, const gchar * name, const gchar ** out, GError ** error);
gboolean gst_cnn_json_double (JsonObject * o, const gchar * name, gdouble * out, GError ** error);
gboolean gst_cnn_json_int (JsonObject * o, const gchar * name, gint64 min, gint64 max, gint64 * out,
    GError ** error);
gboolean gst_cnn_json_bool (JsonObject * o, const gchar * name, gboolean * out, GError ** error);
/* A list of at most @max numbers into @out: its length, or -1 with @error. */
gint gst_cnn_json_numbers (JsonNode * n, const gchar * name, gdouble * out, guint max, GError ** error);

/* The "decoder" object of the description file, or NULL. */
JsonObject *gst_cnn_filter_get_decoder_options (GstCnnFilter * self);
/* The "task" of the description file, or NULL. */
const gchar *gst_cnn_filter_get_task (GstCnnFilter * self);

/* Adds sink and src templates with GST_CNN_VIDEO_FORMATS (for class_init). */
void gst_cnn_filter_add_pad_templates (GstElementClass * ec);

#define GST_CNN_ERROR (gst_cnn_error_quark ())
GQuark gst_cnn_error_quark (void);

typedef enum {
  GST_CNN_ERROR_FAILED,
  GST_CNN_ERROR_NONFINITE,      /* the model's outputs hold NaN or Inf */
} GstCnnErrorCode;

/* After gst_cnn_filter_infer() (or a decoder) failed with @error (taken):
 * outputs with NaN or Inf skip this frame's results with a warning on the
 * bus (the first time and every 100th); anything else stops the pipeline
 * with @what and the message.  Returns the flow to return. */
GstFlowReturn gst_cnn_filter_fail (GstCnnFilter * self, const gchar * what, GError * error);

G_END_DECLS

#endif
