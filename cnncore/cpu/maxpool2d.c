/* maxpool2d.c - 2D MaxPool without dilation, horizontal stride 1 or 2,
 * with AVX-512: each output row's window rows are reduced into one row
 * bordered with -inf (so no tap needs a bounds check), then each horizontal
 * tap is one pass of 16 outputs a vector; at stride 2, two loads and one
 * permute pick a tap's even columns (3 wide: one split into even and odd
 * columns serves all three taps).  The same results as the reference,
 * bit for bit: max(v, acc) keeps acc when v is NaN, as its v > acc does.
 * With AVX2 (no AVX-512): the same, 8 outputs a vector. */
#include "../ops/geometry.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"
#include "act_avx2.h"

#define VEC 16
#define MAX_SPAN 8192           /* floats of the bordered row (on the stack) */

/* Floats of the bordered row: every tap's last read, and the image row. */
static int64_t
span (const cnn_window *w)
{
  int64_t reads = w->stride[2] * w->out[2] + w->kernel[2] + 3 * VEC;
  return (MAX (reads, w->pad0[2] + w->in[2] + VEC) + VEC - 1) / VEC * VEC;
}

bool
cnn_maxpool2d_applies (const cnn_window *w)
{
  return cnn_sgemm_kernels_available () && w->nsp == 2 && w->dil[1] == 1 && w->dil[2] == 1 &&
      (w->stride[2] == 1 || w->stride[2] == 2) && span (w) <= MAX_SPAN;
}

/* The even columns of t[0..16) (8 of them); odd: the odd ones. */
CNN_AVX2 __attribute__ ((always_inline))
static inline __m256
columns8 (const float *t, bool odd)
{
  __m256 a = _mm256_loadu_ps (t), b = _mm256_loadu_ps (t + 8);
  __m256 s = odd ? _mm256_shuffle_ps (a, b, 0xdd) : _mm256_shuffle_ps (a, b, 0x88);
  return _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (s), 0xd8));
}

CNN_AVX2
static void
maxpool_plane8 (const cnn_window *w, const float *xi, float *out, int64_t oy0, int64_t oy1)
{
  int64_t H = w->in[1], W = w->in[2], OW = w->out[2], sx = w->stride[2], kw = w->kernel[2];
  int64_t n = span (w);
  float rb[n];
  const __m256 ninf = _mm256_set1_ps (-INFINITY);
  const __m256i rot = _mm256_setr_epi32 (1, 2, 3, 4, 5, 6, 7, 0);
  for (int64_t i = 0; i < n; i += 8)
    _mm256_storeu_ps (rb + i, ninf);
  float *row = rb + w->pad0[2];
  /* as maxpool_plane16() */
  int64_t wv = W / 8 * 8;
  const __m256i wlast = cnn_lanes8 (0, W - wv);
  for (int64_t oy = oy0; oy < oy1; oy++) {
    int64_t ys = oy * w->stride[1] - w->pad0[1];
    int64_t y0 = MAX (ys, 0), y1 = MIN (ys + w->kernel[1], H);
    const float *x0 = xi + y0 * W;
    if (y1 - y0 == 3)
      for (int64_t i = 0; i < wv; i += 8)
        _mm256_storeu_ps (row + i, _mm256_max_ps (_mm256_loadu_ps (x0 + 2 * W + i),
            _mm256_max_ps (_mm256_loadu_ps (x0 + W + i), _mm256_max_ps (_mm256_loadu_ps (x0 + i), ninf))));
    else
      for (int64_t i = 0; i < wv; i += 8) {
        __m256 r = ninf;
        for (int64_t y = y0; y < y1; y++)
          r = _mm256_max_ps (_mm256_loadu_ps (xi + y * W + i), r);
        _mm256_storeu_ps (row + i, r);
      }
    if (wv < W) {
      /* lanes past the row read nothing and store -inf, the border's own
       * value (no masked store: slow on Zen) */
      __m256 r = ninf;
      for (int64_t y = y0; y < y1; y++)
        r = _mm256_max_ps (_mm256_maskload_ps (xi + y * W + wv, wlast), r);
      _mm256_storeu_ps (row + wv, _mm256_blendv_ps (ninf, r, _mm256_castsi256_ps (wlast)));
    }
    float *o = out + oy * OW;
    for (int64_t j = 0; j < OW; j += 8) {
      __m256 acc = ninf;
      const float *t = rb + j * sx;
      if (sx == 2 && kw == 3) {
        /* the even columns, the odd ones and the even ones one on */
        __m256 e = columns8 (t, false), od = columns8 (t, true);
        __m256 e1 = _mm256_blend_ps (_mm256_permutevar8x32_ps (e, rot), _mm256_broadcast_ss (t + 16), 0x80);
        /* tap order as the reference: max (tap 2, max (tap 1, tap 0)) */
        acc = _mm256_max_ps (e1, _mm256_max_ps (od, _mm256_max_ps (e, ninf)));
      } else
        for (int64_t k = 0; k < kw; k++)
          acc = _mm256_max_ps (sx == 1 ? _mm256_loadu_ps (t + k) : columns8 (t + k, false), acc);
      cnn_store_lanes8 (o + j, acc, 0, (int) MIN (8, OW - j));
    }
  }
}

