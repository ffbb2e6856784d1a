/* sgemm_avx2.c - the tile and thin kernels of cpu/sgemm_avx512.c for CPUs
 * with AVX2 and FMA but not AVX-512 (Zen 1 to 3, Intel's client cores):
 * the same tiles, packed layouts and epilogues, so that the implicit GEMM,
 * the packed convolutions and Winograd run on them unchanged.  AVX2 has 16
 * registers of 8 floats, so a tile is computed as sub-tiles that fit them
 * (12 x 32 as four of 6 x 16, 8 x 48 as four of 4 x 24); sub-tiles wholly
 * past the tile's m rows or n columns are skipped.  B is always a packed
 * panel here (cnn_sgemm_gather() packs the columns it reads in place). */
#include "sgemm_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "act_avx2.h"

#define AVX2 CNN_AVX2

/* floats ahead of the reads of packed A to prefetch, as the AVX-512 kernel */
#define A_PREFETCH 1024

bool
cnn_sgemm_avx2_available (void)
{
  static int ok = -1;
  if (ok < 0) {
    __builtin_cpu_init ();
    ok = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") && !g_getenv ("CNN_NO_AVX2");
  }
  return ok;
}

/* Lanes of a vector r of nn <= 8 grid columns from grid column x of its
 * row, whose pixel is d, into the output row c (residual row res or NULL)
 * with the activation: lanes [0, split) in that grid row, the rest in the
 * next one (grid rows are 16 columns or more), the dropped columns
 * skipped: a division a lane took a fifth of the time of a first layer's
 * stride-2 grid.  Out of line: the vectors that cross a row are few, and
 * inlined it made the compiler spill an accumulator of the tile's loop. */
AVX2 __attribute__ ((noinline))
static void
store_lanes_grid (__m256 r, float *c, const float *res, const cnn_sgemm_epilogue *ep, int nn, int x, int d)
{
  int split = MIN (nn, ep->grid_wq - x), n1 = MIN (split, ep->grid_ow - x), n2 = MIN (nn, split + ep->grid_ow);
  /* lane l < split is pixel d + l, lane l >= split pixel d2 + l (the next
   * row's l - split) */
  int d2 = d + ep->grid_ow - x - split;
  float t[8];
  _mm256_storeu_ps (t, r);
  if (res) {
    for (int l = 0; l < n1; l++)
      t[l] += res[d + l];
    for (int l = split; l < n2; l++)
      t[l] += res[d2 + l];
  }
  _mm256_storeu_ps (t, cnn_act_simple8 (ep->act, _mm256_loadu_ps (t), _mm256_set1_ps (ep->alpha),
          _mm256_set1_ps (ep->beta)));
  for (int l = 0; l < n1; l++)
    c[d + l] = t[l];
  for (int l = split; l < n2; l++)
    c[d2 + l] = t[l];
}

/* A vector of a tile's row (bias added) on a grid: nn <= 8 columns from
 * column x of a grid row, which is pixel d of the output row c (residual
 * row res); in one piece where it lies inside an output row. */
AVX2 __attribute__ ((always_inline))
static inline void
store8_grid (__m256 r, float *c, const float *res, const cnn_sgemm_epilogue *ep, int nn, int x, int d,
    __m256 lo, __m256 hi)
{
  if (nn == 8 && x + 8 <= ep->grid_ow) {
    if (res)
      r = _mm256_add_ps (r, _mm256_loadu_ps (res + d));
    _mm256_storeu_ps (c + d, cnn_act_simple8 (ep->act, r, lo, hi));
  } else
    store_lanes_grid (r, c, res, ep, nn, x, d);
}

/* Grid column x and output pixel d of the tile's column j, and the same
 * for the next vectors: one division, then steps of 8 (grid rows are 16
 * columns or more: one wrap at most). */
static inline void
grid_first (const cnn_sgemm_epilogue *ep, int j, int *x, int *d)
{
  int g = ep->grid_j + j, y = g / ep->grid_wq;
  *x = g - y * ep->grid_wq;
  *d = y * ep->grid_ow + *x;
}

