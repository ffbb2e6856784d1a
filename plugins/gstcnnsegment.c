/**
 * SECTION:element-cnnsegment
 * @title: cnnsegment
 *
 * Runs a segmentation model (U-Net, DeepLab: scores [1,C,H,W] or
 * [1,H,W,C], or a class map [1,H,W]) and attaches the per-pixel argmax as a
 * GstCnnSegmentationMeta.  With overlay=true it also blends a colour per
 * class onto the frame (`alpha`), leaving `background-class` unpainted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! cnnsegment model=deeplabv3_257.onnx layout=nhwc \
 *     mean=127.5 std=127.5 overlay=true alpha=0.5 ! videoconvert ! autovideosink
 * ]|
 */
#include "gstcnnsegment.h"
#include "gstcnnmeta.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_segment_debug);
#define GST_CAT_DEFAULT gst_cnn_segment_debug

enum { PROP_0, PROP_OVERLAY, PROP_ALPHA, PROP_BACKGROUND, PROP_OUTPUT_LAYOUT };
typedef enum { OUT_AUTO, OUT_NCHW, OUT_NHWC } OutLayout;

struct _GstCnnSegment {
  GstCnnFilter parent;
  gboolean overlay;
  gdouble alpha;
  gint background;
  OutLayout out_layout;
  /* geometry of the output */
  gboolean nhwc, class_map;
  gint mw, mh, n_classes;
  /* last result */
  guint8 *mask;
  GstCnnRect rect;
  gchar **labels;
  guint32 *argb;                /* the overlay, frame size, kept between frames */
  gsize argb_size;
};

G_DEFINE_TYPE (GstCnnSegment, gst_cnn_segment, GST_TYPE_CNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cnnsegment, "cnnsegment", GST_RANK_NONE, GST_TYPE_CNN_SEGMENT);

static gboolean
gst_cnn_segment_setup (GstCnnFilter * filter, GError ** error)
{
  GstCnnSegment *self = GST_CNN_SEGMENT (filter);
  const gchar *task = gst_cnn_filter_get_task (filter);
  if (task && strcmp (task, "segment") != 0) {
    g_set_error (error, GST_CNN_ERROR, 0, "the model description says task \"%s\", not segment", task);
    return FALSE;
  }
  const cnn_tensor *o = gst_cnn_filter_get_output (filter, 0);
  const GstCnnPreprocess *pre = gst_cnn_filter_get_preprocess (filter);
  self->class_map = FALSE;
  if (o->ndim == 3 || (o->ndim == 4 && o->dims[1] == 1 && o->dtype != CNN_DTYPE_FLOAT32)) {
    self->class_map = TRUE;
    self->mh = (gint) o->dims[o->ndim - 2];
    self->mw = (gint) o->dims[o->ndim - 1];
    self->n_classes = 256;
  } else if (o->ndim == 4 && o->dtype == CNN_DTYPE_FLOAT32) {
    OutLayout l = self->out_layout;
    if (l == OUT_AUTO) {
      /* the spatial dims are the ones closest to the input's size */
      gint64 d1 = o->dims[1], d3 = o->dims[3];
      l = (d3 == pre->width || (d1 < d3 && d1 != pre->height)) ? OUT_NCHW : OUT_NHWC;
    }
    self->nhwc = l == OUT_NHWC;
    self->n_classes = (gint) (self->nhwc ? o->dims[3] : o->dims[1]);
    self->mh = (gint) (self->nhwc ? o->dims[1] : o->dims[2]);
    self->mw = (gint) (self->nhwc ? o->dims[2] : o->dims[3]);
  } else {
    g_set_error (error, GST_CNN_ERROR, 0, "output 0 (%d dims, %s) is neither class scores "
        "[1,C,H,W] / [1,H,W,C] nor a class map [1,H,W]", o->ndim, cnn_dtype_name (o->dtype));
    return FALSE;
  }
  if (self->mw < 8 || self->mh < 8) {
    g_set_error (error, GST_CNN_ERROR, 0, "output 0 gives a %dx%d mask: too small for a "
        "segmentation (is this a classifier?)", self->mw, self->mh);
    return FALSE;
  }
  if (self->n_classes < 1 || (!self->class_map && self->n_classes > 254)) {
    g_set_error (error, GST_CNN_ERROR, 0, "output 0 has %d classes; 1 to 254 are supported",
        self->n_classes);
    return FALSE;
  }
  if (!self->class_map && !gst_cnn_filter_check_labels (filter, self->n_classes, error))
    return FALSE;
  if (!self->class_map)
    gst_cnn_filter_skip_check (filter, 0);      /* argmax() checks the scores */
  g_strfreev (self->labels);
  self->labels = NULL;
  gint nl = gst_cnn_filter_get_n_labels (filter);
  if (nl) {
    self->labels = g_new0 (gchar *, nl + 1);
    for (gint i = 0; i < nl; i++)
      self->labels[i] = g_strdup (gst_cnn_filter_get_label (filter, i));
  }
  g_free (self->mask);
  self->mask = g_new0 (guint8, (gsize) self->mw * self->mh);
  GST_INFO_OBJECT (self, "%d classes, mask %dx%d (%s)", self->n_classes, self->mw, self->mh,
      self->class_map ? "class map" : self->nhwc ? "NHWC scores" : "NCHW scores");
  return TRUE;
}

