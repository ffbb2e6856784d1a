/**
 * SECTION:element-cnndetect
 * @title: cnndetect
 *
 * Runs a detector and attaches one GstVideoRegionOfInterestMeta per object
 * (roi_type = label, a "detection" structure with label, class-id and
 * confidence), in frame coordinates (letterbox undone).  Decoders: YOLOv2 /
 * v3 anchor grids, YOLOv5 and YOLOX rows, YOLOv8 columns, SSD / UltraFace
 * boxes + scores (decoded, or offsets from priors); `decoder=auto` guesses
 * from the output shapes.  The description file's "decoder" object may set
 * "type", "threshold", "nms_iou", "anchors" (a list of [w,h,...] lists, one
 * per output), "background_class", "steps", "min_sizes" and "variances".
 * Decoding and NMS are cnncore's (cnn-detect.h): `postprocess=backend`
 * runs them where the model runs (CUDA kernels with `backend=cuda`).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=video.mp4 ! decodebin ! videoconvert ! \
 *     cnndetect model=yolov5s.onnx labels=coco.txt keep-aspect=true ! cnnoverlay ! \
 *     videoconvert ! x264enc ! mp4mux ! filesink location=annotated.mp4
 * ]|
 */
#include "gstcnndetect.h"
#include "cnn.h"
#include "gstcnnmeta.h"
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_detect_debug);
#define GST_CAT_DEFAULT gst_cnn_detect_debug

enum { PROP_0, PROP_DECODER, PROP_THRESHOLD, PROP_NMS_IOU, PROP_MAX_DETECTIONS, PROP_CLASSES,
  PROP_CLASS_AGNOSTIC, PROP_POSTPROCESS };

typedef enum { POST_CPU, POST_BACKEND } PostprocessOn;

struct _GstCnnDetect {
  GstCnnFilter parent;
  gchar *decoder;
  gdouble threshold, nms_iou;   /* < 0: not set */
  guint max_detections;
  gchar *classes;
  gboolean class_agnostic;
  PostprocessOn postprocess;
  cnn_decoder_options opts;
  gfloat iou;
  gint n_classes;
  guint8 *keep_class;
  GArray *last;                 /* cnn_box in frame coordinates */
};

G_DEFINE_TYPE (GstCnnDetect, gst_cnn_detect, GST_TYPE_CNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cnndetect, "cnndetect", GST_RANK_NONE, GST_TYPE_CNN_DETECT);

static void
outputs_of (GstCnnFilter * f, const cnn_tensor ** out, gint * n)
{
  *n = MIN (gst_cnn_filter_get_n_outputs (f), 4);
  for (gint i = 0; i < *n; i++)
    out[i] = gst_cnn_filter_get_output (f, i);
}

/* A list of lists of numbers: up to @max_lists lists of up to @max_each. */
static gint
json_lists (JsonObject * d, const gchar * name, gint max_lists, gint max_each, gfloat * out, gint stride,
    gint * lens, GError ** error)
{
  JsonNode *n = json_object_get_member (d, name);
  if (!JSON_NODE_HOLDS_ARRAY (n) || (gint) json_array_get_length (json_node_get_array (n)) > max_lists) {
    g_set_error (error, GST_CNN_ERROR, 0, "description file: \"%s\" must be a list of at most %d lists",
        name, max_lists);
    return -1;
  }
  JsonArray *a = json_node_get_array (n);
  gint count = (gint) json_array_get_length (a);
  for (gint s = 0; s < count; s++) {
    gdouble v[18];
    gint k = gst_cnn_json_numbers (json_array_get_element (a, s), name, v, (guint) max_each, error);
    if (k < 0)
      return -1;
    for (gint i = 0; i < k; i++)
      out[s * stride + i] = (gfloat) v[i];
    lens[s] = k;
  }
  return count;
}