static inline void
grid_next (const cnn_sgemm_epilogue *ep, int *x, int *d)
{
  *x += 8;
  *d += 8;
  if (*x >= ep->grid_wq) {
    *x -= ep->grid_wq;
    *d += ep->grid_ow - ep->grid_wq;
  }
}

/* One vector of a tile's row i (columns j..j + 7 of it, nn <= 8 of them
 * real) into C with the epilogue, on a plain output. */
AVX2 __attribute__ ((always_inline))
static inline void
store8 (__m256 r, float *C, int ldc, int i, int j, int nn, bool first, const cnn_sgemm_epilogue *ep)
{
  const cnn_act_type act = ep ? ep->act : CNN_ACT_NONE;
  const __m256 lo = _mm256_set1_ps (ep ? ep->alpha : 0.f), hi = _mm256_set1_ps (ep ? ep->beta : 0.f);
  if (ep && ep->bias)
    r = _mm256_add_ps (r, _mm256_set1_ps (ep->bias[i]));
  float *c = C + (size_t) i * ldc + j;
  const float *res = ep && ep->residual ? ep->residual + (size_t) i * ldc : NULL;
  if (nn == 8) {
    if (!first)
      r = _mm256_add_ps (r, _mm256_loadu_ps (c));
    if (res)
      r = _mm256_add_ps (r, _mm256_loadu_ps (res + j));
    _mm256_storeu_ps (c, cnn_act_simple8 (act, r, lo, hi));
    return;
  }
  __m256i mk = cnn_lanes8 (0, nn);
  if (!first)
    r = _mm256_add_ps (r, _mm256_maskload_ps (c, mk));
  if (res)
    r = _mm256_add_ps (r, _mm256_maskload_ps (res + j, mk));
  cnn_store_lanes8 (c, cnn_act_simple8 (act, r, lo, hi), 0, nn);
}

/* Rows [i0, i0 + R) and columns [j0, j0 + 8 W) of a tile of mr rows, k
 * from k0 to k0 + kn: R x W vectors of sums over k, added to those in
 * @part (the tile, w floats a row) unless k0 is 0; stored back there, or
 * with @direct (the whole K block in one step) into C with the epilogue.
 * All but kn, k0, m and n constants. */
