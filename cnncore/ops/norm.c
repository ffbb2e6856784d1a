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
#define CHUNK 1024              /* floats: 4 KB, read again from L1 */

typedef float lanes16 __attribute__ ((vector_size (LANES * sizeof (float))));

/* Sums of (in[i] - center) and of its square, in LANES independent float
 * sums (one vector each: vectorized, unlike one running sum), added in
 * double. */
CNN_MULTIVERSION static void
lane_sums (const float *in, int64_t n, float center, double *s1, double *s2)
{
  lanes16 a1 = { 0 }, a2 = { 0 }, c = center - (lanes16) { 0 };
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    lanes16 d;
    memcpy (&d, in + i, sizeof d);
    d -= c;
    a1 += d;
    a2 += d * d;
  }
  for (; i < n; i++) {
    float d = in[i] - center;
    a1[0] += d;
    a2[0] += d * d;
  }
  *s1 = *s2 = 0;
  for (int j = 0; j < LANES; j++) {
    *s1 += a1[j];
    *s2 += a2[j];
  }
}

/* Mean and variance of in[0, n), reading the values from memory once:
 * chunk by chunk, the chunk's mean, then its sum of squared deviations
 * (the two passes of the reference, on 4 KB in L1), chunks merged in double
 * by Chan, Golub and LeVeque's pairwise update.  A 720 x 720 plane is more
 * than L2: two passes over it went to L3 twice. */
static void
plane_moments (const float *in, int64_t n, double *mean, double *var)
{
  double m = 0, m2 = 0, s1, s2;
  for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
    int64_t len = MIN (CHUNK, n - c0);
    lane_sums (in + c0, len, 0.f, &s1, &s2);
    float center = (float) (s1 / len);
    lane_sums (in + c0, len, center, &s1, &s2);
    double cm = center + s1 / len, cm2 = MAX (s2 - s1 * s1 / len, 0.0);
    double delta = cm - m, tot = (double) (c0 + len);
    m += delta * len / tot;
    m2 += cm2 + delta * delta * (double) c0 * len / tot;
  }
  *mean = m;
  *var = m2 / (double) MAX (n, 1);
}

/* out = act ((in - center) * mul + add), the activation's own loop for each
 * simple one (vectorized; no second pass over the output). */
#define SCALE_SHIFT(T) \
  for (int64_t i = 0; i < n; i++) \
    o[i] = cnn_act_one (T, a, b, (in[i] - center) * mul + add)

CNN_MULTIVERSION static void
scale_shift (const float *in, float *o, int64_t n, float center, float mul, float add, const cnn_act *act)
{
  float a = act->alpha, b = act->beta;
  CNN_ACT_SIMPLE_CASES (act->type, SCALE_SHIFT);
  if (!cnn_act_is_simple (act->type))
    cnn_act_apply_fast (act, o, n);
}

static void
norm_plane (int64_t nc, int tid, void *data)
{
  norm_ctx *c = data;
  cnn_exec *x = c->x;
  const norm_params *p = x->params;
  int64_t ch = nc % c->C, sp = c->sp;
  const float *in = (const float *) x->in[0]->data + nc * sp;
  float *o = (float *) x->out[0]->data + nc * sp;
  const float *scale = x->in[1]->data, *bias = x->in[2]->data;
  if (x->node->op == CNN_OP_BATCH_NORM) {
    const float *mean = x->in[3]->data, *var = x->in[4]->data;
    float mul = scale[ch] / sqrtf (var[ch] + p->epsilon), add = bias[ch] - mean[ch] * mul;
    if (c->fast) {
      scale_shift (in, o, sp, 0.f, mul, add, &x->act);
      return;
    }
    for (int64_t i = 0; i < sp; i++)
      o[i] = in[i] * mul + add;
    cnn_act_apply (&x->act, o, sp);
    return;
  }
  double mean, var;
  if (c->fast) {
    plane_moments (in, sp, &mean, &var);
    /* (x - mean) * mul + bias, x - mean rounded once on floats (the mean
     * rounded to a float, what that drops folded into the shift): x * mul
     * + (bias - mean * mul) lost digits where the mean is far from 0
     * against the spread (100 + x / 1000: 0.1% of the output's range) */
    float center = (float) mean, mul = (float) (scale[ch] / sqrt (var + p->epsilon));
    float add = (float) (bias[ch] - (mean - center) * mul);
    scale_shift (in, o, sp, center, mul, add, &x->act);
    return;
  }
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < sp; i++)
    sum += in[i];
  mean = sum / (double) MAX (sp, 1);
  for (int64_t i = 0; i < sp; i++)
    sq += (in[i] - mean) * (in[i] - mean);
  var = sq / (double) MAX (sp, 1);
  double mul = scale[ch] / sqrt (var + p->epsilon);
  for (int64_t i = 0; i < sp; i++)
    o[i] = (float) ((in[i] - mean) * mul + bias[ch]);
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