static gboolean
read_options (GstCnnDetect * self, JsonObject * d, GError ** error)
{
  cnn_decoder_options *o = &self->opts;
  gint64 bg = o->background_class;
  gdouble v[4];
  if (!d)
    return TRUE;
  if (json_object_has_member (d, "anchors")) {
    gint lens[3];
    if ((o->n_anchor_sets = json_lists (d, "anchors", 3, 18, &o->anchors[0][0], 18, lens, error)) < 0)
      return FALSE;
    for (gint s = 0; s < o->n_anchor_sets; s++) {
      if (lens[s] % 2) {
        g_set_error (error, GST_CNN_ERROR, 0, "anchors must be (w, h) pairs");
        return FALSE;
      }
      o->n_anchors[s] = lens[s] / 2;
    }
  }
  if (!gst_cnn_json_int (d, "background_class", -1, 100000, &bg, error))
    return FALSE;
  o->background_class = (gint) bg;
  if (json_object_has_member (d, "steps")) {
    gint k = gst_cnn_json_numbers (json_object_get_member (d, "steps"), "steps", v, 4, error);
    if (k < 0)
      return FALSE;
    o->n_steps = k;
    for (gint i = 0; i < k; i++) {
      if (v[i] < 1 || v[i] > 4096) {
        g_set_error (error, GST_CNN_ERROR, 0, "description file: \"steps\" must be from 1 to 4096");
        return FALSE;
      }
      o->steps[i] = (gint) v[i];
    }
  }
  if (json_object_has_member (d, "min_sizes") &&
      json_lists (d, "min_sizes", 4, 3, &o->min_sizes[0][0], 3, o->n_min_sizes, error) < 0)
    return FALSE;
  if (json_object_has_member (d, "variances")) {
    gint k = gst_cnn_json_numbers (json_object_get_member (d, "variances"), "variances", v, 2, error);
    if (k < 0)
      return FALSE;
    if (k == 2) {
      o->center_variance = (gfloat) v[0];
      o->size_variance = (gfloat) v[1];
    }
  }
  return TRUE;
}

static gboolean
gst_cnn_detect_setup (GstCnnFilter * filter, GError ** error)
{
  GstCnnDetect *self = GST_CNN_DETECT (filter);
  const gchar *task = gst_cnn_filter_get_task (filter);
  if (task && strcmp (task, "detect") != 0) {
    g_set_error (error, GST_CNN_ERROR, 0, "the model description says task \"%s\", not detect", task);
    return FALSE;
  }
  JsonObject *d = gst_cnn_filter_get_decoder_options (filter);
  const gchar *name = "auto";
  gdouble threshold = 0.5, nms_iou = 0.45;
  if (!gst_cnn_json_string (d, "type", &name, error) || !gst_cnn_json_double (d, "threshold", &threshold, error) ||
      !gst_cnn_json_double (d, "nms_iou", &nms_iou, error))
    return FALSE;
  if (self->decoder && strcmp (self->decoder, "auto") != 0)
    name = self->decoder;
  cnn_decoder_type type = cnn_decoder_type_from_name (name);
  const cnn_tensor *out[4];
  gint n;
  outputs_of (filter, out, &n);
  if ((gint) type < 0) {
    g_set_error (error, GST_CNN_ERROR, 0, "unknown decoder '%s'", name);
    return FALSE;
  }
  if (type == CNN_DECODER_AUTO && (type = cnn_decoder_guess (out, n)) == CNN_DECODER_AUTO) {
    g_set_error (error, GST_CNN_ERROR, 0, "cannot tell the detector family from its %d output(s); "
        "set decoder= (yolov2, yolov3, yolov5, yolox, yolov8, ssd, ssd-priors)", n);
    return FALSE;
  }
  cnn_decoder_options_init (&self->opts, type);
  if (!read_options (self, d, error))
    return FALSE;
  const GstCnnPreprocess *pre = gst_cnn_filter_get_preprocess (filter);
  self->opts.input_width = pre->width;
  self->opts.input_height = pre->height;
  self->opts.threshold = (gfloat) (self->threshold >= 0 ? self->threshold : threshold);
  self->iou = (gfloat) (self->nms_iou >= 0 ? self->nms_iou : nms_iou);
  if ((self->n_classes = cnn_decoder_n_classes (&self->opts, out, n, error)) < 0)
    return FALSE;
  gint real = self->n_classes - (self->opts.background_class >= 0 ? 1 : 0);
  if (gst_cnn_filter_get_n_labels (filter) && gst_cnn_filter_get_n_labels (filter) != self->n_classes &&
      gst_cnn_filter_get_n_labels (filter) != real && !gst_cnn_filter_check_labels (filter, self->n_classes, error))
    return FALSE;
  g_free (self->keep_class);
  self->keep_class = NULL;
  if (self->classes && *self->classes) {
    self->keep_class = g_new0 (guint8, self->n_classes);
    gchar **names = g_strsplit (self->classes, ",", -1);
    for (gchar ** c = names; *c; c++) {
      g_strstrip (*c);
      gchar *end;
      gint64 id = g_ascii_strtoll (*c, &end, 10);
      gboolean found = FALSE;
      if (*end == '\0' && end != *c && id >= 0 && id < self->n_classes)
        found = self->keep_class[id] = TRUE;
      for (gint i = 0; i < self->n_classes && !found; i++)
        if (g_strcmp0 (gst_cnn_filter_get_label (filter, i), *c) == 0)
          found = self->keep_class[i] = TRUE;
      if (!found) {
        g_set_error (error, GST_CNN_ERROR, 0, "class '%s' of 'classes' is not a label or class id", *c);
        g_strfreev (names);
        return FALSE;
      }
    }
    g_strfreev (names);
  }
  GST_INFO_OBJECT (self, "decoder %s, %d classes, threshold %.2f, NMS IoU %.2f",
      cnn_decoder_type_name (type), self->n_classes, self->opts.threshold, self->iou);
  return TRUE;
}

