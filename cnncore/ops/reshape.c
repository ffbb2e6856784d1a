/* reshape.c - ops that only change the shape: Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout (inference: identity).  Their output is a view
 * of the input (CNN_OPF_ALIAS): no copy at run time. */
#include "ops.h"

typedef struct {
  int64_t axis;
  int64_t axes[CNN_MAX_DIMS];
  int n_axes;                   /* -1: not given as attribute */
  bool allowzero;
} reshape_params;

static cnn_status
reshape_parse (const cnn_node *n, void *params, GString *err)
{
  reshape_params *p = params;
  p->axis = cnn_attr_int (n, "axis", 1);
  p->allowzero = cnn_attr_int (n, "allowzero", 0) != 0;
  p->n_axes = cnn_attr_ints (n, "axes", p->axes, CNN_MAX_DIMS);
  if (p->n_axes > CNN_MAX_DIMS)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "too many axes");
  if (n->op == CNN_OP_RESHAPE && n->opset < 5)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "Reshape-1 (shape attribute) is not supported");
  return CNN_OK;
}

/* Axes from the attribute or (opset 13+) from input 1. */
static cnn_status
get_axes (cnn_exec *x, int64_t *axes, int *n)
{
  const reshape_params *p = x->params;
  *n = p->n_axes;
  memcpy (axes, p->axes, sizeof p->axes);
  if (x->n_in > 1 && x->in[1]) {
    cnn_status st = cnn_need_const (x, 1);
    if (st)
      return st;
    int64_t c = cnn_tensor_numel (x->in[1]);
    if (c > CNN_MAX_DIMS)
      return cnn_exec_fail (x, CNN_E_SHAPE, "too many axes");
    *n = (int) c;
    for (int i = 0; i < *n; i++)
      axes[i] = cnn_tensor_get_int (x->in[1], i);
  }
  return CNN_OK;
}