AVX2 __attribute__ ((always_inline))
static inline void
sub_tile (int k0, int kn, const float *Ap, const float *B, int bs, float *part, int m, int n, float *C, int ldc,
    bool first, const cnn_sgemm_epilogue *ep, const bool direct, const int mr, const int w, const int i0,
    const int j0, const int R, const int W)
{
  if (i0 >= m || j0 >= n)
    return;
  __m256 acc[12];
#pragma GCC unroll 12
  for (int i = 0; i < R * W; i++)
    acc[i] = k0 ? _mm256_load_ps (part + (i0 + i / W) * w + j0 + i % W * 8) : _mm256_setzero_ps ();
  const float *a = Ap + (size_t) k0 * mr + i0;
  for (int k = k0; k < k0 + kn; k++, a += mr) {
    const float *b = B + (size_t) k * bs + j0;
    __m256 bv[3];
#pragma GCC unroll 3
    for (int v = 0; v < W; v++)
      bv[v] = _mm256_loadu_ps (b + v * 8);
    /* the first sub-tile fetches packed A's next panels ahead */
    if (i0 == 0 && j0 == 0)
      _mm_prefetch ((const char *) (a + A_PREFETCH), _MM_HINT_T0);
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      __m256 ai = _mm256_broadcast_ss (a + i);
#pragma GCC unroll 3
      for (int v = 0; v < W; v++)
        acc[i * W + v] = _mm256_fmadd_ps (ai, bv[v], acc[i * W + v]);
    }
  }
  if (!direct) {
#pragma GCC unroll 12
    for (int i = 0; i < R * W; i++)
      _mm256_store_ps (part + (i0 + i / W) * w + j0 + i % W * 8, acc[i]);
    return;
  }
  /* a whole sub-tile on a plain output, or on a grid inside one row of
   * the output: the epilogue's choices made once, in locals (stores to C
   * could be to ep's floats) */
  const bool grid = ep && ep->grid_wq;
  int64_t off = j0;
  int gx[3], gd[3];             /* on a grid: each vector's grid column and output pixel */
  if (grid) {
    grid_first (ep, j0, &gx[0], &gd[0]);
    off = gx[0] + 8 * W <= ep->grid_ow ? gd[0] : -1;
  }
  if (i0 + R <= m && j0 + 8 * W <= n && off >= 0) {
    const cnn_act_type act = ep ? ep->act : CNN_ACT_NONE;
    const __m256 lo = _mm256_set1_ps (ep ? ep->alpha : 0.f), hi = _mm256_set1_ps (ep ? ep->beta : 0.f);
    const float *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
    /* on a grid there is one K block: nothing to add */
    const bool add = !first && !grid;
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      float *c = C + (size_t) (i0 + i) * ldc + off;
      const float *ri = res ? res + (size_t) (i0 + i) * ldc + off : NULL;
      __m256 bi = bias ? _mm256_set1_ps (bias[i0 + i]) : _mm256_setzero_ps ();
#pragma GCC unroll 3
      for (int v = 0; v < W; v++) {
        __m256 r = _mm256_add_ps (acc[i * W + v], bi);
        if (add)
          r = _mm256_add_ps (r, _mm256_loadu_ps (c + 8 * v));
        if (ri)
          r = _mm256_add_ps (r, _mm256_loadu_ps (ri + 8 * v));
        _mm256_storeu_ps (c + 8 * v, cnn_act_simple8 (act, r, lo, hi));
      }
    }
    return;
  }
  if (grid) {
    /* a sub-tile across output rows: the other vectors' places from the first's */
    for (int v = 1; v < W; v++) {
      gx[v] = gx[v - 1];
      gd[v] = gd[v - 1];
      grid_next (ep, &gx[v], &gd[v]);
    }
    const __m256 lo = _mm256_set1_ps (ep->alpha), hi = _mm256_set1_ps (ep->beta);
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      if (i0 + i >= m)
        break;
      float *c = C + (size_t) (i0 + i) * ldc;
      const float *res = ep->residual ? ep->residual + (size_t) (i0 + i) * ldc : NULL;
      __m256 bi = ep->bias ? _mm256_set1_ps (ep->bias[i0 + i]) : _mm256_setzero_ps ();
#pragma GCC unroll 3
      for (int v = 0; v < W; v++)
        if (j0 + 8 * v < n)
          store8_grid (_mm256_add_ps (acc[i * W + v], bi), c, res, ep, MIN (8, n - j0 - 8 * v), gx[v], gd[v], lo, hi);
    }
    return;
  }
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
    if (i0 + i >= m)
      break;
#pragma GCC unroll 3
    for (int v = 0; v < W; v++) {
      int j = j0 + v * 8;
      if (j >= n)
        break;
      store8 (acc[i * W + v], C, ldc, i0 + i, j, MIN (8, n - j), first, ep);
    }
  }
}

/* The sub-tiles of a tile of mr x w for k from k0 to k0 + kn, column
 * block by column block, so that a block of B read by the first is in L1
 * for the second. */
