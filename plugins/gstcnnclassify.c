/**
 * SECTION:element-cnnclassify
 * @title: cnnclassify
 *
 * Classifies each frame (inference-region=full-frame) or each object found
 * by an upstream detector (inference-region=roi-list, optionally only those
 * of `roi-class`).  Results are "classification" structures on
 * GstVideoRegionOfInterestMeta (see gstcnnmeta.h): top-k labels with
 * confidences.  Scores are turned into probabilities with a softmax unless
 * they already are ones.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! cnnclassify model=squeezenet.onnx labels=labels.txt \
 *     color-order=bgr top-k=3 ! cnnoverlay ! videoconvert ! autovideosink
 * ]|
 */
#include "gstcnnclassify.h"
#include "gstcnnmeta.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_classify_debug);
#define GST_CAT_DEFAULT gst_cnn_classify_debug

typedef enum { REGION_FULL_FRAME, REGION_ROI_LIST } Region;

enum { PROP_0, PROP_TOP_K, PROP_THRESHOLD, PROP_REGION, PROP_ROI_CLASS };

typedef struct {
  gint class_id;
  gdouble confidence;
} Score;

struct _GstCnnClassify {
  GstCnnFilter parent;
  guint top_k;
  gdouble threshold;
  Region region;
  gchar *roi_class;
  gint n_classes;
  /* last results, for `interval`: one array of Score per region */
  GPtrArray *last;
};

G_DEFINE_TYPE (GstCnnClassify, gst_cnn_classify, GST_TYPE_CNN_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cnnclassify, "cnnclassify", GST_RANK_NONE, GST_TYPE_CNN_CLASSIFY);

static gboolean
gst_cnn_classify_setup (GstCnnFilter * filter, GError ** error)
{
  GstCnnClassify *self = GST_CNN_CLASSIFY (filter);
  const gchar *task = gst_cnn_filter_get_task (filter);
  if (task && strcmp (task, "classify") != 0) {
    g_set_error (error, GST_CNN_ERROR, 0, "the model description says task \"%s\", not classify", task);
    return FALSE;
  }
  /* regions are inferred one by one: no batches of frames */
  gst_cnn_filter_set_batchable (filter, self->region == REGION_FULL_FRAME);
  const cnn_tensor *o = gst_cnn_filter_get_output (filter, 0);
  int64_t n = cnn_tensor_numel (o);
  /* [1, C] or [1, C, 1, 1]: every dim but one is 1 */
  int big = 0;
  for (int i = 0; i < o->ndim; i++)
    big += o->dims[i] > 1;
  if (n < 2 || big != 1 || o->dtype != CNN_DTYPE_FLOAT32) {
    char shape[128] = "";
    for (int i = 0; i < o->ndim; i++)
      g_snprintf (shape + strlen (shape), sizeof shape - strlen (shape), "%s%" G_GINT64_FORMAT,
          i ? "," : "", o->dims[i]);
    g_set_error (error, GST_CNN_ERROR, 0, "output 0 has shape [%s]: a classifier gives one "
        "score per class ([1,C] or [1,C,1,1])", shape);
    return FALSE;
  }
  self->n_classes = (gint) n;
  return gst_cnn_filter_check_labels (filter, self->n_classes, error);
}

/* Top-k of the last output, as probabilities: the k largest kept in order
 * as the scores go by (ties in class order), softmax only for those. */
