/* sgemm_avx512.c - single-threaded SGEMM with an AVX-512 micro-kernel
 * (12 x 32 register tile), GotoBLAS blocking and packing.  Debian's OpenBLAS
 * runs its AVX2 kernels on CPUs it does not know (and is pinned to them on
 * some), which leaves half of an AVX-512 FPU idle; this kernel uses it.
 * Callers split work across threads; the reference for its tests is the
 * plain triple loop.  On CPUs without AVX-512 the packed and gathered
 * GEMMs here run cpu/sgemm_avx2.c's kernels over the same packed layouts. */
#include "../cnn-private.h"
#include "sgemm_kernels.h"
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"
#include "act_avx2.h"
#include "../ops/geometry.h"
#define HAVE_AVX512_KERNEL 1
#endif

#define MR 12
#define NR CNN_SGEMM_NR
#define KC CNN_SGEMM_KC
#define MC (MR * 16)
#define NC (NR * 64)
/* floats ahead of the kernel's reads of packed A to prefetch: weights of
 * deep layers stream from DRAM once per run, used by few columns */
#define A_PREFETCH 1024
/* the same for the weights the pixel-major kernel reads as B, a vector at
 * a time: 24 steps of k ahead (measured on ResNet-50's 7 x 7 layers:
 * 1024 to 2048 best, 512 a quarter slower) */
#define B_PREFETCH 1536
/* K block of the pixel-major kernel: a block of a 64-wide weight panel is
 * 32 KB, which stays in L1 (48 KB) from one tile of pixels to the next,
 * while the next block comes into L2 (next_block below); no tile
 * prefetches the block it reads, but the very first (the prefetches cost
 * a kernel 8% of its FMA rate on Xeon where they have nothing to fetch;
 * SqueezeNet's 512 -> 1000 at 13 x 13 4-7% faster than over blocks of 256
 * prefetching in every tile, which read the panel from L2) */
#define PIXEL_KC 128
/* the AVX2 gather's weights of a K block, in bytes, above which it goes
 * row panel by row panel (L2 is 512 KB on Zen 3) */
#define ROWS_OUTER_BYTES (256 << 10)
#define PIXEL_MR CNN_SGEMM_PIXEL_MR
#define PIXEL_NR CNN_SGEMM_PIXEL_NR

/* Of a panel's cols last columns, how many the thin kernel takes: all of
 * 1 to 4, the 1 to 4 past 16 (the rest one 16-wide tile), else none. */
int
cnn_sgemm_thin_columns (int cols)
{
  return cols <= 4 ? cols : cols > 16 && cols <= 20 ? cols - 16 : 0;
}

int
cnn_sgemm_pixel_panel_width (int M, int m0)
{
  return MIN (PIXEL_NR, (M - m0 + 15) / 16 * 16);
}

#ifdef HAVE_AVX512_KERNEL

/* Packing buffers kept per thread: a fresh multi-megabyte allocation per
 * call would be fresh pages (page faults) on every GEMM. */
typedef struct {
  float *a, *b;
  size_t a_cap, b_cap;
} pack_bufs;

static void
pack_bufs_free (gpointer data)
{
  pack_bufs *p = data;
  free (p->a);
  free (p->b);
  g_free (p);
}

static GPrivate pack_key = G_PRIVATE_INIT (pack_bufs_free);

/* A 64-byte aligned buffer of at least n floats, NULL if out of memory. */
static float *
thread_buf (bool b_side, size_t n)
{
  pack_bufs *p = g_private_get (&pack_key);
  if (!p) {
    p = g_new0 (pack_bufs, 1);
    g_private_set (&pack_key, p);
  }
  float **buf = b_side ? &p->b : &p->a;
  size_t *cap = b_side ? &p->b_cap : &p->a_cap;
  if (*cap < n) {
    free (*buf);
    *buf = NULL;
    *cap = 0;
    if (posix_memalign ((void **) buf, 64, sizeof (float) * n) != 0)
      return NULL;
    *cap = n;
  }
  return *buf;
}

bool
cnn_sgemm_avx512_available (void)
{
  static int ok = -1;
  if (ok < 0) {
    __builtin_cpu_init ();
    ok = __builtin_cpu_supports ("avx512f") && !g_getenv ("CNN_NO_AVX512");
  }
  return ok;
}

/* A[m0.., k0..] (or its transpose) into mr-row panels: panel p holds
 * A[p*mr + i][k] at [k * mr + i], zero rows past M. */
static void
pack_a (bool ta, const float *A, int lda, int m0, int mc, int k0, int kc, float *out, int mr)
{
  for (int p = 0; p < mc; p += mr) {
    int rows = MIN (mr, mc - p);
    for (int k = 0; k < kc; k++) {
      float *o = out + (size_t) p * kc + (size_t) k * mr;
      for (int i = 0; i < rows; i++)
        o[i] = ta ? A[(size_t) (k0 + k) * lda + m0 + p + i] : A[(size_t) (m0 + p + i) * lda + k0 + k];
      for (int i = rows; i < mr; i++)
        o[i] = 0.f;
    }
  }
}

/* B[k0.., n0..] (or its transpose) into NR-column panels: panel q holds
 * B[k][q*NR + j] at [k * NR + j], zero columns past N. */
static void
pack_b (bool tb, const float *B, int ldb, int k0, int kc, int n0, int nc, float *out)
{
  for (int q = 0; q < nc; q += NR) {
    int cols = MIN (NR, nc - q);
    float *o = out + (size_t) q * kc;
    if (!tb && cols == NR) {
      for (int k = 0; k < kc; k++)
        memcpy (o + (size_t) k * NR, B + (size_t) (k0 + k) * ldb + n0 + q, NR * sizeof (float));
      continue;
    }
    for (int k = 0; k < kc; k++) {
      for (int j = 0; j < cols; j++)
        o[(size_t) k * NR + j] = tb ? B[(size_t) (n0 + q + j) * ldb + k0 + k] : B[(size_t) (k0 + k) * ldb + n0 + q + j];
      for (int j = cols; j < NR; j++)
        o[(size_t) k * NR + j] = 0.f;
    }
  }
}

