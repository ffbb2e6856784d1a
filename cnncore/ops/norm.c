/* norm.c - BatchNormalization (inference) and InstanceNormalization. */
#include "geometry.h"

typedef cnn_norm_params norm_params;

static cnn_status
norm_parse (const cnn_node *n, void *params, GString *err)
{
  norm_params *p = params;
  p->epsilon = cnn_attr_float (n, "epsilon", 1e-5f);
  if (n->op == CNN_OP_BATCH_NORM) {
    if (cnn_attr_int (n, "training_mode", 0))
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "training_mode is not supported");
    if (n->opset < 9 && cnn_attr_int (n, "spatial", 1) == 0)
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "spatial=0 is not supported");
  }
  return CNN_OK;
}

static cnn_status
norm_infer (cnn_exec *x)
{
  bool bn = x->node->op == CNN_OP_BATCH_NORM;
  cnn_status st;
  if ((st = cnn_need_inputs (x, bn ? 5 : 3, bn ? 5 : 3)) || (st = cnn_need_float_inputs (x)))
    return st;
  const cnn_tensor *X = x->in[0];
  if (X->ndim < 2)
    return cnn_exec_fail (x, CNN_E_SHAPE, "input needs a channel dim");
  for (int k = 1; k < x->n_in; k++)
    if (cnn_tensor_numel (x->in[k]) != X->dims[1])
      return cnn_exec_fail (x, CNN_E_SHAPE, "input %d must hold %" G_GINT64_FORMAT " values", k, X->dims[1]);
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, X->ndim, X->dims);
  return CNN_OK;
}

typedef struct {
  cnn_exec *x;
  int64_t C, sp;
  bool fast;
} norm_ctx;

#define LANES 16
#define CHUNK 1024

/* Sum of (in[i] - center)^k, k = 1 or 2, in LANES independent float sums
 * (vectorized, unlike one running sum) over chunks of CHUNK, the chunks
 * added in double. */
CNN_MULTIVERSION static double
lane_sum (const float *in, int64_t n, float center, int k)
{
  double total = 0;
  for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
    float acc[LANES] = { 0 };
    int64_t c1 = MIN (c0 + CHUNK, n), i = c0;
    for (; i + LANES <= c1; i += LANES)
      for (int j = 0; j < LANES; j++) {
        float d = in[i + j] - center;
        acc[j] += k == 1 ? d : d * d;
      }
    for (; i < c1; i++) {
      float d = in[i] - center;
      acc[0] += k == 1 ? d : d * d;
    }
    double part = 0;
    for (int j = 0; j < LANES; j++)
      part += acc[j];
    total += part;
  }
  return total;
}

CNN_MULTIVERSION static void
norm_plane (int64_t nc, int tid, void *data)
{
  norm_ctx *c = data;
  cnn_exec *x = c->x;
  const norm_params *p = x->params;
  int64_t ch = nc % c->C, sp = c->sp;
  const float *in = (const float *) x->in[0]->data + nc * sp;
  float *o = (float *) x->out[0]->data + nc * sp;
  const float *scale = x->in[1]->data, *bias = x->in[2]->data;
  float mul, add;
  if (x->node->op == CNN_OP_BATCH_NORM) {
    const float *mean = x->in[3]->data, *var = x->in[4]->data;
    mul = scale[ch] / sqrtf (var[ch] + p->epsilon);
    add = bias[ch] - mean[ch] * mul;
  } else if (c->fast) {
    double mean = lane_sum (in, sp, 0.f, 1) / (double) MAX (sp, 1);
    double var = lane_sum (in, sp, (float) mean, 2) / (double) MAX (sp, 1);
    mul = (float) (scale[ch] / sqrt (var + p->epsilon));
    add = (float) (bias[ch] - mean * mul);
  } else {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < sp; i++)
      sum += in[i];
    double mean = sum / (double) MAX (sp, 1);
    for (int64_t i = 0; i < sp; i++)
      sq += (in[i] - mean) * (in[i] - mean);
    double var = sq / (double) MAX (sp, 1);
    mul = (float) (scale[ch] / sqrt (var + p->epsilon));
    add = (float) (bias[ch] - mean * mul);
  }
  for (int64_t i = 0; i < sp; i++)
    o[i] = in[i] * mul + add;
  cnn_act_apply (&x->act, o, sp);
}

static cnn_status
norm_run (cnn_exec *x, cnn_threadpool *pool, bool fast)
{
  const cnn_tensor *X = x->in[0];
  norm_ctx c = { x, X->dims[1], cnn_dims_prod (X, 2, X->ndim), fast };
  cnn_parallel_for (pool, X->dims[0] * X->dims[1], norm_plane, &c);
  return CNN_OK;
}

static cnn_status norm_ref (cnn_exec *x) { return norm_run (x, NULL, false); }
static cnn_status norm_fast (cnn_exec *x) { return norm_run (x, x->pool, true); }

CNN_OP_DEF (batch_norm) = { "BatchNormalization", sizeof (norm_params), norm_parse, norm_infer,
  norm_ref, norm_fast, NULL, NULL, CNN_OPF_FUSE_ACT };
CNN_OP_DEF (instance_norm) = { "InstanceNormalization", sizeof (norm_params), norm_parse, norm_infer,
  norm_ref, norm_fast, NULL, NULL, CNN_OPF_FUSE_ACT };
