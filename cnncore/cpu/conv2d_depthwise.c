/* conv2d_depthwise.c - depthwise 2D convolutions (MobileNet, DeepLab,
 * UltraFace: one filter per channel) with AVX-512, any kernel size, stride,
 * dilation and pads, four ways:
 * - 3x3 at stride 1 or 2 without dilation (MobileNet's, UltraFace's), or
 *   at stride 1 with dilation 2 or 4 (DeepLab's): rows of 16 outputs
 *   straight from the input rows, several output rows sharing each input
 *   row's loads (dw3_channel); half as long as copying planes;
 * - 3x3 at stride 2 on input rows of 16 or fewer (MobileNetV2's 14 x 14
 *   -> 7 x 7): two output rows to a vector, each tap's values permuted out
 *   of two whole input rows (dw3_pairs_channel);
 * - small planes of the same size in and out at stride 1 (7 x 7, and
 *   DeepLab's 33 x 33 at dilation 4): each tap a masked load of the whole
 *   plane at a fixed offset (dw_flat_channel);
 * - the rest (other kernels, dilations, strides): each channel copied into
 *   zero-bordered phase planes (cpu/phase_grid.c), where every tap reads a
 *   contiguous run, so that the whole output plane, rows and their dropped
 *   border columns together, is kh * kw fused multiply-adds per 16 outputs,
 *   four vectors in flight, with no bounds checks and no short rows.
 * Small planes (deep layers) go several channels to a task.  With AVX2 (no
 * AVX-512) the 3x3 ones take the rows path, 8 outputs a vector, planes
 * whose rows are shorter than that the flat path, and the rest the general
 * one. */
#include "../ops/conv.h"

/* Not in the fuzzers' build (tests/fuzz/run-fuzz.sh): clang with the
 * sanitizers took over ten minutes on this file's unrolled kernels, twice
 * per CI run; depthwise layers take the general path there, and test-ops
 * checks this file natively and under ASan. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CNN_FUZZ_BUILD)
#include <immintrin.h>
#include "act_avx512.h"
#include "act_avx2.h"
#define HAVE_DW_KERNEL 1
#endif

#define VEC 16
#define STEP (4 * VEC)          /* grid columns per iteration */
#define MAX_TAPS 64
#define TASK_OUTPUTS 8192       /* outputs per task at least, several channels for small planes */
#define FLAT_MAX_VECS 80        /* flat path: planes of up to 80 vectors (35 x 36) */
#define ROWS_MAX 6              /* rows path: output rows sharing their input rows' loads */
#define ROWS_MIN_WIDTH 12       /* rows path: narrower planes that fit the flat path take it */
#define ROWS_IN_MAX 16          /* rows path: input rows of a group, (ROWS_MAX - 1) * s + 2 * d + 1 at most */
#define ZERO_ROW_MAX 4096       /* rows path: input rows up to this wide read a row of zeros outside the input */

typedef struct {
  cnn_phase_grid p;
  int64_t cols;                 /* grid columns computed: ncols rounded up to STEP */
  int64_t planes;               /* floats of one channel's planes, slack for the last STEP included */
  int64_t per_task;             /* channels per task */
  bool flat;                    /* stride 1, output as large as the input, small: dw_flat_channel */
  bool rows;                    /* 3x3, stride 1 or 2 undilated, or stride 1 dilated 2 or 4: dw3_channel */
  bool pairs;                   /* 3x3 at stride 2 undilated, input rows of 16 or fewer: dw3_pairs_channel */
  int64_t flat_vecs;            /* vectors of one plane on the flat path */
} dw_geom;

#ifdef HAVE_DW_KERNEL

static bool
dw_geometry (const cnn_exec *x, dw_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window w;
  if (x->in[0]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK || !cnn_phase_grid_init (&w, &g->p))
    return false;
  int64_t C = x->in[0]->dims[1], M = x->in[1]->dims[0];
  const cnn_phase_grid *pg = &g->p;
  if (p->group != C || M != C || pg->kh * pg->kw > MAX_TAPS || pg->kh * pg->kw == 1)
    return false;
  g->cols = (pg->ncols + STEP - 1) / STEP * STEP;
  g->planes = pg->plane_floats + STEP;
  g->per_task = CLAMP (TASK_OUTPUTS / (pg->OH * pg->OW), 1, C);
  g->flat_vecs = (pg->OH * pg->OW + VEC - 1) / VEC;
  g->flat = pg->sh == 1 && pg->sw == 1 && pg->OH == pg->H && pg->OW == pg->W && g->flat_vecs <= FLAT_MAX_VECS;
  /* rows of 16 outputs: the flat path still wins on 7x7, where a row
   * would fill 7 of 16 lanes, and at dilation 4, where 6 output rows read
   * 14 input rows (33x33: 0.27 ms against 0.32) */
  g->rows = pg->kh == 3 && pg->kw == 3 && pg->dh == pg->dw && pg->sh == pg->sw &&
      ((pg->dh == 1 && pg->sh <= 2) || (pg->sh == 1 && (pg->dh == 2 || pg->dh == 4))) &&
      !(g->flat && (pg->OW < ROWS_MIN_WIDTH || pg->dh == 4));
  /* two output rows to a vector where a row fills half of one or less
   * (MobileNetV2's 576 x 14 x 14 -> 7 x 7, alone: 0.027 -> 0.013 ms at 2
   * threads, 0.046 -> 0.022 at 1) */
  g->pairs = pg->kh == 3 && pg->kw == 3 && pg->sh == 2 && pg->sw == 2 && pg->dh == 1 && pg->dw == 1 &&
      pg->W <= VEC && 2 * pg->OW <= VEC;
  if (g->pairs)
    g->rows = false;
  /* AVX2: 3x3 on the rows path, the flat one where a row is shorter than
   * a vector (7 x 7: 0.106 -> 0.062 ms, 960 channels on Zen 4; at 14 x 14
   * the rows path is twice as fast), the rest on the general one */
  if (!cnn_sgemm_avx512_available ()) {
    g->flat = g->flat && pg->OW < 8;
    g->rows = !g->flat && pg->kh == 3 && pg->kw == 3 && pg->dh == pg->dw && pg->sh == pg->sw &&
        ((pg->dh == 1 && pg->sh <= 2) || (pg->sh == 1 && (pg->dh == 2 || pg->dh == 4)));
    g->pairs = false;
  }
  return true;
}