/* What a kernel prefetches ahead of its reads: packed A (weights read by
 * a few columns each), B (the pixel-major kernel's weights, streamed), or
 * nothing (the same weights again, in L1). */
typedef enum { PREFETCH_A, PREFETCH_B, PREFETCH_NONE } kernel_prefetch;

/* The pixel-major kernel's next block of weights, fetched into L2 a few
 * lines each step of k while the tiles of pixels compute on this block
 * (each tile its share of the lines): fetched by the first tile alone, the
 * stream from memory stalled it while the others computed without reading
 * any. */
typedef struct {
  const float *at;              /* the tile's first line */
  int per_k, lines;             /* lines a step of k, lines in all */
} next_block;

/* C[0..m, 0..n] = (first ? beta * C : C) + alpha * Ap Bp over kc, for a
 * tile of mr rows and nv * 16 columns (12 x 32 or 8 x 48: 24 accumulators
 * either way; 12 x 16 and 8 x 16 for last tiles).  Row k of B is at Bp + k *
 * (bs ? bs : nv * 16) (a packed panel, bs wider when a narrow tile reads the
 * first columns of a wider panel) or, with
 * gather, at Bp + koff[k] (a matrix read in place: an implicit GEMM's
 * input).  Column k of A is at Ap + k * mr (packed) or, with a_rows (the
 * pixel-major kernel reading its pixels in place, B packed), mr
 * consecutive values at Ap + koff[k].  With @ep (the last K block), C
 * then gets the bias of each row (ep->bias the tile's first), the
 * residual at the same place as C (ep->residual the tile's), and the
 * activation.  mr, nv, gather, a_rows and
 * pf (what to prefetch) are constants in each caller. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
kernel_any (int kc, const float *Ap, const float *Bp, const int32_t *koff, float *C, int ldc, int m, int n,
    float alpha, float beta, bool first, const cnn_sgemm_epilogue *ep, const int mr, const int nv,
    const bool gather, int bs, const kernel_prefetch pf, const next_block *next, const bool a_rows)
{
  if (!bs)
    bs = nv * 16;
  /* the sums, B's vectors and a broadcast past the 32 registers (7 x 64:
   * 28 + 4 + 1): B's last vector a memory operand instead (below) */
  const bool b_last_in_memory = mr * nv + nv + 1 > 32;
  __m512 acc[PIXEL_MR * 4 > MR * 3 ? PIXEL_MR * 4 : MR * 3];
#pragma GCC unroll 28
  for (int i = 0; i < mr * nv; i++)
    acc[i] = _mm512_setzero_ps ();
  for (int k = 0; k < kc; k++) {
    const float *b = gather ? Bp + koff[k] : Bp + (size_t) k * bs;
    __m512 bv[4];
    if (gather) {
      /* the next tile's slice of this row: a large input does not stay in
       * cache between the column tiles of a row */
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        _mm_prefetch ((const char *) (b + nv * 16 + v * 16), _MM_HINT_T0);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        bv[v] = _mm512_loadu_ps (b + v * 16);
    } else {
#pragma GCC unroll 4
      for (int v = 0; v < nv - b_last_in_memory; v++)
        bv[v] = _mm512_load_ps (b + v * 16);
    }
    const float *a = a_rows ? Ap + koff[k] : Ap + (size_t) k * mr;
    if (pf == PREFETCH_B) {
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        _mm_prefetch ((const char *) (b + B_PREFETCH + v * 16), _MM_HINT_T0);
    } else if (pf == PREFETCH_A) {
      _mm_prefetch ((const char *) (a + A_PREFETCH), _MM_HINT_T0);
    }
    if (next && k * next->per_k < next->lines)
      for (int j = 0; j < next->per_k; j++)
        _mm_prefetch ((const char *) (next->at + (size_t) (k * next->per_k + j) * 16), _MM_HINT_T1);
    if (b_last_in_memory) {
      /* with all of them in registers, one sum went to the stack and back
       * every k; the last vector of B is read again for each row instead
       * (a memory operand of its FMAs; the empty asm keeps the compiler
       * from keeping it in a register) */
#pragma GCC unroll 12
      for (int i = 0; i < mr; i++) {
        const float *bl = b + (nv - 1) * 16;
        __asm__ volatile ("" : "+r" (bl));
        __m512 ai = _mm512_set1_ps (a[i]);
#pragma GCC unroll 3
        for (int v = 0; v < nv - 1; v++)
          acc[i * nv + v] = _mm512_fmadd_ps (ai, bv[v], acc[i * nv + v]);
        acc[i * nv + nv - 1] = _mm512_fmadd_ps (ai, _mm512_load_ps (bl), acc[i * nv + nv - 1]);
      }
      continue;
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
      __m512 ai = _mm512_set1_ps (a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        acc[i * nv + v] = _mm512_fmadd_ps (ai, bv[v], acc[i * nv + v]);
    }
  }
  __mmask16 mk[4];
  for (int v = 0; v < nv; v++)
    mk[v] = cnn_lanes16 (0, n - 16 * v);
  __m512 va = _mm512_set1_ps (alpha), vb = _mm512_set1_ps (beta);
  const cnn_act_type act = ep ? ep->act : CNN_ACT_NONE;
  const __m512 lo = _mm512_set1_ps (ep ? ep->alpha : 0.f), hi = _mm512_set1_ps (ep ? ep->beta : 0.f);
  if (ep && ep->grid_wq) {
    /* grid columns to output pixels: a vector's lanes run on in one row,
     * or past its dropped columns into the next; the lanes kept are
     * consecutive pixels, packed together by a compress */
    int dst[4];
    __mmask16 keep[4];
    for (int v = 0; v < nv; v++) {
      int j = ep->grid_j + v * 16, y = j / ep->grid_wq, x = j - y * ep->grid_wq;
      keep[v] = (cnn_lanes16 (0, ep->grid_ow - x) | cnn_lanes16 (ep->grid_wq - x, ep->grid_wq - x + ep->grid_ow)) &
          mk[v];
      dst[v] = x < ep->grid_ow ? y * ep->grid_ow + x : (y + 1) * ep->grid_ow;
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
      if (i >= m)
        break;
      float *c = C + (size_t) i * ldc;
      const float *res = ep->residual ? ep->residual + (size_t) i * ldc : NULL;
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) {
        __m512 r = acc[i * nv + v];
        if (ep->bias)
          r = _mm512_add_ps (r, _mm512_set1_ps (ep->bias[i]));
        __mmask16 out = keep[v];
        if (keep[v] != 0xffff) {
          r = _mm512_maskz_compress_ps (keep[v], r);
          out = cnn_lanes16 (0, __builtin_popcount (keep[v]));
        }
        if (res)
          r = _mm512_add_ps (r, _mm512_maskz_loadu_ps (out, res + dst[v]));
        _mm512_mask_storeu_ps (c + dst[v], out, cnn_act_simple16 (act, r, lo, hi));
      }
    }
    return;
  }
