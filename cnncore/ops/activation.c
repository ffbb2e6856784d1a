/* activation.c - elementwise unary ops on float tensors: Relu, LeakyRelu,
 * Sigmoid, Tanh, HardSigmoid, HardSwish, Elu, Selu, Softplus, Mish, Exp, Log,
 * Sqrt, Abs, Neg, Reciprocal, Floor, Ceil, Erf. */
#include "geometry.h"

typedef cnn_unary_params unary_params;

static cnn_status
unary_parse (const cnn_node *n, void *params, GString *err)
{
  unary_params *p = params;
  (void) err;
  switch (n->op) {
    case CNN_OP_LEAKY_RELU: p->alpha = cnn_attr_float (n, "alpha", 0.01f); break;
    case CNN_OP_HARD_SIGMOID:
      p->alpha = cnn_attr_float (n, "alpha", 0.2f);
      p->beta = cnn_attr_float (n, "beta", 0.5f);
      break;
    case CNN_OP_ELU: p->alpha = cnn_attr_float (n, "alpha", 1.0f); break;
    case CNN_OP_SELU:
      p->alpha = cnn_attr_float (n, "alpha", 1.67326319217681884765625f);
      p->gamma = cnn_attr_float (n, "gamma", 1.05070102214813232421875f);
      break;
    default: break;
  }
  return CNN_OK;
}

static cnn_status
unary_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)))
    return st;
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, x->in[0]->ndim, x->in[0]->dims);
  return CNN_OK;
}

static inline float
unary_eval (cnn_op op, const unary_params *p, float v)
{
  switch (op) {
    case CNN_OP_RELU: return v > 0.f ? v : 0.f;
    case CNN_OP_LEAKY_RELU: return v >= 0.f ? v : v * p->alpha;
    case CNN_OP_SIGMOID: return 1.f / (1.f + expf (-v));
    case CNN_OP_TANH: return tanhf (v);
    case CNN_OP_HARD_SIGMOID: return fmaxf (0.f, fminf (1.f, p->alpha * v + p->beta));
    case CNN_OP_HARD_SWISH: return v * fmaxf (0.f, fminf (1.f, v / 6.f + 0.5f));
    case CNN_OP_ELU: return v >= 0.f ? v : p->alpha * (expf (v) - 1.f);
    case CNN_OP_SELU: return p->gamma * (v > 0.f ? v : p->alpha * (expf (v) - 1.f));
    case CNN_OP_SOFTPLUS: return v > 20.f ? v : log1pf (expf (v));
    case CNN_OP_MISH: return v * tanhf (v > 20.f ? v : log1pf (expf (v)));
    case CNN_OP_EXP: return expf (v);
    case CNN_OP_LOG: return logf (v);
    case CNN_OP_SQRT: return sqrtf (v);
    case CNN_OP_ABS: return fabsf (v);
    case CNN_OP_NEG: return -v;
    case CNN_OP_RECIPROCAL: return 1.f / v;
    case CNN_OP_FLOOR: return floorf (v);
    case CNN_OP_CEIL: return ceilf (v);
    case CNN_OP_ERF: return erff (v);
    default: return NAN;
  }
}

static cnn_status
unary_ref (cnn_exec *x)
{
  const float *a = x->in[0]->data;
  float *o = x->out[0]->data;
  int64_t n = cnn_tensor_numel (x->out[0]);
  for (int64_t i = 0; i < n; i++)
    o[i] = unary_eval (x->node->op, x->params, a[i]);
  return CNN_OK;
}

/* Chunks of 16K elements spread over threads. */
#define CHUNK 16384
CNN_MULTIVERSION static void
unary_chunk (int64_t c, int tid, void *data)
{
  cnn_exec *x = data;
  const float *a = x->in[0]->data;
  float *o = x->out[0]->data;
  int64_t n = cnn_tensor_numel (x->out[0]), end = MIN (n, (c + 1) * CHUNK);
  cnn_op op = x->node->op;
  const unary_params *p = x->params;
  if (op == CNN_OP_RELU) {
    for (int64_t i = c * CHUNK; i < end; i++)
      o[i] = a[i] > 0.f ? a[i] : 0.f;
    return;
  }
  /* vectorized e^x where the CPU has AVX-512 (cpu/activation_avx512.c) */
  if ((op == CNN_OP_SIGMOID || op == CNN_OP_TANH) &&
      cnn_act_map_fast (op == CNN_OP_SIGMOID ? CNN_ACT_SIGMOID : CNN_ACT_TANH, a + c * CHUNK, o + c * CHUNK,
          end - c * CHUNK))
    return;
  if (op == CNN_OP_EXP && cnn_exp_fast (a + c * CHUNK, o + c * CHUNK, end - c * CHUNK))
    return;
  for (int64_t i = c * CHUNK; i < end; i++)
    o[i] = unary_eval (op, p, a[i]);
}

static cnn_status
unary_fast (cnn_exec *x)
{
  int64_t n = cnn_tensor_numel (x->out[0]);
  cnn_parallel_for (x->pool, (n + CHUNK - 1) / CHUNK, unary_chunk, x);
  return CNN_OK;
}

#define UNARY(fn, name) \
  CNN_OP_DEF (fn) = { name, sizeof (unary_params), unary_parse, unary_infer, unary_ref, \
    unary_fast, NULL, NULL, 0 }

UNARY (relu, "Relu");
UNARY (leaky_relu, "LeakyRelu");
UNARY (sigmoid, "Sigmoid");
UNARY (tanh, "Tanh");
UNARY (hard_sigmoid, "HardSigmoid");
UNARY (hard_swish, "HardSwish");
UNARY (elu, "Elu");
UNARY (selu, "Selu");
UNARY (softplus, "Softplus");
UNARY (mish, "Mish");
UNARY (exp, "Exp");
UNARY (log, "Log");
UNARY (sqrt, "Sqrt");
UNARY (abs, "Abs");
UNARY (neg, "Neg");
UNARY (reciprocal, "Reciprocal");
UNARY (floor, "Floor");
UNARY (ceil, "Ceil");
UNARY (erf, "Erf");
