/* gstcnnfilter.c - base class of the cnn elements: model loading and
 * sharing, description files, labels, pre-processing, interval, batching,
 * QoS and latency. */
#include "gstcnnfilter.h"
#include "gstcnncpu.h"
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_filter_debug);
#define GST_CAT_DEFAULT gst_cnn_filter_debug

G_DEFINE_QUARK (gst-cnn-error-quark, gst_cnn_error)

enum {
  PROP_0, PROP_MODEL, PROP_LABELS, PROP_BACKEND, PROP_PRECISION, PROP_THREADS, PROP_INTERVAL, PROP_COLOR_ORDER,
  PROP_MEAN, PROP_STD, PROP_SCALE, PROP_LAYOUT, PROP_KEEP_ASPECT, PROP_QOS_POLICY, PROP_LATENCY,
  PROP_STATS, PROP_BATCH_SIZE, PROP_BATCH_TIMEOUT, PROP_PREPROCESS, PROP_MODEL_INSTANCE_ID,
};

typedef struct _SharedBatch SharedBatch;

typedef enum { ORDER_AUTO, ORDER_RGB, ORDER_BGR } ColorOrder;
typedef enum { LAYOUT_AUTO, LAYOUT_NCHW, LAYOUT_NHWC } Layout;
typedef enum { QOS_NONE, QOS_SKIP, QOS_DROP } QosPolicy;
typedef enum { PRE_AUTO, PRE_CPU, PRE_BACKEND } PreprocessOn;

typedef struct {
  /* properties */
  gchar *model_path, *labels_path, *backend, *precision, *mean, *std;
  gint threads;
  guint interval;
  ColorOrder color_order;
  Layout layout;
  gdouble scale;
  gint keep_aspect;             /* -1: not set */
  QosPolicy qos_policy;
  GstClockTime latency;         /* set by the user; NONE: measured */
  guint batch_size;             /* frames per inference */
  guint batch_timeout;          /* ms of running time a partial batch waits; 0: until full */
  PreprocessOn preprocess_on;
  gchar *instance_id;           /* model-instance-id: batches gathered across elements */
  /* QoS from downstream: frames ending before this running time are late */
  GstClockTime earliest;
  /* processing latency, once known (object lock): from the frames' runs
   * (best_run_us over timed_runs), else one blank run's */
  GstClockTime measured_latency;
  gint64 best_run_us;           /* fastest pre-processing + run of a frame, the first left out */
  guint timed_runs;
  GCond run_done;               /* a frame's run ended: signalled under the object lock */
  GMutex run_lock;              /* the session: streaming thread vs latency queries */
  /* state */
  gchar *loaded_path;           /* the file `model` named when it was loaded */
  gboolean reload;              /* `model` or `labels` changed while running */
  cnn_model *model;
  cnn_session *session;
  JsonParser *desc;
  GPtrArray *labels;
  GstCnnPreprocess pre;
  GstCnnScratch scratch;        /* pre-processing tables, kept between frames */
  gboolean on_backend;          /* the session pre-processes (the GPU), not our CPU code */
  cnn_tensor input;
  guint64 frames;
  /* time spent, for the "cnn-stats" message at EOS */
  gint64 t_pre, t_infer, t_total;
  guint64 inferences;
  guint64 nonfinite;            /* frames whose outputs held NaN or Inf */
  guint64 unchecked;            /* outputs the subclass checks for NaN and Inf itself, a bit each */
  guint64 late_skipped, late_dropped;
  guint64 partial_frames;       /* frames inferred in a batch that ran partial */
  /* batching (batch > 1): frames wait in `pending` until the batch is full
   * (or times out, or EOS); then one run infers them all, and `process`
   * runs per frame with gst_cnn_filter_infer() and get_output() handing out
   * its item; the frames wait in `done` for generate_output */
  gint batch;                   /* batch of this run: batch-size, or 1 */
  gboolean batchable;           /* the subclass infers whole frames (not regions) */
  GQueue pending, done;
  GstClockTime pending_since;   /* running time of the first pending frame */
  gboolean in_batch;            /* process() runs on a frame of the batch just inferred */
  gint item;                    /* its slot */
  GstCnnLetterbox *batch_lb;    /* per slot */
  GError *batch_error;          /* the batch run failed */
  cnn_tensor *views;            /* per output: the slice of item `item` */
  /* model-instance-id with batch-size N: frames of every element with that
   * id go into one batch of the instance's session; each element gets a
   * copy of its item's outputs */
  SharedBatch *shared;
  cnn_tensor *shared_out;       /* per output, one item (data owned) */
  GError *shared_error;         /* the run of this element's last frame failed */
} GstCnnFilterPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_CODE (GstCnnFilter, gst_cnn_filter, GST_TYPE_VIDEO_FILTER,
    G_ADD_PRIVATE (GstCnnFilter)
    GST_DEBUG_CATEGORY_INIT (gst_cnn_filter_debug, "cnnfilter", 0, "cnn element base"));

#define PRIV(self) ((GstCnnFilterPrivate *) gst_cnn_filter_get_instance_private (GST_CNN_FILTER (self)))

/* ---- models shared between elements that load the same file ---- */

typedef struct {
  cnn_model *model;
  gint users;
} CacheEntry;

static GMutex cache_lock;
static GHashTable *cache;       /* canonical path -> CacheEntry */

static cnn_model *
model_acquire (const gchar * path, GError ** error)
{
  gchar *key = g_canonicalize_filename (path, NULL);
  g_mutex_lock (&cache_lock);
  if (!cache)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  CacheEntry *e = g_hash_table_lookup (cache, key);
  cnn_model *m = NULL;
  if (e) {
    e->users++;
    m = cnn_model_ref (e->model);
    g_free (key);
  } else if ((m = cnn_model_load (path, error))) {
    e = g_new0 (CacheEntry, 1);
    e->model = m;
    e->users = 1;
    g_hash_table_insert (cache, key, e);
    cnn_model_ref (m);
  } else {
    g_free (key);
  }
  g_mutex_unlock (&cache_lock);
  return m;
}

static void
model_release (const gchar * path, cnn_model * m)
{
  gchar *key = g_canonicalize_filename (path, NULL);
  g_mutex_lock (&cache_lock);
  CacheEntry *e = cache ? g_hash_table_lookup (cache, key) : NULL;
  if (e && e->model == m && --e->users == 0) {
    cnn_model_unref (e->model);
    g_hash_table_remove (cache, key);
  }
  g_mutex_unlock (&cache_lock);
  cnn_model_unref (m);
  g_free (key);
}

/* ---- description file and labels ---- */

/* Typed reads of a description member: TRUE when it is absent (@out keeps
 * its value) or has the type asked for; FALSE with an error naming it. */
static gboolean
json_fail (GError ** error, const gchar * name, const gchar * what)
{
  g_set_error (error, GST_CNN_ERROR, 0, "description file: \"%s\" must be %s", name, what);
  return FALSE;
}

static gboolean
node_is_number (JsonNode * n)
{
  GType t = n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

gboolean
gst_cnn_json_string (JsonObject * o, const gchar * name, const gchar ** out, GError ** error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return json_fail (error, name, "a string");
  *out = json_node_get_string (n);
  return TRUE;
}

gboolean
gst_cnn_json_double (JsonObject * o, const gchar * name, gdouble * out, GError ** error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n)
    return TRUE;
  if (!node_is_number (n) || !isfinite (json_node_get_double (n)))
    return json_fail (error, name, "a number");
  *out = json_node_get_double (n);
  return TRUE;
}

gboolean
gst_cnn_json_int (JsonObject * o, const gchar * name, gint64 min, gint64 max, gint64 * out, GError ** error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 ||
      json_node_get_int (n) < min || json_node_get_int (n) > max) {
    g_set_error (error, GST_CNN_ERROR, 0, "description file: \"%s\" must be an integer from %"
        G_GINT64_FORMAT " to %" G_GINT64_FORMAT, name, min, max);
    return FALSE;
  }
  *out = json_node_get_int (n);
  return TRUE;
}

gboolean
gst_cnn_json_bool (JsonObject * o, const gchar * name, gboolean * out, GError ** error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return json_fail (error, name, "true or false");
  *out = json_node_get_boolean (n);
  return TRUE;
}

gint
gst_cnn_json_numbers (JsonNode * n, const gchar * name, gdouble * out, guint max, GError ** error)
{
  if (!n || !JSON_NODE_HOLDS_ARRAY (n)) {
    json_fail (error, name, "a list of numbers");
    return -1;
  }
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  if (len > max) {
    g_set_error (error, GST_CNN_ERROR, 0, "description file: \"%s\" has more than %u values", name, max);
    return -1;
  }
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!node_is_number (e) || !isfinite (json_node_get_double (e))) {
      json_fail (error, name, "a list of numbers");
      return -1;
    }
    out[i] = json_node_get_double (e);
  }
  return (gint) len;
}

static JsonObject *
desc_root (GstCnnFilterPrivate * p)
{
  if (!p->desc)
    return NULL;
  JsonNode *root = json_parser_get_root (p->desc);
  return root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
}