#pragma GCC unroll 12
  for (int i = 0; i < mr; i++) {
    if (i >= m)
      break;
    float *c = C + (size_t) i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      __m512 r = _mm512_mul_ps (acc[i * nv + v], va);
      if (!first || beta != 0.f) {
        __m512 o = _mm512_maskz_loadu_ps (mk[v], c + v * 16);
        r = _mm512_add_ps (r, first ? _mm512_mul_ps (o, vb) : o);
      }
      if (ep) {
        if (ep->bias)
          r = _mm512_add_ps (r, _mm512_set1_ps (ep->bias[i]));
        if (ep->residual)
          r = _mm512_add_ps (r, _mm512_maskz_loadu_ps (mk[v], ep->residual + (size_t) i * ldc + v * 16));
        r = cnn_act_simple16 (act, r, lo, hi);
      }
      _mm512_mask_storeu_ps (c + v * 16, mk[v], r);
    }
  }
}

__attribute__ ((target ("avx512f")))
static void
kernel_12x32 (int kc, const float *Ap, const float *Bp, float *C, int ldc, int m, int n, float alpha,
    float beta, bool first)
{
  kernel_any (kc, Ap, Bp, NULL, C, ldc, m, n, alpha, beta, first, NULL, 12, 2, false, 0, PREFETCH_A, NULL, false);
}

/* The kernel for each tile shape and way of reading B, compiled once each:
 * B a packed panel with rows bs floats apart (0: the tile's width), or the
 * rows koff[k] of a matrix read in place.  The one-vector-wide tiles take a
 * row of tiles' last 16 columns or fewer (13 x 13 = 169 columns are 5
 * tiles of 32 and one of 16, not 6 of 32): a broadcast per FMA, but fewer
 * values computed for nothing. */
#define TILE_KERNEL(name, mr, nv, gather) \
  __attribute__ ((target ("avx512f"))) static void \
  name (int kc, const float *Ap, const float *B, const int32_t *koff, int bs, float *C, int ldc, int m, int n, \
      bool first, const cnn_sgemm_epilogue *ep) \
  { \
    kernel_any (kc, Ap, B, koff, C, ldc, m, n, 1.f, 0.f, first, ep, mr, nv, gather, bs, PREFETCH_A, NULL, false); \
  }

TILE_KERNEL (kernel_12x32_packed, 12, 2, false)
TILE_KERNEL (kernel_12x32_gather, 12, 2, true)
TILE_KERNEL (kernel_12x16_packed, 12, 1, false)
TILE_KERNEL (kernel_12x16_gather, 12, 1, true)
TILE_KERNEL (kernel_8x48_packed, 8, 3, false)
TILE_KERNEL (kernel_8x48_gather, 8, 3, true)
TILE_KERNEL (kernel_8x16_packed, 8, 1, false)
TILE_KERNEL (kernel_8x16_gather, 8, 1, true)

/* C[0..m, 0..n] for the last n <= 4 columns of a row of tiles (49 = 32 +
 * 16 + 1 columns of a 7 x 7 map, 196 = 6 * 32 + 4 of 14 x 14): each
 * column is the tile's mr rows of A (one vector) times B[k][j] broadcast,
 * so that one or four columns cost a fraction of a 16-wide tile.  A column
 * keeps 4 / n partial sums over k, for four FMA chains in flight.  B and
 * the epilogue as for kernel_any; mr, n and gather are constants. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
kernel_thin (int kc, const float *Ap, const float *B, const int32_t *koff, int bs, float *C, int ldc, int m,
    bool first, const cnn_sgemm_epilogue *ep, const int mr, const int n, const bool gather)
{
  const int S = n == 1 ? 4 : n == 2 ? 2 : 1;
  __m512 acc[4] = { _mm512_setzero_ps (), _mm512_setzero_ps (), _mm512_setzero_ps (), _mm512_setzero_ps () };
  for (int k = 0; k < kc; k++) {
    const float *a = Ap + (size_t) k * mr, *b = gather ? B + koff[k] : B + (size_t) k * bs;
    /* exactly mr floats: the last k's panel ends there */
    __m512 av = _mm512_zextps256_ps512 (_mm256_loadu_ps (a));
    if (mr == 12)
      av = _mm512_insertf32x4 (av, _mm_loadu_ps (a + 8), 2);
#pragma GCC unroll 4
    for (int j = 0; j < n; j++)
      acc[j * S + k % S] = _mm512_fmadd_ps (av, _mm512_set1_ps (b[j]), acc[j * S + k % S]);
  }
  float sum[4][16];
#pragma GCC unroll 4
  for (int j = 0; j < n; j++) {
    __m512 t = acc[j * S];
    for (int s = 1; s < S; s++)
      t = _mm512_add_ps (t, acc[j * S + s]);
    _mm512_storeu_ps (sum[j], t);
  }
  cnn_sgemm_thin_store (sum, C, ldc, m, n, first, ep);
}

#define THIN_KERNEL(name, mr, n, gather) \
  __attribute__ ((target ("avx512f"))) static void \
  name (int kc, const float *Ap, const float *B, const int32_t *koff, int bs, float *C, int ldc, int m, \
      bool first, const cnn_sgemm_epilogue *ep) \
  { \
    kernel_thin (kc, Ap, B, koff, bs, C, ldc, m, first, ep, mr, n, gather); \
  }

