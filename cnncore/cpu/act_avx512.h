/* act_avx512.h - what the AVX-512 kernels share: a simple activation
 * (cnn_act_is_simple()) on 16 floats in registers, for the kernels that
 * apply it as they store (the same results as cnn_act_apply(), NaN
 * included), and lane masks.  x86-64 only. */
#ifndef CNN_ACT_AVX512_H
#define CNN_ACT_AVX512_H

#include "../cnn-private.h"
#include <immintrin.h>

/* @lo, @hi: the activation's alpha and beta, broadcast. */
__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
cnn_act_simple16 (cnn_act_type t, __m512 r, __m512 lo, __m512 hi)
{
  if (t == CNN_ACT_RELU)
    return _mm512_max_ps (r, _mm512_setzero_ps ());
  if (t == CNN_ACT_LEAKY_RELU)
    return _mm512_mask_mul_ps (r, _mm512_cmp_ps_mask (r, _mm512_setzero_ps (), _CMP_LT_OQ), r, lo);
  /* max, then min, with the bound first: a NaN stays NaN */
  if (t == CNN_ACT_CLIP)
    return _mm512_min_ps (hi, _mm512_max_ps (lo, r));
  return r;
}

/* Lanes [lo, hi) of 16, either bound clamped to 0..16. */
static inline __mmask16
cnn_lanes16 (int64_t lo, int64_t hi)
{
  lo = CLAMP (lo, 0, 16);
  hi = CLAMP (hi, lo, 16);
  return (__mmask16) (((1u << hi) - 1) & ~((1u << lo) - 1));
}

#endif
