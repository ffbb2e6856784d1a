/* conv2d_depthwise.c - 3x3 depthwise convolution (MobileNet, DeepLab,
 * UltraFace) with AVX-512: each channel plane is copied once into a
 * zero-bordered buffer, then every output row is 9 fused multiply-adds per
 * 16 outputs with no bounds checks.  Stride 1 and 2, pads 0 or 1. */
#include "../ops/conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_DW_KERNEL 1
#endif

#define EXTRA 48                /* floats past each padded row, for vector overrun */

typedef struct {
  int64_t H, W, OH, OW, pt, pl, stride;
  int64_t ph, pw;               /* padded plane */
} dw_geom;

static bool
dw_geometry (const cnn_exec *x, dw_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window w;
  if (x->in[0]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK)
    return false;
  int64_t C = x->in[0]->dims[1], M = x->in[1]->dims[0];
  if (p->group != C || M != C)
    return false;
  for (int i = 1; i < 3; i++)
    if (w.kernel[i] != 3 || w.dil[i] != 1 || w.stride[i] != w.stride[1] || w.stride[i] > 2 ||
        w.pad0[i] > 1 || w.pad1[i] > 1)
      return false;
  g->H = w.in[1];
  g->W = w.in[2];
  g->OH = w.out[1];
  g->OW = w.out[2];
  g->pt = w.pad0[1];
  g->pl = w.pad0[2];
  g->stride = w.stride[1];
  g->ph = g->H + 2 + 2;
  g->pw = g->W + 2 + EXTRA;
  return true;
}

#ifdef HAVE_DW_KERNEL

bool
cnn_conv2d_dw3x3_applies (const cnn_exec *x)
{
  dw_geom g;
  return cnn_sgemm_avx512_available () && dw_geometry (x, &g);
}

size_t
cnn_conv2d_dw3x3_scratch (const cnn_exec *x)
{
  dw_geom g;
  if (!dw_geometry (x, &g))
    return 0;
  return (size_t) g.ph * g.pw * sizeof (float) * MAX (x->threads, 1);
}

typedef struct {
  cnn_exec *x;
  dw_geom g;
} dw_ctx;

__attribute__ ((target ("avx512f")))
static void
dw_plane (int64_t nc, int tid, void *data)
{
  dw_ctx *c = data;
  const dw_geom *g = &c->g;
  cnn_exec *x = c->x;
  int64_t C = x->in[0]->dims[1], ch = nc % C;
  float *pad = (float *) x->scratch + (size_t) tid * g->ph * g->pw;
  const float *in = (const float *) x->in[0]->data + nc * g->H * g->W;
  const float *k = (const float *) x->in[1]->data + ch * 9;
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  float bias = B ? ((const float *) B->data)[ch] : 0.f;
  float *out = (float *) x->out[0]->data + nc * g->OH * g->OW;
  const float *res = x->residual ? (const float *) x->residual->data + nc * g->OH * g->OW : NULL;
  /* zero-bordered copy: input (y, x) at pad[(y + pt) * pw + x + pl] */
  memset (pad, 0, sizeof (float) * g->pw * g->pt);
  for (int64_t y = 0; y < g->H; y++) {
    float *row = pad + (y + g->pt) * g->pw;
    if (g->pl)
      row[0] = 0.f;
    memcpy (row + g->pl, in + y * g->W, sizeof (float) * g->W);
    memset (row + g->pl + g->W, 0, sizeof (float) * (g->pw - g->pl - g->W));
  }
  memset (pad + (g->H + g->pt) * g->pw, 0, sizeof (float) * g->pw * (g->ph - g->H - g->pt));
  __m512 w[9];
  for (int i = 0; i < 9; i++)
    w[i] = _mm512_set1_ps (k[i]);
  __m512 vb = _mm512_set1_ps (bias);
  const __m512i even = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  for (int64_t oy = 0; oy < g->OH; oy++) {
    const float *r0 = pad + (oy * g->stride) * g->pw, *r1 = r0 + g->pw, *r2 = r1 + g->pw;
    float *o = out + oy * g->OW;
    for (int64_t ox = 0; ox < g->OW; ox += 16) {
      int64_t n = MIN (16, g->OW - ox);
      __mmask16 m = n == 16 ? 0xffff : (__mmask16) ((1u << n) - 1);
      __m512 acc = vb;
      const float *rows[3] = { r0, r1, r2 };
      for (int ky = 0; ky < 3; ky++) {
        const float *r = rows[ky] + ox * g->stride;
        for (int kx = 0; kx < 3; kx++) {
          __m512 v;
          if (g->stride == 1) {
            v = _mm512_loadu_ps (r + kx);
          } else {
            __m512 lo = _mm512_loadu_ps (r + kx), hi = _mm512_loadu_ps (r + kx + 16);
            v = _mm512_permutex2var_ps (lo, even, hi);
          }
          acc = _mm512_fmadd_ps (w[ky * 3 + kx], v, acc);
        }
      }
      if (res)
        acc = _mm512_add_ps (acc, _mm512_maskz_loadu_ps (m, res + oy * g->OW + ox));
      _mm512_mask_storeu_ps (o + ox, m, acc);
    }
    cnn_act_apply (&x->act, o, g->OW);
  }
}

cnn_status
cnn_conv2d_dw3x3 (cnn_exec *x)
{
  dw_ctx c = { x };
  if (!dw_geometry (x, &c.g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "not a 3x3 depthwise convolution");
  if (x->scratch_size < cnn_conv2d_dw3x3_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  cnn_parallel_for (x->pool, x->in[0]->dims[0] * x->in[0]->dims[1], dw_plane, &c);
  return CNN_OK;
}

#else

bool
cnn_conv2d_dw3x3_applies (const cnn_exec *x)
{
  return false;
}

size_t
cnn_conv2d_dw3x3_scratch (const cnn_exec *x)
{
  return 0;
}

cnn_status
cnn_conv2d_dw3x3 (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_BACKEND, "no 3x3 depthwise kernel on this CPU");
}

#endif