THIN_KERNEL (thin_12x1_packed, 12, 1, false)
THIN_KERNEL (thin_12x2_packed, 12, 2, false)
THIN_KERNEL (thin_12x3_packed, 12, 3, false)
THIN_KERNEL (thin_12x4_packed, 12, 4, false)
THIN_KERNEL (thin_12x1_gather, 12, 1, true)
THIN_KERNEL (thin_12x2_gather, 12, 2, true)
THIN_KERNEL (thin_12x3_gather, 12, 3, true)
THIN_KERNEL (thin_12x4_gather, 12, 4, true)
THIN_KERNEL (thin_8x1_packed, 8, 1, false)
THIN_KERNEL (thin_8x2_packed, 8, 2, false)
THIN_KERNEL (thin_8x3_packed, 8, 3, false)
THIN_KERNEL (thin_8x4_packed, 8, 4, false)
THIN_KERNEL (thin_8x1_gather, 8, 1, true)
THIN_KERNEL (thin_8x2_gather, 8, 2, true)
THIN_KERNEL (thin_8x3_gather, 8, 3, true)
THIN_KERNEL (thin_8x4_gather, 8, 4, true)

/* [8-row tile][B read in place][columns - 1] */
static const cnn_thin_kernel avx512_thins[2][2][4] = {
  { { thin_12x1_packed, thin_12x2_packed, thin_12x3_packed, thin_12x4_packed },
    { thin_12x1_gather, thin_12x2_gather, thin_12x3_gather, thin_12x4_gather } },
  { { thin_8x1_packed, thin_8x2_packed, thin_8x3_packed, thin_8x4_packed },
    { thin_8x1_gather, thin_8x2_gather, thin_8x3_gather, thin_8x4_gather } },
};

/* [8-row tile][one vector wide][B read in place] */
static const cnn_tile_kernel avx512_tiles[2][2][2] = {
  { { kernel_12x32_packed, kernel_12x32_gather }, { kernel_12x16_packed, kernel_12x16_gather } },
  { { kernel_8x48_packed, kernel_8x48_gather }, { kernel_8x16_packed, kernel_8x16_gather } },
};

/* The pixel-major kernels: 7 output pixels (A, broadcast) by 16 to 64
 * output channels (B, the weights, as vectors), [pixels read in place][
 * prefetching B][vectors - 1]: the first tile of the first K block streams
 * its weights in; the later blocks are in L2 by their turn (next_block),
 * and a block's later tiles find it in L1. */
typedef void (*pixel_kernel) (int kc, const float *Ap, const int32_t *koff, const float *B, int bs, float *C,
    bool first, const next_block *next);
#define PIXEL_KERNEL(name, nv, pf, rows) \
  __attribute__ ((target ("avx512f"))) static void \
  name (int kc, const float *Ap, const int32_t *koff, const float *B, int bs, float *C, bool first, \
      const next_block *next) \
  { \
    kernel_any (kc, Ap, B, koff, C, PIXEL_NR, PIXEL_MR, nv * 16, 1.f, 0.f, first, NULL, PIXEL_MR, nv, false, \
        bs, pf, next, rows); \
  }

PIXEL_KERNEL (pixel_7x16, 1, PREFETCH_NONE, false)
PIXEL_KERNEL (pixel_7x32, 2, PREFETCH_NONE, false)
PIXEL_KERNEL (pixel_7x48, 3, PREFETCH_NONE, false)
PIXEL_KERNEL (pixel_7x64, 4, PREFETCH_NONE, false)
PIXEL_KERNEL (pixel_7x16_stream, 1, PREFETCH_B, false)
PIXEL_KERNEL (pixel_7x32_stream, 2, PREFETCH_B, false)
PIXEL_KERNEL (pixel_7x48_stream, 3, PREFETCH_B, false)
PIXEL_KERNEL (pixel_7x64_stream, 4, PREFETCH_B, false)
PIXEL_KERNEL (pixel_7x16_rows, 1, PREFETCH_NONE, true)
PIXEL_KERNEL (pixel_7x32_rows, 2, PREFETCH_NONE, true)
PIXEL_KERNEL (pixel_7x48_rows, 3, PREFETCH_NONE, true)
PIXEL_KERNEL (pixel_7x64_rows, 4, PREFETCH_NONE, true)
PIXEL_KERNEL (pixel_7x16_rows_stream, 1, PREFETCH_B, true)
PIXEL_KERNEL (pixel_7x32_rows_stream, 2, PREFETCH_B, true)
PIXEL_KERNEL (pixel_7x48_rows_stream, 3, PREFETCH_B, true)
PIXEL_KERNEL (pixel_7x64_rows_stream, 4, PREFETCH_B, true)

static const pixel_kernel pixel_kernels[2][2][4] = {
  { { pixel_7x16, pixel_7x32, pixel_7x48, pixel_7x64 },
    { pixel_7x16_stream, pixel_7x32_stream, pixel_7x48_stream, pixel_7x64_stream } },
  { { pixel_7x16_rows, pixel_7x32_rows, pixel_7x48_rows, pixel_7x64_rows },
    { pixel_7x16_rows_stream, pixel_7x32_rows_stream, pixel_7x48_rows_stream, pixel_7x64_rows_stream } },
};

/* Weights (M x K, or its transpose) as the pixel-major kernel's B: panel
 * by panel of 64 output channels, K rows of the panel's width each (panel
 * m0 / 64 at m0 * K), zero columns past M. */
static void
pack_pixel_weights (bool ta, int M, int K, const float *A, int lda, float *out)
{
  for (int m0 = 0; m0 < M; m0 += PIXEL_NR) {
    int w = cnn_sgemm_pixel_panel_width (M, m0);
    for (int k = 0; k < K; k++)
      for (int j = 0; j < w; j++) {
        int m = m0 + j;
        *out++ = m >= M ? 0.f : ta ? A[(size_t) k * lda + m] : A[(size_t) m * lda + k];
      }
  }
}

