/* model.c - the public model object: load, inspect, reference counting. */
#include "cnn-private.h"

int
cnn_model_add_value (cnn_model *m, const char *name)
{
  cnn_value *v = g_new0 (cnn_value, 1);
  v->name = g_strdup (name);
  v->ndim = -1;
  v->producer = -1;
  v->input_index = -1;
  v->output_index = -1;
  g_ptr_array_add (m->values, v);
  int idx = (int) m->values->len - 1;
  g_hash_table_insert (m->value_by_name, v->name, GINT_TO_POINTER (idx + 1));
  return idx;
}

static void
value_free (gpointer p)
{
  cnn_value *v = p;
  g_free (v->name);
  g_free (v->const_data);
  for (int i = 0; i < CNN_MAX_DIMS; i++)
    g_free (v->dim_names[i]);
  g_free (v);
}

static void
node_free (gpointer p)
{
  cnn_node *n = p;
  g_free (n->name);
  g_free (n->op_type);
  g_free (n->in);
  g_free (n->out);
  for (int i = 0; i < n->n_attrs; i++) {
    cnn_attr *a = &n->attrs[i];
    g_free (a->name);
    g_free (a->s);
    g_free (a->floats);
    g_free (a->ints);
    g_free (a->t.data);
  }
  g_free (n->attrs);
  g_free (n->params);
  g_free (n);
}

static cnn_model *
model_new (const char *base_dir)
{
  cnn_model *m = g_new0 (cnn_model, 1);
  m->ref_count = 1;
  m->values = g_ptr_array_new_with_free_func (value_free);
  m->nodes = g_ptr_array_new_with_free_func (node_free);
  m->value_by_name = g_hash_table_new (g_str_hash, g_str_equal);
  m->op_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m->base_dir = g_strdup (base_dir);
  return m;
}

cnn_model *
cnn_model_ref (cnn_model *model)
{
  g_atomic_int_inc (&model->ref_count);
  return model;
}

void
cnn_model_unref (cnn_model *m)
{
  if (!m || !g_atomic_int_dec_and_test (&m->ref_count))
    return;
  g_hash_table_destroy (m->value_by_name);
  g_hash_table_destroy (m->op_counts);
  g_ptr_array_free (m->nodes, TRUE);
  g_ptr_array_free (m->values, TRUE);
  g_free (m->input_values);
  g_free (m->output_values);
  g_free (m->inputs);
  g_free (m->outputs);
  g_free (m->producer);
  g_free (m->base_dir);
  g_free (m);
}

/* Turns Constant nodes into constant values so graph passes see them. */
static cnn_status
materialize_constants (cnn_model *m, GString *err)
{
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    if (n->op != CNN_OP_CONSTANT)
      continue;
    if (n->n_out != 1 || n->out[0] < 0)
      return cnn_node_fail (n, err, CNN_E_INVALID, "needs exactly one output");
    cnn_value *v = cnn_model_value (m, n->out[0]);
    cnn_tensor t = { 0 };
    const cnn_attr *a = cnn_node_attr (n, "value");
    int64_t one = 1;
    if (a && a->type == CNN_ATTR_TENSOR) {
      t = a->t;
      size_t bytes = (size_t) MAX (cnn_tensor_numel (&t), 0) * cnn_dtype_size (t.dtype);
      t.data = g_memdup2 (a->t.data, MAX (bytes, 1));
    } else if ((a = cnn_node_attr (n, "value_float")) && a->type == CNN_ATTR_FLOAT) {
      cnn_tensor_set_shape (&t, CNN_DTYPE_FLOAT32, 0, NULL);
      t.data = g_memdup2 (&a->f, sizeof (float));
    } else if ((a = cnn_node_attr (n, "value_int")) && a->type == CNN_ATTR_INT) {
      cnn_tensor_set_shape (&t, CNN_DTYPE_INT64, 0, NULL);
      t.data = g_memdup2 (&a->i, sizeof (int64_t));
    } else if ((a = cnn_node_attr (n, "value_floats")) && a->type == CNN_ATTR_FLOATS) {
      one = a->n;
      cnn_tensor_set_shape (&t, CNN_DTYPE_FLOAT32, 1, &one);
      t.data = g_memdup2 (a->floats, sizeof (float) * MAX (a->n, 1));
    } else if ((a = cnn_node_attr (n, "value_ints")) && a->type == CNN_ATTR_INTS) {
      one = a->n;
      cnn_tensor_set_shape (&t, CNN_DTYPE_INT64, 1, &one);
      t.data = g_memdup2 (a->ints, sizeof (int64_t) * MAX (a->n, 1));
    } else {
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "needs a 'value' tensor attribute "
          "(sparse and string constants are not supported)");
    }
    v->dtype = t.dtype;
    v->ndim = t.ndim;
    memcpy (v->dims, t.dims, sizeof t.dims);
    v->const_data = t.data;
    v->producer = -1;
    n->dead = true;
  }
  return CNN_OK;
}