AVX2 __attribute__ ((always_inline))
static inline void
sub_tiles (int k0, int kn, const float *Ap, const float *B, int bs, float *part, int m, int n, float *C, int ldc,
    bool first, const cnn_sgemm_epilogue *ep, const bool direct, const int mr, const int nv)
{
  const int w = nv * 16;
#define SUB(i0, j0, R, W) sub_tile (k0, kn, Ap, B, bs, part, m, n, C, ldc, first, ep, direct, mr, w, i0, j0, R, W)
  if (mr == 12) {
    for (int j0 = 0; j0 < w; j0 += 16) {
      SUB (0, j0, 6, 2);
      SUB (6, j0, 6, 2);
    }
  } else if (nv == 3) {
    for (int j0 = 0; j0 < w; j0 += 24) {
      SUB (0, j0, 4, 3);
      SUB (4, j0, 4, 3);
    }
  } else {
    SUB (0, 0, 4, 2);
    SUB (4, 0, 4, 2);
  }
#undef SUB
}

/* A tile of mr x nv * 16.  A K block longer than K_STEP goes K_STEP values
 * of k at a time, so that the step's slices of A and B stay in L1 (a whole
 * block of B, 32 or 48 KB, does not), the sums kept in a tile in memory
 * between steps, then the epilogue; a shorter one straight from the
 * registers. */
#define K_STEP 64
AVX2 __attribute__ ((always_inline))
static inline void
tile_any (int kc, const float *Ap, const float *B, int bs, float *C, int ldc, int m, int n, bool first,
    const cnn_sgemm_epilogue *ep, const int mr, const int nv)
{
  const int w = nv * 16;
  float part[12 * 32 > 8 * 48 ? 12 * 32 : 8 * 48] __attribute__ ((aligned (32)));
  if (!bs)
    bs = w;
  if (kc <= K_STEP) {
    sub_tiles (0, kc, Ap, B, bs, part, m, n, C, ldc, first, ep, true, mr, nv);
    return;
  }
  for (int k0 = 0; k0 < kc; k0 += K_STEP)
    sub_tiles (k0, MIN (K_STEP, kc - k0), Ap, B, bs, part, m, n, C, ldc, first, ep, false, mr, nv);
  if ((!ep || !ep->grid_wq) && n % 8 == 0) {
    /* whole vectors on a plain output: as the sub-tiles' own stores */
    const cnn_act_type act = ep ? ep->act : CNN_ACT_NONE;
    const __m256 lo = _mm256_set1_ps (ep ? ep->alpha : 0.f), hi = _mm256_set1_ps (ep ? ep->beta : 0.f);
    const float *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
    for (int i = 0; i < m; i++) {
      float *c = C + (size_t) i * ldc;
      const float *ri = res ? res + (size_t) i * ldc : NULL;
      __m256 bi = bias ? _mm256_set1_ps (bias[i]) : _mm256_setzero_ps ();
      for (int j = 0; j < n; j += 8) {
        __m256 r = _mm256_add_ps (_mm256_load_ps (part + i * w + j), bi);
        if (!first)
          r = _mm256_add_ps (r, _mm256_loadu_ps (c + j));
        if (ri)
          r = _mm256_add_ps (r, _mm256_loadu_ps (ri + j));
        _mm256_storeu_ps (c + j, cnn_act_simple8 (act, r, lo, hi));
      }
    }
    return;
  }
  if (ep && ep->grid_wq) {
    const __m256 lo = _mm256_set1_ps (ep->alpha), hi = _mm256_set1_ps (ep->beta);
    int x, d;
    grid_first (ep, 0, &x, &d);
    for (int j = 0; j < n; j += 8, grid_next (ep, &x, &d))
      for (int i = 0; i < m; i++) {
        __m256 r = _mm256_load_ps (part + i * w + j);
        if (ep->bias)
          r = _mm256_add_ps (r, _mm256_set1_ps (ep->bias[i]));
        store8_grid (r, C + (size_t) i * ldc, ep->residual ? ep->residual + (size_t) i * ldc : NULL, ep,
            MIN (8, n - j), x, d, lo, hi);
      }
    return;
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j += 8)
      store8 (_mm256_load_ps (part + i * w + j), C, ldc, i, j, MIN (8, n - j), first, ep);
}

