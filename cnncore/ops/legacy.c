/* legacy.c - the opset-1 experimental ops that older style-transfer models
 * use: ImageScaler, Crop, Affine. */
#include "geometry.h"

typedef cnn_legacy_params legacy_params;

static cnn_status
legacy_parse (const cnn_node *n, void *params, GString *err)
{
  legacy_params *p = params;
  p->scale = cnn_attr_float (n, "scale", 1.f);
  p->alpha = cnn_attr_float (n, "alpha", 1.f);
  p->beta = cnn_attr_float (n, "beta", 0.f);
  p->n_bias = cnn_attr_floats (n, "bias", p->bias, 64);
  if (p->n_bias > 64)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "more than 64 bias values");
  p->n_border = cnn_attr_ints (n, "border", p->border, 4);
  p->n_crop_scale = cnn_attr_ints (n, "scale", p->crop_scale, 2);
  if (n->op == CNN_OP_CROP && p->n_border != 4)
    return cnn_node_fail (n, err, CNN_E_INVALID, "border needs 4 values");
  for (int i = 0; i < 4 && n->op == CNN_OP_CROP; i++)
    if (p->border[i] < 0)
      return cnn_node_fail (n, err, CNN_E_INVALID, "negative border");
  return CNN_OK;
}

static cnn_status
legacy_infer (cnn_exec *x)
{
  const legacy_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)))
    return st;
  const cnn_tensor *X = x->in[0];
  int64_t dims[CNN_MAX_DIMS];
  memcpy (dims, X->dims, sizeof dims);
  if (x->node->op == CNN_OP_IMAGE_SCALER && (X->ndim != 4 || (p->n_bias > 0 && p->n_bias != X->dims[1])))
    return cnn_exec_fail (x, CNN_E_SHAPE, "needs NCHW input with one bias per channel");
  if (x->node->op == CNN_OP_CROP) {
    if (X->ndim != 4)
      return cnn_exec_fail (x, CNN_E_SHAPE, "needs NCHW input");
    if (p->n_crop_scale == 2) {
      dims[2] = p->crop_scale[0];
      dims[3] = p->crop_scale[1];
    } else {
      dims[2] = X->dims[2] - p->border[1] - p->border[3];
      dims[3] = X->dims[3] - p->border[0] - p->border[2];
    }
    if (dims[2] < 0 || dims[3] < 0 || p->border[1] + dims[2] > X->dims[2] ||
        p->border[0] + dims[3] > X->dims[3])
      return cnn_exec_fail (x, CNN_E_SHAPE, "crop is larger than the input");
  }
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, X->ndim, dims);
  return CNN_OK;
}

static cnn_status
legacy_compute (cnn_exec *x)
{
  const legacy_params *p = x->params;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  const float *in = X->data;
  float *o = O->data;
  int64_t n = cnn_tensor_numel (O);
  switch (x->node->op) {
    case CNN_OP_AFFINE:
      for (int64_t i = 0; i < n; i++)
        o[i] = p->alpha * in[i] + p->beta;
      break;
    case CNN_OP_IMAGE_SCALER: {
      int64_t C = X->dims[1], sp = X->dims[2] * X->dims[3];
      for (int64_t i = 0; i < n; i++)
        o[i] = p->scale * in[i] + (p->n_bias > 0 ? p->bias[(i / sp) % C] : 0.f);
      break;
    }
    default: {                  /* Crop */
      int64_t H = O->dims[2], W = O->dims[3], planes = O->dims[0] * O->dims[1];
      for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t y = 0; y < H; y++)
          memcpy (o + (pl * H + y) * W,
              in + (pl * X->dims[2] + y + p->border[1]) * X->dims[3] + p->border[0],
              sizeof (float) * W);
      break;
    }
  }
  return CNN_OK;
}

#define AFFINE_CHUNK 16384      /* Affine: floats a task */

/* The fast path's task @t: a plane (ImageScaler, Crop: the bias of its
 * channel found once, not by a division per value) or a chunk (Affine). */
CNN_MULTIVERSION static void
legacy_task (int64_t t, int tid, void *data)
{
  cnn_exec *x = data;
  const legacy_params *p = x->params;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  const float *in = X->data;
  float *o = O->data;
  switch (x->node->op) {
    case CNN_OP_AFFINE: {
      int64_t i0 = t * AFFINE_CHUNK, i1 = MIN (i0 + AFFINE_CHUNK, cnn_tensor_numel (O));
      for (int64_t i = i0; i < i1; i++)
        o[i] = p->alpha * in[i] + p->beta;
      break;
    }
    case CNN_OP_IMAGE_SCALER: {
      int64_t sp = X->dims[2] * X->dims[3];
      float scale = p->scale, b = p->n_bias > 0 ? p->bias[t % X->dims[1]] : 0.f;
      in += t * sp;
      o += t * sp;
      for (int64_t i = 0; i < sp; i++)
        o[i] = scale * in[i] + b;
      break;
    }
    default: {                  /* Crop */
      int64_t H = O->dims[2], W = O->dims[3];
      for (int64_t y = 0; y < H; y++)
        memcpy (o + (t * H + y) * W, in + (t * X->dims[2] + y + p->border[1]) * X->dims[3] + p->border[0],
            sizeof (float) * W);
      break;
    }
  }
}

/* The reference's arithmetic, on the session's threads. */
static cnn_status
legacy_fast (cnn_exec *x)
{
  const cnn_tensor *O = x->out[0];
  int64_t n = cnn_tensor_numel (O);
  int64_t tasks = x->node->op == CNN_OP_AFFINE ? (n + AFFINE_CHUNK - 1) / AFFINE_CHUNK : O->dims[0] * O->dims[1];
  cnn_parallel_for (n > 65536 ? x->pool : NULL, tasks, legacy_task, x);
  return CNN_OK;
}

#define LEGACY(fn, name) \
  CNN_OP_DEF (fn) = { name, sizeof (legacy_params), legacy_parse, legacy_infer, legacy_compute, \
    legacy_fast, NULL, NULL, 0 }

LEGACY (image_scaler, "ImageScaler");
LEGACY (crop, "Crop");
LEGACY (affine, "Affine");
