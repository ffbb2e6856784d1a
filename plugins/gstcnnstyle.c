/**
 * SECTION:element-cnnstyle
 * @title: cnnstyle
 *
 * Runs an image-to-image model (fast neural style) and writes its output,
 * scaled back to the frame's resolution, into the frame; `strength` blends
 * it with the original.  The output is read in the input's channel order;
 * its value range is `output-range` ("min,max"; auto: 0..1, -1..1 or 0..255
 * from the values).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! cnnstyle model=candy.onnx color-order=bgr \
 *     strength=0.8 ! videoconvert ! autovideosink
 * ]|
 */
#include "gstcnnstyle.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_style_debug);
#define GST_CAT_DEFAULT gst_cnn_style_debug

enum { PROP_0, PROP_STRENGTH, PROP_OUTPUT_RANGE };

typedef struct {
  gint x0, x1;
  gfloat wx;
} StyleCol;

struct _GstCnnStyle {
  GstCnnFilter parent;
  gdouble strength;
  gchar *output_range;
  gint ow, oh;
  gboolean out_nhwc;
  guint32 *last;                /* the last blended image (ARGB, frame size) */
  gint last_w, last_h;
  StyleCol *cols;               /* per frame column, for the scaling back */
  gint n_cols;
};

G_DEFINE_TYPE (GstCnnStyle, gst_cnn_style, GST_TYPE_CNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cnnstyle, "cnnstyle", GST_RANK_NONE, GST_TYPE_CNN_STYLE);

static gboolean
gst_cnn_style_setup (GstCnnFilter * filter, GError ** error)
{
  GstCnnStyle *self = GST_CNN_STYLE (filter);
  const gchar *task = gst_cnn_filter_get_task (filter);
  if (task && strcmp (task, "style") != 0) {
    g_set_error (error, GST_CNN_ERROR, 0, "the model description says task \"%s\", not style", task);
    return FALSE;
  }
  const cnn_tensor *o = gst_cnn_filter_get_output (filter, 0);
  if (o->ndim == 4 && o->dims[1] == 3 && o->dtype == CNN_DTYPE_FLOAT32) {
    self->out_nhwc = FALSE;
    self->oh = (gint) o->dims[2];
    self->ow = (gint) o->dims[3];
  } else if (o->ndim == 4 && o->dims[3] == 3 && o->dtype == CNN_DTYPE_FLOAT32) {
    self->out_nhwc = TRUE;
    self->oh = (gint) o->dims[1];
    self->ow = (gint) o->dims[2];
  } else {
    g_set_error (error, GST_CNN_ERROR, 0, "output 0 is not an image: style transfer needs a "
        "float [1,3,H,W] or [1,H,W,3] output");
    return FALSE;
  }
  if (self->output_range && strcmp (self->output_range, "auto") != 0) {
    gchar **p = g_strsplit (self->output_range, ",", -1);
    gboolean ok = g_strv_length (p) == 2 && g_ascii_strtod (p[0], NULL) < g_ascii_strtod (p[1], NULL);
    g_strfreev (p);
    if (!ok) {
      g_set_error (error, GST_CNN_ERROR, 0, "output-range must be \"min,max\" with min < max");
      return FALSE;
    }
  }
  return TRUE;
}

static void
output_range (GstCnnStyle * self, const float *v, gsize n, gfloat * lo, gfloat * hi)
{
  if (self->output_range && strcmp (self->output_range, "auto") != 0) {
    gchar **p = g_strsplit (self->output_range, ",", 2);
    *lo = p[0] ? (gfloat) g_ascii_strtod (p[0], NULL) : 0;
    *hi = p[0] && p[1] ? (gfloat) g_ascii_strtod (p[1], NULL) : 255;
    g_strfreev (p);
    return;
  }
  gfloat mn = INFINITY, mx = -INFINITY;
  for (gsize i = 0; i < n; i++) {
    mn = MIN (mn, v[i]);
    mx = MAX (mx, v[i]);
  }
  if (mx <= 1.5f && mn >= -1.5f) {
    *lo = mn < -0.1f ? -1.f : 0.f;
    *hi = 1.f;
  } else {
    *lo = 0.f;
    *hi = 255.f;
  }
}