/* The mask from output @o; FALSE (@error set) where its scores hold NaN
 * or Inf. */
static gboolean
argmax (GstCnnSegment * self, const cnn_tensor * o, GError ** error)
{
  gsize plane = (gsize) self->mw * self->mh;
  if (self->class_map) {
    for (gsize i = 0; i < plane; i++) {
      gint64 c = cnn_tensor_numel (o) == (gint64) plane ?
          (o->dtype == CNN_DTYPE_FLOAT32 ? (gint64) ((const float *) o->data)[i] :
          o->dtype == CNN_DTYPE_INT64 ? ((const gint64 *) o->data)[i] :
          o->dtype == CNN_DTYPE_INT32 ? ((const gint32 *) o->data)[i] : ((const guint8 *) o->data)[i]) : 255;
      self->mask[i] = (guint8) CLAMP (c, 0, 255);
    }
    return TRUE;
  }
  /* the scores' check for NaN and Inf is done here (setup took it from
   * gst_cnn_filter_infer()), in the same pass */
  gint64 bad = gst_cnn_argmax (o->data, self->n_classes, plane, self->nhwc, self->mask,
      gst_cnn_filter_parallel_for, self);
  if (bad >= 0) {
    gst_cnn_filter_nonfinite_error (GST_CNN_FILTER (self), 0, bad, error);
    return FALSE;
  }
  return TRUE;
}

static void
blend (GstCnnSegment * self, GstVideoFrame * frame)
{
  gint fw = GST_VIDEO_FRAME_WIDTH (frame), fh = GST_VIDEO_FRAME_HEIGHT (frame);
  gint stride = fw * 4;
  gsize n = (gsize) fw * fh;
  if (self->argb_size != n) {
    g_free (self->argb);
    self->argb = g_new (guint32, n);
    self->argb_size = n;
  }
  guint32 *argb = self->argb;
  guint a = (guint) (CLAMP (self->alpha, 0, 1) * 255 + 0.5);
  guint32 lut[256];
  for (gint c = 0; c < 256; c++) {
    guint8 rgb[3];
    gst_cnn_class_color (c, rgb);
    /* premultiplied */
    lut[c] = (c == self->background || c == 255) ? 0 : (a << 24) | ((rgb[0] * a / 255) << 16) |
        ((rgb[1] * a / 255) << 8) | (rgb[2] * a / 255);
  }
  GstCnnRect r = self->rect;
  gint x0 = MAX (r.x, 0), x1 = MIN (r.x + r.w, fw);
  if (x0 > 0 || x1 < fw || r.y > 0 || r.y + r.h < fh)
    memset (argb, 0, n * sizeof (guint32));     /* outside the region: nothing drawn */
  /* the mask column of each frame column, once (not a division a pixel) */
  gint *mxs = g_new (gint, MAX (x1 - x0, 1));
  for (gint x = x0; x < x1; x++) {
    gint mx = (gint) (((gint64) (x - r.x) * self->mw) / MAX (r.w, 1));
    mxs[x - x0] = CLAMP (mx, 0, self->mw - 1);
  }
  for (gint y = MAX (r.y, 0); y < MIN (r.y + r.h, fh); y++) {
    gint my = (gint) (((gint64) (y - r.y) * self->mh) / MAX (r.h, 1));
    my = CLAMP (my, 0, self->mh - 1);
    const guint8 *mrow = self->mask + (gsize) my * self->mw;
    guint32 *out = argb + (gsize) y * fw;
    for (gint x = x0; x < x1; x++)
      out[x] = lut[mrow[mxs[x - x0]]];
  }
  g_free (mxs);
  gst_cnn_frame_blend_argb (frame, (const guint8 *) argb, stride, gst_cnn_filter_parallel_for, self);
}

