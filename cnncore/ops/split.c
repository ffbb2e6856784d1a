/* split.c - Split along one axis into given sizes (attribute before opset
 * 13, input from 13) or equal parts. */
#include "ops.h"

#define MAX_SPLIT 64
typedef struct {
  int64_t axis;
  int64_t split[MAX_SPLIT];
  int n_split;
} split_params;

static cnn_status
split_parse (const cnn_node *n, void *params, GString *err)
{
  split_params *p = params;
  p->axis = cnn_attr_int (n, "axis", 0);
  p->n_split = cnn_attr_ints (n, "split", p->split, MAX_SPLIT);
  if (p->n_split > MAX_SPLIT || n->n_out > MAX_SPLIT)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "more than %d parts", MAX_SPLIT);
  return CNN_OK;
}

static cnn_status
split_sizes (cnn_exec *x, int *axis, int64_t *sizes)
{
  const split_params *p = x->params;
  const cnn_tensor *X = x->in[0];
  *axis = cnn_axis (p->axis, X->ndim);
  if (*axis < 0 || X->ndim == 0)
    return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", p->axis);
  int n = x->n_out, ns = p->n_split;
  int64_t given[MAX_SPLIT];
  memcpy (given, p->split, sizeof given);
  if (x->n_in > 1 && x->in[1]) {
    cnn_status st = cnn_need_const (x, 1);
    if (st)
      return st;
    ns = (int) MIN (cnn_tensor_numel (x->in[1]), MAX_SPLIT + 1);
    for (int i = 0; i < ns && i < MAX_SPLIT; i++)
      given[i] = cnn_tensor_get_int (x->in[1], i);
  }
  int64_t total = X->dims[*axis];
  if (ns > 0) {
    if (ns != n)
      return cnn_exec_fail (x, CNN_E_SHAPE, "split has %d sizes for %d outputs", ns, n);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
      if (given[i] < 0)
        return cnn_exec_fail (x, CNN_E_SHAPE, "negative split size");
      sizes[i] = given[i];
      sum += given[i];
    }
    if (sum != total)
      return cnn_exec_fail (x, CNN_E_SHAPE, "split sizes add to %" G_GINT64_FORMAT ", the axis is %"
          G_GINT64_FORMAT, sum, total);
  } else {
    if (n < 1 || total % n)
      return cnn_exec_fail (x, CNN_E_SHAPE, "axis of %" G_GINT64_FORMAT " does not split into %d "
          "equal parts", total, n);
    for (int i = 0; i < n; i++)
      sizes[i] = total / n;
  }
  return CNN_OK;
}

static cnn_status
split_infer (cnn_exec *x)
{
  cnn_status st;
  int axis;
  int64_t sizes[MAX_SPLIT];
  if ((st = cnn_need_inputs (x, 1, 2)) || (st = split_sizes (x, &axis, sizes)))
    return st;
  const cnn_tensor *X = x->in[0];
  for (int k = 0; k < x->n_out; k++) {
    int64_t dims[CNN_MAX_DIMS];
    memcpy (dims, X->dims, sizeof dims);
    dims[axis] = sizes[k];
    cnn_set_out (x, k, X->dtype, X->ndim, dims);
  }
  return CNN_OK;
}

static cnn_status
split_compute (cnn_exec *x)
{
  int axis;
  int64_t sizes[MAX_SPLIT];
  cnn_status st = split_sizes (x, &axis, sizes);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0];
  size_t es = cnn_dtype_size (X->dtype);
  int64_t outer = cnn_dims_prod (X, 0, axis), inner = cnn_dims_prod (X, axis + 1, X->ndim) * es;
  int64_t irow = X->dims[axis] * inner, off = 0;
  for (int k = 0; k < x->n_out; k++) {
    int64_t row = sizes[k] * inner;
    if (x->out[k])
      cnn_copy_rows (x->out[k]->data, row, (const char *) X->data + off, irow, row, outer);
    off += row;
  }
  return CNN_OK;
}

CNN_OP_DEF (split) = { "Split", sizeof (split_params), split_parse, split_infer, split_compute,
  NULL, NULL, NULL, 0, 0x2 };