bool
cnn_conv2d_depthwise_applies (const cnn_exec *x)
{
  dw_geom g;
  return cnn_sgemm_kernels_available () && dw_geometry (x, &g);
}

/* per thread: the channel's planes, then its output grid */
size_t
cnn_conv2d_depthwise_scratch (const cnn_exec *x)
{
  dw_geom g;
  if (!dw_geometry (x, &g))
    return 0;
  if (g.flat || g.rows || g.pairs)
    return 0;
  return (size_t) (g.planes + g.cols) * sizeof (float) * MAX (x->threads, 1);
}

/* Worked out once per plan (x->cache), not on every run. */
typedef struct {
  int32_t koff[MAX_TAPS];       /* per tap: its offset on the planes (flat: in the input plane) */
  /* flat: the output lanes a tap reaches the input for; 0 past the plane,
   * up to the next multiple of 4 vectors */
  __mmask16 mask[MAX_TAPS][FLAT_MAX_VECS];
} dw_taps;

typedef struct {
  cnn_exec *x;
  dw_geom g;
  const int32_t *koff;
  __mmask16 (*mask)[FLAT_MAX_VECS];
  /* pairs path, per tap column kx: where each lane's value lies in the two
   * input rows (lanes below OW in the first, 16 + its column in the
   * second), and which lanes find it inside the input */
  int32_t pair_idx[3][VEC];
  __mmask16 pair_valid[3];
} dw_ctx;

/* Plane @nc (image n, channel ch = nc % C) of a run: its filter, input,
 * output and residual planes and its bias, as every path takes them. */
typedef struct {
  const float *k, *in, *res;
  float *out;
  float bias;
} dw_plane;

static inline dw_plane
dw_plane_at (const dw_ctx *c, int64_t nc)
{
  const cnn_phase_grid *pg = &c->g.p;
  const cnn_exec *x = c->x;
  int64_t ch = nc % x->in[0]->dims[1], osz = pg->OH * pg->OW;
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  dw_plane d = { (const float *) x->in[1]->data + ch * pg->kh * pg->kw,
    (const float *) x->in[0]->data + nc * pg->H * pg->W,
    x->residual ? (const float *) x->residual->data + nc * osz : NULL,
    (float *) x->out[0]->data + nc * osz, B ? ((const float *) B->data)[ch] : 0.f };
  return d;
}

/* Flat path: the taps' offsets in the input plane and, per output vector,
 * which of its pixels each tap finds inside the input. */
static void
dw_flat_masks (const dw_geom *g, dw_taps *c)
{
  const cnn_phase_grid *pg = &g->p;
  int64_t hw = pg->H * pg->W;
  for (int64_t ky = 0, t = 0; ky < pg->kh; ky++)
    for (int64_t kx = 0; kx < pg->kw; kx++, t++) {
      int64_t dy = ky * pg->dh - pg->pt, dx = kx * pg->dw - pg->pl;
      c->koff[t] = (int32_t) (dy * pg->W + dx);
      for (int64_t v = 0; v < g->flat_vecs; v++) {
        __mmask16 m = 0;
        for (int64_t l = 0; l < VEC; l++) {
          int64_t p = v * VEC + l, y = p / pg->W + dy, x = p % pg->W + dx;
          if (p < hw && y >= 0 && y < pg->H && x >= 0 && x < pg->W)
            m |= (__mmask16) (1u << l);
        }
        c->mask[t][v] = m;
      }
    }
}

/* Flat path, one channel: four output vectors at a time, each tap a masked
 * load at its offset (the masked-off lanes read nothing, so offsets before
 * the plane or past it are safe), then bias, residual and activation. */