static GstFlowReturn
attach (GstCnnSegment * self, GstVideoFrame * frame)
{
  GstCnnSegmentationMeta *m = gst_buffer_add_cnn_segmentation_meta (frame->buffer, self->mw,
      self->mh, self->class_map ? 0 : self->n_classes, self->mask, self->rect.x, self->rect.y,
      self->rect.w, self->rect.h, self->labels);
  (void) m;
  /* as mapped: overlay may have changed since (it applies from the next frame) */
  if (frame->map[0].flags & GST_MAP_WRITE)
    blend (self, frame);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_cnn_segment_process (GstCnnFilter * filter, GstVideoFrame * frame)
{
  GstCnnSegment *self = GST_CNN_SEGMENT (filter);
  GError *error = NULL;
  GstCnnLetterbox lb;
  if (!gst_cnn_filter_infer (filter, frame, NULL, &lb, &error) ||
      !argmax (self, gst_cnn_filter_get_output (filter, 0), &error))
    return gst_cnn_filter_fail (filter, "Segmentation failed", error);
  /* the mask covers the tensor; its frame region undoes the letterbox */
  const GstCnnPreprocess *pre = gst_cnn_filter_get_preprocess (filter);
  gdouble x0, y0, x1, y1;
  gst_cnn_letterbox_to_frame (&lb, 0, 0, &x0, &y0);
  gst_cnn_letterbox_to_frame (&lb, pre->width, pre->height, &x1, &y1);
  self->rect.x = (gint) floor (x0);
  self->rect.y = (gint) floor (y0);
  self->rect.w = (gint) ceil (x1 - x0);
  self->rect.h = (gint) ceil (y1 - y0);
  return attach (self, frame);
}

static GstFlowReturn
gst_cnn_segment_reuse (GstCnnFilter * filter, GstVideoFrame * frame)
{
  return attach (GST_CNN_SEGMENT (filter), frame);
}

#define GST_TYPE_CNN_SEGMENT_LAYOUT (out_layout_get_type ())
static GType
out_layout_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { OUT_AUTO, "Guessed from the output and input shapes", "auto" },
    { OUT_NCHW, "Scores [1, C, H, W]", "nchw" },
    { OUT_NHWC, "Scores [1, H, W, C]", "nhwc" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnSegmentOutputLayout", values));
  return t;
}

static void
gst_cnn_segment_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnSegment *self = GST_CNN_SEGMENT (object);
  switch (prop_id) {
    case PROP_OVERLAY: self->overlay = g_value_get_boolean (value); break;
    case PROP_ALPHA: self->alpha = g_value_get_double (value); break;
    case PROP_BACKGROUND: self->background = g_value_get_int (value); break;
    case PROP_OUTPUT_LAYOUT: self->out_layout = g_value_get_enum (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_segment_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnSegment *self = GST_CNN_SEGMENT (object);
  switch (prop_id) {
    case PROP_OVERLAY: g_value_set_boolean (value, self->overlay); break;
    case PROP_ALPHA: g_value_set_double (value, self->alpha); break;
    case PROP_BACKGROUND: g_value_set_int (value, self->background); break;
    case PROP_OUTPUT_LAYOUT: g_value_set_enum (value, self->out_layout); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_segment_finalize (GObject * object)
{
  GstCnnSegment *self = GST_CNN_SEGMENT (object);
  g_free (self->mask);
  g_free (self->argb);
  g_strfreev (self->labels);
  G_OBJECT_CLASS (gst_cnn_segment_parent_class)->finalize (object);
}

static void
gst_cnn_segment_init (GstCnnSegment * self)
{
  self->alpha = 0.5;
  self->background = 0;
}

static gboolean
gst_cnn_segment_writes_frame (GstCnnFilter * filter)
{
  return GST_CNN_SEGMENT (filter)->overlay;
}

static void
gst_cnn_segment_class_init (GstCnnSegmentClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstCnnFilterClass *fc = GST_CNN_FILTER_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  oc->set_property = gst_cnn_segment_set_property;
  oc->get_property = gst_cnn_segment_get_property;
  oc->finalize = gst_cnn_segment_finalize;
  g_object_class_install_property (oc, PROP_OVERLAY, g_param_spec_boolean ("overlay", "Overlay",
          "Blend class colours onto the frame", FALSE, rw));
  g_object_class_install_property (oc, PROP_ALPHA, g_param_spec_double ("alpha", "Alpha",
          "Opacity of the blended colours", 0, 1, 0.5, rw));
  g_object_class_install_property (oc, PROP_BACKGROUND, g_param_spec_int ("background-class",
          "Background class", "Class left unpainted (-1: paint all)", -1, 255, 0, rw));
  g_object_class_install_property (oc, PROP_OUTPUT_LAYOUT, g_param_spec_enum ("output-layout",
          "Output layout", "Layout of the score output", GST_TYPE_CNN_SEGMENT_LAYOUT, OUT_AUTO,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  gst_element_class_set_static_metadata (ec, "CNN segmenter", "Filter/Analyzer/Video",
      "Per-pixel classes with a CNN (U-Net, DeepLab): a mask meta and an optional overlay", "cnn project");
  gst_cnn_filter_add_pad_templates (ec);
  fc->setup = gst_cnn_segment_setup;
  fc->writes_frame = gst_cnn_segment_writes_frame;
  fc->process = gst_cnn_segment_process;
  fc->reuse = gst_cnn_segment_reuse;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_segment_debug, "cnnsegment", 0, "cnn segmenter");
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_SEGMENT_LAYOUT, 0);
}
