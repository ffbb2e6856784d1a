/* act_avx2.h - what the AVX2 kernels share (act_avx512.h's counterpart):
 * a simple activation on 8 floats in registers, lane masks for
 * maskload, and partial stores.  Masked stores (vmaskmovps) are avoided:
 * on Zen 3 one takes about 15 cycles, ten times a plain store.  x86-64
 * only. */
#ifndef CNN_ACT_AVX2_H
#define CNN_ACT_AVX2_H

#include "../cnn-private.h"
#include <immintrin.h>

#define CNN_AVX2 __attribute__ ((target ("avx2,fma")))

/* cnn_act_simple16() on 8 floats: the same results, NaN included. */
CNN_AVX2 __attribute__ ((always_inline))
static inline __m256
cnn_act_simple8 (cnn_act_type t, __m256 r, __m256 lo, __m256 hi)
{
  if (t == CNN_ACT_RELU)
    return _mm256_max_ps (r, _mm256_setzero_ps ());
  if (t == CNN_ACT_LEAKY_RELU)
    return _mm256_blendv_ps (r, _mm256_mul_ps (r, lo), _mm256_cmp_ps (r, _mm256_setzero_ps (), _CMP_LT_OQ));
  if (t == CNN_ACT_CLIP)
    return _mm256_min_ps (hi, _mm256_max_ps (lo, r));
  return r;
}

/* Lanes [lo, hi) of 8, either bound clamped to 0..8, as a maskload mask. */
CNN_AVX2 __attribute__ ((always_inline))
static inline __m256i
cnn_lanes8 (int64_t lo, int64_t hi)
{
  static const int32_t table[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
  lo = CLAMP (lo, 0, 8);
  hi = CLAMP (hi, lo, 8);
  return _mm256_andnot_si256 (_mm256_loadu_si256 ((const __m256i *) (table + 8 - lo)),
      _mm256_loadu_si256 ((const __m256i *) (table + 8 - hi)));
}

/* Lanes [lo, hi) of v to p + lo .. p + hi - 1, nothing else written. */
CNN_AVX2 __attribute__ ((always_inline))
static inline void
cnn_store_lanes8 (float *p, __m256 v, int lo, int hi)
{
  if (lo == 0 && hi >= 8) {
    _mm256_storeu_ps (p, v);
    return;
  }
  float t[8];
  _mm256_storeu_ps (t, v);
  for (int l = MAX (lo, 0); l < MIN (hi, 8); l++)
    p[l] = t[l];
}

#endif
