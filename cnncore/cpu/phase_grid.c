/* phase_grid.c - the zero-bordered input planes that the implicit GEMM and
 * the depthwise kernel read: with stride s, s x s phase planes, so that any
 * stride and dilation reads contiguous runs (see ops/conv.h). */
#include "../ops/conv.h"

bool
cnn_phase_grid_init (const cnn_window *w, cnn_phase_grid *g)
{
  if (w->nsp > 2 || w->in[0] != 1 || w->out[1] < 1 || w->out[2] < 1)
    return false;
  g->H = w->in[1];
  g->W = w->in[2];
  g->kh = w->kernel[1];
  g->kw = w->kernel[2];
  g->sh = w->stride[1];
  g->sw = w->stride[2];
  g->dh = w->dil[1];
  g->dw = w->dil[2];
  g->pt = w->pad0[1];
  g->pl = w->pad0[2];
  g->OH = w->out[1];
  g->OW = w->out[2];
  g->Hq = (g->H + g->pt + w->pad1[1] + g->sh - 1) / g->sh;
  g->Wq = (g->W + g->pl + w->pad1[2] + g->sw - 1) / g->sw;
  /* a tap's reads, (OH - 1 + (kh - 1) * dh / sh) rows and
   * (OW - 1 + (kw - 1) * dw / sw) columns on, stay inside a plane */
  g->ncols = (g->OH - 1) * g->Wq + g->OW;
  g->plane_floats = g->sh * g->sw * g->Hq * g->Wq;
  return g->plane_floats < (int64_t) 1 << 30;
}

int64_t
cnn_phase_grid_tap (const cnn_phase_grid *g, int64_t ky, int64_t kx)
{
  int64_t ty = ky * g->dh, tx = kx * g->dw;
  int64_t plane = ty % g->sh * g->sw + tx % g->sw;
  return plane * g->Hq * g->Wq + ty / g->sh * g->Wq + tx / g->sw;
}

/* Does a kernel tap read phase (py, px)? */
static bool
phase_used (const cnn_phase_grid *g, int64_t py, int64_t px)
{
  /* stride 1: its one phase, without a division per tap (planes are filled
   * a channel at a time: 256 small ones took longer than their GEMM) */
  if (g->sh == 1 && g->sw == 1)
    return true;
  bool y = false, x = false;
  for (int64_t ky = 0; ky < g->kh; ky++)
    y |= ky * g->dh % g->sh == py;
  for (int64_t kx = 0; kx < g->kw; kx++)
    x |= kx * g->dw % g->sw == px;
  return y && x;
}

/* Plane columns [*lo, *hi) of phase px fall inside the input row. */
static void
inside_columns (const cnn_phase_grid *g, int64_t px, int64_t *lo, int64_t *hi)
{
  if (g->sw == 1) {
    *lo = MIN (MAX (g->pl - px, 0), g->Wq);
    *hi = MAX (MIN (g->pl + g->W - px, g->Wq), *lo);
    return;
  }
  *lo = MIN ((MAX (g->pl - px, 0) + g->sw - 1) / g->sw, g->Wq);
  *hi = MAX (MIN ((g->pl + g->W - px + g->sw - 1) / g->sw, g->Wq), *lo);
}

typedef void (*split_rows_fn) (const float *src, int64_t W, int64_t pl, int64_t Wq, int64_t y0, int64_t sh, int64_t n,
    float *e, float *o);

#if defined(__x86_64__) && defined(__GNUC__)
#include "act_avx512.h"
#include "act_avx2.h"

#define ROWS_AHEAD 4

/* Input rows @y0, @y0 + @sh, ... of @src (rows of @W floats) split into their
 * even and odd phase rows, @n rows of @Wq floats each from @e and @o on
 * (either NULL: that phase not wanted):
 * column q of phase px is row[2q + px - pl], or 0 where that falls outside
 * the row, so the loads' masks make the borders; masks are the same for
 * every row, worked out once (the first 8 vectors' of a row). */
