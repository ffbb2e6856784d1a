/* gather.c - Gather along an axis with int32/int64 (possibly negative) indices. */
#include "ops.h"

typedef struct {
  int64_t axis;
} gather_params;

static cnn_status
gather_parse (const cnn_node *n, void *params, GString *err)
{
  (void) err;
  ((gather_params *) params)->axis = cnn_attr_int (n, "axis", 0);
  return CNN_OK;
}

static cnn_status
gather_infer (cnn_exec *x)
{
  const gather_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 2)))
    return st;
  const cnn_tensor *D = x->in[0], *I = x->in[1];
  if (I->dtype != CNN_DTYPE_INT64 && I->dtype != CNN_DTYPE_INT32)
    return cnn_exec_fail (x, CNN_E_INVALID, "indices must be int32 or int64");
  int axis = cnn_axis (p->axis, D->ndim);
  if (axis < 0 || D->ndim == 0)
    return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", p->axis);
  if (D->ndim - 1 + I->ndim > CNN_MAX_DIMS)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "output rank above %d", CNN_MAX_DIMS);
  int64_t dims[CNN_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < axis; d++)
    dims[nd++] = D->dims[d];
  for (int d = 0; d < I->ndim; d++)
    dims[nd++] = I->dims[d];
  for (int d = axis + 1; d < D->ndim; d++)
    dims[nd++] = D->dims[d];
  cnn_set_out (x, 0, D->dtype, nd, dims);
  return CNN_OK;
}

static cnn_status
gather_compute (cnn_exec *x)
{
  const gather_params *p = x->params;
  const cnn_tensor *D = x->in[0], *I = x->in[1];
  int axis = cnn_axis (p->axis, D->ndim);
  size_t es = cnn_dtype_size (D->dtype);
  int64_t outer = cnn_dims_prod (D, 0, axis), inner = cnn_dims_prod (D, axis + 1, D->ndim) * es;
  int64_t dim = D->dims[axis], ni = cnn_tensor_numel (I);
  char *o = x->out[0]->data;
  for (int64_t j = 0; j < ni; j++) {
    int64_t k = cnn_tensor_get_int (I, j);
    if (k < 0)
      k += dim;
    if (k < 0 || k >= dim)
      return cnn_exec_fail (x, CNN_E_SHAPE, "index %" G_GINT64_FORMAT " is out of range [%"
          G_GINT64_FORMAT ", %" G_GINT64_FORMAT ")", cnn_tensor_get_int (I, j), -dim, dim);
  }
  for (int64_t a = 0; a < outer; a++)
    for (int64_t j = 0; j < ni; j++) {
      int64_t k = cnn_tensor_get_int (I, j);
      if (k < 0)
        k += dim;
      memcpy (o + (a * ni + j) * inner, (const char *) D->data + (a * dim + k) * inner, inner);
    }
  return CNN_OK;
}

CNN_OP_DEF (gather) = { "Gather", sizeof (gather_params), gather_parse, gather_infer,
  gather_compute, NULL, NULL, NULL, 0 };