__attribute__ ((target ("avx512f")))
static void
dw_flat_channel (const dw_ctx *c, int64_t nc)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t taps = pg->kh * pg->kw, hw = pg->H * pg->W;
  const dw_plane d = dw_plane_at (c, nc);
  const float *k = d.k, *in = d.in, *res = d.res;
  float *out = d.out;
  __m512 bias = _mm512_set1_ps (d.bias);
  const cnn_act_type at = x->act.type;
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  for (int64_t v0 = 0; v0 < g->flat_vecs; v0 += 4) {
    int64_t nv = MIN (4, g->flat_vecs - v0);
    /* always four vectors, in registers (an array indexed by nv went
     * through the stack): past the plane the masks are 0 */
    __m512 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (int64_t t = 0; t < taps; t++) {
      __m512 wt = _mm512_set1_ps (k[t]);
      const float *r = in + c->koff[t] + v0 * VEC;
      const __mmask16 *m = c->mask[t] + v0;
      a0 = _mm512_fmadd_ps (wt, _mm512_maskz_loadu_ps (m[0], r), a0);
      a1 = _mm512_fmadd_ps (wt, _mm512_maskz_loadu_ps (m[1], r + VEC), a1);
      a2 = _mm512_fmadd_ps (wt, _mm512_maskz_loadu_ps (m[2], r + 2 * VEC), a2);
      a3 = _mm512_fmadd_ps (wt, _mm512_maskz_loadu_ps (m[3], r + 3 * VEC), a3);
    }
    for (int64_t v = 0; v < nv; v++) {
      __m512 acc = v == 0 ? a0 : v == 1 ? a1 : v == 2 ? a2 : a3;
      int64_t p = (v0 + v) * VEC;
      __mmask16 m = cnn_lanes16 (0, hw - p);
      if (res)
        acc = _mm512_add_ps (acc, _mm512_maskz_loadu_ps (m, res + p));
      _mm512_mask_storeu_ps (out + p, m, cnn_act_simple16 (at, acc, lo, hi));
    }
  }
  if (!cnn_act_is_simple (at))
    cnn_act_apply_fast (&x->act, out, hw);
}

/* dw_flat_channel() with AVX2: 8 outputs a vector, each one's masks half
 * of a 16-lane vector's (MobileNetV2's 960 x 7 x 7, alone, on Zen 4:
 * rows of 7 lanes, each a masked store, took twice the AVX-512 time). */
CNN_AVX2 static void
dw_flat_channel8 (const dw_ctx *c, int64_t nc)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t taps = pg->kh * pg->kw, hw = pg->H * pg->W, nvec = (hw + 7) / 8;
  const dw_plane d = dw_plane_at (c, nc);
  const float *k = d.k, *in = d.in, *res = d.res;
  float *out = d.out;
  const __m256 bias = _mm256_set1_ps (d.bias);
  const cnn_act_type at = x->act.type;
  const __m256 lo = _mm256_set1_ps (x->act.alpha), hi = _mm256_set1_ps (x->act.beta);
  const __m256i bit = _mm256_setr_epi32 (1, 2, 4, 8, 16, 32, 64, 128);
  for (int64_t v0 = 0; v0 < nvec; v0 += 4) {
    int64_t nv = MIN (4, nvec - v0);
    __m256 a[4] = { bias, bias, bias, bias };
    for (int64_t t = 0; t < taps; t++) {
      __m256 wt = _mm256_set1_ps (k[t]);
      const float *r = in + c->koff[t] + v0 * 8;
      /* vectors v0 .. v0 + 3 are the halves of 16-lane vectors v0 / 2 and
       * v0 / 2 + 1 (zero past the plane) */
      uint32_t bits = c->mask[t][v0 / 2] | (v0 / 2 + 1 < g->flat_vecs ? (uint32_t) c->mask[t][v0 / 2 + 1] << 16 : 0);
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        __m256i m = _mm256_and_si256 (_mm256_set1_epi32 ((int) (bits >> 8 * u)), bit);
        a[u] = _mm256_fmadd_ps (wt, _mm256_maskload_ps (r + 8 * u, _mm256_cmpeq_epi32 (m, bit)), a[u]);
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++) {
      int64_t p = (v0 + u) * 8;
      if (u >= nv)
        break;
      __m256 v = a[u];
      if (p + 8 <= hw) {
        if (res)
          v = _mm256_add_ps (v, _mm256_loadu_ps (res + p));
        _mm256_storeu_ps (out + p, cnn_act_simple8 (at, v, lo, hi));
      } else {
        if (res)
          v = _mm256_add_ps (v, _mm256_maskload_ps (res + p, cnn_lanes8 (0, hw - p)));
        cnn_store_lanes8 (out + p, cnn_act_simple8 (at, v, lo, hi), 0, (int) (hw - p));
      }
    }
  }
  if (!cnn_act_is_simple (at))
    cnn_act_apply_fast (&x->act, out, hw);
}

/* the rows path's input rows outside the input */
static const float dw_zeros[ZERO_ROW_MAX] __attribute__ ((aligned (64)));

/* How dw3_vec() reads and writes: without masks, the loads and stores
 * inside the rows (masked loads took a quarter of the time on Zen 4); with
 * one on the first or the last tap (or block of 16 columns, at stride 2)
 * only, where the vector reaches into the left or the right padding; or
 * masked throughout. */
enum { DW_INSIDE, DW_LEFT, DW_RIGHT, DW_MASKED };

/* One vector of 16 outputs of R rows (the first at @p0 in @out), input
 * column @x0 under tap kx = 0, read as @mode says: the masks @m0, @m1, @m2
 * (per tap; stride 2: per block of 16 columns) and @inside (per input row)
 * keep to the input, @store to the output row.  Other than DW_MASKED, the
 * input rows outside the plane are rows of zeros and the 16 outputs lie in
 * the row. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
dw3_vec (const float *const *rows, const __mmask16 *inside, const __m512 *wk, __m512 bias, const float *res,
    float *out, int64_t p0, int64_t OW, int64_t x0, __mmask16 m0, __mmask16 m1, __mmask16 m2, __mmask16 store,
    cnn_act_type at, __m512 lo, __m512 hi, const int R, const int s, const int d, const int mode)
{
  const __m512i even = _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32 (even, _mm512_set1_epi32 (1));
  const int NIN = (R - 1) * s + 2 * d + 1;      /* input rows the R output rows read */
  const bool mask0 = mode == DW_LEFT || mode == DW_MASKED, mask1 = mode == DW_MASKED;
  const bool mask2 = mode == DW_RIGHT || mode == DW_MASKED;
  __m512 acc[ROWS_MAX];
  for (int i = 0; i < R; i++)
    acc[i] = bias;