static GstFlowReturn
blend_last (GstCnnStyle * self, GstVideoFrame * frame)
{
  if (self->last && self->last_w == GST_VIDEO_FRAME_WIDTH (frame) && self->last_h == GST_VIDEO_FRAME_HEIGHT (frame))
    gst_cnn_frame_blend_argb (frame, (const guint8 *) self->last, self->last_w * 4, gst_cnn_filter_parallel_for,
        self);
  return GST_FLOW_OK;
}

#define STYLE_BAND 16          /* frame rows per task */

typedef struct {
  GstCnnStyle *self;
  const GstCnnLetterbox *lb;
  const float *v;
  gsize plane;
  gfloat lo, k;
  gboolean bgr;
  gint fw, fh;
  guint a;                      /* strength as alpha */
} StyleJob;

/* Frame rows of one task: the output tensor scaled back (bilinear), as
 * premultiplied ARGB; a chunk of columns a channel at a time. */
static void
style_rows (gint task, gint thread, gpointer data)
{
  const StyleJob *j = data;
  GstCnnStyle *self = j->self;
  const gint ow = self->ow;
  guint a = j->a;
  guint8 rgb[3][256];
  for (gint y = task * STYLE_BAND; y < MIN ((task + 1) * STYLE_BAND, j->fh); y++) {
    gdouble ty = (y + 0.5 - j->lb->rect.y) * j->lb->scale_y + j->lb->off_y - 0.5;
    ty = CLAMP (ty, 0, self->oh - 1);
    gint y0 = (gint) ty, y1 = MIN (y0 + 1, self->oh - 1);
    gfloat wy = (gfloat) (ty - y0);
    guint32 *out = self->last + (gsize) y * j->fw;
    for (gint xs = 0; xs < j->fw; xs += 256) {
      gint n = MIN (256, j->fw - xs);
      const StyleCol *cols = self->cols + xs;
      for (gint ch = 0; ch < 3; ch++) {
        /* NCHW: the channel's two rows; NHWC: pixels of 3 */
        gsize step = self->out_nhwc ? 3 : 1;
        const float *r0 = j->v + (self->out_nhwc ? (gsize) y0 * ow * 3 + ch : ch * j->plane + (gsize) y0 * ow);
        const float *r1 = j->v + (self->out_nhwc ? (gsize) y1 * ow * 3 + ch : ch * j->plane + (gsize) y1 * ow);
        guint8 *dst = rgb[j->bgr ? 2 - ch : ch];
        for (gint i = 0; i < n; i++) {
          gsize x0 = cols[i].x0 * step, x1 = cols[i].x1 * step;
          gfloat wx = cols[i].wx;
          gfloat top = r0[x0] + wx * (r0[x1] - r0[x0]), bot = r1[x0] + wx * (r1[x1] - r1[x0]);
          gfloat val = ((top + wy * (bot - top)) - j->lo) * j->k;
          val += 0.5f;
          val = val > 0.f ? val : 0.f;  /* selects, not CLAMP: no branches */
          val = val < 255.f ? val : 255.f;
          dst[i] = (guint8) val;
        }
      }
      if (a == 255)
        for (gint i = 0; i < n; i++)
          out[xs + i] = 0xff000000u | ((guint32) rgb[0][i] << 16) | ((guint32) rgb[1][i] << 8) | rgb[2][i];
      else
        for (gint i = 0; i < n; i++)
          out[xs + i] = (a << 24) | ((rgb[0][i] * a / 255) << 16) | ((rgb[1][i] * a / 255) << 8) |
              (rgb[2][i] * a / 255);
    }
  }
}