__attribute__ ((target ("avx512f")))
static void
split_rows16 (const float *src, int64_t W, int64_t pl, int64_t Wq, int64_t y0, int64_t sh, int64_t n, float *e,
    float *o)
{
  const __m512i even = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32 (even, _mm512_set1_epi32 (1));
  int64_t steps = (Wq + 15) / 16;
  __mmask16 ma[8], mb[8], ms[8];
  for (int64_t s = 0; s < MIN (steps, 8); s++) {
    int64_t c = 32 * s - pl;    /* the input column of lane 0 */
    ma[s] = cnn_lanes16 (-c, W - c);
    mb[s] = cnn_lanes16 (-c - 16, W - c - 16);
    ms[s] = cnn_lanes16 (0, Wq - 16 * s);
  }
  for (int64_t i = 0; i < n; i++) {
    const float *r = src + (y0 + sh * i) * W - pl;
    float *ei = e ? e + i * Wq : NULL, *oi = o ? o + i * Wq : NULL;
    for (int64_t s = 0; s < steps; s++) {
      int64_t c = 32 * s - pl;
      __mmask16 ka = s < 8 ? ma[s] : cnn_lanes16 (-c, W - c);
      __mmask16 kb = s < 8 ? mb[s] : cnn_lanes16 (-c - 16, W - c - 16);
      __mmask16 ks = s < 8 ? ms[s] : cnn_lanes16 (0, Wq - 16 * s);
      /* the row ROWS_AHEAD on is fetched as this one is split: the input
       * comes from L3 or memory, and rows @sh apart did not stream in by
       * themselves (ResNet-50's stride-2 3x3 on Zen 5: the fill took
       * 0.33-0.46 ms of a 1.2 ms layer, 0.05-0.09 ms with this) */
      _mm_prefetch ((const char *) (r + ROWS_AHEAD * sh * W + 32 * s), _MM_HINT_T0);
      _mm_prefetch ((const char *) (r + ROWS_AHEAD * sh * W + 32 * s + 16), _MM_HINT_T0);
      __m512 a = _mm512_maskz_loadu_ps (ka, r + 32 * s);
      __m512 b = _mm512_maskz_loadu_ps (kb, r + 32 * s + 16);
      if (e)
        _mm512_mask_storeu_ps (ei + 16 * s, ks, _mm512_permutex2var_ps (a, even, b));
      if (o)
        _mm512_mask_storeu_ps (oi + 16 * s, ks, _mm512_permutex2var_ps (a, odd, b));
    }
  }
}

/* split_rows16() 8 columns a vector */
CNN_AVX2
static void
split_rows8 (const float *src, int64_t W, int64_t pl, int64_t Wq, int64_t y0, int64_t sh, int64_t n, float *e,
    float *o)
{
  for (int64_t i = 0; i < n; i++)
    for (int64_t q = 0; q < Wq; q += 8) {
      const float *r = src + (y0 + sh * i) * W;
      int64_t c = 2 * q - pl;
      /* masked loads at the ends only: inside, they cost more than the
       * scalar copy they replace */
      bool inside = c >= 0 && c + 16 <= W;
      _mm_prefetch ((const char *) (r + ROWS_AHEAD * sh * W + c), _MM_HINT_T0);
      __m256 a = inside ? _mm256_loadu_ps (r + c) : _mm256_maskload_ps (r + c, cnn_lanes8 (-c, W - c));
      __m256 b = inside ? _mm256_loadu_ps (r + c + 8) : _mm256_maskload_ps (r + c + 8, cnn_lanes8 (-c - 8, W - c - 8));
      __m256 ev = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (a, b, 0x88)), 0xd8));
      __m256 od = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (a, b, 0xdd)), 0xd8));
      if (e)
        cnn_store_lanes8 (e + i * Wq + q, ev, 0, (int) MIN (Wq - q, 8));
      if (o)
        cnn_store_lanes8 (o + i * Wq + q, od, 0, (int) MIN (Wq - q, 8));
    }
}

static split_rows_fn
split_rows_kernel (void)
{
  return cnn_sgemm_avx512_available () ? split_rows16 : cnn_sgemm_avx2_available () ? split_rows8 : NULL;
}
#else
static split_rows_fn
split_rows_kernel (void)
{
  return NULL;
}
#endif

/* Stride 2 across, the column phases of row phase @py that @use, with the
 * SIMD row split @split: each input row read once, split into its
 * even and odd columns in one pass, borders included (short rows, 28
 * columns at ResNet's stride-2 3x3, had spent a third of the time on
 * scalar ends and memset() calls). */