static JsonObject *
desc_object (GstCnnFilterPrivate * p, const gchar * member)
{
  JsonObject *root = desc_root (p);
  JsonNode *n = root ? json_object_get_member (root, member) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* The shape of the file: an object whose "task" is a string and whose
 * "preprocess" and "decoder" are objects; members are checked where read. */
static gboolean
check_description (GstCnnFilterPrivate * p, GError ** error)
{
  JsonObject *root = desc_root (p);
  const gchar *task = NULL;
  if (!root) {
    g_set_error (error, GST_CNN_ERROR, 0, "description file: not a JSON object");
    return FALSE;
  }
  if (!gst_cnn_json_string (root, "task", &task, error))
    return FALSE;
  const gchar *objects[] = { "preprocess", "decoder" };
  for (guint i = 0; i < G_N_ELEMENTS (objects); i++) {
    JsonNode *n = json_object_get_member (root, objects[i]);
    if (n && !JSON_NODE_HOLDS_OBJECT (n))
      return json_fail (error, objects[i], "an object");
  }
  return TRUE;
}

static gchar *
desc_path_for (const gchar * model_path)
{
  const gchar *dot = strrchr (model_path, '.');
  const gchar *slash = strrchr (model_path, '/');
  gsize base = dot && (!slash || dot > slash) ? (gsize) (dot - model_path) : strlen (model_path);
  return g_strdup_printf ("%.*s.json", (int) base, model_path);
}

static gboolean
load_labels_file (GPtrArray * out, const gchar * path, GError ** error)
{
  gchar *text;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  gchar **lines = g_strsplit (text, "\n", -1);
  g_free (text);
  for (gchar ** l = lines; *l; l++) {
    g_strchomp (*l);
    if (!**l && !l[1])
      break;
    const gchar *s = *l, *q = s;
    while (g_ascii_isdigit (*q))
      q++;
    if (q != s && *q == ',')    /* "idx,label" lines */
      s = q + 1;
    g_ptr_array_add (out, g_strdup (s));
  }
  g_strfreev (lines);
  return TRUE;
}

static gboolean
load_labels (GstCnnFilter * self, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  g_clear_pointer (&p->labels, g_ptr_array_unref);
  p->labels = g_ptr_array_new_with_free_func (g_free);
  if (p->labels_path)
    return load_labels_file (p->labels, p->labels_path, error);
  JsonObject *root = desc_root (p);
  JsonNode *n = root ? json_object_get_member (root, "labels") : NULL;
  if (!n)
    return TRUE;
  if (JSON_NODE_HOLDS_ARRAY (n)) {
    JsonArray *a = json_node_get_array (n);
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        return json_fail (error, "labels", "a file name or a list of strings");
      g_ptr_array_add (p->labels, g_strdup (json_node_get_string (e)));
    }
    return TRUE;
  }
  const gchar *rel = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ?
      json_node_get_string (n) : NULL;
  if (!rel) {
    g_set_error (error, GST_CNN_ERROR, 0, "\"labels\" must be a file name or a list");
    return FALSE;
  }
  gchar *dir = g_path_get_dirname (p->model_path);
  gchar *path = g_path_is_absolute (rel) ? g_strdup (rel) : g_build_filename (dir, rel, NULL);
  gboolean ok = load_labels_file (p->labels, path, error);
  g_free (path);
  g_free (dir);
  return ok;
}

/* "mean" / "std": one number or three.  1: read, 0: absent, -1: bad. */
static gint
json_triplet (JsonObject * o, const gchar * member, gfloat * v, GError ** error)
{
  JsonNode *n = o ? json_object_get_member (o, member) : NULL;
  gdouble d[3];
  if (!n)
    return 0;
  if (node_is_number (n) && isfinite (json_node_get_double (n))) {
    v[0] = v[1] = v[2] = (gfloat) json_node_get_double (n);
    return 1;
  }
  GError *e = NULL;
  if (gst_cnn_json_numbers (n, member, d, 3, &e) == 3) {
    for (guint i = 0; i < 3; i++)
      v[i] = (gfloat) d[i];
    return 1;
  }
  g_clear_error (&e);
  json_fail (error, member, "a number or a list of three");
  return -1;
}

/* Pre-processing from properties, else the description, else defaults. */
static gboolean
resolve_preprocess (GstCnnFilter * self, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnPreprocess *pre = &p->pre;
  JsonObject *d = desc_object (p, "preprocess");
  const cnn_tensor_info *in = cnn_model_get_input (p->model, 0);
  memset (pre, 0, sizeof *pre);
  if (in->ndim != 4 || in->dtype != CNN_DTYPE_FLOAT32) {
    g_set_error (error, GST_CNN_ERROR, 0, "model input '%s' is not a float image tensor "
        "(4 dims)", in->name);
    return FALSE;
  }
  Layout layout = p->layout;
  const gchar *layout_name = NULL, *order_name = NULL;
  gint64 width = 224, height = 224;
  gdouble scale = 0, pad_value = 0;
  gboolean keep_aspect = FALSE;
  if (!gst_cnn_json_string (d, "layout", &layout_name, error) ||
      !gst_cnn_json_string (d, "color_order", &order_name, error) ||
      !gst_cnn_json_int (d, "width", 1, 16384, &width, error) ||
      !gst_cnn_json_int (d, "height", 1, 16384, &height, error) ||
      !gst_cnn_json_double (d, "scale", &scale, error) ||
      !gst_cnn_json_double (d, "pad_value", &pad_value, error) ||
      !gst_cnn_json_bool (d, "keep_aspect", &keep_aspect, error))
    return FALSE;
  if (layout == LAYOUT_AUTO && layout_name)
    layout = g_ascii_strcasecmp (layout_name, "nhwc") == 0 ? LAYOUT_NHWC : LAYOUT_NCHW;
  if (layout == LAYOUT_AUTO)
    layout = (in->dims[1] == 1 || in->dims[1] == 3) ? LAYOUT_NCHW : LAYOUT_NHWC;
  pre->nhwc = layout == LAYOUT_NHWC;
  pre->channels = (gint) (pre->nhwc ? in->dims[3] : in->dims[1]);
  pre->height = (gint) (pre->nhwc ? in->dims[1] : in->dims[2]);
  pre->width = (gint) (pre->nhwc ? in->dims[2] : in->dims[3]);
  if (pre->channels != 1 && pre->channels != 3) {
    g_set_error (error, GST_CNN_ERROR, 0, "model input '%s' has %d channels: images give 1 "
        "or 3", in->name, pre->channels);
    return FALSE;
  }
  if (pre->width <= 0 || pre->height <= 0) {
    /* symbolic spatial dims: use the description, else 224 */
    pre->width = (gint) width;
    pre->height = (gint) height;
  }
  if ((gint64) pre->width * pre->height > 16384 * 16384) {
    g_set_error (error, GST_CNN_ERROR, 0, "model input '%s' is %dx%d: too large for an image", in->name,
        pre->width, pre->height);
    return FALSE;
  }
  ColorOrder order = p->color_order;
  if (order == ORDER_AUTO && order_name)
    order = g_ascii_strcasecmp (order_name, "bgr") == 0 ? ORDER_BGR : ORDER_RGB;
  pre->bgr = order == ORDER_BGR;
  for (int i = 0; i < 3; i++) {
    pre->mean[i] = 0.f;
    pre->std[i] = 1.f;
  }
  if (p->mean) {
    if (!gst_cnn_parse_triplet (p->mean, pre->mean))
      goto bad_triplet;
  } else if (json_triplet (d, "mean", pre->mean, error) < 0) {
    return FALSE;
  }
  if (p->std) {
    if (!gst_cnn_parse_triplet (p->std, pre->std))
      goto bad_triplet;
  } else if (p->scale > 0) {
    pre->std[0] = pre->std[1] = pre->std[2] = (gfloat) (1.0 / p->scale);
  } else {
    gint r = json_triplet (d, "std", pre->std, error);
    if (r < 0)
      return FALSE;
    if (r == 0 && scale > 0)
      pre->std[0] = pre->std[1] = pre->std[2] = (gfloat) (1.0 / scale);
  }
  for (int i = 0; i < 3; i++)
    if (pre->std[i] == 0.f) {
      g_set_error (error, GST_CNN_ERROR, 0, "std must not be 0");
      return FALSE;
    }
  pre->keep_aspect = p->keep_aspect >= 0 ? p->keep_aspect : keep_aspect;
  pre->pad_value = (gfloat) pad_value;
  return TRUE;
bad_triplet:
  g_set_error (error, GST_CNN_ERROR, 0, "mean and std take one value or three, comma-separated");
  return FALSE;
}

static void gst_cnn_filter_release (GstCnnFilter * self);
static gboolean shared_join (GstCnnFilter * self, gint size, GError ** error);
static void note_run_time (GstCnnFilter * self, gint64 us);
static void shared_leave (GstCnnFilterPrivate * p);