__attribute__ ((target ("avx512f")))
void
cnn_sgemm_pack_pixels (int K, const float *B, const int32_t *koff, const int32_t *cols, int n, float *panel)
{
  __mmask16 m = cnn_lanes16 (0, n);
  bool run = true;
  for (int i = 1; i < n; i++)
    run = run && cols[i] == cols[0] + i;
  if (run) {
    /* consecutive columns (a row of the output, in place or on the grid) */
    const float *b = B + cols[0];
    for (int k = 0; k < K; k++)
      _mm512_mask_storeu_ps (panel + (size_t) k * PIXEL_MR, 0x7f, _mm512_maskz_loadu_ps (m, b + koff[k]));
    return;
  }
  __m512i idx = _mm512_maskz_loadu_epi32 (m, cols);
  for (int k = 0; k < K; k++)
    _mm512_mask_storeu_ps (panel + (size_t) k * PIXEL_MR, 0x7f,
        _mm512_mask_i32gather_ps (_mm512_setzero_ps (), m, idx, B + koff[k], 4));
}

__attribute__ ((target ("avx512f")))
void
cnn_sgemm_avx512_pixels (int K, const float *Apix, const int32_t *koff, const int32_t *cols, int n,
    const float *Bpanel, int w, int ldb, float *scratch, float *out, int ldo, const cnn_sgemm_epilogue *ep)
{
  int panels = (n + PIXEL_MR - 1) / PIXEL_MR, nv = (w + 15) / 16;
  for (int pc = 0; pc < K; pc += PIXEL_KC) {
    int kc = MIN (PIXEL_KC, K - pc);
    /* the next block: of this panel, or past its end the first of the
     * next panel (panels lie one after the other; a prefetch past the
     * last does not fault); whole rows of ldb floats, so that a run of a
     * panel's channels fetches the rest of its rows too */
    int next_kc = pc + kc < K ? MIN (PIXEL_KC, K - pc - kc) : MIN (PIXEL_KC, K);
    int lines = next_kc * ldb / 16, share = (lines + panels - 1) / panels;
    const float *next = Bpanel + (size_t) (pc + kc) * ldb;
    for (int p = 0; p < panels; p++) {
      int from = MIN (p * share, lines);
      next_block nb = { next + (size_t) from * 16, (share + kc - 1) / kc, MIN (share, lines - from) };
      const float *a = koff ? Apix + cols[p * PIXEL_MR] : Apix + (size_t) p * PIXEL_MR * K + (size_t) pc * PIXEL_MR;
      pixel_kernels[koff != NULL][pc == 0 && p == 0][nv - 1] (kc, a, koff ? koff + pc : NULL,
          Bpanel + (size_t) pc * ldb, ldb, scratch + (size_t) p * PIXEL_MR * PIXEL_NR, pc == 0, &nb);
    }
  }
  /* out transposed (16 x 16 blocks in registers), then channel by channel
   * the epilogue, while the rows are hot */
  cnn_transpose_block32 (scratch, n, w, PIXEL_NR, out, ldo);
  if (!ep || (!ep->bias && !ep->residual && ep->act == CNN_ACT_NONE))
    return;
  const __m512 lo = _mm512_set1_ps (ep->alpha), hi = _mm512_set1_ps (ep->beta);
  for (int c = 0; c < w; c++) {
    float *o = out + (size_t) c * ldo;
    const float *res = ep->residual ? ep->residual + (size_t) c * ldo : NULL;
    __m512 bias = _mm512_set1_ps (ep->bias ? ep->bias[c] : 0.f);
    for (int p = 0; p < n; p += 16) {
      __mmask16 mk = cnn_lanes16 (0, n - p);
      __m512 r = _mm512_add_ps (bias, _mm512_maskz_loadu_ps (mk, o + p));
      if (res)
        r = _mm512_add_ps (r, _mm512_maskz_loadu_ps (mk, res + p));
      _mm512_mask_storeu_ps (o + p, mk, cnn_act_simple16 (ep->act, r, lo, hi));
    }
  }
}

static int
tile_rows (cnn_sgemm_tile t)
{
  return t == CNN_TILE_8x48 ? 8 : 12;
}

size_t
cnn_sgemm_tile_packed_a_size (cnn_sgemm_tile t, int M, int K)
{
  if (t == CNN_TILE_PIXELS)
    return (size_t) (M + 15) / 16 * 16 * K;
  int mr = tile_rows (t);
  return (size_t) (M + mr - 1) / mr * mr * K;
}

size_t
cnn_sgemm_packed_a_size (int M, int K)
{
  return cnn_sgemm_tile_packed_a_size (CNN_TILE_12x32, M, K);
}

/* A in the kernel's panel layout for every (MC, KC) block, in loop order:
 * for pc, for ic: pack_a (ic, mc, pc, kc).  MC is a multiple of both tile
 * heights, so that rows [ir, ...) of chunk pc start at pc * Mpad + ir * kc
 * for either. */
void
cnn_sgemm_tile_pack_a (cnn_sgemm_tile t, bool ta, int M, int K, const float *A, int lda, float *packed)
{
  if (t == CNN_TILE_PIXELS) {
    pack_pixel_weights (ta, M, K, A, lda, packed);
    return;
  }
  int mr = tile_rows (t);
  size_t off = 0;
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    for (int ic = 0; ic < M; ic += MC) {
      int mc = MIN (MC, M - ic);
      pack_a (ta, A, lda, ic, mc, pc, kc, packed + off, mr);
      off += (size_t) (mc + mr - 1) / mr * mr * kc;
    }
  }
}

void
cnn_sgemm_pack_a (bool ta, int M, int K, const float *A, int lda, float *packed)
{
  cnn_sgemm_tile_pack_a (CNN_TILE_12x32, ta, M, K, A, lda, packed);
}

