/* graph.c - load-time graph passes: topological order, BatchNormalization
 * folded into Conv, activations fused into their producer. */
#include "cnn-private.h"
#include <math.h>

static void
reindex_producers (cnn_model *m)
{
  for (guint i = 0; i < m->values->len; i++)
    cnn_model_value (m, i)->producer = -1;
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    for (int k = 0; k < n->n_out && !n->dead; k++)
      if (n->out[k] >= 0)
        cnn_model_value (m, n->out[k])->producer = (int) i;
  }
}

cnn_status
cnn_graph_sort (cnn_model *m, GString *err)
{
  guint n = m->nodes->len;
  int *indeg = g_new0 (int, MAX (n, 1));
  GPtrArray *sorted = g_ptr_array_new_full (n, NULL);
  /* consumers[v] lists the nodes reading value v */
  GPtrArray **consumers = g_new0 (GPtrArray *, m->values->len);
  for (guint i = 0; i < n; i++) {
    cnn_node *nd = cnn_model_node (m, i);
    if (nd->dead)
      continue;
    for (int k = 0; k < nd->n_in; k++) {
      int v = nd->in[k];
      if (v < 0 || cnn_model_value (m, v)->producer < 0)
        continue;
      indeg[i]++;
      if (!consumers[v])
        consumers[v] = g_ptr_array_new ();
      g_ptr_array_add (consumers[v], GUINT_TO_POINTER (i));
    }
  }
  /* Kahn's algorithm, taking ready nodes in file order. */
  GQueue ready = G_QUEUE_INIT;
  for (guint i = 0; i < n; i++)
    if (!cnn_model_node (m, i)->dead && indeg[i] == 0)
      g_queue_push_tail (&ready, GUINT_TO_POINTER (i));
  guint live = 0;
  for (guint i = 0; i < n; i++)
    live += !cnn_model_node (m, i)->dead;
  while (!g_queue_is_empty (&ready)) {
    guint i = GPOINTER_TO_UINT (g_queue_pop_head (&ready));
    cnn_node *nd = cnn_model_node (m, i);
    g_ptr_array_add (sorted, nd);
    for (int k = 0; k < nd->n_out; k++) {
      int v = nd->out[k];
      if (v < 0 || !consumers[v])
        continue;
      for (guint c = 0; c < consumers[v]->len; c++) {
        guint j = GPOINTER_TO_UINT (g_ptr_array_index (consumers[v], c));
        if (--indeg[j] == 0)
          g_queue_push_tail (&ready, GUINT_TO_POINTER (j));
      }
    }
  }
  cnn_status st = CNN_OK;
  if (sorted->len != live) {
    for (guint i = 0; i < n; i++) {
      if (!cnn_model_node (m, i)->dead && indeg[i] > 0) {
        st = cnn_node_fail (cnn_model_node (m, i), err, CNN_E_INVALID,
            "is part of a cycle: the graph is not a DAG");
        break;
      }
    }
  }
  for (guint i = 0; i < m->values->len; i++)
    if (consumers[i])
      g_ptr_array_free (consumers[i], TRUE);
  g_free (consumers);
  g_free (indeg);
  if (st == CNN_OK) {
    /* Sorted live nodes first, dead ones after (dropped by the optimizer). */
    for (guint i = 0; i < n; i++)
      if (cnn_model_node (m, i)->dead)
        g_ptr_array_add (sorted, cnn_model_node (m, i));
    if (n)
      memcpy (m->nodes->pdata, sorted->pdata, sizeof (gpointer) * n);
    reindex_producers (m);
  }
  g_ptr_array_free (sorted, TRUE);
  return st;
}

void
cnn_graph_count_consumers (cnn_model *m)
{
  for (guint i = 0; i < m->values->len; i++)
    cnn_model_value (m, i)->n_consumers = 0;
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    if (n->dead)
      continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0)
        cnn_model_value (m, n->in[k])->n_consumers++;
  }
  for (int i = 0; i < m->n_outputs; i++)
    cnn_model_value (m, m->output_values[i])->n_consumers++;
}

/* The node producing n's input k, if it feeds nothing else. */
static cnn_node *
sole_producer (cnn_model *m, const cnn_node *n, int k)
{
  if (k >= n->n_in || n->in[k] < 0)
    return NULL;
  cnn_value *v = cnn_model_value (m, n->in[k]);
  if (v->producer < 0 || v->n_consumers != 1 || v->output_index >= 0)
    return NULL;
  cnn_node *p = cnn_model_node (m, v->producer);
  return p->dead ? NULL : p;
}