static GstFlowReturn
gst_cnn_style_process (GstCnnFilter * filter, GstVideoFrame * frame)
{
  GstCnnStyle *self = GST_CNN_STYLE (filter);
  GError *error = NULL;
  GstCnnLetterbox lb;
  if (!gst_cnn_filter_infer (filter, frame, NULL, &lb, &error))
    return gst_cnn_filter_fail (filter, "Style transfer failed", error);
  const cnn_tensor *o = gst_cnn_filter_get_output (filter, 0);
  const float *v = o->data;
  gsize plane = (gsize) self->ow * self->oh;
  gfloat lo, hi;
  output_range (self, v, plane * 3, &lo, &hi);
  gfloat k = 255.f / (hi - lo);
  gboolean bgr = gst_cnn_filter_get_preprocess (filter)->bgr;
  gint fw = GST_VIDEO_FRAME_WIDTH (frame), fh = GST_VIDEO_FRAME_HEIGHT (frame);
  if (self->last_w != fw || self->last_h != fh) {
    g_free (self->last);
    self->last = g_new (guint32, (gsize) fw * fh);
    self->last_w = fw;
    self->last_h = fh;
  }
  /* per frame column: the tensor columns blended, and the weight */
  if (self->n_cols != fw) {
    g_free (self->cols);
    self->cols = g_new (StyleCol, fw);
    self->n_cols = fw;
  }
  for (gint x = 0; x < fw; x++) {
    gdouble tx = (x + 0.5 - lb.rect.x) * lb.scale_x + lb.off_x - 0.5;
    tx = CLAMP (tx, 0, self->ow - 1);
    StyleCol *c = &self->cols[x];
    c->x0 = (gint) tx;
    c->x1 = MIN (c->x0 + 1, self->ow - 1);
    c->wx = (gfloat) (tx - c->x0);
  }
  StyleJob j = { self, &lb, v, plane, lo, k, bgr, fw, fh, (guint) (CLAMP (self->strength, 0, 1) * 255 + 0.5) };
  gst_cnn_filter_parallel_for (self, (fh + STYLE_BAND - 1) / STYLE_BAND, style_rows, &j);
  return blend_last (self, frame);
}

static GstFlowReturn
gst_cnn_style_reuse (GstCnnFilter * filter, GstVideoFrame * frame)
{
  return blend_last (GST_CNN_STYLE (filter), frame);
}

static void
gst_cnn_style_reset (GstCnnFilter * filter)
{
  GstCnnStyle *self = GST_CNN_STYLE (filter);
  g_clear_pointer (&self->last, g_free);
  self->last_w = self->last_h = 0;
  g_clear_pointer (&self->cols, g_free);
  self->n_cols = 0;
}

static void
gst_cnn_style_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnStyle *self = GST_CNN_STYLE (object);
  switch (prop_id) {
    case PROP_STRENGTH: self->strength = g_value_get_double (value); break;
    case PROP_OUTPUT_RANGE: g_free (self->output_range); self->output_range = g_value_dup_string (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_style_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnStyle *self = GST_CNN_STYLE (object);
  switch (prop_id) {
    case PROP_STRENGTH: g_value_set_double (value, self->strength); break;
    case PROP_OUTPUT_RANGE: g_value_set_string (value, self->output_range ? self->output_range : "auto"); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_style_finalize (GObject * object)
{
  GstCnnStyle *self = GST_CNN_STYLE (object);
  g_free (self->output_range);
  g_free (self->last);
  g_free (self->cols);
  G_OBJECT_CLASS (gst_cnn_style_parent_class)->finalize (object);
}

static void
gst_cnn_style_init (GstCnnStyle * self)
{
  self->strength = 1.0;
}

static gboolean
gst_cnn_style_writes_frame (GstCnnFilter * filter)
{
  return TRUE;
}

static void
gst_cnn_style_class_init (GstCnnStyleClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstCnnFilterClass *fc = GST_CNN_FILTER_CLASS (klass);
  oc->set_property = gst_cnn_style_set_property;
  oc->get_property = gst_cnn_style_get_property;
  oc->finalize = gst_cnn_style_finalize;
  g_object_class_install_property (oc, PROP_STRENGTH, g_param_spec_double ("strength", "Strength",
          "1: the stylized frame, 0: the original", 0, 1, 1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (oc, PROP_OUTPUT_RANGE, g_param_spec_string ("output-range",
          "Output range", "\"min,max\" of the model's output values, or auto", "auto",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  gst_element_class_set_static_metadata (ec, "CNN style transfer", "Filter/Effect/Video",
      "Replaces frames by a CNN's image output (fast neural style)", "cnn project");
  gst_cnn_filter_add_pad_templates (ec);
  fc->setup = gst_cnn_style_setup;
  fc->process = gst_cnn_style_process;
  fc->reuse = gst_cnn_style_reuse;
  fc->reset = gst_cnn_style_reset;
  fc->writes_frame = gst_cnn_style_writes_frame;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_style_debug, "cnnstyle", 0, "cnn style transfer");
}