/* C = alpha * A B + beta * C with A from cnn_sgemm_pack_a(). */
void
cnn_sgemm_avx512_packed (int M, int N, int K, float alpha, const float *Apacked, const float *B,
    int ldb, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0 || K <= 0)
    return;
  int nc_max = MIN (NC, (N + NR - 1) / NR * NR), kc_max = MIN (KC, K);
  float *Bp = thread_buf (true, (size_t) nc_max * kc_max);
  if (!Bp) {
    g_critical ("cnn: out of memory for GEMM packing");
    return;
  }
  for (int jc = 0; jc < N; jc += NC) {
    int nc = MIN (NC, N - jc);
    size_t off = 0;
    for (int pc = 0; pc < K; pc += KC) {
      int kc = MIN (KC, K - pc);
      pack_b (false, B, ldb, pc, kc, jc, nc, Bp);
      for (int ic = 0; ic < M; ic += MC) {
        int mc = MIN (MC, M - ic);
        const float *Ap = Apacked + off;
        for (int jr = 0; jr < nc; jr += NR)
          for (int ir = 0; ir < mc; ir += MR)
            kernel_12x32 (kc, Ap + (size_t) ir * kc, Bp + (size_t) jr * kc,
                C + (size_t) (ic + ir) * ldc + jc + jr, ldc, MIN (MR, mc - ir), MIN (NR, nc - jr),
                alpha, beta, pc == 0);
        off += (size_t) (mc + MR - 1) / MR * MR * kc;
      }
    }
  }
}

size_t
cnn_sgemm_packed_b_offset (int k, int j, int K, int N)
{
  int npad = (N + NR - 1) / NR * NR, pc = k / KC * KC, kc = MIN (KC, K - pc);
  return (size_t) pc * npad + (size_t) (j / NR) * kc * NR + (size_t) (k - pc) * NR + j % NR;
}

size_t
cnn_sgemm_packed_b_size (int N, int K)
{
  return (size_t) (N + NR - 1) / NR * NR * K;
}

/* C = A B with both operands packed: the rows kernel over all of A. */
void
cnn_sgemm_packed_ab (int M, int N, int K, const float *Apacked, const float *Bpacked, float *C, int ldc)
{
  cnn_sgemm_packed_rows (M, 0, M, N, K, Apacked, Bpacked, C, ldc, NULL);
}

/* @ep moved to the tile at row @row, column @col of C, for the last K block
 * only (NULL before it); @e holds the moved copy. */
static const cnn_sgemm_epilogue *
tile_epilogue (const cnn_sgemm_epilogue *ep, bool last, int row, int col, int ldc, cnn_sgemm_epilogue *e)
{
  if (!ep || !last)
    return NULL;
  *e = *ep;
  e->bias = ep->bias ? ep->bias + row : NULL;
  if (ep->grid_wq) {
    e->residual = ep->residual ? ep->residual + (size_t) row * ldc : NULL;
    e->grid_j = ep->grid_j + col;
  } else
    e->residual = ep->residual ? ep->residual + (size_t) row * ldc + col : NULL;
  return e;
}

void
cnn_sgemm_packed_rows (int M, int m0, int m1, int N, int K, const float *Apacked, const float *Bpacked,
    float *C, int ldc, const cnn_sgemm_epilogue *ep)
{
  bool avx512 = cnn_sgemm_avx512_available ();
  int npad = (N + NR - 1) / NR * NR, mpad = (M + MR - 1) / MR * MR;
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    /* a row panel of A (in L1) against the K block's column panels (in L2) */
    for (int ir = m0; ir < m1; ir += MR) {
      const float *a = Apacked + (size_t) pc * mpad + (size_t) ir * kc;
      int rows = MIN (MR, m1 - ir);
      for (int jr = 0; jr < N; jr += NR) {
        float *c = C + (size_t) (ir - m0) * ldc + jr;
        cnn_sgemm_epilogue e;
        const cnn_sgemm_epilogue *tep = tile_epilogue (ep, pc + KC >= K, ir - m0, jr, ldc, &e);
        const float *b = Bpacked + (size_t) pc * npad + (size_t) jr * kc;
        int cols = MIN (NR, N - jr), thin = cnn_sgemm_thin_columns (cols);
        /* a last panel of 16 columns or fewer: its first 16 only; its last
         * 1 to 4 columns by the thin kernel */
        if (cols > thin)
          (avx512 ? avx512_tiles[0][cols <= 20][0] : cnn_sgemm_avx2_tiles[0][cols <= 20]) (kc, a, b, NULL, NR, c,
              ldc, rows, cols - thin, pc == 0, tep);
        if (thin) {
          const cnn_sgemm_epilogue *eth = tile_epilogue (ep, pc + KC >= K, ir - m0, jr + cols - thin, ldc, &e);
          (avx512 ? avx512_thins[0][0][thin - 1] : cnn_sgemm_avx2_thins[0][thin - 1]) (kc, a, b + cols - thin,
              NULL, NR, c + cols - thin, ldc, rows, pc == 0, eth);
        }
      }
    }
  }
}

/* Columns jr.. (wide of them) of rows koff[0..kc) of B into a panel w
 * wide, zero padded: a masked load a vector.  memcpy and memset per row
 * cost more than the tile's FMAs (SqueezeNet's 512 -> 64 at 13 x 13: a
 * fifth of the layer's time, each task copying its last tile anew). */
__attribute__ ((target ("avx512f")))
static void
copy_tail (float *tail, const float *B, const int32_t *koff, int kc, int jr, int wide, int w)
{
  for (int k = 0; k < kc; k++)
    for (int v = 0; v < w; v += 16)
      _mm512_store_ps (tail + (size_t) k * w + v, _mm512_maskz_loadu_ps (cnn_lanes16 (0, wide - v),
              B + koff[k] + jr + v));
}

/* Rows [m0, m1) of C = A B, A packed by cnn_sgemm_tile_pack_a() (m0 a
 * multiple of the tile's rows), row k of B (columns 0..n-1) read in place at
 * B + koff[k].  With tail_packed, a last tile narrower than the kernel is
 * copied into a packed panel first, so nothing past column n - 1 is read
 * (masked loads would do it but run several times slower on some CPUs: Zen
 * 5); else whole tiles are. */
