/* conv2d_gemm.c - fast CPU Conv: im2col + OpenBLAS sgemm (1x1 stride-1
 * convolutions skip im2col), and a direct kernel for depthwise convolutions.
 * Bias and the fused activation are applied per output row while it is hot. */
#include "../ops/conv.h"
#include <cblas.h>

static bool
is_pointwise (const cnn_window *w)
{
  for (int i = 0; i < 3; i++)
    if (w->kernel[i] != 1 || w->stride[i] != 1 || w->pad0[i] || w->pad1[i])
      return false;
  return true;
}

size_t
cnn_conv2d_gemm_scratch (const cnn_exec *x)
{
  cnn_window w;
  const cnn_conv_params *p = x->params;
  if (cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK || is_pointwise (&w))
    return 0;
  int64_t Cg = x->in[0]->dims[1] / p->group, Mg = x->in[1]->dims[0] / p->group;
  if (Cg == 1 && Mg == 1)
    return 0;                   /* depthwise: direct */
  int64_t K = Cg * w.kernel[0] * w.kernel[1] * w.kernel[2];
  return (size_t) K * w.out[0] * w.out[1] * w.out[2] * sizeof (float);
}

typedef struct {
  const cnn_window *w;
  const float *x;               /* one image's group: Cg planes */
  float *col;
} im2col_ctx;

/* One input channel: kernel-size rows of the column matrix. */
static void
im2col_channel (int64_t c, void *data)
{
  im2col_ctx *ctx = data;
  const cnn_window *w = ctx->w;
  int64_t isz = w->in[0] * w->in[1] * w->in[2], osz = w->out[0] * w->out[1] * w->out[2];
  const float *xi = ctx->x + c * isz;
  float *col = ctx->col + c * w->kernel[0] * w->kernel[1] * w->kernel[2] * osz;
  for (int64_t kz = 0; kz < w->kernel[0]; kz++)
    for (int64_t ky = 0; ky < w->kernel[1]; ky++)
      for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
        for (int64_t z = 0; z < w->out[0]; z++) {
          int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
          for (int64_t y = 0; y < w->out[1]; y++) {
            int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
            float *dst = col + (z * w->out[1] + y) * w->out[2];
            if (iz < 0 || iz >= w->in[0] || iy < 0 || iy >= w->in[1]) {
              memset (dst, 0, sizeof (float) * w->out[2]);
              continue;
            }
            const float *row = xi + (iz * w->in[1] + iy) * w->in[2];
            int64_t ix0 = -w->pad0[2] + kx * w->dil[2], sx = w->stride[2];
            if (sx == 1) {
              /* contiguous middle, zero edges */
              int64_t lo = MIN (MAX (0, -ix0), w->out[2]);
              int64_t hi = MAX (MIN (w->out[2], w->in[2] - ix0), lo);
              for (int64_t xx = 0; xx < lo; xx++)
                dst[xx] = 0.f;
              memcpy (dst + lo, row + ix0 + lo, sizeof (float) * (hi - lo));
              for (int64_t xx = hi; xx < w->out[2]; xx++)
                dst[xx] = 0.f;
            } else {
              for (int64_t xx = 0; xx < w->out[2]; xx++) {
                int64_t ix = ix0 + xx * sx;
                dst[xx] = (ix >= 0 && ix < w->in[2]) ? row[ix] : 0.f;
              }
            }
          }
        }
        col += osz;
      }
}

typedef struct {
  cnn_exec *x;
  const cnn_window *w;
  int64_t osz;
  float *out;
  const float *bias;
} epilogue_ctx;

static void
epilogue_row (int64_t m, void *data)
{
  epilogue_ctx *c = data;
  float *o = c->out + m * c->osz;
  if (c->bias) {
    float b = c->bias[m];
    for (int64_t i = 0; i < c->osz; i++)
      o[i] += b;
  }
  cnn_act_apply (&c->x->node->act, o, c->osz);
}