static void
attach (GstCnnDetect * self, GstVideoFrame * frame)
{
  GstCnnFilter *filter = GST_CNN_FILTER (self);
  for (guint i = 0; i < self->last->len; i++) {
    cnn_box *b = &g_array_index (self->last, cnn_box, i);
    const gchar *label = gst_cnn_filter_get_label (filter, b->class_id);
    gchar *fallback = label ? NULL : g_strdup_printf ("class %d", b->class_id);
    GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta (frame->buffer,
        label ? label : fallback, (guint) b->x1, (guint) b->y1, (guint) (b->x2 - b->x1),
        (guint) (b->y2 - b->y1));
    roi->id = (gint) i;
    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("detection",
            "label", G_TYPE_STRING, label ? label : fallback, "class-id", G_TYPE_INT, b->class_id,
            "confidence", G_TYPE_DOUBLE, (gdouble) b->confidence, NULL));
    g_free (fallback);
  }
}

static GstFlowReturn
gst_cnn_detect_process (GstCnnFilter * filter, GstVideoFrame * frame)
{
  GstCnnDetect *self = GST_CNN_DETECT (filter);
  GError *error = NULL;
  GstCnnLetterbox lb;
  if (!gst_cnn_filter_infer (filter, frame, NULL, &lb, &error))
    goto error;
  cnn_nms_options nms = { self->iou, self->class_agnostic, self->max_detections, self->keep_class,
    self->n_classes };
  if (!gst_cnn_filter_detect (filter, &self->opts, &nms, self->postprocess == POST_BACKEND, self->last, &error))
    goto error;
  gint fw = GST_VIDEO_FRAME_WIDTH (frame), fh = GST_VIDEO_FRAME_HEIGHT (frame);
  for (guint i = 0; i < self->last->len; i++) {
    cnn_box *b = &g_array_index (self->last, cnn_box, i);
    gdouble x1, y1, x2, y2;
    gst_cnn_letterbox_to_frame (&lb, b->x1, b->y1, &x1, &y1);
    gst_cnn_letterbox_to_frame (&lb, b->x2, b->y2, &x2, &y2);
    b->x1 = (gfloat) CLAMP (x1, 0, fw);
    b->y1 = (gfloat) CLAMP (y1, 0, fh);
    b->x2 = (gfloat) CLAMP (x2, 0, fw);
    b->y2 = (gfloat) CLAMP (y2, 0, fh);
  }
  attach (self, frame);
  return GST_FLOW_OK;
error:
  return gst_cnn_filter_fail (filter, "Detection failed", error);
}

static GstFlowReturn
gst_cnn_detect_reuse (GstCnnFilter * filter, GstVideoFrame * frame)
{
  attach (GST_CNN_DETECT (filter), frame);
  return GST_FLOW_OK;
}

static void
gst_cnn_detect_reset (GstCnnFilter * filter)
{
  g_array_set_size (GST_CNN_DETECT (filter)->last, 0);
}