static GArray *
top_k (GstCnnClassify * self)
{
  const cnn_tensor *o = gst_cnn_filter_get_output (GST_CNN_FILTER (self), 0);
  const float *v = o->data;
  gint n = self->n_classes;
  gboolean probs = TRUE;
  gdouble sum = 0, mx = -INFINITY;
  for (gint i = 0; i < n; i++) {
    probs &= v[i] >= 0 && v[i] <= 1;
    sum += v[i];
    mx = MAX (mx, v[i]);
  }
  probs &= fabs (sum - 1.0) < 1e-2;
  gdouble z = 0;
  if (!probs)
    for (gint i = 0; i < n; i++)
      z += exp (v[i] - mx);
  guint k = MIN (self->top_k, (guint) n);
  GArray *top = g_array_sized_new (FALSE, FALSE, sizeof (Score), k);
  for (gint i = 0; i < n && k > 0; i++) {
    if (top->len == k && v[i] <= v[g_array_index (top, Score, k - 1).class_id])
      continue;
    guint at = MIN (top->len, k - 1);
    while (at > 0 && v[g_array_index (top, Score, at - 1).class_id] < v[i])
      at--;
    if (top->len == k)
      g_array_set_size (top, k - 1);
    Score s = { i, 0 };
    g_array_insert_val (top, at, s);
  }
  guint keep = 0;
  for (; keep < top->len; keep++) {
    Score *s = &g_array_index (top, Score, keep);
    s->confidence = probs ? v[s->class_id] : exp (v[s->class_id] - mx) / z;
    if (s->confidence < self->threshold)
      break;
  }
  g_array_set_size (top, keep);
  return top;
}

static void
attach (GstCnnClassify * self, GstVideoRegionOfInterestMeta * roi, GArray * scores)
{
  for (guint i = 0; i < scores->len; i++) {
    Score *s = &g_array_index (scores, Score, i);
    const gchar *label = gst_cnn_filter_get_label (GST_CNN_FILTER (self), s->class_id);
    gchar *fallback = label ? NULL : g_strdup_printf ("class %d", s->class_id);
    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("classification",
            "label", G_TYPE_STRING, label ? label : fallback, "class-id", G_TYPE_INT, s->class_id,
            "confidence", G_TYPE_DOUBLE, s->confidence, "rank", G_TYPE_INT, (gint) i, NULL));
    g_free (fallback);
  }
}

static gboolean
roi_selected (GstCnnClassify * self, GstVideoRegionOfInterestMeta * roi)
{
  const gchar *type = g_quark_to_string (roi->roi_type);
  if (g_strcmp0 (type, GST_CNN_ROI_FRAME) == 0)
    return FALSE;
  return !self->roi_class || !*self->roi_class || g_strcmp0 (type, self->roi_class) == 0;
}