static void
fill_split (split_rows_fn split, const cnn_phase_grid *g, const float *src, int64_t py, bool borders,
    const bool use[2], float *planes, int64_t q0, int64_t q1)
{
  int64_t psz = g->Hq * g->Wq;
  float *d[2] = { use[0] ? planes + py * 2 * psz : NULL, use[1] ? planes + (py * 2 + 1) * psz : NULL };
  /* plane rows [i0, i1) read input rows; the rest are border */
  int64_t i0 = MIN ((MAX (g->pt - py, 0) + g->sh - 1) / g->sh, g->Hq);
  int64_t i1 = MAX (MIN ((g->H + g->pt - py + g->sh - 1) / g->sh, g->Hq), i0);
  for (int px = 0; px < 2 && borders; px++)
    if (d[px]) {
      if (q0 < i0)
        memset (d[px] + q0 * g->Wq, 0, sizeof (float) * g->Wq * (MIN (i0, q1) - q0));
      if (q1 > i1)
        memset (d[px] + MAX (i1, q0) * g->Wq, 0, sizeof (float) * g->Wq * (q1 - MAX (i1, q0)));
    }
  i0 = MAX (i0, q0);
  i1 = MIN (i1, q1);
  if (i1 > i0)
    split (src, g->W, g->pl, g->Wq, i0 * g->sh + py - g->pt, g->sh, i1 - i0,
        d[0] ? d[0] + i0 * g->Wq : NULL, d[1] ? d[1] + i0 * g->Wq : NULL);
}

/* Stride 2 across, both column phases of row phase @py, without SIMD: each
 * input row read once, split into its even and odd columns in one pass. */
static void
fill_pairs (const cnn_phase_grid *g, const float *src, int64_t py, bool borders, float *planes, int64_t q0,
    int64_t q1)
{
  int64_t psz = g->Hq * g->Wq, lo[2], hi[2];
  float *d[2] = { planes + py * 2 * psz, planes + (py * 2 + 1) * psz };
  inside_columns (g, 0, &lo[0], &hi[0]);
  inside_columns (g, 1, &lo[1], &hi[1]);
  /* columns where both phases read the input */
  int64_t a = MAX (lo[0], lo[1]), b = MAX (MIN (hi[0], hi[1]), a);
  d[0] += q0 * g->Wq;
  d[1] += q0 * g->Wq;
  for (int64_t i = q0; i < q1; i++, d[0] += g->Wq, d[1] += g->Wq) {
    int64_t y = i * g->sh + py - g->pt;
    if (y < 0 || y >= g->H) {
      if (borders) {
        memset (d[0], 0, sizeof (float) * g->Wq);
        memset (d[1], 0, sizeof (float) * g->Wq);
      }
      continue;
    }
    const float *row = src + y * g->W;
    for (int px = 0; px < 2; px++) {
      if (borders) {
        memset (d[px], 0, sizeof (float) * lo[px]);
        memset (d[px] + hi[px], 0, sizeof (float) * (g->Wq - hi[px]));
      }
      for (int64_t q = lo[px]; q < a; q++)
        d[px][q] = row[2 * q + px - g->pl];
      for (int64_t q = MAX (b, lo[px]); q < hi[px]; q++)
        d[px][q] = row[2 * q + px - g->pl];
    }
    float *restrict e = d[0], *restrict o = d[1];
    const float *restrict r = row + 2 * a - g->pl;
    for (int64_t q = 0; q < b - a; q++) {
      e[a + q] = r[2 * q];
      o[a + q] = r[2 * q + 1];
    }
  }
}