static void
fill_info (cnn_tensor_info *info, const cnn_value *v)
{
  info->name = v->name;
  info->dtype = v->dtype;
  info->file_dtype = v->file_dtype ? v->file_dtype : v->dtype;
  info->ndim = MAX (v->ndim, 0);
  for (int i = 0; i < info->ndim; i++) {
    info->dims[i] = v->dims[i];
    info->dim_names[i] = v->dim_names[i];
  }
}

static cnn_status
model_prepare (cnn_model *m, GString *err)
{
  cnn_status st;
  /* Parse every op's params first: it reports attribute problems early. */
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    const cnn_op_def *def = cnn_op_defs[n->op];
    g_hash_table_insert (m->op_counts, g_strdup (n->op_type),
        GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (m->op_counts, n->op_type)) + 1));
    if (def->params_size)
      n->params = g_malloc0 (def->params_size);
    if (def->parse && (st = def->parse (n, n->params, err)) != CNN_OK)
      return st;
  }
  if ((st = materialize_constants (m, err)) != CNN_OK)
    return st;
  if ((st = cnn_graph_sort (m, err)) != CNN_OK)
    return st;
  cnn_graph_optimize (m);
  cnn_graph_mark_shape_inputs (m);

  m->inputs = g_new0 (cnn_tensor_info, MAX (m->n_inputs, 1));
  for (int i = 0; i < m->n_inputs; i++)
    fill_info (&m->inputs[i], cnn_model_value (m, m->input_values[i]));
  m->outputs = g_new0 (cnn_tensor_info, m->n_outputs);
  for (int i = 0; i < m->n_outputs; i++)
    fill_info (&m->outputs[i], cnn_model_value (m, m->output_values[i]));
  m->stats.n_nodes = (int) m->nodes->len;
  return CNN_OK;
}

cnn_model *
cnn_model_load_from_memory (const void *data, size_t size, const char *base_dir, GError **error)
{
  cnn_model *m = model_new (base_dir);
  GString *err = g_string_new (NULL);
  cnn_status st = cnn_onnx_load (m, data, size, err);
  if (st == CNN_OK)
    st = model_prepare (m, err);
  if (st != CNN_OK) {
    g_set_error (error, CNN_ERROR, cnn_error_code_from_status (st), "%s", err->str);
    cnn_model_unref (m);
    m = NULL;
  }
  g_string_free (err, TRUE);
  return m;
}

cnn_model *
cnn_model_load (const char *path, GError **error)
{
  gchar *contents;
  gsize len;
  GError *e = NULL;
  if (!g_file_get_contents (path, &contents, &len, &e)) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_IO, "cannot read model: %s", e->message);
    g_error_free (e);
    return NULL;
  }
  char *dir = g_path_get_dirname (path);
  cnn_model *m = cnn_model_load_from_memory (contents, len, dir, &e);
  g_free (dir);
  g_free (contents);
  if (!m) {
    g_set_error (error, CNN_ERROR, e->code, "%s: %s", path, e->message);
    g_error_free (e);
  }
  return m;
}

int cnn_model_get_n_inputs (const cnn_model *m) { return m->n_inputs; }
int cnn_model_get_n_outputs (const cnn_model *m) { return m->n_outputs; }

const cnn_tensor_info *
cnn_model_get_input (const cnn_model *m, int i)
{
  return i >= 0 && i < m->n_inputs ? &m->inputs[i] : NULL;
}

const cnn_tensor_info *
cnn_model_get_output (const cnn_model *m, int i)
{
  return i >= 0 && i < m->n_outputs ? &m->outputs[i] : NULL;
}

int
cnn_model_find_input (const cnn_model *m, const char *name)
{
  for (int i = 0; i < m->n_inputs; i++)
    if (strcmp (m->inputs[i].name, name) == 0)
      return i;
  return -1;
}

int
cnn_model_find_output (const cnn_model *m, const char *name)
{
  for (int i = 0; i < m->n_outputs; i++)
    if (strcmp (m->outputs[i].name, name) == 0)
      return i;
  return -1;
}

void
cnn_model_get_stats (const cnn_model *m, cnn_model_stats *stats)
{
  *stats = m->stats;
}

static gint
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

void
cnn_model_foreach_op_type (const cnn_model *m,
    void (*func) (const char *op_type, int count, gpointer user_data), gpointer user_data)
{
  guint n;
  gpointer *keys = g_hash_table_get_keys_as_array (m->op_counts, &n);
  qsort (keys, n, sizeof (gpointer), compare_keys);
  for (guint i = 0; i < n; i++)
    func (keys[i], GPOINTER_TO_INT (g_hash_table_lookup (m->op_counts, keys[i])), user_data);
  g_free (keys);
}