static gboolean
gst_cnn_filter_start (GstBaseTransform * bt)
{
  GstCnnFilter *self = GST_CNN_FILTER (bt);
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  GError *error = NULL;
  GST_OBJECT_LOCK (self);
  p->loaded_path = g_strdup (p->model_path);
  p->reload = FALSE;
  GST_OBJECT_UNLOCK (self);
  if (!p->loaded_path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model set"),
        ("set the 'model' property to an ONNX file"));
    return FALSE;
  }
  if (!(p->model = model_acquire (p->loaded_path, &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not load model %s", p->loaded_path),
        ("%s", error->message));
    g_error_free (error);
    g_clear_pointer (&p->loaded_path, g_free);
    return FALSE;
  }
  gchar *desc_path = desc_path_for (p->loaded_path);
  if (g_file_test (desc_path, G_FILE_TEST_EXISTS)) {
    p->desc = json_parser_new ();
    if (!json_parser_load_from_file (p->desc, desc_path, &error)) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not read %s", desc_path), ("%s", error->message));
      g_free (desc_path);
      goto fail;
    }
  }
  if (p->desc && !check_description (p, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not read %s", desc_path), ("%s", error->message));
    g_free (desc_path);
    goto fail;
  }
  g_free (desc_path);
  if (cnn_model_get_n_inputs (p->model) != 1) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Model does not fit this element"),
        ("the model has %d inputs; the elements feed one image input", cnn_model_get_n_inputs (p->model)));
    goto fail;
  }
  if (!resolve_preprocess (self, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Model input does not fit video"), ("%s", error->message));
    goto fail;
  }
  if (!load_labels (self, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not read labels"), ("%s", error->message));
    goto fail;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = p->threads;
  so.backend = p->backend;
  so.precision = p->precision;
  if (!(p->session = cnn_session_new (p->model, &so, &error))) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not prepare the model"), ("%s", error->message));
    goto fail;
  }
  GST_OBJECT_LOCK (self);
  p->on_backend = p->preprocess_on == PRE_BACKEND ||
      (p->preprocess_on == PRE_AUTO && strcmp (cnn_session_get_backend (p->session), "cpu") != 0);
  GST_OBJECT_UNLOCK (self);
  const GstCnnPreprocess *pre = &p->pre;
  p->batchable = TRUE;
  p->batch = 1;                 /* setup sees the outputs unbatched */
  p->unchecked = 0;
  if (klass->setup && !klass->setup (self, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Model does not fit this element"), ("%s", error->message));
    goto fail;
  }
  GST_OBJECT_LOCK (self);
  p->batch = MAX (p->batch_size, 1);
  GST_OBJECT_UNLOCK (self);
  if (p->batch > 1 && !p->batchable) {
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS, ("batch-size ignored"),
        ("this element infers regions of frames one by one in this mode"));
    p->batch = 1;
  }
  gint64 model_batch = cnn_model_get_input (p->model, 0)->dims[0];
  if (p->batch > 1 && model_batch >= 0 && model_batch != p->batch) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Model does not fit batch-size=%d", p->batch),
        ("input '%s' has a fixed batch of %" G_GINT64_FORMAT "; batching needs a symbolic (or equal) "
            "first dimension", cnn_model_get_input (p->model, 0)->name, model_batch));
    goto fail;
  }
  /* model-instance-id: the batch is the instance's; this element runs alone
   * only for latency queries */
  gint shared_size = p->batch > 1 && p->instance_id ? p->batch : 0;
  if (shared_size)
    p->batch = 1;
  p->input.dtype = CNN_DTYPE_FLOAT32;
  p->input.ndim = 4;
  p->input.dims[0] = p->batch;
  p->input.dims[1] = pre->nhwc ? pre->height : pre->channels;
  p->input.dims[2] = pre->nhwc ? pre->width : pre->height;
  p->input.dims[3] = pre->nhwc ? pre->channels : pre->width;
  p->input.data = g_new0 (gfloat, (gsize) p->batch * pre->channels * pre->width * pre->height);
  p->batch_lb = g_new0 (GstCnnLetterbox, p->batch);
  p->views = g_new0 (cnn_tensor, MAX (cnn_model_get_n_outputs (p->model), 1));
  p->shared_out = g_new0 (cnn_tensor, MAX (cnn_model_get_n_outputs (p->model), 1));
  if (shared_size && !shared_join (self, shared_size, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Could not join model-instance-id '%s'", p->instance_id),
        ("%s", error->message));
    goto fail;
  }
  p->frames = p->inferences = p->nonfinite = p->late_skipped = p->late_dropped = p->partial_frames = 0;
  GST_OBJECT_LOCK (self);
  p->measured_latency = GST_CLOCK_TIME_NONE;
  p->best_run_us = G_MAXINT64;
  p->timed_runs = 0;
  p->earliest = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
  p->t_pre = p->t_infer = p->t_total = 0;
  GST_INFO_OBJECT (self, "model %s: input %dx%dx%d %s %s, batch %d, backend %s, pre-processing on %s",
      p->model_path, pre->width, pre->height, pre->channels, pre->nhwc ? "NHWC" : "NCHW", pre->bgr ? "BGR" : "RGB",
      p->batch, cnn_session_get_backend (p->session), p->on_backend ? "the backend" : "the CPU");
  return TRUE;
fail:
  g_clear_error (&error);
  gst_cnn_filter_release (self);
  return FALSE;
}

/* Frees what start() set up; also after a start() that failed half way,
 * which GstBaseTransform does not follow with stop(). */
static void
gst_cnn_filter_release (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  if (klass->reset)
    klass->reset (self);
  g_mutex_lock (&p->run_lock);
  g_clear_pointer (&p->session, cnn_session_free);
  g_mutex_unlock (&p->run_lock);
  shared_leave (p);
  for (gint i = 0; p->shared_out && i < cnn_model_get_n_outputs (p->model); i++)
    g_free (p->shared_out[i].data);
  g_clear_pointer (&p->shared_out, g_free);
  g_clear_error (&p->shared_error);
  if (p->model) {
    model_release (p->loaded_path, p->model);
    p->model = NULL;
  }
  g_clear_pointer (&p->loaded_path, g_free);
  g_clear_object (&p->desc);
  g_clear_pointer (&p->labels, g_ptr_array_unref);
  g_clear_pointer (&p->input.data, g_free);
  g_clear_pointer (&p->batch_lb, g_free);
  g_clear_pointer (&p->views, g_free);
  g_clear_error (&p->batch_error);
  gst_cnn_scratch_clear (&p->scratch);
}

static void
batch_drop (GstCnnFilterPrivate * p)
{
  g_queue_clear_full (&p->pending, (GDestroyNotify) gst_buffer_unref);
  g_queue_clear_full (&p->done, (GDestroyNotify) gst_buffer_unref);
}

static gboolean
gst_cnn_filter_stop (GstBaseTransform * bt)
{
  batch_drop (PRIV (bt));
  gst_cnn_filter_release (GST_CNN_FILTER (bt));
  return TRUE;
}

static gboolean is_late (GstCnnFilter * self, GstBuffer * buf, GstClockTime * running_time);

/* A new model while running: set everything up again between frames; a
 * model that fails to load stops the pipeline with the reason. */
static gboolean
maybe_reload (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GST_OBJECT_LOCK (self);
  gboolean reload = p->reload;
  GST_OBJECT_UNLOCK (self);
  if (!reload)
    return TRUE;
  guint64 frames = p->frames;
  GST_INFO_OBJECT (self, "loading the new model");
  gst_cnn_filter_release (self);
  if (!gst_cnn_filter_start (GST_BASE_TRANSFORM (self)))
    return FALSE;
  p->frames = frames;
  return TRUE;
}

typedef enum { FRAME_DROP, FRAME_REUSE, FRAME_INFER } FrameAction;

/* What a frame gets: dropped (late, qos-policy=drop: with a QoS message, as
 * GstBaseTransform posts), the last results (late with skip, or between
 * `interval` frames), or an inference. */
static FrameAction
frame_action (GstCnnFilter * self, GstBuffer * b)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  guint64 n = p->frames++;
  GstClockTime rt;
  gboolean late = is_late (self, b, &rt);
  if (late && p->qos_policy == QOS_DROP) {
    GstMessage *m = gst_message_new_qos (GST_OBJECT (self), FALSE, rt,
        gst_segment_to_stream_time (&GST_BASE_TRANSFORM (self)->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (b)),
        GST_BUFFER_PTS (b), GST_BUFFER_DURATION (b));
    p->late_dropped++;
    gst_message_set_qos_stats (m, GST_FORMAT_BUFFERS, p->frames - p->late_dropped, p->late_dropped);
    gst_element_post_message (GST_ELEMENT (self), m);
    return FRAME_DROP;
  }
  if (late && p->qos_policy == QOS_SKIP && p->inferences > 0 && klass->reuse) {
    p->late_skipped++;
    return FRAME_REUSE;
  }
  if (p->interval > 1 && n % p->interval != 0 && klass->reuse)
    return FRAME_REUSE;
  return FRAME_INFER;
}

static void
session_parallel_for (gpointer session, gint n, void (*func) (gint i, gint thread, gpointer data), gpointer data)
{
  cnn_session_parallel_for (session, n, func, data);
}

/* Pre-processing of item @item of the input, with run_lock held: by the
 * session's backend (on the GPU, only the frame's rows travel), or by our
 * vector code on the session's threads, which are idle between runs. */