#pragma GCC unroll 16
  for (int j = 0; j < NIN; j++) {
    const float *r = rows[j] + x0;
    __mmask16 in_row = inside[j];
    __m512 t0, t1, t2;
    if (s == 1) {
      t0 = mask0 ? _mm512_maskz_loadu_ps (m0 & in_row, r) : _mm512_loadu_ps (r);
      t1 = mask1 ? _mm512_maskz_loadu_ps (m1 & in_row, r + d) : _mm512_loadu_ps (r + d);
      t2 = mask2 ? _mm512_maskz_loadu_ps (m2 & in_row, r + 2 * d) : _mm512_loadu_ps (r + 2 * d);
    } else {
      __m512 l0 = mask0 ? _mm512_maskz_loadu_ps (m0 & in_row, r) : _mm512_loadu_ps (r);
      __m512 l1 = mask1 ? _mm512_maskz_loadu_ps (m1 & in_row, r + VEC) : _mm512_loadu_ps (r + VEC);
      __m512 l2 = mask2 ? _mm512_maskz_loadu_ps (m2 & in_row, r + 2 * VEC) :
          _mm512_castps128_ps512 (_mm_load_ss (r + 2 * VEC));
      t0 = _mm512_permutex2var_ps (l0, even, l1);
      t1 = _mm512_permutex2var_ps (l0, odd, l1);
      /* columns 2, 4, ..., 32: t0 one lane on, l2's first lane last */
      t2 = _mm512_castsi512_ps (_mm512_alignr_epi32 (_mm512_castps_si512 (l2), _mm512_castps_si512 (t0), 1));
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
      const int ky = (j - i * s) / d;
      if (j - i * s < 0 || (j - i * s) % d || ky > 2)
        continue;
      acc[i] = _mm512_fmadd_ps (wk[3 * ky], t0, acc[i]);
      acc[i] = _mm512_fmadd_ps (wk[3 * ky + 1], t1, acc[i]);
      acc[i] = _mm512_fmadd_ps (wk[3 * ky + 2], t2, acc[i]);
    }
  }
  for (int i = 0; i < R; i++) {
    int64_t p = p0 + i * OW;
    __m512 v = acc[i];
    if (mode == DW_MASKED) {
      if (res)
        v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (store, res + p));
      _mm512_mask_storeu_ps (out + p, store, cnn_act_simple16 (at, v, lo, hi));
    } else {
      if (res)
        v = _mm512_add_ps (v, _mm512_loadu_ps (res + p));
      _mm512_storeu_ps (out + p, cnn_act_simple16 (at, v, lo, hi));
    }
  }
}

/* Rows path, output rows [oy, oy + R) of one channel: each vector of 16
 * outputs of a row straight from the input rows, no copies.  An input row
 * is loaded once for all the R output rows that read it (three taps of
 * each), which is what makes R rows at a time pay: 6 rows cut the loads per
 * output from 9 to 4 at stride 1.  Stride 2 loads 33 input columns and
 * splits them into the even (tap 0), odd (tap 1) and next even (tap 2)
 * ones in registers.  Dilation d (stride 1 only) puts the taps d columns
 * and d rows apart.  Input rows outside the input read as zeros (a row of
 * zeros, or a zero mask, which reads nothing), so that with R, s and d
 * constants the loops unroll into straight code: which tap row each input
 * row is for each output row is then known at compile time (a test per
 * row pair took as long as the arithmetic).  A row's last vector ends at
 * its last output, overlapping the one before, so that it needs no store
 * mask (it stores the same values again: the output never shares a buffer
 * with the input or the residual). */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