CNN_MULTIVERSION void
cnn_phase_grid_fill_rows (const cnn_phase_grid *g, const float *src, int64_t py, bool borders, float *planes,
    int64_t q0, int64_t q1)
{
  int64_t psz = g->Hq * g->Wq;
  bool use[2] = { phase_used (g, py, 0), phase_used (g, py, 1) };
  split_rows_fn split = split_rows_kernel ();
  q0 = CLAMP (q0, 0, g->Hq);
  q1 = CLAMP (q1, q0, g->Hq);
  if (g->sw == 2 && split && (use[0] || use[1])) {
    fill_split (split, g, src, py, borders, use, planes, q0, q1);
    return;
  }
  if (g->sw == 2 && use[0] && use[1]) {
    fill_pairs (g, src, py, borders, planes, q0, q1);
    return;
  }
  for (int64_t px = 0; px < g->sw; px++) {
    if (!phase_used (g, py, px))
      continue;
    float *d = planes + (py * g->sw + px) * psz + q0 * g->Wq;
    int64_t lo, hi;
    inside_columns (g, px, &lo, &hi);
    for (int64_t i = q0; i < q1; i++, d += g->Wq) {
      int64_t y = i * g->sh + py - g->pt;       /* input row */
      if (y < 0 || y >= g->H) {
        if (borders)
          memset (d, 0, sizeof (float) * g->Wq);
        continue;
      }
      const float *row = src + y * g->W + px - g->pl;
      /* a pad's few zeros: stores, not two calls a row */
      for (int64_t q = 0; borders && q < lo; q++)
        d[q] = 0.f;
      for (int64_t q = hi; borders && q < g->Wq; q++)
        d[q] = 0.f;
      if (g->sw == 1 && hi - lo >= 64)
        memcpy (d + lo, row + lo, sizeof (float) * (hi - lo));
      else if (g->sw == 1)
        for (int64_t q = lo; q < hi; q++)       /* short rows: cheaper than a call */
          d[q] = row[q];
      else if (g->sw == 2)
        for (int64_t q = lo; q < hi; q++)
          d[q] = row[2 * q];
      else
        for (int64_t q = lo; q < hi; q++)
          d[q] = row[q * g->sw];
    }
  }
}

void
cnn_phase_grid_fill (const cnn_phase_grid *g, const float *src, int64_t py, bool borders, float *planes)
{
  cnn_phase_grid_fill_rows (g, src, py, borders, planes, 0, g->Hq);
}

/* One run of a row: dst = act (src + bias (+ r)), act simple.  Inlined with
 * constant @t, so that every loop vectorizes. */
__attribute__ ((always_inline))
static inline void
store_run (float *dst, const float *src, const float *r, float bias, int64_t n, cnn_act_type t, float alpha,
    float beta)
{
  if (r)
    for (int64_t i = 0; i < n; i++)
      dst[i] = cnn_act_one (t, alpha, beta, src[i] + bias + r[i]);
  else
    for (int64_t i = 0; i < n; i++)
      dst[i] = cnn_act_one (t, alpha, beta, src[i] + bias);
}

CNN_MULTIVERSION void
cnn_phase_grid_store (const cnn_phase_grid *g, const float *grid, int64_t j0, int64_t n, float bias,
    const float *residual, const cnn_act *act, float *out)
{
  /* locals: @out could alias @act as far as the compiler knows */
  const cnn_act_type at = act->type;
  const float alpha = act->alpha, beta = act->beta;
  for (int64_t y = j0 / g->Wq; y * g->Wq < j0 + n; y++) {
    /* the row's output columns inside [j0, j0 + n) */
    int64_t x0 = MAX (j0 - y * g->Wq, 0), x1 = MIN (j0 + n - y * g->Wq, g->OW);
    if (x0 >= x1)
      continue;
    const float *src = grid + (y * g->Wq + x0 - j0);
    float *dst = out + y * g->OW + x0;
    const float *r = residual ? residual + y * g->OW + x0 : NULL;
    switch (at) {
      case CNN_ACT_RELU:
        store_run (dst, src, r, bias, x1 - x0, CNN_ACT_RELU, alpha, beta);
        break;
      case CNN_ACT_LEAKY_RELU:
        store_run (dst, src, r, bias, x1 - x0, CNN_ACT_LEAKY_RELU, alpha, beta);
        break;
      case CNN_ACT_CLIP:
        store_run (dst, src, r, bias, x1 - x0, CNN_ACT_CLIP, alpha, beta);
        break;
      default:
        store_run (dst, src, r, bias, x1 - x0, CNN_ACT_NONE, alpha, beta);
        if (!cnn_act_is_simple (at))
          cnn_act_apply_fast (act, dst, x1 - x0);
        break;
    }
  }
}