static void
gst_cnn_detect_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnDetect *self = GST_CNN_DETECT (object);
  switch (prop_id) {
    case PROP_DECODER: g_free (self->decoder); self->decoder = g_value_dup_string (value); break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_double (value);
      if (self->threshold >= 0)
        self->opts.threshold = (gfloat) self->threshold;
      break;
    case PROP_NMS_IOU:
      self->nms_iou = g_value_get_double (value);
      if (self->nms_iou >= 0)
        self->iou = (gfloat) self->nms_iou;
      break;
    case PROP_MAX_DETECTIONS: self->max_detections = g_value_get_uint (value); break;
    case PROP_CLASSES: g_free (self->classes); self->classes = g_value_dup_string (value); break;
    case PROP_CLASS_AGNOSTIC: self->class_agnostic = g_value_get_boolean (value); break;
    case PROP_POSTPROCESS: self->postprocess = g_value_get_enum (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_detect_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnDetect *self = GST_CNN_DETECT (object);
  switch (prop_id) {
    case PROP_DECODER: g_value_set_string (value, self->decoder ? self->decoder : "auto"); break;
    case PROP_THRESHOLD: g_value_set_double (value, self->threshold); break;
    case PROP_NMS_IOU: g_value_set_double (value, self->nms_iou); break;
    case PROP_MAX_DETECTIONS: g_value_set_uint (value, self->max_detections); break;
    case PROP_CLASSES: g_value_set_string (value, self->classes); break;
    case PROP_CLASS_AGNOSTIC: g_value_set_boolean (value, self->class_agnostic); break;
    case PROP_POSTPROCESS: g_value_set_enum (value, self->postprocess); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_detect_finalize (GObject * object)
{
  GstCnnDetect *self = GST_CNN_DETECT (object);
  g_free (self->decoder);
  g_free (self->classes);
  g_free (self->keep_class);
  g_array_unref (self->last);
  G_OBJECT_CLASS (gst_cnn_detect_parent_class)->finalize (object);
}

static void
gst_cnn_detect_init (GstCnnDetect * self)
{
  self->threshold = -1;
  self->nms_iou = -1;
  self->max_detections = 100;
  self->last = g_array_new (FALSE, FALSE, sizeof (cnn_box));
}

#define GST_TYPE_CNN_POSTPROCESS_ON (postprocess_on_get_type ())
static GType
postprocess_on_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { POST_CPU, "The element's decoding and NMS on the CPU, from the outputs copied back", "cpu" },
    { POST_BACKEND, "Where the model runs: CUDA kernels decode and suppress on the GPU; on the CPU "
          "backend the same as cpu", "backend" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnPostprocessOn", values));
  return t;
}

static void
gst_cnn_detect_class_init (GstCnnDetectClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstCnnFilterClass *fc = GST_CNN_FILTER_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  oc->set_property = gst_cnn_detect_set_property;
  oc->get_property = gst_cnn_detect_get_property;
  oc->finalize = gst_cnn_detect_finalize;
  g_object_class_install_property (oc, PROP_DECODER, g_param_spec_string ("decoder", "Decoder",
          "auto, yolov2, yolov3, yolov5, yolox, yolov8, ssd (ultraface), ssd-priors", "auto", rw));
  g_object_class_install_property (oc, PROP_THRESHOLD, g_param_spec_double ("threshold", "Threshold",
          "Minimum confidence (-1: the description's, else 0.5)", -1, 1, -1, rw));
  g_object_class_install_property (oc, PROP_NMS_IOU, g_param_spec_double ("nms-iou", "NMS IoU",
          "Overlap above which the weaker box is dropped (-1: the description's, else 0.45)", -1, 1, -1, rw));
  g_object_class_install_property (oc, PROP_MAX_DETECTIONS, g_param_spec_uint ("max-detections",
          "Max detections", "At most this many boxes per frame (0: no limit)", 0, G_MAXUINT, 100, rw));
  g_object_class_install_property (oc, PROP_CLASSES, g_param_spec_string ("classes", "Classes",
          "Keep only these classes: comma-separated labels or ids", NULL, rw));
  g_object_class_install_property (oc, PROP_CLASS_AGNOSTIC, g_param_spec_boolean ("class-agnostic",
          "Class agnostic", "NMS across classes", FALSE, rw));
  g_object_class_install_property (oc, PROP_POSTPROCESS, g_param_spec_enum ("postprocess", "Post-processing",
          "Where the outputs become boxes (decoding, NMS)", GST_TYPE_CNN_POSTPROCESS_ON, POST_CPU, rw));
  gst_element_class_set_static_metadata (ec, "CNN detector", "Filter/Analyzer/Video",
      "Detects objects with a CNN (YOLO, SSD, UltraFace) and attaches regions of interest", "cnn project");
  gst_cnn_filter_add_pad_templates (ec);
  fc->setup = gst_cnn_detect_setup;
  fc->process = gst_cnn_detect_process;
  fc->reuse = gst_cnn_detect_reuse;
  fc->reset = gst_cnn_detect_reset;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_detect_debug, "cnndetect", 0, "cnn detector");
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_POSTPROCESS_ON, 0);
}