__attribute__ ((always_inline))
static inline void
gather_any (int M, int m0, int m1, int n, int K, const float *Apacked, const float *B, const int32_t *koff,
    bool tail_packed, bool rows_outer, float *C, int ldc, const cnn_sgemm_epilogue *ep, const int mr,
    const int nr)
{
  int mpad = (M + mr - 1) / mr * mr;
  bool grid = ep && ep->grid_wq;
  g_return_if_fail (!grid || K <= KC);
  float *tail = tail_packed && n % nr ? thread_buf (true, (size_t) KC * nr) : NULL;
  if (tail_packed && n % nr && !tail) {
    g_critical ("cnn: out of memory for GEMM packing");
    return;
  }
  /* row panels outer: the whole product for one row panel, then the next
   * (a long run of each output row); else all the rows a column panel */
  int step = rows_outer ? mr : m1 - m0;
  for (int i0 = m0; i0 < m1; i0 += step) {
    for (int pc = 0; pc < K; pc += KC) {
      int kc = MIN (KC, K - pc);
      const float *Ap = Apacked + (size_t) pc * mpad;
      for (int jr = 0; jr < n; jr += nr) {
        /* the last 1 to 4 columns by the thin kernel (reading in place),
         * the rest by a tile kernel of width w */
        int cols = MIN (nr, n - jr), thin = cnn_sgemm_thin_columns (cols), wide = cols - thin;
        int w = wide <= 16 ? 16 : nr;
        bool packed = tail && wide && wide < w;
        if (packed)
          copy_tail (tail, B, koff + pc, kc, jr, wide, w);
        for (int ir = i0; ir < MIN (i0 + step, m1); ir += mr) {
          const float *a = Ap + (size_t) ir * kc;
          /* on a grid the epilogue finds the tile's columns */
          float *c = C + (size_t) (ir - m0) * ldc + (grid ? 0 : jr);
          int rows = MIN (mr, m1 - ir);
          cnn_sgemm_epilogue e;
          const cnn_sgemm_epilogue *tep = tile_epilogue (ep, pc + KC >= K, ir - m0, jr, ldc, &e);
          if (wide)
            avx512_tiles[mr == 8][w == 16][!packed] (kc, a, packed ? tail : B + jr, koff + pc, packed ? w : 0, c,
                ldc, rows, wide, pc == 0, tep);
          if (thin) {
            tep = tile_epilogue (ep, pc + KC >= K, ir - m0, jr + wide, ldc, &e);
            avx512_thins[mr == 8][1][thin - 1] (kc, a, B + jr + wide, koff + pc, 0, c + (grid ? 0 : wide), ldc, rows,
                pc == 0, tep);
          }
        }
      }
    }
  }
}

/* Rows koff[0..kc) of B, columns 0..n-1, into panels nr wide (kc rows
 * each), zero padded: vectors, where memcpy and memset a panel's row cost
 * a call each (4% of a first layer's time: K = 27). */
CNN_AVX2
static void
pack_rows_avx2 (float *Bp, const float *B, const int32_t *koff, int kc, int n, int nr)
{
  int full = n / nr, rest = n - full * nr;
  for (int k = 0; k < kc; k++) {
    const float *row = B + koff[k];
    float *o = Bp + (size_t) k * nr;
    for (int q = 0; q < full; q++, row += nr, o += (size_t) kc * nr)
      for (int v = 0; v < nr; v += 8)
        _mm256_store_ps (o + v, _mm256_loadu_ps (row + v));
    for (int v = 0; rest && v < nr; v += 8)
      _mm256_store_ps (o + v, _mm256_maskload_ps (row + v, cnn_lanes8 (0, rest - v)));
  }
}

/* gather_any() for the AVX2 kernels: each K block's n columns of B copied
 * first into packed panels (row by row: long runs, which the hardware
 * prefetches), then every tile from them.  Those kernels run a tile as
 * sub-tiles, each of which reads all its rows of B; read in place, the
 * rows are a plane apart (a page or more on large maps), and the four
 * passes over them per tile ran at two thirds of the packed speed. */
__attribute__ ((always_inline))
static inline void
gather_packed_any (int M, int m0, int m1, int n, int K, const float *Apacked, const float *B,
    const int32_t *koff, bool rows_outer, float *C, int ldc, const cnn_sgemm_epilogue *ep, const int mr,
    const int nr)
{
  int mpad = (M + mr - 1) / mr * mr, npanels = (n + nr - 1) / nr;
  bool grid = ep && ep->grid_wq;
  g_return_if_fail (!grid || K <= KC);
  float *Bp = thread_buf (true, (size_t) KC * nr * npanels);
  if (!Bp) {
    g_critical ("cnn: out of memory for GEMM packing");
    return;
  }
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    const float *Ap = Apacked + (size_t) pc * mpad;
    pack_rows_avx2 (Bp, B, koff + pc, kc, n, nr);
    /* column panels outer (each packed panel in L1 against all the rows'
     * weights), unless asked otherwise or those weights outgrow L2 and
     * outnumber the columns (SqueezeNet's 512 -> 1000 at 13 x 13: 1 MB a K
     * block against 169 columns): then rows outer, each row panel of
     * weights streamed once */
    int nm = (m1 - m0 + mr - 1) / mr;
    rows_outer = rows_outer || (m1 - m0 > n && (size_t) (m1 - m0) * kc * sizeof (float) > ROWS_OUTER_BYTES);
    for (int t = 0; t < nm * npanels; t++) {
      int ir = m0 + (rows_outer ? t / npanels : t % nm) * mr, jr = (rows_outer ? t % npanels : t / nm) * nr;
      int cols = MIN (nr, n - jr), thin = cnn_sgemm_thin_columns (cols), wide = cols - thin;
      const float *b = Bp + (size_t) (jr / nr) * kc * nr;
      const float *a = Ap + (size_t) ir * kc;
      float *c = C + (size_t) (ir - m0) * ldc + (grid ? 0 : jr);
      int rows = MIN (mr, m1 - ir);
      cnn_sgemm_epilogue e;
      const cnn_sgemm_epilogue *tep = tile_epilogue (ep, pc + KC >= K, ir - m0, jr, ldc, &e);
      /* the next tile's output and residual, a tile's time ahead: the
       * hardware's prefetchers do not follow reads that jump from row to
       * row (a fused residual read as it came, ResNet-50's 64 -> 256 at
       * 56 x 56 took twice as long) */
      if (!grid && t + 1 < nm * npanels && pc + KC >= K) {
        int t1 = t + 1, nrow = m0 + (rows_outer ? t1 / npanels : t1 % nm) * mr;
        int ncol = (rows_outer ? t1 % npanels : t1 / nm) * nr;
        for (int i = 0; i < MIN (mr, m1 - nrow); i++) {
          size_t at = (size_t) (nrow - m0 + i) * ldc + ncol;
          for (int l = 0; l < MIN (nr, n - ncol); l += 16) {
            _mm_prefetch ((const char *) (C + at + l), _MM_HINT_T0);
            if (ep && ep->residual)
              _mm_prefetch ((const char *) (ep->residual + at + l), _MM_HINT_T0);
          }
        }
      }
      if (wide)
        cnn_sgemm_avx2_tiles[mr == 8][wide <= 16] (kc, a, b, NULL, nr, c, ldc, rows, wide, pc == 0, tep);
      if (thin) {
        tep = tile_epilogue (ep, pc + KC >= K, ir - m0, jr + wide, ldc, &e);
        cnn_sgemm_avx2_thins[mr == 8][thin - 1] (kc, a, b + wide, NULL, nr, c + (grid ? 0 : wide), ldc, rows,
            pc == 0, tep);
      }
    }
  }
}