static gboolean
preprocess_into (GstCnnFilterPrivate * p, cnn_session * session, cnn_tensor * input, gboolean on_backend,
    const GstVideoFrame * frame, const GstCnnRect * rect, gint item, GstCnnLetterbox * lb, GError ** error)
{
  if (on_backend) {
    cnn_image img;
    cnn_image_map map;
    gst_cnn_frame_to_image (frame, rect, &p->pre, &img, &map, lb);
    return cnn_session_set_input_image (session, input, 1, 0, item, &img, &map, error);
  }
  p->scratch.parallel_for = session_parallel_for;
  p->scratch.pool = session;
  p->scratch.threads = cnn_session_get_threads (session);
  gsize per = cnn_tensor_numel (input) / input->dims[0];
  gst_cnn_preprocess (frame, rect, &p->pre, (gfloat *) input->data + item * per, lb, &p->scratch);
  return TRUE;
}

static gboolean
preprocess (GstCnnFilterPrivate * p, const GstVideoFrame * frame, const GstCnnRect * rect, gint item,
    GstCnnLetterbox * lb, GError ** error)
{
  return preprocess_into (p, p->session, &p->input, p->on_backend, frame, rect, item, lb, error);
}

/* Runs the session on the pre-processed input, with run_lock held. */
static gboolean
run_input (GstCnnFilterPrivate * p, GError ** error)
{
  cnn_tensor in = p->input;
  if (p->on_backend)
    in.data = NULL;             /* set by cnn_session_set_input_image */
  return cnn_session_run (p->session, &in, 1, error);
}

/* ---- batches gathered across elements (model-instance-id) ---- */

/* One per model-instance-id: a session of batch `size`, its host input, and
 * the elements whose frames fill the current batch.  Whoever fills the last
 * slot runs the batch, or, after `timeout_us` without that, the first to
 * wake; the others wait on `cond` for the generation to move on. */
struct _SharedBatch {
  gchar *id, *model_path;
  gint users, size;
  GMutex lock;
  GCond cond;
  cnn_session *session;
  cnn_tensor input;
  gboolean on_backend;
  gint filled;
  guint64 generation;
  GstCnnFilter **members;       /* per slot of the current batch */
  gint64 timeout_us;
};

static GMutex shared_lock;
static GHashTable *shared_batches;      /* model-instance-id -> SharedBatch */

static void
shared_free (SharedBatch * sb)
{
  cnn_session_free (sb->session);
  g_free (sb->input.data);
  g_free (sb->members);
  g_free (sb->id);
  g_free (sb->model_path);
  g_mutex_clear (&sb->lock);
  g_cond_clear (&sb->cond);
  g_free (sb);
}

/* Joins (or creates) the instance of p->instance_id for batches of @size. */
static gboolean
shared_join (GstCnnFilter * self, gint size, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  gchar *path = g_canonicalize_filename (p->loaded_path, NULL);
  cnn_tensor in = p->input;
  in.dims[0] = size;
  g_mutex_lock (&shared_lock);
  if (!shared_batches)
    shared_batches = g_hash_table_new (g_str_hash, g_str_equal);
  SharedBatch *sb = g_hash_table_lookup (shared_batches, p->instance_id);
  gboolean ok = TRUE;
  if (sb) {
    ok = strcmp (sb->model_path, path) == 0 && sb->size == size && sb->input.ndim == in.ndim &&
        memcmp (sb->input.dims, in.dims, sizeof in.dims) == 0;
    if (!ok)
      g_set_error (error, GST_CNN_ERROR, 0, "model-instance-id '%s' is used with %s, batch-size %d; this "
          "element has %s, batch-size %d (or another input size)", p->instance_id, sb->model_path, sb->size, path,
          size);
  } else {
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.threads = p->threads;
    so.backend = p->backend;
    so.precision = p->precision;
    so.default_dim = size;
    cnn_session *s = cnn_session_new (p->model, &so, error);
    ok = s != NULL;
    if (ok) {
      sb = g_new0 (SharedBatch, 1);
      sb->id = g_strdup (p->instance_id);
      sb->model_path = g_strdup (path);
      sb->size = size;
      sb->session = s;
      sb->input = in;
      sb->input.data = g_new0 (gfloat, cnn_tensor_numel (&in));
      sb->on_backend = p->on_backend;
      sb->members = g_new0 (GstCnnFilter *, size);
      GST_OBJECT_LOCK (self);
      sb->timeout_us = (p->batch_timeout ? p->batch_timeout : 100) * (gint64) 1000;
      GST_OBJECT_UNLOCK (self);
      g_mutex_init (&sb->lock);
      g_cond_init (&sb->cond);
      g_hash_table_insert (shared_batches, sb->id, sb);
    }
  }
  if (ok) {
    sb->users++;
    p->shared = sb;
  }
  g_mutex_unlock (&shared_lock);
  g_free (path);
  return ok;
}

static void
shared_leave (GstCnnFilterPrivate * p)
{
  SharedBatch *sb = p->shared;
  if (!sb)
    return;
  g_mutex_lock (&shared_lock);
  if (--sb->users == 0) {
    g_hash_table_remove (shared_batches, sb->id);
    shared_free (sb);
  }
  g_mutex_unlock (&shared_lock);
  p->shared = NULL;
}

/* Runs the batch (sb->lock held) and hands each member its item. */
static void
shared_run (SharedBatch * sb)
{
  cnn_tensor in = sb->input;
  if (sb->on_backend)
    in.data = NULL;             /* set by cnn_session_set_input_image */
  GError *err = NULL;
  gboolean ok = cnn_session_run (sb->session, &in, 1, &err);
  gint n_out = cnn_model_get_n_outputs (PRIV (sb->members[0])->model);
  for (gint o = 0; ok && o < n_out; o++) {
    const cnn_tensor *t = cnn_session_get_output (sb->session, o);
    if (t->ndim < 1 || t->dims[0] != sb->size) {
      g_set_error (&err, GST_CNN_ERROR, 0, "output %d has no batch dimension of %d: batching needs one", o,
          sb->size);
      ok = FALSE;
    }
  }
  for (gint k = 0; k < sb->filled; k++) {
    GstCnnFilterPrivate *m = PRIV (sb->members[k]);
    if (sb->filled < sb->size)
      m->partial_frames++;
    g_clear_error (&m->shared_error);
    if (!ok) {
      m->shared_error = g_error_copy (err);
      continue;
    }
    for (gint o = 0; o < n_out; o++) {
      const cnn_tensor *t = cnn_session_get_output (sb->session, o);
      gsize bytes = cnn_tensor_numel (t) / sb->size * cnn_dtype_size (t->dtype);
      cnn_tensor *mine = &m->shared_out[o];
      if (!mine->data || cnn_tensor_numel (mine) * cnn_dtype_size (mine->dtype) != bytes) {
        g_free (mine->data);
        *mine = *t;
        mine->dims[0] = 1;
        mine->data = g_malloc (MAX (bytes, 1));
      }
      memcpy (mine->data, (const gchar *) t->data + k * bytes, bytes);
    }
  }
  g_clear_error (&err);
  sb->filled = 0;
  sb->generation++;
  g_cond_broadcast (&sb->cond);
}

static gboolean preprocess_into (GstCnnFilterPrivate * p, cnn_session * session, cnn_tensor * input,
    gboolean on_backend, const GstVideoFrame * frame, const GstCnnRect * rect, gint item, GstCnnLetterbox * lb,
    GError ** error);

/* This element's frame into the instance's batch; returns when the batch
 * (full, or partial after the timeout) has run. */
static gboolean
shared_infer (GstCnnFilter * self, const GstVideoFrame * frame, GstCnnLetterbox * lb, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  SharedBatch *sb = p->shared;
  gint64 tw = g_get_monotonic_time ();
  g_mutex_lock (&sb->lock);
  /* waiting for the lock is waiting for another element's batch to run */
  gint64 t0 = g_get_monotonic_time ();
  gint k = sb->filled;
  if (!preprocess_into (p, sb->session, &sb->input, sb->on_backend, frame, NULL, k, lb, error)) {
    g_mutex_unlock (&sb->lock);
    return FALSE;
  }
  sb->members[k] = self;
  sb->filled++;
  gint64 t1 = g_get_monotonic_time ();
  guint64 gen = sb->generation;
  if (sb->filled == sb->size) {
    shared_run (sb);
  } else {
    gint64 deadline = t1 + sb->timeout_us;
    while (sb->generation == gen)
      if (!g_cond_wait_until (&sb->cond, &sb->lock, deadline) && sb->generation == gen)
        shared_run (sb);        /* waited long enough: the batch goes partial */
  }
  g_mutex_unlock (&sb->lock);
  p->t_pre += t1 - t0;
  p->t_infer += g_get_monotonic_time () - t1 + (t0 - tw);
  if (p->shared_error) {
    g_propagate_error (error, p->shared_error);
    p->shared_error = NULL;
    return FALSE;
  }
  return TRUE;
}