dw3_rows (const dw_ctx *c, const float *in, const float *k, __m512 bias, const float *res, float *out,
    int64_t oy, const int R, const int s, const int d)
{
  const cnn_phase_grid *pg = &c->g.p;
  cnn_exec *x = c->x;
  const int64_t H = pg->H, W = pg->W, OW = pg->OW;
  const cnn_act_type at = x->act.type;
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  const int NIN = (R - 1) * s + 2 * d + 1;      /* input rows the R output rows read */
  __m512 wk[9];
  for (int t = 0; t < 9; t++)
    wk[t] = _mm512_set1_ps (k[t]);
  /* per input row: its start (zeros where it is outside the input, or with
   * rows wider than those, a row inside, never read) and whether it is
   * inside */
  const bool zero_rows = W <= ZERO_ROW_MAX;
  const float *rows[ROWS_IN_MAX];
  __mmask16 inside[ROWS_IN_MAX];
  for (int j = 0; j < NIN; j++) {
    int64_t iy = oy * s - pg->pt + j;
    inside[j] = iy >= 0 && iy < H ? 0xffff : 0;
    rows[j] = inside[j] || !zero_rows ? in + CLAMP (iy, 0, H - 1) * W : dw_zeros;
  }
  /* the input columns a vector reads, from its tap-0 column: the last of
   * all, and the first and last of its middle tap (block of 16) */
  const int64_t reach = s == 1 ? 2 * d + VEC - 1 : 2 * VEC, mid_start = s == 1 ? d : VEC;
  const int64_t mid_end = s == 1 ? d + VEC - 1 : 2 * VEC - 1;
  for (int64_t ox = 0; ox < OW; ox += VEC) {
    int64_t o = ox + VEC > OW && OW >= VEC && zero_rows ? OW - VEC : ox;
    int64_t x0 = o * s - pg->pl, p0 = oy * OW + o;
    int mode = DW_MASKED;
    if (zero_rows && o + VEC <= OW) {
      if (x0 >= 0 && x0 + reach < W)
        mode = DW_INSIDE;
      else if (x0 + mid_start >= 0 && x0 + reach < W)
        mode = DW_LEFT;
      else if (x0 >= 0 && x0 + mid_end < W)
        mode = DW_RIGHT;
    }
    if (mode == DW_INSIDE) {
      dw3_vec (rows, inside, wk, bias, res, out, p0, OW, x0, 0, 0, 0, 0, at, lo, hi, R, s, d, DW_INSIDE);
      continue;
    }
    __mmask16 store = cnn_lanes16 (0, OW - o), m0, m1, m2;
    if (s == 1) {
      m0 = cnn_lanes16 (-x0, W - x0) & store;
      m1 = cnn_lanes16 (-x0 - d, W - x0 - d) & store;
      m2 = cnn_lanes16 (-x0 - 2 * d, W - x0 - 2 * d) & store;
    } else {                    /* columns x0 + [0, 16), + [16, 32), + 32 */
      m0 = cnn_lanes16 (-x0, W - x0);
      m1 = cnn_lanes16 (-x0 - VEC, W - x0 - VEC);
      m2 = cnn_lanes16 (-x0 - 2 * VEC, W - x0 - 2 * VEC) & 1;
    }
    if (mode == DW_LEFT)
      dw3_vec (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, at, lo, hi, R, s, d, DW_LEFT);
    else if (mode == DW_RIGHT)
      dw3_vec (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, at, lo, hi, R, s, d, DW_RIGHT);
    else
      dw3_vec (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, at, lo, hi, R, s, d, DW_MASKED);
  }
}

/* One channel on the rows path: its output rows in groups of at most
 * ROWS_MAX, of equal size give or take one (14 rows: 5, 5, 4), each group
 * size a kernel of its own so that the accumulators stay in registers;
 * the body of dw3_channel() and dw3_channel8(), with their rows kernel and
 * broadcast. */
#define DW3_CHANNEL(rows_fn, set1) \
  do { \
    const cnn_phase_grid *pg = &c->g.p; \
    cnn_exec *x = c->x; \
    const dw_plane d = dw_plane_at (c, nc); \
    int64_t groups = (pg->OH + ROWS_MAX - 1) / ROWS_MAX; \
    for (int64_t gi = 0, oy = 0; gi < groups; gi++) { \
      int64_t n = (pg->OH - oy) / (groups - gi);        /* the larger groups last */ \
      switch (n) { \
        DW3_ROWS_CASE (rows_fn, set1, 1); \
        DW3_ROWS_CASE (rows_fn, set1, 2); \
        DW3_ROWS_CASE (rows_fn, set1, 3); \
        DW3_ROWS_CASE (rows_fn, set1, 4); \
        DW3_ROWS_CASE (rows_fn, set1, 5); \
        DW3_ROWS_CASE (rows_fn, set1, 6); \
        default: \
          g_assert_not_reached (); \
      } \
      oy += n; \
    } \
    if (!cnn_act_is_simple (x->act.type)) \
      cnn_act_apply_fast (&x->act, d.out, pg->OH * pg->OW); \
  } while (0)
#define DW3_ROWS_CASE(rows_fn, set1, r) \
  case r: \
    if (pg->sh == 2) \
      rows_fn (c, d.in, d.k, set1 (d.bias), d.res, d.out, oy, r, 2, 1); \
    else if (pg->dh == 1) \
      rows_fn (c, d.in, d.k, set1 (d.bias), d.res, d.out, oy, r, 1, 1); \
    else if (pg->dh == 2) \
      rows_fn (c, d.in, d.k, set1 (d.bias), d.res, d.out, oy, r, 1, 2); \
    else \
      rows_fn (c, d.in, d.k, set1 (d.bias), d.res, d.out, oy, r, 1, 4); \
    break

__attribute__ ((target ("avx512f")))
static void
dw3_channel (const dw_ctx *c, int64_t nc)
{
  DW3_CHANNEL (dw3_rows, _mm512_set1_ps);
}

/* ---- the rows path with AVX2: 8 outputs a vector ---- */

#define AVX2 CNN_AVX2

/* dw3_vec() for 8 outputs: stride 2 takes 17 input columns apart into the
 * even ones (tap 0), the odd ones (tap 1) and the even ones one on (tap 2)
 * with in-lane shuffles and a cross-lane permute. */