void
cnn_sgemm_gather (cnn_sgemm_tile t, int M, int m0, int m1, int n, int K, const float *Apacked,
    const float *B, const int32_t *koff, bool tail_packed, bool rows_outer, float *C, int ldc,
    const cnn_sgemm_epilogue *ep)
{
  if (!cnn_sgemm_avx512_available ()) {
    if (t == CNN_TILE_8x48)
      gather_packed_any (M, m0, m1, n, K, Apacked, B, koff, rows_outer, C, ldc, ep, 8, 48);
    else
      gather_packed_any (M, m0, m1, n, K, Apacked, B, koff, rows_outer, C, ldc, ep, 12, 32);
    return;
  }
  if (t == CNN_TILE_8x48)
    gather_any (M, m0, m1, n, K, Apacked, B, koff, tail_packed, rows_outer, C, ldc, ep, 8, 48);
  else
    gather_any (M, m0, m1, n, K, Apacked, B, koff, tail_packed, rows_outer, C, ldc, ep, 12, 32);
}

void
cnn_sgemm_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(size_t) i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t) i * ldc + j];
    return;
  }
  int mc_max = MIN (MC, (M + MR - 1) / MR * MR), nc_max = MIN (NC, (N + NR - 1) / NR * NR);
  int kc_max = MIN (KC, K);
  float *Ap = thread_buf (false, (size_t) mc_max * kc_max), *Bp = thread_buf (true, (size_t) nc_max * kc_max);
  if (!Ap || !Bp) {
    cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
        alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  for (int jc = 0; jc < N; jc += NC) {
    int nc = MIN (NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      int kc = MIN (KC, K - pc);
      pack_b (tb, B, ldb, pc, kc, jc, nc, Bp);
      for (int ic = 0; ic < M; ic += MC) {
        int mc = MIN (MC, M - ic);
        pack_a (ta, A, lda, ic, mc, pc, kc, Ap, MR);
        for (int jr = 0; jr < nc; jr += NR)
          for (int ir = 0; ir < mc; ir += MR)
            kernel_12x32 (kc, Ap + (size_t) ir * kc, Bp + (size_t) jr * kc,
                C + (size_t) (ic + ir) * ldc + jc + jr, ldc, MIN (MR, mc - ir), MIN (NR, nc - jr),
                alpha, beta, pc == 0);
      }
    }
  }
}

#else

bool
cnn_sgemm_avx512_available (void)
{
  return false;
}

size_t
cnn_sgemm_tile_packed_a_size (cnn_sgemm_tile t, int M, int K)
{
  return 0;
}

size_t
cnn_sgemm_packed_a_size (int M, int K)
{
  return 0;
}

void
cnn_sgemm_tile_pack_a (cnn_sgemm_tile t, bool ta, int M, int K, const float *A, int lda, float *packed)
{
}

void
cnn_sgemm_pack_a (bool ta, int M, int K, const float *A, int lda, float *packed)
{
}

void
cnn_sgemm_avx512_packed (int M, int N, int K, float alpha, const float *Apacked, const float *B,
    int ldb, float beta, float *C, int ldc)
{
  g_assert_not_reached ();
}

size_t
cnn_sgemm_packed_b_offset (int k, int j, int K, int N)
{
  return 0;
}

size_t
cnn_sgemm_packed_b_size (int N, int K)
{
  return 0;
}

void
cnn_sgemm_packed_ab (int M, int N, int K, const float *Apacked, const float *Bpacked, float *C, int ldc)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_packed_rows (int M, int m0, int m1, int N, int K, const float *Apacked, const float *Bpacked,
    float *C, int ldc, const cnn_sgemm_epilogue *ep)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_gather (cnn_sgemm_tile t, int M, int m0, int m1, int n, int K, const float *Apacked,
    const float *B, const int32_t *koff, bool tail_packed, bool rows_outer, float *C, int ldc,
    const cnn_sgemm_epilogue *ep)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_pack_pixels (int K, const float *B, const int32_t *koff, const int32_t *cols, int n, float *panel)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_avx512_pixels (int K, const float *Apix, const int32_t *koff, const int32_t *cols, int n,
    const float *Bpanel, int w, int ldb, float *scratch, float *out, int ldo, const cnn_sgemm_epilogue *ep)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
      alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

bool
cnn_sgemm_kernels_available (void)
{
  return cnn_sgemm_avx512_available () || cnn_sgemm_avx2_available ();
}

void
cnn_sgemm_serial (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  /* one row to seven (a classifier head at batch 1 to 7): B streamed once */
  if (cnn_sgemm_small_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  if (cnn_sgemm_avx512_available ()) {
    cnn_sgemm_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M == 1) {
    /* one row without AVX-512: a matrix-vector product, which streams B
     * once where sgemm would copy it into packed panels first */
    int incx = ta ? lda : 1;
    if (tb)
      cblas_sgemv (CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, incx, beta, C, 1);
    else
      cblas_sgemv (CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, incx, beta, C, 1);
    return;
  }
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
      alpha, A, lda, B, ldb, beta, C, ldc);
}