static GstFlowReturn
gst_cnn_filter_transform_frame_ip (GstVideoFilter * vf, GstVideoFrame * frame)
{
  GstCnnFilter *self = GST_CNN_FILTER (vf);
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  if (!maybe_reload (self))
    return GST_FLOW_ERROR;
  gint64 t0 = g_get_monotonic_time ();
  GstFlowReturn ret;
  switch (frame_action (self, frame->buffer)) {
    case FRAME_DROP: return GST_BASE_TRANSFORM_FLOW_DROPPED;
    case FRAME_REUSE: ret = klass->reuse (self, frame); break;
    default: ret = klass->process (self, frame); break;
  }
  p->t_total += g_get_monotonic_time () - t0;
  return ret;
}

/* The frame mapped for writing only where the element draws on it: a
 * decoder keeps a reference to the frames it outputs, and mapping such a
 * frame for writing copies it (460 KB a 640x480 frame, into fresh pages).
 * GstVideoFilter's own mapping always asks for writing in place. */
static GstMapFlags
frame_map_flags (GstCnnFilter * self)
{
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  return klass->writes_frame && klass->writes_frame (self) ? GST_MAP_READWRITE : GST_MAP_READ;
}

static GstFlowReturn
gst_cnn_filter_transform_ip (GstBaseTransform * bt, GstBuffer * buf)
{
  GstVideoFilter *vf = GST_VIDEO_FILTER (bt);
  if (G_UNLIKELY (!vf->negotiated)) {
    GST_ELEMENT_ERROR (bt, CORE, NOT_IMPLEMENTED, (NULL), ("unknown format"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstVideoFrame frame;
  /* no ref: the processing attaches metas, which needs the buffer writable */
  if (!gst_video_frame_map (&frame, &vf->in_info, buf, frame_map_flags (GST_CNN_FILTER (bt)) |
          GST_VIDEO_FRAME_MAP_FLAG_NO_REF)) {
    GST_ELEMENT_ERROR (bt, STREAM, FAILED, ("Could not map a frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = gst_cnn_filter_transform_frame_ip (vf, &frame);
  gst_video_frame_unmap (&frame);
  return ret;
}

/* ---- batching ---- */

/* Infers the pending frames in one run, then runs process (or reuse) on
 * each in order; they go to `done`. */
static GstFlowReturn
batch_flush (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstCnnFilterClass *klass = GST_CNN_FILTER_GET_CLASS (self);
  guint n = g_queue_get_length (&p->pending);
  if (n == 0)
    return GST_FLOW_OK;
  if (!maybe_reload (self)) {
    batch_drop (p);
    return GST_FLOW_ERROR;
  }
  gint64 t0 = g_get_monotonic_time ();
  GstVideoInfo *info = &GST_VIDEO_FILTER (self)->in_info;
  GstVideoFrame *frames = g_new0 (GstVideoFrame, n);
  FrameAction *act = g_new (FrameAction, n);
  gint *slot = g_new (gint, n), k = 0;
  GstFlowReturn ret = GST_FLOW_OK;
  g_clear_error (&p->batch_error);
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = g_queue_pop_head (&p->pending);
    act[i] = frame_action (self, b);
    if (act[i] == FRAME_DROP) {
      gst_buffer_unref (b);
      continue;
    }
    b = gst_buffer_make_writable (b);
    /* no ref: the processing attaches metas, which needs the buffer writable */
    if (!gst_video_frame_map (&frames[i], info, b, frame_map_flags (self) | GST_VIDEO_FRAME_MAP_FLAG_NO_REF)) {
      gst_buffer_unref (b);
      act[i] = FRAME_DROP;
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a frame"), (NULL));
      ret = GST_FLOW_ERROR;
      continue;
    }
    if (act[i] == FRAME_INFER && k < p->batch) {
      slot[i] = k++;
    } else if (act[i] == FRAME_INFER) {
      act[i] = FRAME_REUSE;     /* more pending than a batch: only after a reload */
    }
  }
  /* one hold from the first pre-processing to the run: a latency query's
   * run in between would take the pictures set so far */
  gint64 tl = g_get_monotonic_time ();
  g_mutex_lock (&p->run_lock);
  for (guint i = 0; i < n && ret == GST_FLOW_OK && !p->batch_error; i++)
    if (act[i] == FRAME_INFER)
      preprocess (p, &frames[i], NULL, slot[i], &p->batch_lb[slot[i]], &p->batch_error);
  gint64 t1 = g_get_monotonic_time ();
  if (k > 0 && ret == GST_FLOW_OK && !p->batch_error) {
    /* a partial batch runs whole: the same plan (and CUDA graph) every time */
    if (k < p->batch)
      p->partial_frames += k;
    gboolean ok = run_input (p, &p->batch_error);
    for (gint o = 0; ok && o < cnn_model_get_n_outputs (p->model); o++) {
      const cnn_tensor *t = cnn_session_get_output (p->session, o);
      if (t->ndim < 1 || t->dims[0] != p->batch) {
        g_set_error (&p->batch_error, GST_CNN_ERROR, 0, "output '%s' has no batch dimension of %d: "
            "batching needs one", cnn_model_get_output (p->model, o)->name, p->batch);
        ok = FALSE;
      }
    }
  }
  g_mutex_unlock (&p->run_lock);
  gint64 t2 = g_get_monotonic_time ();
  if (k > 0 && !p->batch_error)
    note_run_time (self, t2 - tl);
  p->t_pre += t1 - t0;
  p->t_infer += t2 - t1;
  for (guint i = 0; i < n; i++) {
    if (act[i] == FRAME_DROP)
      continue;
    GstBuffer *b = frames[i].buffer;
    if (ret == GST_FLOW_OK) {
      p->in_batch = act[i] == FRAME_INFER;
      p->item = p->in_batch ? slot[i] : 0;
      GstFlowReturn r = p->in_batch ? klass->process (self, &frames[i]) :
          klass->reuse ? klass->reuse (self, &frames[i]) : GST_FLOW_OK;
      p->in_batch = FALSE;
      if (r != GST_FLOW_OK && r != GST_BASE_TRANSFORM_FLOW_DROPPED)
        ret = r;
    }
    gst_video_frame_unmap (&frames[i]);
    if (ret == GST_FLOW_OK)
      g_queue_push_tail (&p->done, b);
    else
      gst_buffer_unref (b);
  }
  p->t_total += g_get_monotonic_time () - t0;
  g_free (frames);
  g_free (act);
  g_free (slot);
  return ret;
}

/* Batching: a frame waits for its batch instead of passing through. */
static GstFlowReturn
gst_cnn_filter_submit_input_buffer (GstBaseTransform * bt, gboolean discont, GstBuffer * buf)
{
  GstCnnFilterPrivate *p = PRIV (bt);
  if (p->batch <= 1)
    return GST_BASE_TRANSFORM_CLASS (gst_cnn_filter_parent_class)->submit_input_buffer (bt, discont, buf);
  GstClockTime rt = GST_BUFFER_PTS_IS_VALID (buf) ?
      gst_segment_to_running_time (&bt->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf)) : GST_CLOCK_TIME_NONE;
  GstFlowReturn ret = GST_FLOW_OK;
  /* a partial batch older than batch-timeout goes before this frame joins */
  GST_OBJECT_LOCK (bt);
  GstClockTime timeout = p->batch_timeout * GST_MSECOND;
  GST_OBJECT_UNLOCK (bt);
  if (timeout > 0 && !g_queue_is_empty (&p->pending) && GST_CLOCK_TIME_IS_VALID (rt) &&
      GST_CLOCK_TIME_IS_VALID (p->pending_since) && rt > p->pending_since + timeout)
    ret = batch_flush (GST_CNN_FILTER (bt));
  if (g_queue_is_empty (&p->pending))
    p->pending_since = rt;
  g_queue_push_tail (&p->pending, buf);
  if (ret == GST_FLOW_OK && g_queue_get_length (&p->pending) >= (guint) p->batch)
    ret = batch_flush (GST_CNN_FILTER (bt));
  return ret;
}

static GstFlowReturn
gst_cnn_filter_generate_output (GstBaseTransform * bt, GstBuffer ** out)
{
  GstCnnFilterPrivate *p = PRIV (bt);
  /* batched frames first (also after a reload to a model run unbatched) */
  if ((*out = g_queue_pop_head (&p->done)) || p->batch > 1)
    return GST_FLOW_OK;
  return GST_BASE_TRANSFORM_CLASS (gst_cnn_filter_parent_class)->generate_output (bt, out);
}

/* The frames of a partial batch, processed and pushed (at EOS, before new
 * caps, on a gap in the stream). */
static GstFlowReturn
batch_drain (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstFlowReturn ret = batch_flush (self);
  GstBuffer *b;
  while ((b = g_queue_pop_head (&p->done))) {
    if (ret == GST_FLOW_OK)
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), b);
    else
      gst_buffer_unref (b);
  }
  return ret;
}

/* The counters of the "stats" property and the "cnn-stats" message: frames,
 * inferences, frames skipped or dropped for being late, and the
 * milliseconds spent in pre-processing, inference and the whole element
 * (the rest is post-processing: decoding, NMS, drawing masks...). */
static GstStructure *
make_stats (GstCnnFilterPrivate * p)
{
  return gst_structure_new ("cnn-stats", "frames", G_TYPE_UINT64, p->frames, "inferences",
      G_TYPE_UINT64, p->inferences, "late-skipped", G_TYPE_UINT64, p->late_skipped, "late-dropped",
      G_TYPE_UINT64, p->late_dropped, "preprocess-ms", G_TYPE_DOUBLE, p->t_pre / 1e3,
      "inference-ms", G_TYPE_DOUBLE, p->t_infer / 1e3, "element-ms", G_TYPE_DOUBLE, p->t_total / 1e3,
      "partial-batch-frames", G_TYPE_UINT64, p->partial_frames, NULL);
}

/* At EOS: the stats as an element message "cnn-stats". */
static gboolean
gst_cnn_filter_sink_event (GstBaseTransform * bt, GstEvent * event)
{
  GstCnnFilterPrivate *p = PRIV (bt);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS: case GST_EVENT_CAPS: case GST_EVENT_SEGMENT: case GST_EVENT_GAP:
      batch_drain (GST_CNN_FILTER (bt));
      break;
    case GST_EVENT_FLUSH_STOP:
      batch_drop (p);
      break;
    default:
      break;
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && p->frames)
    gst_element_post_message (GST_ELEMENT (bt), gst_message_new_element (GST_OBJECT (bt), make_stats (p)));
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    GST_OBJECT_LOCK (bt);
    p->earliest = GST_CLOCK_TIME_NONE;
    GST_OBJECT_UNLOCK (bt);
  }
  return GST_BASE_TRANSFORM_CLASS (gst_cnn_filter_parent_class)->sink_event (bt, event);
}