static cnn_status
reshape_infer (cnn_exec *x)
{
  const reshape_params *p = x->params;
  cnn_op op = x->node->op;
  cnn_status st;
  int maxin = op == CNN_OP_RESHAPE || op == CNN_OP_SQUEEZE || op == CNN_OP_UNSQUEEZE ? 2 :
      op == CNN_OP_DROPOUT ? 3 : 1;
  if ((st = cnn_need_inputs (x, op == CNN_OP_RESHAPE ? 2 : 1, maxin)))
    return st;
  const cnn_tensor *X = x->in[0];
  int64_t dims[CNN_MAX_DIMS], axes[CNN_MAX_DIMS];
  int nd = 0, na;
  switch (op) {
    case CNN_OP_RESHAPE: {
      if ((st = cnn_need_const (x, 1)))
        return st;
      const cnn_tensor *S = x->in[1];
      if (S->ndim != 1 || S->dims[0] > CNN_MAX_DIMS)
        return cnn_exec_fail (x, CNN_E_SHAPE, "shape must be a 1D tensor of at most %d values", CNN_MAX_DIMS);
      nd = (int) S->dims[0];
      int minus = -1;
      int64_t known = 1;
      for (int i = 0; i < nd; i++) {
        dims[i] = cnn_tensor_get_int (S, i);
        if (dims[i] == 0 && !p->allowzero) {
          if (i >= X->ndim)
            return cnn_exec_fail (x, CNN_E_SHAPE, "shape[%d] = 0 copies a dim the input lacks", i);
          dims[i] = X->dims[i];
        }
        if (dims[i] == -1) {
          if (minus >= 0)
            return cnn_exec_fail (x, CNN_E_SHAPE, "shape has more than one -1");
          minus = i;
        } else if (dims[i] < 0) {
          return cnn_exec_fail (x, CNN_E_SHAPE, "shape[%d] = %" G_GINT64_FORMAT, i, dims[i]);
        } else {
          known *= dims[i];
        }
      }
      int64_t numel = cnn_tensor_numel (X);
      if (minus >= 0)
        dims[minus] = known ? numel / known : 0;
      cnn_tensor t = { X->dtype, nd };
      memcpy (t.dims, dims, sizeof (int64_t) * nd);
      if (cnn_tensor_numel (&t) != numel) {
        char b[128];
        return cnn_exec_fail (x, CNN_E_SHAPE, "cannot reshape %" G_GINT64_FORMAT " elements to %s",
            numel, cnn_shape_str (&t, b, sizeof b));
      }
      break;
    }
    case CNN_OP_FLATTEN: {
      int64_t axis = p->axis < 0 ? p->axis + X->ndim : p->axis;
      if (axis < 0 || axis > X->ndim)
        return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", p->axis);
      nd = 2;
      dims[0] = cnn_dims_prod (X, 0, (int) axis);
      dims[1] = cnn_dims_prod (X, (int) axis, X->ndim);
      break;
    }
    case CNN_OP_SQUEEZE: {
      if ((st = get_axes (x, axes, &na)))
        return st;
      bool drop[CNN_MAX_DIMS] = { false };
      for (int i = 0; i < na; i++) {
        int a = cnn_axis (axes[i], X->ndim);
        if (a < 0 || X->dims[a] != 1)
          return cnn_exec_fail (x, CNN_E_SHAPE, "cannot squeeze axis %" G_GINT64_FORMAT, axes[i]);
        drop[a] = true;
      }
      for (int i = 0; i < X->ndim; i++)
        if (!(na > 0 ? drop[i] : X->dims[i] == 1))
          dims[nd++] = X->dims[i];
      break;
    }
    case CNN_OP_UNSQUEEZE: {
      if ((st = get_axes (x, axes, &na)))
        return st;
      if (na < 0)
        return cnn_exec_fail (x, CNN_E_INVALID, "axes are required");
      nd = X->ndim + na;
      if (nd > CNN_MAX_DIMS)
        return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "more than %d dims", CNN_MAX_DIMS);
      bool ins[CNN_MAX_DIMS] = { false };
      for (int i = 0; i < na; i++) {
        int a = cnn_axis (axes[i], nd);
        if (a < 0 || ins[a])
          return cnn_exec_fail (x, CNN_E_SHAPE, "bad axis %" G_GINT64_FORMAT, axes[i]);
        ins[a] = true;
      }
      for (int i = 0, j = 0; i < nd; i++)
        dims[i] = ins[i] ? 1 : X->dims[j++];
      break;
    }
    default:                    /* Identity, Dropout */
      nd = X->ndim;
      memcpy (dims, X->dims, sizeof (int64_t) * nd);
      if (op == CNN_OP_DROPOUT && x->n_in > 2 && x->in[2]) {
        if ((st = cnn_need_const (x, 2)))
          return st;
        if (cnn_tensor_get_int (x->in[2], 0))
          return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "training_mode=true is not supported");
      }
      if (op == CNN_OP_DROPOUT && x->n_out > 1)
        cnn_set_out (x, 1, CNN_DTYPE_BOOL, nd, dims);
      break;
  }
  cnn_set_out (x, 0, X->dtype, nd, dims);
  return CNN_OK;
}

static cnn_status
reshape_compute (cnn_exec *x)
{
  if (x->in_const[0])           /* folding a constant: out has its own buffer */
    memcpy (x->out[0]->data, x->in[0]->data,
        cnn_tensor_numel (x->in[0]) * cnn_dtype_size (x->in[0]->dtype));
  else
    x->out[0]->data = x->in[0]->data;     /* a view */
  if (x->n_out > 1 && x->out[1])
    memset (x->out[1]->data, 1, cnn_tensor_numel (x->out[1]));
  return CNN_OK;
}

static int64_t
reshape_flops (const cnn_exec *x)
{
  (void) x;
  return 0;
}

#define RESHAPE(fn, name) \
  CNN_OP_DEF (fn) = { name, sizeof (reshape_params), reshape_parse, reshape_infer, \
    reshape_compute, NULL, NULL, reshape_flops, CNN_OPF_ALIAS, 0x6 }

RESHAPE (reshape, "Reshape");
RESHAPE (flatten, "Flatten");
RESHAPE (squeeze, "Squeeze");
RESHAPE (unsqueeze, "Unsqueeze");
RESHAPE (identity, "Identity");
RESHAPE (dropout, "Dropout");