static GstFlowReturn
apply (GstCnnClassify * self, GstVideoFrame * frame, gboolean infer)
{
  GstCnnFilter *filter = GST_CNN_FILTER (self);
  GError *error = NULL;
  GstCnnLetterbox lb;
  if (infer)
    g_ptr_array_set_size (self->last, 0);
  if (self->region == REGION_FULL_FRAME) {
    if (infer) {
      if (!gst_cnn_filter_infer (filter, frame, NULL, &lb, &error))
        goto error;
      g_ptr_array_add (self->last, top_k (self));
    }
    if (self->last->len) {
      GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta (frame->buffer,
          GST_CNN_ROI_FRAME, 0, 0, GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame));
      attach (self, roi, g_ptr_array_index (self->last, 0));
    }
    return GST_FLOW_OK;
  }
  gpointer state = NULL;
  GstMeta *meta;
  guint i = 0;
  while ((meta = gst_buffer_iterate_meta_filtered (frame->buffer, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    if (!roi_selected (self, roi) || roi->w == 0 || roi->h == 0)
      continue;
    if (infer) {
      GstCnnRect r = { (gint) roi->x, (gint) roi->y, (gint) roi->w, (gint) roi->h };
      if (!gst_cnn_filter_infer (filter, frame, &r, &lb, &error))
        goto error;
      g_ptr_array_add (self->last, top_k (self));
    }
    if (i < self->last->len)
      attach (self, roi, g_ptr_array_index (self->last, i));
    i++;
  }
  return GST_FLOW_OK;
error:
  return gst_cnn_filter_fail (filter, "Classification failed", error);
}

static GstFlowReturn
gst_cnn_classify_process (GstCnnFilter * filter, GstVideoFrame * frame)
{
  return apply (GST_CNN_CLASSIFY (filter), frame, TRUE);
}

static GstFlowReturn
gst_cnn_classify_reuse (GstCnnFilter * filter, GstVideoFrame * frame)
{
  return apply (GST_CNN_CLASSIFY (filter), frame, FALSE);
}

static void
gst_cnn_classify_reset (GstCnnFilter * filter)
{
  g_ptr_array_set_size (GST_CNN_CLASSIFY (filter)->last, 0);
}

#define GST_TYPE_CNN_CLASSIFY_REGION (region_get_type ())
static GType
region_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { REGION_FULL_FRAME, "Classify the whole frame", "full-frame" },
    { REGION_ROI_LIST, "Classify each region of interest (detected object)", "roi-list" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnClassifyRegion", values));
  return t;
}

static void
gst_cnn_classify_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnClassify *self = GST_CNN_CLASSIFY (object);
  switch (prop_id) {
    case PROP_TOP_K: self->top_k = g_value_get_uint (value); break;
    case PROP_THRESHOLD: self->threshold = g_value_get_double (value); break;
    case PROP_REGION: self->region = g_value_get_enum (value); break;
    case PROP_ROI_CLASS: g_free (self->roi_class); self->roi_class = g_value_dup_string (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_classify_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnClassify *self = GST_CNN_CLASSIFY (object);
  switch (prop_id) {
    case PROP_TOP_K: g_value_set_uint (value, self->top_k); break;
    case PROP_THRESHOLD: g_value_set_double (value, self->threshold); break;
    case PROP_REGION: g_value_set_enum (value, self->region); break;
    case PROP_ROI_CLASS: g_value_set_string (value, self->roi_class); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_classify_finalize (GObject * object)
{
  GstCnnClassify *self = GST_CNN_CLASSIFY (object);
  g_free (self->roi_class);
  g_ptr_array_unref (self->last);
  G_OBJECT_CLASS (gst_cnn_classify_parent_class)->finalize (object);
}

static void
gst_cnn_classify_init (GstCnnClassify * self)
{
  self->top_k = 1;
  self->last = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
}

static void
gst_cnn_classify_class_init (GstCnnClassifyClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstCnnFilterClass *fc = GST_CNN_FILTER_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  oc->set_property = gst_cnn_classify_set_property;
  oc->get_property = gst_cnn_classify_get_property;
  oc->finalize = gst_cnn_classify_finalize;
  g_object_class_install_property (oc, PROP_TOP_K, g_param_spec_uint ("top-k", "Top k",
          "How many classes to attach", 1, 1000, 1, rw));
  g_object_class_install_property (oc, PROP_THRESHOLD, g_param_spec_double ("threshold",
          "Threshold", "Attach only classes at least this probable", 0, 1, 0, rw));
  g_object_class_install_property (oc, PROP_REGION, g_param_spec_enum ("inference-region",
          "Inference region", "Whole frame, or each detected object", GST_TYPE_CNN_CLASSIFY_REGION,
          REGION_FULL_FRAME, rw));
  g_object_class_install_property (oc, PROP_ROI_CLASS, g_param_spec_string ("roi-class",
          "ROI class", "With roi-list: classify only objects of this label", NULL, rw));
  gst_element_class_set_static_metadata (ec, "CNN classifier", "Filter/Analyzer/Video",
      "Classifies video frames or detected objects with a CNN", "cnn project");
  gst_cnn_filter_add_pad_templates (ec);
  fc->setup = gst_cnn_classify_setup;
  fc->process = gst_cnn_classify_process;
  fc->reuse = gst_cnn_classify_reuse;
  fc->reset = gst_cnn_classify_reset;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_classify_debug, "cnnclassify", 0, "cnn classifier");
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_CLASSIFY_REGION, 0);
}