/* Depthwise: each output channel reads one input channel. */
typedef struct {
  cnn_exec *x;
  const cnn_window *w;
} dw_ctx;

static void
depthwise_plane (int64_t nc, void *data)
{
  dw_ctx *c = data;
  const cnn_window *w = c->w;
  const cnn_tensor *X = c->x->in[0], *W = c->x->in[1];
  const cnn_tensor *B = c->x->n_in > 2 ? c->x->in[2] : NULL;
  int64_t C = X->dims[1], ch = nc % C;
  int64_t isz = w->in[0] * w->in[1] * w->in[2], osz = w->out[0] * w->out[1] * w->out[2];
  int64_t ksz = w->kernel[0] * w->kernel[1] * w->kernel[2];
  const float *xi = (const float *) X->data + nc * isz, *wk = (const float *) W->data + ch * ksz;
  float *o = (float *) c->x->out[0]->data + nc * osz;
  float b = B ? ((const float *) B->data)[ch] : 0.f;
  for (int64_t z = 0; z < w->out[0]; z++)
    for (int64_t y = 0; y < w->out[1]; y++)
      for (int64_t xx = 0; xx < w->out[2]; xx++) {
        float acc = b;
        for (int64_t kz = 0; kz < w->kernel[0]; kz++) {
          int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
          if (iz < 0 || iz >= w->in[0])
            continue;
          for (int64_t ky = 0; ky < w->kernel[1]; ky++) {
            int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
            if (iy < 0 || iy >= w->in[1])
              continue;
            const float *row = xi + (iz * w->in[1] + iy) * w->in[2];
            const float *wr = wk + (kz * w->kernel[1] + ky) * w->kernel[2];
            for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
              int64_t ix = xx * w->stride[2] - w->pad0[2] + kx * w->dil[2];
              if (ix >= 0 && ix < w->in[2])
                acc += row[ix] * wr[kx];
            }
          }
        }
        o[(z * w->out[1] + y) * w->out[2] + xx] = acc;
      }
  cnn_act_apply (&c->x->node->act, o, osz);
}

cnn_status
cnn_conv2d_gemm (cnn_exec *x)
{
  const cnn_conv_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1], *B = x->n_in > 2 ? x->in[2] : NULL;
  cnn_window w;
  cnn_status st = cnn_conv_geometry (x, &w);
  if (st)
    return st;
  int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0], G = p->group;
  int64_t Cg = C / G, Mg = M / G;
  int64_t isz = w.in[0] * w.in[1] * w.in[2], osz = w.out[0] * w.out[1] * w.out[2];
  int64_t K = Cg * w.kernel[0] * w.kernel[1] * w.kernel[2];
  if (Cg == 1 && Mg == 1) {
    dw_ctx c = { x, &w };
    cnn_parallel_for (x->threads, N * C, depthwise_plane, &c);
    return CNN_OK;
  }
  bool pointwise = is_pointwise (&w);
  if (!pointwise && x->scratch_size < (size_t) (K * osz) * sizeof (float))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      const float *xg = (const float *) X->data + (n * C + g * Cg) * isz;
      float *og = (float *) x->out[0]->data + (n * M + g * Mg) * osz;
      const float *col = xg;
      if (!pointwise) {
        im2col_ctx ic = { &w, xg, x->scratch };
        cnn_parallel_for (Cg * osz > 4096 ? x->threads : 1, Cg, im2col_channel, &ic);
        col = x->scratch;
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) Mg, (int) osz, (int) K,
          1.0f, (const float *) W->data + g * Mg * K, (int) K, col, (int) osz, 0.0f, og, (int) osz);
      epilogue_ctx ec = { x, &w, osz, og, B ? (const float *) B->data + g * Mg : NULL };
      if (ec.bias || x->node->act.type != CNN_ACT_NONE)
        cnn_parallel_for (Mg * osz > 16384 ? x->threads : 1, Mg, epilogue_row, &ec);
    }
  return CNN_OK;
}
