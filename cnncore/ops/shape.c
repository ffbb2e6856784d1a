/* shape.c - Shape (with start/end), ConstantOfShape, Expand, and Constant
 * (materialized at load; the table row exists so the op is known). */
#include "ops.h"

typedef struct {
  int64_t start, end;
  bool has_end;
} shape_params;

static cnn_status
shape_parse (const cnn_node *n, void *params, GString *err)
{
  shape_params *p = params;
  (void) err;
  p->start = cnn_attr_int (n, "start", 0);
  p->has_end = cnn_node_attr (n, "end") != NULL;
  p->end = cnn_attr_int (n, "end", 0);
  return CNN_OK;
}

static void
shape_range (const cnn_exec *x, int64_t *s, int64_t *e)
{
  const shape_params *p = x->params;
  int64_t r = x->in[0]->ndim;
  *s = p->start < 0 ? p->start + r : p->start;
  *e = p->has_end ? (p->end < 0 ? p->end + r : p->end) : r;
  *s = CLAMP (*s, 0, r);
  *e = CLAMP (*e, 0, r);
}

static cnn_status
shape_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)))
    return st;
  int64_t s, e;
  shape_range (x, &s, &e);
  int64_t len = MAX (e - s, 0);
  cnn_set_out (x, 0, CNN_DTYPE_INT64, 1, &len);
  return CNN_OK;
}

static cnn_status
shape_compute (cnn_exec *x)
{
  int64_t s, e;
  shape_range (x, &s, &e);
  for (int64_t i = s; i < e; i++)
    ((int64_t *) x->out[0]->data)[i - s] = x->in[0]->dims[i];
  return CNN_OK;
}

CNN_OP_DEF (shape) = { "Shape", sizeof (shape_params), shape_parse, shape_infer, shape_compute,
  NULL, NULL, NULL, CNN_OPF_SHAPE_ONLY };

/* ---- ConstantOfShape ---- */

static cnn_status
const_of_shape_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_need_const (x, 0)))
    return st;
  const cnn_tensor *S = x->in[0];
  const cnn_attr *a = cnn_node_attr (x->node, "value");
  int64_t dims[CNN_MAX_DIMS];
  if (S->ndim != 1 || S->dims[0] > CNN_MAX_DIMS)
    return cnn_exec_fail (x, CNN_E_SHAPE, "shape must be 1D with at most %d values", CNN_MAX_DIMS);
  for (int i = 0; i < S->dims[0]; i++)
    if ((dims[i] = cnn_tensor_get_int (S, i)) < 0)
      return cnn_exec_fail (x, CNN_E_SHAPE, "negative dim");
  if (a && (a->type != CNN_ATTR_TENSOR || cnn_tensor_numel (&a->t) != 1))
    return cnn_exec_fail (x, CNN_E_INVALID, "value must be a one-element tensor");
  cnn_set_out (x, 0, a ? a->t.dtype : CNN_DTYPE_FLOAT32, (int) S->dims[0], dims);
  return CNN_OK;
}

static cnn_status
const_of_shape_compute (cnn_exec *x)
{
  const cnn_attr *a = cnn_node_attr (x->node, "value");
  const cnn_tensor *O = x->out[0];
  size_t es = cnn_dtype_size (O->dtype);
  int64_t n = cnn_tensor_numel (O);
  if (!a) {
    memset (O->data, 0, n * es);
    return CNN_OK;
  }
  for (int64_t i = 0; i < n; i++)
    memcpy ((char *) O->data + i * es, a->t.data, es);
  return CNN_OK;
}

CNN_OP_DEF (constant_of_shape) = { "ConstantOfShape", 0, NULL, const_of_shape_infer,
  const_of_shape_compute, NULL, NULL, NULL, 0, 0x1 };

/* ---- Expand ---- */

static cnn_status
expand_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 2)) || (st = cnn_need_const (x, 1)))
    return st;
  const cnn_tensor *S = x->in[1];
  if (S->ndim != 1 || S->dims[0] > CNN_MAX_DIMS)
    return cnn_exec_fail (x, CNN_E_SHAPE, "shape must be 1D with at most %d values", CNN_MAX_DIMS);
  cnn_tensor shape = { x->in[0]->dtype, (int) S->dims[0] };
  for (int i = 0; i < shape.ndim; i++)
    shape.dims[i] = cnn_tensor_get_int (S, i);
  if (!cnn_broadcast_shape (x->in[0], &shape, &shape))
    return cnn_exec_fail (x, CNN_E_SHAPE, "shape does not broadcast");
  cnn_set_out (x, 0, x->in[0]->dtype, shape.ndim, shape.dims);
  return CNN_OK;
}

static cnn_status
expand_compute (cnn_exec *x)
{
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  size_t es = cnn_dtype_size (X->dtype);
  int64_t st[CNN_MAX_DIMS], ost[CNN_MAX_DIMS], n = cnn_tensor_numel (O);
  cnn_bcast_strides (X, O, st);
  cnn_strides (O, ost);
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, src = 0;
    for (int d = 0; d < O->ndim; d++) {
      src += (r / ost[d]) * st[d];
      r %= ost[d];
    }
    memcpy ((char *) O->data + i * es, (const char *) X->data + src * es, es);
  }
  return CNN_OK;
}

CNN_OP_DEF (expand) = { "Expand", 0, NULL, expand_infer, expand_compute, NULL, NULL, NULL, 0, 0x2 };

/* ---- Constant: turned into a constant value when the model loads ---- */

static cnn_status
constant_infer (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_INVALID, "Constant should have been folded at load");
}

CNN_OP_DEF (constant) = { "Constant", 0, NULL, constant_infer, constant_infer, NULL, NULL, NULL, 0 };
