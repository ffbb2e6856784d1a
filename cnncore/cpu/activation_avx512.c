/* activation_avx512.c - Sigmoid, SiLU, Tanh and Exp 16 floats at a time.  glibc's
 * expf is scalar: a YOLOv5/v8 SiLU over a 16 x 320 x 320 map took 6.5 ms
 * on one core.  e^x here is Cephes' single-precision polynomial (within 2
 * ulp of expf) with the power of two put in by scalef, which also gives
 * infinity above and zero below the float range; NaN stays NaN.  The
 * reference ops keep libm (tensor.c, ops/activation.c); test-ops holds these
 * to them. */
#include "../cnn-private.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
exp16 (__m512 x)
{
  /* past these e^x is infinite or zero in float; max and min with the bound
   * first keep a NaN */
  x = _mm512_min_ps (_mm512_set1_ps (89.f), _mm512_max_ps (_mm512_set1_ps (-104.f), x));
  __m512 n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  /* r = x - n ln 2 in two parts, |r| <= ln 2 / 2 */
  __m512 r = _mm512_fnmadd_ps (n, _mm512_set1_ps (0.693359375f), x);
  r = _mm512_fnmadd_ps (n, _mm512_set1_ps (-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps (1.9875691500e-4f);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.3981999507e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (8.3334519073e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (4.1665795894e-2f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.6666665459e-1f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (5.0000001201e-1f));
  __m512 y = _mm512_fmadd_ps (_mm512_mul_ps (p, r), r, _mm512_add_ps (r, _mm512_set1_ps (1.f)));
  return _mm512_scalef_ps (y, n);
}

/* tanh: Cephes' odd polynomial below 0.625 (where 1 - 2 / (e^2x + 1)
 * cancels), that formula above, the sign put back; NaN stays NaN. */
__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
tanh16 (__m512 x)
{
  const __m512 one = _mm512_set1_ps (1.f);
  __m512 z = _mm512_abs_ps (x), s = _mm512_mul_ps (x, x);
  __m512 p = _mm512_set1_ps (-5.70498872745e-3f);
  p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (2.06390887954e-2f));
  p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (-5.37397155531e-2f));
  p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (1.33314422036e-1f));
  p = _mm512_fmadd_ps (p, s, _mm512_set1_ps (-3.33332819422e-1f));
  __m512 small = _mm512_fmadd_ps (_mm512_mul_ps (p, s), x, x);
  __m512 big = _mm512_sub_ps (one, _mm512_div_ps (_mm512_set1_ps (2.f),
          _mm512_add_ps (exp16 (_mm512_add_ps (z, z)), one)));
  /* |x| copied the sign off; put x's back */
  big = _mm512_castsi512_ps (_mm512_or_si512 (_mm512_castps_si512 (big),
          _mm512_and_si512 (_mm512_castps_si512 (x), _mm512_set1_epi32 ((int) 0x80000000u))));
  return _mm512_mask_blend_ps (_mm512_cmp_ps_mask (z, _mm512_set1_ps (0.625f), _CMP_LT_OQ), big, small);
}

/* @op on n floats from @in to @out (which may be @in): Sigmoid, SiLU, Tanh
 * or (-1) Exp. */
__attribute__ ((target ("avx512f")))
static void
apply16 (int op, const float *in, float *out, int64_t n)
{
  const __m512 one = _mm512_set1_ps (1.f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16) ((1u << (n - i)) - 1);
    __m512 v = _mm512_maskz_loadu_ps (m, in + i), r;
    if (op == CNN_ACT_SIGMOID)
      r = _mm512_div_ps (one, _mm512_add_ps (one, exp16 (_mm512_sub_ps (_mm512_setzero_ps (), v))));
    else if (op == CNN_ACT_SILU)
      r = _mm512_div_ps (v, _mm512_add_ps (one, exp16 (_mm512_sub_ps (_mm512_setzero_ps (), v))));
    else if (op == CNN_ACT_TANH)
      r = tanh16 (v);
    else
      r = exp16 (v);
    _mm512_mask_storeu_ps (out + i, m, r);
  }
}

static bool
have_avx512 (void)
{
  return cnn_sgemm_avx512_available ();
}

#else

static void
apply16 (int op, const float *in, float *out, int64_t n)
{
}

static bool
have_avx512 (void)
{
  return false;
}

#endif

void
cnn_act_apply_fast (const cnn_act *act, float *x, int64_t n)
{
  if ((act->type == CNN_ACT_SIGMOID || act->type == CNN_ACT_SILU || act->type == CNN_ACT_TANH) && have_avx512 ())
    apply16 (act->type, x, x, n);
  else
    cnn_act_apply (act, x, n);
}

bool
cnn_exp_fast (const float *in, float *out, int64_t n)
{
  if (!have_avx512 ())
    return false;
  apply16 (-1, in, out, n);
  return true;
}

bool
cnn_act_map_fast (cnn_act_type t, const float *in, float *out, int64_t n)
{
  if (!have_avx512 () || !(t == CNN_ACT_SIGMOID || t == CNN_ACT_TANH))
    return false;
  apply16 (t, in, out, n);
  return true;
}