#define TILE_KERNEL(name, mr, nv) \
  AVX2 static void \
  name (int kc, const float *Ap, const float *B, const int32_t *koff, int bs, float *C, int ldc, int m, int n, \
      bool first, const cnn_sgemm_epilogue *ep) \
  { \
    tile_any (kc, Ap, B, bs, C, ldc, m, n, first, ep, mr, nv); \
  }

TILE_KERNEL (tile_12x32, 12, 2)
TILE_KERNEL (tile_12x16, 12, 1)
TILE_KERNEL (tile_8x48, 8, 3)
TILE_KERNEL (tile_8x16, 8, 1)

/* The last 1 to 4 columns of a row of tiles: the tile's mr rows of A (one
 * or one and a half vectors) times B[k][j] broadcast, 4 / n partial sums a
 * column for FMA chains in flight; mr and n constants. */
AVX2 __attribute__ ((always_inline))
static inline void
thin_any (int kc, const float *Ap, const float *B, int bs, float *C, int ldc, int m, bool first,
    const cnn_sgemm_epilogue *ep, const int mr, const int n)
{
  const int S = n == 1 ? 4 : n == 2 ? 2 : 1;
  __m256 lo[4], hi[4];
  for (int s = 0; s < 4; s++)
    lo[s] = hi[s] = _mm256_setzero_ps ();
  for (int k = 0; k < kc; k++) {
    const float *a = Ap + (size_t) k * mr, *b = B + (size_t) k * bs;
    __m256 a0 = _mm256_loadu_ps (a), a1 = _mm256_setzero_ps ();
    /* exactly mr floats: the last k's panel ends there */
    if (mr == 12)
      a1 = _mm256_zextps128_ps256 (_mm_loadu_ps (a + 8));
#pragma GCC unroll 4
    for (int j = 0; j < n; j++) {
      __m256 bj = _mm256_broadcast_ss (b + j);
      lo[j * S + k % S] = _mm256_fmadd_ps (a0, bj, lo[j * S + k % S]);
      if (mr == 12)
        hi[j * S + k % S] = _mm256_fmadd_ps (a1, bj, hi[j * S + k % S]);
    }
  }
  float sum[4][16];
#pragma GCC unroll 4
  for (int j = 0; j < n; j++) {
    __m256 l = lo[j * S], h = hi[j * S];
    for (int s = 1; s < S; s++) {
      l = _mm256_add_ps (l, lo[j * S + s]);
      h = _mm256_add_ps (h, hi[j * S + s]);
    }
    _mm256_storeu_ps (sum[j], l);
    _mm256_storeu_ps (sum[j] + 8, h);
  }
  cnn_sgemm_thin_store (sum, C, ldc, m, n, first, ep);
}

#define THIN_KERNEL(name, mr, n) \
  AVX2 static void \
  name (int kc, const float *Ap, const float *B, const int32_t *koff, int bs, float *C, int ldc, int m, \
      bool first, const cnn_sgemm_epilogue *ep) \
  { \
    thin_any (kc, Ap, B, bs, C, ldc, m, first, ep, mr, n); \
  }

THIN_KERNEL (thin_12x1, 12, 1)
THIN_KERNEL (thin_12x2, 12, 2)
THIN_KERNEL (thin_12x3, 12, 3)
THIN_KERNEL (thin_12x4, 12, 4)
THIN_KERNEL (thin_8x1, 8, 1)
THIN_KERNEL (thin_8x2, 8, 2)
THIN_KERNEL (thin_8x3, 8, 3)
THIN_KERNEL (thin_8x4, 8, 4)

const cnn_tile_kernel cnn_sgemm_avx2_tiles[2][2] = {
  { tile_12x32, tile_12x16 }, { tile_8x48, tile_8x16 },
};

const cnn_thin_kernel cnn_sgemm_avx2_thins[2][4] = {
  { thin_12x1, thin_12x2, thin_12x3, thin_12x4 }, { thin_8x1, thin_8x2, thin_8x3, thin_8x4 },
};

#else

bool
cnn_sgemm_avx2_available (void)
{
  return false;
}

#endif