static void maxpool_plane16 (const cnn_window *w, const float *xi, float *out, int64_t oy0, int64_t oy1);

void
cnn_maxpool2d_rows (const cnn_window *w, const float *xi, float *out, int64_t oy0, int64_t oy1)
{
  if (cnn_sgemm_avx512_available ())
    maxpool_plane16 (w, xi, out, oy0, oy1);
  else
    maxpool_plane8 (w, xi, out, oy0, oy1);
}

__attribute__ ((target ("avx512f")))
static void
maxpool_plane16 (const cnn_window *w, const float *xi, float *out, int64_t oy0, int64_t oy1)
{
  int64_t H = w->in[1], W = w->in[2], OW = w->out[2], sx = w->stride[2], kw = w->kernel[2];
  int64_t n = span (w);
  float rb[n];
  const __m512 ninf = _mm512_set1_ps (-INFINITY);
  const __m512i even = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32 (even, _mm512_set1_epi32 (1));
  for (int64_t i = 0; i < n; i += VEC)
    _mm512_storeu_ps (rb + i, ninf);
  float *row = rb + w->pad0[2];
  /* whole vectors unmasked, the masks of the last ones worked out once:
   * per vector they had cost more than the loads */
  int64_t wv = W / VEC * VEC, ov = OW / VEC * VEC;
  const __mmask16 wlast = cnn_lanes16 (0, W - wv), olast = cnn_lanes16 (0, OW - ov);
  for (int64_t oy = oy0; oy < oy1; oy++) {
    int64_t ys = oy * w->stride[1] - w->pad0[1];
    int64_t y0 = MAX (ys, 0), y1 = MIN (ys + w->kernel[1], H);
    const float *x0 = xi + y0 * W;
    if (y1 - y0 == 3) {
      /* the whole window: three rows, unrolled */
      for (int64_t i = 0; i < wv; i += VEC)
        _mm512_storeu_ps (row + i, _mm512_max_ps (_mm512_loadu_ps (x0 + 2 * W + i),
            _mm512_max_ps (_mm512_loadu_ps (x0 + W + i), _mm512_max_ps (_mm512_loadu_ps (x0 + i), ninf))));
    } else
      for (int64_t i = 0; i < wv; i += VEC) {
        __m512 r = ninf;
        for (int64_t y = y0; y < y1; y++)
          r = _mm512_max_ps (_mm512_loadu_ps (xi + y * W + i), r);
        _mm512_storeu_ps (row + i, r);
      }
    if (wlast) {
      __m512 r = ninf;
      for (int64_t y = y0; y < y1; y++)
        r = _mm512_max_ps (_mm512_maskz_loadu_ps (wlast, xi + y * W + wv), r);
      _mm512_mask_storeu_ps (row + wv, wlast, r);
    }
    float *o = out + oy * OW;
    if (sx == 2 && kw == 3) {
      /* 3 wide at stride 2 (ResNet, SqueezeNet): the even and odd
       * columns of 32 and the even ones one on, from one split */
      for (int64_t j = 0; j < OW; j += VEC) {
        const float *t = rb + 2 * j;
        __m512 a = _mm512_loadu_ps (t), b = _mm512_loadu_ps (t + VEC), c = _mm512_loadu_ps (t + 2 * VEC);
        __m512 e = _mm512_permutex2var_ps (a, even, b), od = _mm512_permutex2var_ps (a, odd, b);
        __m512 e1 = _mm512_castsi512_ps (_mm512_alignr_epi32 (_mm512_castps_si512 (c), _mm512_castps_si512 (e), 1));
        /* tap order as the reference: max (tap 2, max (tap 1, tap 0)) */
        __m512 acc = _mm512_max_ps (e1, _mm512_max_ps (od, _mm512_max_ps (e, ninf)));
        if (j < ov)
          _mm512_storeu_ps (o + j, acc);
        else
          _mm512_mask_storeu_ps (o + j, olast, acc);
      }
      continue;
    }
    for (int64_t j = 0; j < OW; j += VEC) {
      __m512 acc = ninf;
      const float *t = rb + j * sx;
      for (int64_t k = 0; k < kw; k++) {
        __m512 v = sx == 1 ? _mm512_loadu_ps (t + k) :
            _mm512_permutex2var_ps (_mm512_loadu_ps (t + k), even, _mm512_loadu_ps (t + k + VEC));
        acc = _mm512_max_ps (v, acc);
      }
      if (j < ov)
        _mm512_storeu_ps (o + j, acc);
      else
        _mm512_mask_storeu_ps (o + j, olast, acc);
    }
  }
}

#else

bool
cnn_maxpool2d_applies (const cnn_window *w)
{
  return false;
}

void
cnn_maxpool2d_rows (const cnn_window *w, const float *xi, float *out, int64_t oy0, int64_t oy1)
{
}

#endif
