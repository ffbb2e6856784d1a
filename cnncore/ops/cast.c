/* cast.c - Cast between float, integer and bool types (float16 and double
 * targets compute as float32, like every float16 tensor here). */
#include "ops.h"

typedef struct {
  cnn_dtype to;
} cast_params;

static cnn_status
cast_parse (const cnn_node *n, void *params, GString *err)
{
  cast_params *p = params;
  int64_t to = cnn_attr_int (n, "to", 0);
  switch (to) {
    case 1: case 10: case 11: p->to = CNN_DTYPE_FLOAT32; break;
    case 2: p->to = CNN_DTYPE_UINT8; break;
    case 3: p->to = CNN_DTYPE_INT8; break;
    case 6: p->to = CNN_DTYPE_INT32; break;
    case 7: p->to = CNN_DTYPE_INT64; break;
    case 9: p->to = CNN_DTYPE_BOOL; break;
    default:
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "cast to type %" G_GINT64_FORMAT
          " is not supported", to);
  }
  return CNN_OK;
}

static cnn_status
cast_infer (cnn_exec *x)
{
  const cast_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)))
    return st;
  cnn_set_out (x, 0, p->to, x->in[0]->ndim, x->in[0]->dims);
  return CNN_OK;
}

static cnn_status
cast_compute (cnn_exec *x)
{
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int64_t n = cnn_tensor_numel (X);
  bool from_float = X->dtype == CNN_DTYPE_FLOAT32;
  for (int64_t i = 0; i < n; i++) {
    double f = from_float ? ((const float *) X->data)[i] : 0;
    int64_t v = from_float ? 0 : cnn_tensor_get_int (X, i);
    switch (O->dtype) {
      case CNN_DTYPE_FLOAT32: ((float *) O->data)[i] = from_float ? (float) f : (float) v; break;
      case CNN_DTYPE_INT64: ((int64_t *) O->data)[i] = from_float ? (int64_t) f : v; break;
      case CNN_DTYPE_INT32: ((int32_t *) O->data)[i] = (int32_t) (from_float ? (int64_t) f : v); break;
      case CNN_DTYPE_BOOL: ((uint8_t *) O->data)[i] = from_float ? f != 0 : v != 0; break;
      case CNN_DTYPE_INT8: ((int8_t *) O->data)[i] = (int8_t) (from_float ? (int64_t) f : v); break;
      default: ((uint8_t *) O->data)[i] = (uint8_t) (from_float ? (int64_t) f : v); break;
    }
  }
  return CNN_OK;
}

CNN_OP_DEF (cast) = { "Cast", sizeof (cast_params), cast_parse, cast_infer, cast_compute, NULL,
  NULL, NULL, 0 };
