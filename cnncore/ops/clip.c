/* clip.c - Clip: min/max as attributes (opset < 11) or as inputs. */
#include "geometry.h"

typedef struct {
  float min, max;
} clip_params;

static cnn_status
clip_parse (const cnn_node *n, void *params, GString *err)
{
  clip_params *p = params;
  (void) err;
  p->min = cnn_attr_float (n, "min", -INFINITY);
  p->max = cnn_attr_float (n, "max", INFINITY);
  return CNN_OK;
}

static cnn_status
clip_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 3)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)))
    return st;
  for (int k = 1; k < x->n_in; k++)
    if (x->in[k] && cnn_tensor_numel (x->in[k]) != 1)
      return cnn_exec_fail (x, CNN_E_SHAPE, "min and max must be scalars");
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, x->in[0]->ndim, x->in[0]->dims);
  return CNN_OK;
}

void
cnn_clip_bounds (const cnn_exec *x, float *lo, float *hi)
{
  const clip_params *p = x->params;
  *lo = p->min;
  *hi = p->max;
  if (x->node->opset >= 11) {
    *lo = x->n_in > 1 && x->in[1] ? (float) cnn_tensor_get_double (x->in[1], 0) : -INFINITY;
    *hi = x->n_in > 2 && x->in[2] ? (float) cnn_tensor_get_double (x->in[2], 0) : INFINITY;
  }
}

static cnn_status
clip_ref (cnn_exec *x)
{
  float lo, hi;
  cnn_clip_bounds (x, &lo, &hi);
  const float *a = x->in[0]->data;
  float *o = x->out[0]->data;
  int64_t n = cnn_tensor_numel (x->out[0]);
  for (int64_t i = 0; i < n; i++)
    o[i] = a[i] < lo ? lo : (a[i] > hi ? hi : a[i]);
  return CNN_OK;
}

CNN_OP_DEF (clip) = { "Clip", sizeof (clip_params), clip_parse, clip_infer, clip_ref, NULL,
  NULL, NULL, 0 };