/* QoS events from downstream say when frames arrive late: remember the
 * earliest running time a frame must end after to be in time. */
static gboolean
gst_cnn_filter_src_event (GstBaseTransform * bt, GstEvent * event)
{
  GstCnnFilterPrivate *p = PRIV (bt);
  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS) {
    GstQOSType type;
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
    GST_OBJECT_LOCK (bt);
    if (GST_CLOCK_TIME_IS_VALID (timestamp))
      p->earliest = diff > 0 ? timestamp + diff : timestamp;
    GST_OBJECT_UNLOCK (bt);
  }
  return GST_BASE_TRANSFORM_CLASS (gst_cnn_filter_parent_class)->src_event (bt, event);
}

/* TRUE (with its running time) for a frame downstream's QoS says is late. */
static gboolean
is_late (GstCnnFilter * self, GstBuffer * buf, GstClockTime * running_time)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstBaseTransform *bt = GST_BASE_TRANSFORM (self);
  if (p->qos_policy == QOS_NONE || !GST_BUFFER_PTS_IS_VALID (buf))
    return FALSE;
  GST_OBJECT_LOCK (self);
  GstClockTime earliest = p->earliest;
  GST_OBJECT_UNLOCK (self);
  if (!GST_CLOCK_TIME_IS_VALID (earliest))
    return FALSE;
  GstClockTime rt = gst_segment_to_running_time (&bt->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  GstClockTime dur = GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0;
  *running_time = rt;
  return GST_CLOCK_TIME_IS_VALID (rt) && rt + dur < earliest;
}

/* A frame's pre-processing and run took @us (run_lock released).  The
 * first run after start() plans and warms up: it is left out. */
static void
note_run_time (GstCnnFilter * self, gint64 us)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GST_OBJECT_LOCK (self);
  if (p->timed_runs++ > 0)
    p->best_run_us = MIN (p->best_run_us, us);
  g_cond_broadcast (&p->run_done);
  GST_OBJECT_UNLOCK (self);
}

/* The measured latency, if frames have given one; object lock held. */
static GstClockTime
latency_from_runs (GstCnnFilterPrivate * p)
{
  if (!GST_CLOCK_TIME_IS_VALID (p->measured_latency) && p->timed_runs > 1)
    p->measured_latency = p->best_run_us * GST_USECOND;
  return p->measured_latency;
}

/* Our processing time, for LATENCY queries: the `latency` property, else
 * the fastest frame's pre-processing and run after the first, else (no
 * frame ran yet: a live pipeline going to PLAYING) the time of one run on
 * a blank input.  Kept once known.  It never waits for run_lock: the
 * streaming thread takes that frame after frame, and GMutex is not fair,
 * so a query that waited for it could starve while the element is busy.
 * While a frame runs, the query waits for that frame's time instead. */
static GstClockTime
processing_latency (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstClockTime lat;
  GST_OBJECT_LOCK (self);
  while (!GST_CLOCK_TIME_IS_VALID (p->latency) && !GST_CLOCK_TIME_IS_VALID (latency_from_runs (p))) {
    if (!g_mutex_trylock (&p->run_lock)) {
      /* a frame (or stop) holds the session; a timeout as run_lock has
       * other holders that signal nothing */
      g_cond_wait_until (&p->run_done, GST_OBJECT_GET_LOCK (self),
          g_get_monotonic_time () + 10 * G_TIME_SPAN_MILLISECOND);
      continue;
    }
    GST_OBJECT_UNLOCK (self);
    gint64 best = G_MAXINT64;
    if (p->session) {
      cnn_tensor in = p->input;
      in.data = g_malloc0 (cnn_tensor_numel (&in) * sizeof (gfloat));
      for (gint i = 0; i < 3; i++) {
        gint64 t0 = g_get_monotonic_time ();
        if (!cnn_session_run (p->session, &in, 1, NULL))
          break;
        if (i > 0)
          best = MIN (best, g_get_monotonic_time () - t0);
      }
      g_free (in.data);
    }
    g_mutex_unlock (&p->run_lock);
    GST_OBJECT_LOCK (self);
    if (best == G_MAXINT64)
      break;                    /* no session, or it failed: nothing to add */
    if (!GST_CLOCK_TIME_IS_VALID (p->measured_latency))
      p->measured_latency = best * GST_USECOND;
    GST_INFO_OBJECT (self, "measured latency %" GST_TIME_FORMAT " on a blank input",
        GST_TIME_ARGS (p->measured_latency));
  }
  lat = GST_CLOCK_TIME_IS_VALID (p->latency) ? p->latency : p->measured_latency;
  GST_OBJECT_UNLOCK (self);
  return GST_CLOCK_TIME_IS_VALID (lat) ? lat : 0;
}

/* With batch-size N a frame may also wait N-1 frame durations for its
 * batch; in a batch of several elements, at most the timeout. */
static GstClockTime
batch_wait (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  const GstVideoInfo *vi = &GST_VIDEO_FILTER (self)->in_info;
  if (p->shared)
    return p->shared->timeout_us * GST_USECOND;
  if (p->batch <= 1 || vi->fps_n <= 0 || vi->fps_d <= 0)
    return 0;
  return gst_util_uint64_scale_int (GST_SECOND, vi->fps_d, vi->fps_n) * (p->batch - 1);
}

/* LATENCY: what upstream says plus our processing time, in live pipelines. */
static gboolean
gst_cnn_filter_query (GstBaseTransform * bt, GstPadDirection direction, GstQuery * query)
{
  gboolean res = GST_BASE_TRANSFORM_CLASS (gst_cnn_filter_parent_class)->query (bt, direction, query);
  if (res && direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    if (live) {
      GstClockTime ours = processing_latency (GST_CNN_FILTER (bt)) + batch_wait (GST_CNN_FILTER (bt));
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += ours;
      gst_query_set_latency (query, live, min, max);
    }
  }
  return res;
}

gboolean
gst_cnn_filter_infer (GstCnnFilter * self, const GstVideoFrame * frame, const GstCnnRect * rect,
    GstCnnLetterbox * lb, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  gboolean ok;
  if (p->in_batch) {
    /* the batch ran already: this frame's item */
    g_return_val_if_fail (rect == NULL, FALSE);
    if (p->batch_error) {
      g_propagate_error (error, g_error_copy (p->batch_error));
      return FALSE;
    }
    if (lb)
      *lb = p->batch_lb[p->item];
    ok = TRUE;
  } else if (p->shared && !rect) {
    GstCnnLetterbox local;
    ok = shared_infer (self, frame, lb ? lb : &local, error);
  } else {
    gint64 t0 = g_get_monotonic_time ();
    g_mutex_lock (&p->run_lock);
    ok = preprocess (p, frame, rect, 0, lb, error);
    gint64 t1 = g_get_monotonic_time ();
    ok = ok && run_input (p, error);
    g_mutex_unlock (&p->run_lock);
    gint64 t2 = g_get_monotonic_time ();
    if (ok)
      note_run_time (self, t2 - t0);
    p->t_pre += t1 - t0;
    p->t_infer += t2 - t1;
  }
  p->inferences++;
  for (gint i = 0; ok && i < cnn_model_get_n_outputs (p->model); i++) {
    const cnn_tensor *o = gst_cnn_filter_get_output (self, i);
    if (o->dtype != CNN_DTYPE_FLOAT32 || (i < 64 && (p->unchecked >> i & 1)))
      continue;
    int64_t bad = gst_cnn_find_nonfinite (o->data, cnn_tensor_numel (o), gst_cnn_filter_parallel_for, self);
    if (bad >= 0) {
      gst_cnn_filter_nonfinite_error (self, i, bad, error);
      ok = FALSE;
    }
  }
  return ok;
}