static const float *
const_floats (cnn_model *m, const cnn_node *n, int k, int64_t count)
{
  if (k >= n->n_in || n->in[k] < 0)
    return NULL;
  cnn_value *v = cnn_model_value (m, n->in[k]);
  if (!v->const_data || v->dtype != CNN_DTYPE_FLOAT32)
    return NULL;
  int64_t numel = 1;
  for (int i = 0; i < v->ndim; i++)
    numel *= v->dims[i];
  return count < 0 || numel == count ? v->const_data : NULL;
}

static int
add_const (cnn_model *m, const char *base, const char *suffix, float *data, int ndim,
    const int64_t *dims)
{
  char *name = g_strconcat (base, suffix, NULL);
  while (g_hash_table_contains (m->value_by_name, name)) {
    char *n2 = g_strconcat (name, "_", NULL);
    g_free (name);
    name = n2;
  }
  int idx = cnn_model_add_value (m, name);
  g_free (name);
  cnn_value *v = cnn_model_value (m, idx);
  v->dtype = CNN_DTYPE_FLOAT32;
  v->ndim = ndim;
  memcpy (v->dims, dims, sizeof (int64_t) * ndim);
  v->const_data = data;
  return idx;
}

/* Moves n's output 0 onto p, which then produces it; n dies. */
static void
absorb (cnn_model *m, cnn_node *p, cnn_node *n)
{
  p->out[0] = n->out[0];
  n->dead = true;
  reindex_producers (m);
  cnn_graph_count_consumers (m);
}

static bool
fold_batchnorm (cnn_model *m, cnn_node *bn)
{
  cnn_node *conv = sole_producer (m, bn, 0);
  if (!conv || conv->op != CNN_OP_CONV || conv->act.type != CNN_ACT_NONE || conv->n_in < 2)
    return false;
  for (int k = 1; k < bn->n_out; k++)
    if (bn->out[k] >= 0 && cnn_model_value (m, bn->out[k])->n_consumers)
      return false;
  cnn_value *wv = cnn_model_value (m, conv->in[1]);
  if (!wv->const_data || wv->dtype != CNN_DTYPE_FLOAT32 || wv->ndim < 3)
    return false;
  int64_t M = wv->dims[0], per = 1;
  for (int i = 1; i < wv->ndim; i++)
    per *= wv->dims[i];
  const float *gamma = const_floats (m, bn, 1, M), *beta = const_floats (m, bn, 2, M),
      *mean = const_floats (m, bn, 3, M), *var = const_floats (m, bn, 4, M);
  const float *bias = conv->n_in > 2 ? const_floats (m, conv, 2, M) : NULL;
  if (!gamma || !beta || !mean || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !bias))
    return false;
  float eps = cnn_attr_float (bn, "epsilon", 1e-5f);
  float *w = g_new (float, M * per), *b = g_new (float, M);
  const float *w0 = wv->const_data;
  for (int64_t o = 0; o < M; o++) {
    float s = gamma[o] / sqrtf (var[o] + eps);
    for (int64_t j = 0; j < per; j++)
      w[o * per + j] = w0[o * per + j] * s;
    b[o] = ((bias ? bias[o] : 0.f) - mean[o]) * s + beta[o];
  }
  int wi = add_const (m, conv->name, ".weight_bn", w, wv->ndim, wv->dims);
  int bi = add_const (m, conv->name, ".bias_bn", b, 1, &M);
  if (conv->n_in < 3) {
    conv->in = g_renew (int, conv->in, 3);
    conv->n_in = 3;
  }
  conv->in[1] = wi;
  conv->in[2] = bi;
  absorb (m, conv, bn);
  return true;
}

static bool
fuse_activation (cnn_model *m, cnn_node *a)
{
  cnn_act act = { CNN_ACT_NONE, 0.f, 0.f };
  switch (a->op) {
    case CNN_OP_RELU: act.type = CNN_ACT_RELU; break;
    case CNN_OP_LEAKY_RELU:
      act.type = CNN_ACT_LEAKY_RELU;
      act.alpha = cnn_attr_float (a, "alpha", 0.01f);
      break;
    case CNN_OP_SIGMOID: act.type = CNN_ACT_SIGMOID; break;
    case CNN_OP_TANH: act.type = CNN_ACT_TANH; break;
    case CNN_OP_HARD_SWISH: act.type = CNN_ACT_HARD_SWISH; break;
    case CNN_OP_CLIP:
      act.type = CNN_ACT_CLIP;
      act.alpha = -INFINITY;
      act.beta = INFINITY;
      if (a->opset < 11) {
        act.alpha = cnn_attr_float (a, "min", -INFINITY);
        act.beta = cnn_attr_float (a, "max", INFINITY);
      } else {
        for (int k = 1; k < a->n_in && k < 3; k++) {
          if (a->in[k] < 0)
            continue;
          const float *c = const_floats (m, a, k, 1);
          if (!c)
            return false;
          *(k == 1 ? &act.alpha : &act.beta) = c[0];
        }
      }
      break;
    default:
      return false;
  }
  cnn_node *p = sole_producer (m, a, 0);
  if (!p || !(cnn_op_defs[p->op]->flags & CNN_OPF_FUSE_ACT) || p->act.type != CNN_ACT_NONE)
    return false;
  p->act = act;
  absorb (m, p, a);
  return true;
}