AVX2 __attribute__ ((always_inline))
static inline void
dw3_vec8 (const float *const *rows, const __m256i *inside, const __m256 *wk, __m256 bias, const float *res,
    float *out, int64_t p0, int64_t OW, int64_t x0, __m256i m0, __m256i m1, __m256i m2, __m256i store,
    int n_store, cnn_act_type at, __m256 lo, __m256 hi, const int R, const int s, const int d, const int mode)
{
  const int NIN = (R - 1) * s + 2 * d + 1;
  const bool mask0 = mode == DW_LEFT || mode == DW_MASKED, mask1 = mode == DW_MASKED;
  const bool mask2 = mode == DW_RIGHT || mode == DW_MASKED;
  const __m256i rot = _mm256_setr_epi32 (1, 2, 3, 4, 5, 6, 7, 0);
  __m256 acc[ROWS_MAX];
  for (int i = 0; i < R; i++)
    acc[i] = bias;
#pragma GCC unroll 16
  for (int j = 0; j < NIN; j++) {
    const float *r = rows[j] + x0;
    __m256 t0, t1, t2;
    if (s == 1) {
      t0 = mask0 ? _mm256_maskload_ps (r, _mm256_and_si256 (m0, inside[j])) : _mm256_loadu_ps (r);
      t1 = mask1 ? _mm256_maskload_ps (r + d, _mm256_and_si256 (m1, inside[j])) : _mm256_loadu_ps (r + d);
      t2 = mask2 ? _mm256_maskload_ps (r + 2 * d, _mm256_and_si256 (m2, inside[j])) : _mm256_loadu_ps (r + 2 * d);
    } else {
      __m256 l0 = mask0 ? _mm256_maskload_ps (r, _mm256_and_si256 (m0, inside[j])) : _mm256_loadu_ps (r);
      __m256 l1 = mask1 ? _mm256_maskload_ps (r + 8, _mm256_and_si256 (m1, inside[j])) : _mm256_loadu_ps (r + 8);
      __m256 l2 = mask2 ? _mm256_maskload_ps (r + 16, _mm256_and_si256 (m2, inside[j])) :
          _mm256_castps128_ps256 (_mm_load_ss (r + 16));
      /* [0 2 8 10 | 4 6 12 14] -> [0 2 4 6 8 10 12 14], and the odd ones */
      t0 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (l0, l1, 0x88)), 0xd8));
      t1 = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (_mm256_shuffle_ps (l0, l1, 0xdd)), 0xd8));
      /* columns 2, 4, ..., 16: t0 one lane on, l2's first lane last */
      t2 = _mm256_blend_ps (_mm256_permutevar8x32_ps (t0, rot), _mm256_permutevar8x32_ps (l2, _mm256_setzero_si256 ()),
          0x80);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
      const int ky = (j - i * s) / d;
      if (j - i * s < 0 || (j - i * s) % d || ky > 2)
        continue;
      acc[i] = _mm256_fmadd_ps (wk[3 * ky], t0, acc[i]);
      acc[i] = _mm256_fmadd_ps (wk[3 * ky + 1], t1, acc[i]);
      acc[i] = _mm256_fmadd_ps (wk[3 * ky + 2], t2, acc[i]);
    }
  }
  for (int i = 0; i < R; i++) {
    int64_t p = p0 + i * OW;
    __m256 v = acc[i];
    if (mode == DW_MASKED) {
      if (res)
        v = _mm256_add_ps (v, _mm256_maskload_ps (res + p, store));
      cnn_store_lanes8 (out + p, cnn_act_simple8 (at, v, lo, hi), 0, n_store);
    } else {
      if (res)
        v = _mm256_add_ps (v, _mm256_loadu_ps (res + p));
      _mm256_storeu_ps (out + p, cnn_act_simple8 (at, v, lo, hi));
    }
  }
}

/* dw3_rows() for 8 outputs a vector */
AVX2 __attribute__ ((always_inline))
static inline void
dw3_rows8 (const dw_ctx *c, const float *in, const float *k, __m256 bias, const float *res, float *out,
    int64_t oy, const int R, const int s, const int d)
{
  const cnn_phase_grid *pg = &c->g.p;
  cnn_exec *x = c->x;
  const int64_t H = pg->H, W = pg->W, OW = pg->OW;
  const cnn_act_type at = x->act.type;
  const __m256 lo = _mm256_set1_ps (x->act.alpha), hi = _mm256_set1_ps (x->act.beta);
  const int NIN = (R - 1) * s + 2 * d + 1;
  __m256 wk[9];
  for (int t = 0; t < 9; t++)
    wk[t] = _mm256_set1_ps (k[t]);
  const bool zero_rows = W <= ZERO_ROW_MAX;
  const float *rows[ROWS_IN_MAX];
  __m256i inside[ROWS_IN_MAX];
  for (int j = 0; j < NIN; j++) {
    int64_t iy = oy * s - pg->pt + j;
    bool in_rows = iy >= 0 && iy < H;
    inside[j] = _mm256_set1_epi32 (in_rows ? -1 : 0);
    rows[j] = in_rows || !zero_rows ? in + CLAMP (iy, 0, H - 1) * W : dw_zeros;
  }
  const int64_t reach = s == 1 ? 2 * d + 8 - 1 : 2 * 8, mid_start = s == 1 ? d : 8;
  const int64_t mid_end = s == 1 ? d + 8 - 1 : 2 * 8 - 1;
  for (int64_t ox = 0; ox < OW; ox += 8) {
    int64_t o = ox + 8 > OW && OW >= 8 && zero_rows ? OW - 8 : ox;
    int64_t x0 = o * s - pg->pl, p0 = oy * OW + o;
    int mode = DW_MASKED;
    if (zero_rows && o + 8 <= OW) {
      if (x0 >= 0 && x0 + reach < W)
        mode = DW_INSIDE;
      else if (x0 + mid_start >= 0 && x0 + reach < W)
        mode = DW_LEFT;
      else if (x0 >= 0 && x0 + mid_end < W)
        mode = DW_RIGHT;
    }
    const __m256i none = _mm256_setzero_si256 ();
    if (mode == DW_INSIDE) {
      dw3_vec8 (rows, inside, wk, bias, res, out, p0, OW, x0, none, none, none, none, 8, at, lo, hi, R, s, d,
          DW_INSIDE);
      continue;
    }
    int n_store = (int) MIN (8, OW - o);
    __m256i store = cnn_lanes8 (0, n_store), m0, m1, m2;
    if (s == 1) {
      m0 = _mm256_and_si256 (cnn_lanes8 (-x0, W - x0), store);
      m1 = _mm256_and_si256 (cnn_lanes8 (-x0 - d, W - x0 - d), store);
      m2 = _mm256_and_si256 (cnn_lanes8 (-x0 - 2 * d, W - x0 - 2 * d), store);
    } else {                    /* columns x0 + [0, 8), + [8, 16), + 16 */
      m0 = cnn_lanes8 (-x0, W - x0);
      m1 = cnn_lanes8 (-x0 - 8, W - x0 - 8);
      m2 = _mm256_and_si256 (cnn_lanes8 (-x0 - 16, W - x0 - 16), cnn_lanes8 (0, 1));
    }
    if (mode == DW_LEFT)
      dw3_vec8 (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, n_store, at, lo, hi, R, s, d,
          DW_LEFT);
    else if (mode == DW_RIGHT)
      dw3_vec8 (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, n_store, at, lo, hi, R, s, d,
          DW_RIGHT);
    else
      dw3_vec8 (rows, inside, wk, bias, res, out, p0, OW, x0, m0, m1, m2, store, n_store, at, lo, hi, R, s, d,
          DW_MASKED);
  }
}