void
gst_cnn_filter_skip_check (GstCnnFilter * self, gint index)
{
  g_return_if_fail (index >= 0 && index < 64);
  PRIV (self)->unchecked |= (guint64) 1 << index;
}

void
gst_cnn_filter_nonfinite_error (GstCnnFilter * self, gint index, gint64 bad, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  const float *v = gst_cnn_filter_get_output (self, index)->data;
  g_set_error (error, GST_CNN_ERROR, GST_CNN_ERROR_NONFINITE, "output '%s' holds %s at element %"
      G_GINT64_FORMAT " (a model or input problem: check mean/std and the model)",
      cnn_model_get_output (p->model, index)->name, isnan (v[bad]) ? "NaN" : "Inf", bad);
}

GstFlowReturn
gst_cnn_filter_fail (GstCnnFilter * self, const gchar * what, GError * error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  GstFlowReturn ret = GST_FLOW_OK;
  if (g_error_matches (error, GST_CNN_ERROR, GST_CNN_ERROR_NONFINITE)) {
    if (p->nonfinite++ % 100 == 0)
      GST_ELEMENT_WARNING (self, STREAM, DECODE, ("%s: the model gave NaN or Inf; no results "
              "for this frame (%" G_GUINT64_FORMAT " such frames so far)", what, p->nonfinite),
          ("%s", error->message));
  } else {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", what), ("%s", error->message));
    ret = GST_FLOW_ERROR;
  }
  g_error_free (error);
  return ret;
}

const cnn_tensor *
gst_cnn_filter_get_output (GstCnnFilter * self, gint index)
{
  GstCnnFilterPrivate *p = PRIV (self);
  if (p->shared && index >= 0 && index < cnn_model_get_n_outputs (p->model) && p->shared_out[index].data)
    return &p->shared_out[index];       /* this element's item of the instance's batch */
  const cnn_tensor *o = cnn_session_get_output (p->session, index);
  if (!o || p->batch <= 1)
    return o;
  /* batching: the current frame's item, as a batch of one */
  cnn_tensor *v = &p->views[index];
  *v = *o;
  v->dims[0] = 1;
  v->data = (gchar *) o->data + (gsize) p->item * (cnn_tensor_numel (o) / p->batch) * cnn_dtype_size (o->dtype);
  return v;
}

gboolean
gst_cnn_filter_detect (GstCnnFilter * self, const cnn_decoder_options * o, const cnn_nms_options * nms,
    gboolean on_backend, GArray * boxes, GError ** error)
{
  GstCnnFilterPrivate *p = PRIV (self);
  if (on_backend && !p->shared)
    return cnn_session_detect (p->session, o, nms, p->batch > 1 ? p->item : 0, boxes, error);
  const cnn_tensor *out[4];
  gint n = MIN (cnn_model_get_n_outputs (p->model), 4);
  for (gint i = 0; i < n; i++)
    out[i] = gst_cnn_filter_get_output (self, i);
  g_array_set_size (boxes, 0);
  if (!cnn_decoder_decode (o, out, n, boxes, error))
    return FALSE;
  cnn_boxes_nms (boxes, nms);
  return TRUE;
}

void
gst_cnn_filter_set_batchable (GstCnnFilter * self, gboolean batchable)
{
  PRIV (self)->batchable = batchable;
}

gint
gst_cnn_filter_get_n_outputs (GstCnnFilter * self)
{
  return cnn_model_get_n_outputs (PRIV (self)->model);
}

cnn_model *
gst_cnn_filter_get_model (GstCnnFilter * self)
{
  return PRIV (self)->model;
}

const GstCnnPreprocess *
gst_cnn_filter_get_preprocess (GstCnnFilter * self)
{
  return &PRIV (self)->pre;
}

void
gst_cnn_filter_parallel_for (gpointer pool, gint n, void (*func) (gint i, gint thread, gpointer data),
    gpointer data)
{
  GstCnnFilterPrivate *p = PRIV (pool);
  g_mutex_lock (&p->run_lock);
  if (p->session)
    cnn_session_parallel_for (p->session, n, func, data);
  else
    for (gint i = 0; i < n; i++)
      func (i, 0, data);
  g_mutex_unlock (&p->run_lock);
}

const gchar *
gst_cnn_filter_get_label (GstCnnFilter * self, gint index)
{
  GstCnnFilterPrivate *p = PRIV (self);
  return p->labels && index >= 0 && (guint) index < p->labels->len ?
      g_ptr_array_index (p->labels, index) : NULL;
}

gint
gst_cnn_filter_get_n_labels (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  return p->labels ? (gint) p->labels->len : 0;
}

gboolean
gst_cnn_filter_check_labels (GstCnnFilter * self, gint n_classes, GError ** error)
{
  gint n = gst_cnn_filter_get_n_labels (self);
  /* one extra label is a common "background" convention */
  if (n && n != n_classes && n != n_classes + 1) {
    g_set_error (error, GST_CNN_ERROR, 0, "%d labels for a model with %d classes", n, n_classes);
    return FALSE;
  }
  return TRUE;
}

JsonObject *
gst_cnn_filter_get_decoder_options (GstCnnFilter * self)
{
  return desc_object (PRIV (self), "decoder");
}

const gchar *
gst_cnn_filter_get_task (GstCnnFilter * self)
{
  const gchar *task = NULL;
  gst_cnn_json_string (desc_root (PRIV (self)), "task", &task, NULL);  /* checked at start */
  return task;
}

/* ---- GObject ---- */

#define GST_TYPE_CNN_COLOR_ORDER (color_order_get_type ())
static GType
color_order_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { ORDER_AUTO, "From the model description, else RGB", "auto" },
    { ORDER_RGB, "R, G, B", "rgb" },
    { ORDER_BGR, "B, G, R", "bgr" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnColorOrder", values));
  return t;
}

#define GST_TYPE_CNN_QOS_POLICY (qos_policy_get_type ())
static GType
qos_policy_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { QOS_NONE, "Infer every frame however late", "none" },
    { QOS_SKIP, "Late frames pass with the last results, uninferred", "skip" },
    { QOS_DROP, "Late frames are dropped", "drop" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnQosPolicy", values));
  return t;
}

#define GST_TYPE_CNN_PREPROCESS_ON (preprocess_on_get_type ())
static GType
preprocess_on_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { PRE_AUTO, "On the GPU with a GPU backend, else the element's vector code", "auto" },
    { PRE_CPU, "The element's vector code on the CPU", "cpu" },
    { PRE_BACKEND, "Where the model runs: a CUDA kernel, to which only the frame's rows travel; "
          "on the CPU backend the plain reference conversion (slower: for checks)", "backend" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnPreprocessOn", values));
  return t;
}