/* Mul(x, Sigmoid(x)) after a Conv is SiLU (YOLOv5/v8, EfficientNet). */
static bool
fuse_silu (cnn_model *m, cnn_node *mul)
{
  if (mul->n_in != 2 || mul->in[0] < 0 || mul->in[1] < 0)
    return false;
  for (int k = 0; k < 2; k++) {
    cnn_node *sig = sole_producer (m, mul, 1 - k);
    int x = mul->in[k];
    if (!sig || sig->op != CNN_OP_SIGMOID || sig->in[0] != x)
      continue;
    cnn_value *xv = cnn_model_value (m, x);
    if (xv->producer < 0 || xv->n_consumers != 2 || xv->output_index >= 0)
      continue;
    cnn_node *conv = cnn_model_node (m, xv->producer);
    if (!(cnn_op_defs[conv->op]->flags & CNN_OPF_FUSE_ACT) || conv->act.type != CNN_ACT_NONE)
      continue;
    conv->act.type = CNN_ACT_SILU;
    sig->dead = true;
    absorb (m, conv, mul);
    return true;
  }
  return false;
}

void
cnn_graph_optimize (cnn_model *m)
{
  cnn_graph_count_consumers (m);
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    if (n->dead)
      continue;
    if (n->op == CNN_OP_BATCH_NORM && fold_batchnorm (m, n))
      m->stats.n_folded_batchnorms++;
    else if (fuse_activation (m, n))
      m->stats.n_fused_activations++;
    else if (n->op == CNN_OP_MUL && fuse_silu (m, n))
      m->stats.n_fused_activations++;
  }
  /* Drop dead nodes, keeping topological order. */
  GPtrArray *order = g_ptr_array_new ();
  guint n_live = 0;
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < m->nodes->len; i++)
      if (cnn_model_node (m, i)->dead == (pass == 1)) {
        g_ptr_array_add (order, cnn_model_node (m, i));
        n_live += pass == 0;
      }
  if (order->len)
    memcpy (m->nodes->pdata, order->pdata, sizeof (gpointer) * order->len);
  g_ptr_array_remove_range (m->nodes, n_live, m->nodes->len - n_live);
  g_ptr_array_free (order, TRUE);
  reindex_producers (m);
  cnn_graph_count_consumers (m);
}

/* Marks the graph inputs whose values reach an input that shapes some
 * output (op->shape_inputs): the session plans with their values. */
void
cnn_graph_mark_shape_inputs (cnn_model *m)
{
  guint nv = m->values->len;
  bool *seen = g_new0 (bool, nv);
  GArray *stack = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint i = 0; i < m->nodes->len; i++) {
    cnn_node *n = cnn_model_node (m, i);
    unsigned mask = cnn_op_defs[n->op]->shape_inputs;
    for (int k = 0; k < n->n_in && k < 32; k++)
      if ((mask & (1u << k)) && n->in[k] >= 0)
        g_array_append_val (stack, n->in[k]);
  }
  while (stack->len) {
    int v = g_array_index (stack, int, stack->len - 1);
    g_array_set_size (stack, stack->len - 1);
    if (seen[v])
      continue;
    seen[v] = true;
    cnn_value *val = cnn_model_value (m, v);
    if (val->input_index >= 0)
      val->feeds_shape = true;
    if (val->producer < 0)
      continue;
    const cnn_node *p = cnn_model_node (m, val->producer);
    if (cnn_op_defs[p->op]->flags & CNN_OPF_SHAPE_ONLY)
      continue;                 /* Shape reads dims only */
    for (int k = 0; k < p->n_in; k++)
      if (p->in[k] >= 0)
        g_array_append_val (stack, p->in[k]);
  }
  g_array_free (stack, TRUE);
  g_free (seen);
}