/* dw3_channel() with AVX2 */
AVX2 static void
dw3_channel8 (const dw_ctx *c, int64_t nc)
{
  DW3_CHANNEL (dw3_rows8, _mm256_set1_ps);
}

/* Pairs path, one channel (3x3, stride 2, input rows of 16 or fewer): a
 * vector holds output rows oy and oy + 1 side by side (OW lanes each,
 * which is their place in the output: one store), each tap's values picked
 * by a permute from the two input rows that the two output rows read
 * under it, loaded whole once per pair.  On planes this small a row to a
 * vector left most lanes idle and split every input row into its even and
 * odd columns with three loads and three shuffles. */
__attribute__ ((target ("avx512f")))
static void
dw3_pairs_channel (const dw_ctx *c, int64_t nc)
{
  const cnn_phase_grid *pg = &c->g.p;
  cnn_exec *x = c->x;
  const int64_t H = pg->H, W = pg->W, OH = pg->OH, OW = pg->OW, osz = OH * OW;
  const dw_plane d = dw_plane_at (c, nc);
  const float *k = d.k, *in = d.in, *res = d.res;
  float *out = d.out;
  const __m512 bias = _mm512_set1_ps (d.bias);
  const cnn_act_type at = x->act.type;
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  __m512 wk[9];
  for (int t = 0; t < 9; t++)
    wk[t] = _mm512_set1_ps (k[t]);
  __m512i idx[3];
  __mmask16 valid[3];
  for (int kx = 0; kx < 3; kx++) {
    idx[kx] = _mm512_loadu_si512 (c->pair_idx[kx]);
    valid[kx] = c->pair_valid[kx];
  }
  const __mmask16 row_lanes = cnn_lanes16 (0, W);
  for (int64_t oy = 0; oy < OH; oy += 2) {
    /* input rows 2 oy - pt + j, j = 0..4: rows 0-2 under the first output
     * row, 2-4 under the second (none past the last output row) */
    __m512 r[5];
    for (int j = 0; j < 5; j++) {
      int64_t iy = oy * 2 - pg->pt + j;
      bool inside = iy >= 0 && iy < H && (j < 3 || oy + 1 < OH);
      r[j] = _mm512_maskz_loadu_ps (inside ? row_lanes : 0, in + (inside ? iy * W : 0));
    }
    __m512 acc = bias;
    for (int ky = 0; ky < 3; ky++)
      for (int kx = 0; kx < 3; kx++)
        acc = _mm512_fmadd_ps (wk[3 * ky + kx], _mm512_maskz_permutex2var_ps (valid[kx], r[ky], idx[kx], r[ky + 2]),
            acc);
    int64_t p = oy * OW;
    __mmask16 store = cnn_lanes16 (0, MIN (2, OH - oy) * OW);
    if (res)
      acc = _mm512_add_ps (acc, _mm512_maskz_loadu_ps (store, res + p));
    _mm512_mask_storeu_ps (out + p, store, cnn_act_simple16 (at, acc, lo, hi));
  }
  if (!cnn_act_is_simple (at))
    cnn_act_apply_fast (&x->act, out, osz);
}

__attribute__ ((target ("avx512f")))
static void
dw_channel (const dw_ctx *c, int64_t nc, float *planes, float *grid)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t taps = pg->kh * pg->kw;
  const dw_plane d = dw_plane_at (c, nc);
  const float *k = d.k;
  for (int64_t py = 0; py < pg->sh; py++)
    cnn_phase_grid_fill (pg, d.in, py, false, planes);
  for (int64_t j = 0; j < g->cols; j += STEP) {
    __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < taps; t++) {
      const float *r = planes + c->koff[t] + j;
      __m512 wt = _mm512_set1_ps (k[t]);
      a0 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r), a0);
      a1 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + VEC), a1);
      a2 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + 2 * VEC), a2);
      a3 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + 3 * VEC), a3);
    }
    _mm512_storeu_ps (grid + j, a0);
    _mm512_storeu_ps (grid + j + VEC, a1);
    _mm512_storeu_ps (grid + j + 2 * VEC, a2);
    _mm512_storeu_ps (grid + j + 3 * VEC, a3);
  }
  cnn_phase_grid_store (pg, grid, 0, pg->ncols, d.bias, d.res, &x->act, d.out);
}