#define GST_TYPE_CNN_LAYOUT (layout_get_type ())
static GType
layout_get_type (void)
{
  static GType t;
  static const GEnumValue values[] = {
    { LAYOUT_AUTO, "From the description, else guessed from the input shape", "auto" },
    { LAYOUT_NCHW, "N, C, H, W", "nchw" },
    { LAYOUT_NHWC, "N, H, W, C", "nhwc" },
    { 0, NULL, NULL }
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstCnnLayout", values));
  return t;
}

static void
gst_cnn_filter_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnFilterPrivate *p = PRIV (object);
  GST_OBJECT_LOCK (object);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (p->model_path);
      p->model_path = g_value_dup_string (value);
      p->reload = p->model != NULL;     /* running: swap it in at the next frame */
      break;
    case PROP_LABELS:
      g_free (p->labels_path);
      p->labels_path = g_value_dup_string (value);
      p->reload = p->model != NULL;
      break;
    case PROP_BACKEND: g_free (p->backend); p->backend = g_value_dup_string (value); break;
    case PROP_PRECISION: g_free (p->precision); p->precision = g_value_dup_string (value); break;
    case PROP_BATCH_SIZE: p->batch_size = g_value_get_uint (value); break;
    case PROP_BATCH_TIMEOUT: p->batch_timeout = g_value_get_uint (value); break;
    case PROP_PREPROCESS: p->preprocess_on = g_value_get_enum (value); break;
    case PROP_MODEL_INSTANCE_ID:
      g_free (p->instance_id);
      p->instance_id = g_value_dup_string (value);
      break;
    case PROP_THREADS: p->threads = g_value_get_int (value); break;
    case PROP_INTERVAL: p->interval = g_value_get_uint (value); break;
    case PROP_COLOR_ORDER: p->color_order = g_value_get_enum (value); break;
    case PROP_MEAN: g_free (p->mean); p->mean = g_value_dup_string (value); break;
    case PROP_STD: g_free (p->std); p->std = g_value_dup_string (value); break;
    case PROP_SCALE: p->scale = g_value_get_double (value); break;
    case PROP_LAYOUT: p->layout = g_value_get_enum (value); break;
    case PROP_KEEP_ASPECT: p->keep_aspect = g_value_get_boolean (value); break;
    case PROP_QOS_POLICY: p->qos_policy = g_value_get_enum (value); break;
    case PROP_LATENCY: p->latency = g_value_get_uint64 (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK (object);
}

static void
gst_cnn_filter_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnFilterPrivate *p = PRIV (object);
  GST_OBJECT_LOCK (object);
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string (value, p->model_path); break;
    case PROP_LABELS: g_value_set_string (value, p->labels_path); break;
    case PROP_BACKEND: g_value_set_string (value, p->backend ? p->backend : "auto"); break;
    case PROP_PRECISION: g_value_set_string (value, p->precision ? p->precision : "fp32"); break;
    case PROP_BATCH_SIZE: g_value_set_uint (value, p->batch_size); break;
    case PROP_BATCH_TIMEOUT: g_value_set_uint (value, p->batch_timeout); break;
    case PROP_PREPROCESS: g_value_set_enum (value, p->preprocess_on); break;
    case PROP_MODEL_INSTANCE_ID: g_value_set_string (value, p->instance_id); break;
    case PROP_THREADS: g_value_set_int (value, p->threads); break;
    case PROP_INTERVAL: g_value_set_uint (value, p->interval); break;
    case PROP_COLOR_ORDER: g_value_set_enum (value, p->color_order); break;
    case PROP_MEAN: g_value_set_string (value, p->mean); break;
    case PROP_STD: g_value_set_string (value, p->std); break;
    case PROP_SCALE: g_value_set_double (value, p->scale); break;
    case PROP_LAYOUT: g_value_set_enum (value, p->layout); break;
    case PROP_KEEP_ASPECT: g_value_set_boolean (value, p->keep_aspect > 0); break;
    case PROP_QOS_POLICY: g_value_set_enum (value, p->qos_policy); break;
    case PROP_LATENCY:
      g_value_set_uint64 (value, GST_CLOCK_TIME_IS_VALID (p->latency) ? p->latency : latency_from_runs (p));
      break;
    case PROP_STATS: g_value_take_boxed (value, make_stats (p)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK (object);
}

static void
gst_cnn_filter_finalize (GObject * object)
{
  GstCnnFilterPrivate *p = PRIV (object);
  g_free (p->model_path);
  g_free (p->labels_path);
  g_free (p->backend);
  g_free (p->precision);
  g_free (p->mean);
  g_free (p->std);
  g_free (p->instance_id);
  g_mutex_clear (&p->run_lock);
  g_cond_clear (&p->run_done);
  G_OBJECT_CLASS (gst_cnn_filter_parent_class)->finalize (object);
}

static void
gst_cnn_filter_init (GstCnnFilter * self)
{
  GstCnnFilterPrivate *p = PRIV (self);
  p->interval = 1;
  p->keep_aspect = -1;
  p->threads = 0;
  p->latency = GST_CLOCK_TIME_NONE;
  p->measured_latency = GST_CLOCK_TIME_NONE;
  p->earliest = GST_CLOCK_TIME_NONE;
  p->qos_policy = QOS_DROP;
  p->batch_size = 1;
  g_queue_init (&p->pending);
  g_queue_init (&p->done);
  g_mutex_init (&p->run_lock);
  g_cond_init (&p->run_done);
  /* qos-policy decides about late frames, not GstBaseTransform's dropping */
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}

static void
gst_cnn_filter_class_init (GstCnnFilterClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstBaseTransformClass *bt = GST_BASE_TRANSFORM_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  oc->set_property = gst_cnn_filter_set_property;
  oc->get_property = gst_cnn_filter_get_property;
  oc->finalize = gst_cnn_filter_finalize;
  GParamFlags rw_playing = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  g_object_class_install_property (oc, PROP_MODEL, g_param_spec_string ("model", "Model",
          "ONNX model file (settings are also read from MODEL.json next to it); may change "
          "while playing: the next frame uses the new model", NULL, rw_playing));
  g_object_class_install_property (oc, PROP_LABELS, g_param_spec_string ("labels", "Labels",
          "Labels file, one per line (\"idx,label\" lines also read)", NULL, rw_playing));
  g_object_class_install_property (oc, PROP_BACKEND, g_param_spec_string ("backend", "Backend",
          "auto (CUDA when a GPU is there, else CPU), cpu or cuda", "auto", rw));
  g_object_class_install_property (oc, PROP_PRECISION, g_param_spec_string ("precision", "Precision",
          "Arithmetic on the GPU: fp32 (exact float32), tf32 (tensor cores) or fp16 (half tensors, tensor "
          "cores); the CPU computes fp32",
          "fp32", rw));
  g_object_class_install_property (oc, PROP_THREADS, g_param_spec_int ("threads", "Threads",
          "Threads for inference (0: all cores)", 0, 1024, 0, rw));
  g_object_class_install_property (oc, PROP_INTERVAL, g_param_spec_uint ("interval", "Interval",
          "Infer every Nth frame, reuse the results in between", 1, G_MAXUINT, 1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (oc, PROP_COLOR_ORDER, g_param_spec_enum ("color-order",
          "Color order", "Channel order the model wants", GST_TYPE_CNN_COLOR_ORDER, ORDER_AUTO, rw));
  g_object_class_install_property (oc, PROP_MEAN, g_param_spec_string ("mean", "Mean",
          "Subtracted from 0..255 pixels: one value or \"r,g,b\"", NULL, rw));
  g_object_class_install_property (oc, PROP_STD, g_param_spec_string ("std", "Std",
          "Divides after the mean: one value or \"r,g,b\"", NULL, rw));
  g_object_class_install_property (oc, PROP_SCALE, g_param_spec_double ("scale", "Scale",
          "Multiplies after the mean (instead of std); 0: unset", 0, G_MAXDOUBLE, 0, rw));
  g_object_class_install_property (oc, PROP_LAYOUT, g_param_spec_enum ("layout", "Layout",
          "Input tensor layout", GST_TYPE_CNN_LAYOUT, LAYOUT_AUTO, rw));
  g_object_class_install_property (oc, PROP_KEEP_ASPECT, g_param_spec_boolean ("keep-aspect",
          "Keep aspect", "Letterbox the frame instead of stretching it", FALSE, rw));
  g_object_class_install_property (oc, PROP_QOS_POLICY, g_param_spec_enum ("qos-policy", "QoS policy",
          "What to do with frames that downstream's QoS events say are late (live sources: an "
          "element slower than the camera sheds work instead of adding latency)",
          GST_TYPE_CNN_QOS_POLICY, QOS_DROP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (oc, PROP_LATENCY, g_param_spec_uint64 ("latency", "Latency",
          "Processing latency added to LATENCY queries in live pipelines, in ns; unset: measured, "
          "the fastest frame after the first, or a blank run if asked before frames flow (reads the "
          "value in use); batch-size N adds N-1 frame durations to it", 0, G_MAXUINT64,
          GST_CLOCK_TIME_NONE, rw));
  g_object_class_install_property (oc, PROP_STATS, g_param_spec_boxed ("stats", "Statistics",
          "frames, inferences, late-skipped, late-dropped, preprocess-ms, inference-ms, element-ms, "
          "partial-batch-frames (frames inferred in a batch that went before it was full)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_BATCH_SIZE, g_param_spec_uint ("batch-size", "Batch size",
          "Frames inferred together in one run (the GPU's throughput; the model needs a symbolic first "
          "dimension); frames wait for their batch, a partial one goes at EOS, caps, segment or gap events",
          1, 256, 1, rw));
  g_object_class_install_property (oc, PROP_BATCH_TIMEOUT, g_param_spec_uint ("batch-timeout",
          "Batch timeout", "Milliseconds of stream time a partial batch waits: a frame arriving later "
          "than that after the batch's first one sends the batch on first; 0: wait until full", 0,
          G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (oc, PROP_MODEL_INSTANCE_ID, g_param_spec_string ("model-instance-id",
          "Model instance id", "Elements with the same id (and model, batch-size and input size) fill one "
          "batch together, from their streams' threads: a frame waits for the others' until the batch is "
          "full or batch-timeout milliseconds have passed (wall clock; 0: 100; the first element's)", NULL, rw));
  g_object_class_install_property (oc, PROP_PREPROCESS, g_param_spec_enum ("preprocess", "Pre-processing",
          "Where frames become the input tensor (colour conversion, scaling, normalization)",
          GST_TYPE_CNN_PREPROCESS_ON, PRE_AUTO, rw));
  bt->start = gst_cnn_filter_start;
  bt->stop = gst_cnn_filter_stop;
  bt->submit_input_buffer = gst_cnn_filter_submit_input_buffer;
  bt->generate_output = gst_cnn_filter_generate_output;
  bt->sink_event = gst_cnn_filter_sink_event;
  bt->src_event = gst_cnn_filter_src_event;
  bt->query = gst_cnn_filter_query;
  bt->transform_ip = gst_cnn_filter_transform_ip;
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_FILTER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_COLOR_ORDER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_LAYOUT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_QOS_POLICY, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CNN_PREPROCESS_ON, 0);
}

void
gst_cnn_filter_add_pad_templates (GstElementClass * ec)
{
  GstCaps *caps = gst_caps_from_string (GST_VIDEO_CAPS_MAKE (GST_CNN_VIDEO_FORMATS));
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref (caps);
}
