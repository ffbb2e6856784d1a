/* concat.c - Concat along one axis, any element type. */
#include "geometry.h"

typedef struct {
  int64_t axis;
} concat_params;

static cnn_status
concat_parse (const cnn_node *n, void *params, GString *err)
{
  concat_params *p = params;
  const cnn_attr *a = cnn_node_attr (n, "axis");
  if (!a && n->opset >= 4)
    return cnn_node_fail (n, err, CNN_E_INVALID, "axis is required");
  p->axis = cnn_attr_int (n, "axis", 1);
  return CNN_OK;
}

static cnn_status
concat_infer (cnn_exec *x)
{
  const concat_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 4096)))
    return st;
  const cnn_tensor *A = x->in[0];
  int axis = cnn_axis (p->axis, A->ndim);
  if (axis < 0 || A->ndim == 0)
    return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", p->axis);
  int64_t dims[CNN_MAX_DIMS];
  memcpy (dims, A->dims, sizeof (int64_t) * A->ndim);
  dims[axis] = 0;
  for (int k = 0; k < x->n_in; k++) {
    const cnn_tensor *B = x->in[k];
    if (!B)
      return cnn_exec_fail (x, CNN_E_INVALID, "input %d is missing", k);
    if (B->dtype != A->dtype || B->ndim != A->ndim)
      return cnn_exec_fail (x, CNN_E_SHAPE, "input %d differs in type or rank", k);
    for (int d = 0; d < A->ndim; d++)
      if (d != axis && B->dims[d] != A->dims[d])
        return cnn_exec_fail (x, CNN_E_SHAPE, "input %d differs in dim %d", k, d);
    dims[axis] += B->dims[axis];
  }
  cnn_set_out (x, 0, A->dtype, A->ndim, dims);
  return CNN_OK;
}

int
cnn_concat_axis (const cnn_exec *x)
{
  return cnn_axis (((const concat_params *) x->params)->axis, x->out[0]->ndim);
}

static cnn_status
concat_compute (cnn_exec *x)
{
  const concat_params *p = x->params;
  const cnn_tensor *O = x->out[0];
  int axis = cnn_axis (p->axis, O->ndim);
  size_t es = cnn_dtype_size (O->dtype);
  int64_t outer = cnn_dims_prod (O, 0, axis), inner = cnn_dims_prod (O, axis + 1, O->ndim) * es;
  int64_t orow = O->dims[axis] * inner, off = 0;
  for (int k = 0; k < x->n_in; k++) {
    int64_t row = x->in[k]->dims[axis] * inner;
    /* an input the plan placed in its slice already (session.c) */
    bool in_place = outer == 1 && x->in[k]->data == (const char *) O->data + off;
    if (!in_place)
      cnn_copy_rows ((char *) O->data + off, orow, x->in[k]->data, row, row, outer);
    off += row;
  }
  return CNN_OK;
}

CNN_OP_DEF (concat) = { "Concat", sizeof (concat_params), concat_parse, concat_infer,
  concat_compute, NULL, NULL, NULL, 0 };