/* dw_channel() with AVX2: the same sums, 8 floats a vector */
__attribute__ ((target ("avx2,fma")))
static void
dw_channel8 (const dw_ctx *c, int64_t nc, float *planes, float *grid)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t taps = pg->kh * pg->kw;
  const dw_plane d = dw_plane_at (c, nc);
  const float *k = d.k;
  for (int64_t py = 0; py < pg->sh; py++)
    cnn_phase_grid_fill (pg, d.in, py, false, planes);
  for (int64_t j = 0; j < g->cols; j += STEP) {
    __m256 a[STEP / 8];
    for (int v = 0; v < STEP / 8; v++)
      a[v] = _mm256_setzero_ps ();
    for (int64_t t = 0; t < taps; t++) {
      const float *r = planes + c->koff[t] + j;
      __m256 wt = _mm256_set1_ps (k[t]);
#pragma GCC unroll 8
      for (int v = 0; v < STEP / 8; v++)
        a[v] = _mm256_fmadd_ps (wt, _mm256_loadu_ps (r + 8 * v), a[v]);
    }
#pragma GCC unroll 8
    for (int v = 0; v < STEP / 8; v++)
      _mm256_storeu_ps (grid + j + 8 * v, a[v]);
  }
  cnn_phase_grid_store (pg, grid, 0, pg->ncols, d.bias, d.res, &x->act, d.out);
}

static void
dw_task (int64_t task, int tid, void *data)
{
  dw_ctx *c = data;
  const dw_geom *g = &c->g;
  int64_t total = c->x->in[0]->dims[0] * c->x->in[0]->dims[1];
  if (g->rows || g->flat || g->pairs) { /* no scratch */
    for (int64_t nc = task * g->per_task; nc < MIN ((task + 1) * g->per_task, total); nc++)
      if (g->pairs)
        dw3_pairs_channel (c, nc);
      else if (g->rows && !cnn_sgemm_avx512_available ())
        dw3_channel8 (c, nc);
      else if (g->rows)
        dw3_channel (c, nc);
      else if (!cnn_sgemm_avx512_available ())
        dw_flat_channel8 (c, nc);
      else
        dw_flat_channel (c, nc);
    return;
  }
  /* borders and slack once: the channels fill the same pixels */
  float *planes = (float *) c->x->scratch + (size_t) tid * (g->planes + g->cols);
  memset (planes, 0, sizeof (float) * g->planes);
  bool avx512 = cnn_sgemm_avx512_available ();
  for (int64_t nc = task * g->per_task; nc < MIN ((task + 1) * g->per_task, total); nc++)
    if (avx512)
      dw_channel (c, nc, planes, planes + g->planes);
    else
      dw_channel8 (c, nc, planes, planes + g->planes);
}

cnn_status
cnn_conv2d_depthwise (cnn_exec *x)
{
  dw_ctx c = { x };
  if (!dw_geometry (x, &c.g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "not a depthwise convolution");
  if (x->scratch_size < cnn_conv2d_depthwise_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  if (!x->cache && !c.g.rows && !c.g.pairs) {  /* the rows and pairs paths need neither */
    dw_taps *t = g_new0 (dw_taps, 1);
    if (c.g.flat)
      dw_flat_masks (&c.g, t);
    else
      for (int64_t ky = 0, i = 0; ky < c.g.p.kh; ky++)
        for (int64_t kx = 0; kx < c.g.p.kw; kx++)
          t->koff[i++] = (int32_t) cnn_phase_grid_tap (&c.g.p, ky, kx);
    x->cache = t;
    x->cache_free = g_free;
  }
  if (x->cache) {
    c.koff = ((dw_taps *) x->cache)->koff;
    c.mask = ((dw_taps *) x->cache)->mask;
  }
  const cnn_phase_grid *pg = &c.g.p;
  for (int kx = 0; c.g.pairs && kx < 3; kx++)
    for (int64_t l = 0; l < VEC; l++) {
      int64_t col = (l < pg->OW ? l : l - pg->OW) * 2 + kx - pg->pl;
      bool inside = l < 2 * pg->OW && col >= 0 && col < pg->W;
      c.pair_idx[kx][l] = inside ? (int32_t) ((l < pg->OW ? 0 : VEC) + col) : 0;
      c.pair_valid[kx] |= (__mmask16) inside << l;
    }
  int64_t total = x->in[0]->dims[0] * x->in[0]->dims[1];
  cnn_parallel_for (x->pool, (total + c.g.per_task - 1) / c.g.per_task, dw_task, &c);
  return CNN_OK;
}

#else

bool
cnn_conv2d_depthwise_applies (const cnn_exec *x)
{
  return false;
}

size_t
cnn_conv2d_depthwise_scratch (const cnn_exec *x)
{
  return 0;
}

cnn_status
cnn_conv2d_depthwise (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_BACKEND, "no depthwise kernel on this CPU");
}

#endif
