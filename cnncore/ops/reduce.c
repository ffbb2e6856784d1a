/* reduce.c - ReduceMean/Sum/Max/Min over a set of axes, ArgMax/ArgMin along
 * one axis. */
#include "ops.h"

typedef struct {
  int64_t axes[CNN_MAX_DIMS];
  int n_axes;                   /* -1: all (or from input 1) */
  bool keepdims, noop_with_empty_axes, select_last;
} reduce_params;

static bool
is_arg (cnn_op op)
{
  return op == CNN_OP_ARGMAX || op == CNN_OP_ARGMIN;
}

static cnn_status
reduce_parse (const cnn_node *n, void *params, GString *err)
{
  reduce_params *p = params;
  p->keepdims = cnn_attr_int (n, "keepdims", 1) != 0;
  p->noop_with_empty_axes = cnn_attr_int (n, "noop_with_empty_axes", 0) != 0;
  p->select_last = cnn_attr_int (n, "select_last_index", 0) != 0;
  if (is_arg (n->op)) {
    p->axes[0] = cnn_attr_int (n, "axis", 0);
    p->n_axes = 1;
  } else {
    p->n_axes = cnn_attr_ints (n, "axes", p->axes, CNN_MAX_DIMS);
    if (p->n_axes > CNN_MAX_DIMS)
      return cnn_node_fail (n, err, CNN_E_INVALID, "too many axes");
  }
  return CNN_OK;
}

/* Marks the reduced axes; false with an error set on bad axes. */
static cnn_status
reduce_axes (cnn_exec *x, bool *red, bool *noop)
{
  const reduce_params *p = x->params;
  int nd = x->in[0]->ndim, na = p->n_axes;
  int64_t axes[CNN_MAX_DIMS];
  memcpy (axes, p->axes, sizeof axes);
  *noop = false;
  if (x->n_in > 1 && x->in[1]) {
    cnn_status st = cnn_need_const (x, 1);
    if (st)
      return st;
    na = (int) cnn_tensor_numel (x->in[1]);
    if (na > CNN_MAX_DIMS)
      return cnn_exec_fail (x, CNN_E_SHAPE, "too many axes");
    for (int i = 0; i < na; i++)
      axes[i] = cnn_tensor_get_int (x->in[1], i);
  }
  for (int d = 0; d < nd; d++)
    red[d] = na <= 0;
  if (na <= 0 && p->noop_with_empty_axes) {
    for (int d = 0; d < nd; d++)
      red[d] = false;
    *noop = true;
  }
  for (int i = 0; i < na; i++) {
    int a = cnn_axis (axes[i], nd);
    if (a < 0)
      return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", axes[i]);
    red[a] = true;
  }
  return CNN_OK;
}

static cnn_status
reduce_infer (cnn_exec *x)
{
  const reduce_params *p = x->params;
  cnn_status st;
  bool red[CNN_MAX_DIMS], noop;
  if ((st = cnn_need_inputs (x, 1, 2)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)) ||
      (st = reduce_axes (x, red, &noop)))
    return st;
  const cnn_tensor *X = x->in[0];
  int64_t dims[CNN_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < X->ndim; d++) {
    if (!red[d])
      dims[nd++] = X->dims[d];
    else if (p->keepdims)
      dims[nd++] = 1;
    if (red[d] && X->dims[d] == 0 && x->node->op != CNN_OP_REDUCE_SUM)
      return cnn_exec_fail (x, CNN_E_SHAPE, "cannot reduce an empty axis");
  }
  cnn_set_out (x, 0, is_arg (x->node->op) ? CNN_DTYPE_INT64 : CNN_DTYPE_FLOAT32, nd, dims);
  return CNN_OK;
}

static cnn_status
reduce_compute (cnn_exec *x)
{
  const reduce_params *p = x->params;
  bool red[CNN_MAX_DIMS], noop;
  cnn_status st = reduce_axes (x, red, &noop);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0];
  cnn_op op = x->node->op;
  int nd = X->ndim;
  /* Output index space: X's dims with reduced ones set to 1 (keepdims layout). */
  cnn_tensor K = *X;
  for (int d = 0; d < nd; d++)
    if (red[d])
      K.dims[d] = 1;
  int64_t nout = cnn_tensor_numel (&K), count = cnn_tensor_numel (X) / MAX (nout, 1);
  int64_t kst[CNN_MAX_DIMS], xst[CNN_MAX_DIMS];
  cnn_strides (&K, kst);
  cnn_strides (X, xst);
  /* reduced sub-shape for iterating one window */
  cnn_tensor R = *X;
  for (int d = 0; d < nd; d++)
    if (!red[d])
      R.dims[d] = 1;
  int64_t rst[CNN_MAX_DIMS];
  cnn_strides (&R, rst);
  const float *xd = X->data;
  for (int64_t o = 0; o < nout; o++) {
    int64_t base = 0, r = o;
    for (int d = 0; d < nd; d++) {
      base += (r / kst[d]) * xst[d];
      r %= kst[d];
    }
    double acc = op == CNN_OP_REDUCE_MAX || op == CNN_OP_ARGMAX ? -INFINITY :
        op == CNN_OP_REDUCE_MIN || op == CNN_OP_ARGMIN ? INFINITY : 0.0;
    int64_t best = 0;
    for (int64_t j = 0; j < count; j++) {
      int64_t off = base, rr = j;
      for (int d = 0; d < nd; d++) {
        off += (rr / rst[d]) * xst[d];
        rr %= rst[d];
      }
      float v = xd[off];
      switch (op) {
        case CNN_OP_REDUCE_MAX: acc = v > acc ? v : acc; break;
        case CNN_OP_REDUCE_MIN: acc = v < acc ? v : acc; break;
        case CNN_OP_ARGMAX:
          if (v > acc || (p->select_last && v == acc) || j == 0) { acc = v; best = j; }
          break;
        case CNN_OP_ARGMIN:
          if (v < acc || (p->select_last && v == acc) || j == 0) { acc = v; best = j; }
          break;
        default: acc += v; break;
      }
    }
    if (is_arg (op))
      ((int64_t *) x->out[0]->data)[o] = best;
    else
      ((float *) x->out[0]->data)[o] = (float) (op == CNN_OP_REDUCE_MEAN ? acc / MAX (count, 1) : acc);
  }
  return CNN_OK;
}

#define REDUCE(fn, name) \
  CNN_OP_DEF (fn) = { name, sizeof (reduce_params), reduce_parse, reduce_infer, reduce_compute, \
    NULL, NULL, NULL, 0, 0x2 }

REDUCE (reduce_mean, "ReduceMean");
REDUCE (reduce_sum, "ReduceSum");
REDUCE (reduce_max, "ReduceMax");
REDUCE (reduce_min, "ReduceMin");
REDUCE (argmax, "ArgMax");
REDUCE (argmin, "ArgMin");
