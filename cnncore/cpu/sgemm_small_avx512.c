/* sgemm_small_avx512.c - SGEMM with one to seven rows of C (a batch-1 or
 * small-batch classifier head: a matrix-vector product, or a few): B is
 * streamed once, in place, with every row of A against each part of it.
 * Packing B as the tiled kernel does would copy more than these compute, and
 * OpenBLAS, which had them, runs its SSE3 kernels on CPUs newer than it
 * knows (Debian's 0.3.21 on Emerald Rapids: 3x slower on MobileNetV2's
 * head).  The reference for its tests is the plain triple loop. */
#include "../cnn-private.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"

#define SMALL_M_MAX 7
#define SMALL_ROWS_MAX 28       /* rows that cnn_sgemm_small_rows_avx512() takes, in runs of 7 or fewer */

/* C[i][j] = alpha * acc + beta * C[i][j], beta 0 not reading C. */
static inline void
store_c (float *c, float acc, float alpha, float beta)
{
  *c = beta == 0.f ? alpha * acc : alpha * acc + beta * *c;
}

/* B is K x N (not transposed): row k of C += A[i][k] * row k of B, for nv
 * vectors of 16 columns at a time held in registers over all of K. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
small_nn (bool ta, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
    float beta, float *C, int ldc, const int m, const int nv)
{
  for (int j = 0; j < N; j += nv * 16) {
    __m512 acc[SMALL_M_MAX * 8];
    __mmask16 mk[8];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      mk[v] = cnn_lanes16 (0, N - j - 16 * v);
#pragma GCC unroll 32
    for (int i = 0; i < m * nv; i++)
      acc[i] = _mm512_setzero_ps ();
    const float *b = B + j;
    for (int k = 0; k < K; k++, b += ldb) {
      __m512 bv[8];
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++)
        bv[v] = _mm512_maskz_loadu_ps (mk[v], b + v * 16);
#pragma GCC unroll 7
      for (int i = 0; i < m; i++) {
        __m512 a = _mm512_set1_ps (ta ? A[(size_t) k * lda + i] : A[(size_t) i * lda + k]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
          acc[i * nv + v] = _mm512_fmadd_ps (a, bv[v], acc[i * nv + v]);
      }
    }
    __m512 va = _mm512_set1_ps (alpha), vb = _mm512_set1_ps (beta);
#pragma GCC unroll 7
    for (int i = 0; i < m; i++)
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) {
        float *c = C + (size_t) i * ldc + j + v * 16;
        __m512 r = _mm512_mul_ps (acc[i * nv + v], va);
        if (beta != 0.f)
          r = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (mk[v], c), vb, r);
        _mm512_mask_storeu_ps (c, mk[v], r);
      }
  }
}

/* The sums of each of eight vectors' lanes, in order. */
__attribute__ ((target ("avx512f"), always_inline))
static inline __m256
hsum8 (const __m512 *v)
{
  __m256 h[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++)
    h[i] = _mm256_add_ps (_mm512_castps512_ps256 (v[i]),
        _mm256_castpd_ps (_mm512_extractf64x4_pd (_mm512_castps_pd (v[i]), 1)));
  __m256 x0 = _mm256_hadd_ps (h[0], h[1]), x1 = _mm256_hadd_ps (h[2], h[3]);
  __m256 x2 = _mm256_hadd_ps (h[4], h[5]), x3 = _mm256_hadd_ps (h[6], h[7]);
  __m256 y0 = _mm256_hadd_ps (x0, x1), y1 = _mm256_hadd_ps (x2, x3);
  /* y0's halves hold v0..v3's sums of lanes 0-3 and of 4-7; y1 v4..v7's */
  return _mm256_add_ps (_mm256_permute2f128_ps (y0, y1, 0x20), _mm256_permute2f128_ps (y0, y1, 0x31));
}

/* B is N x K (transposed, as a classifier's weights): C[i][j] is the dot
 * product of row i of A with row j of B, nb rows of B at a time, 16 of K
 * per step; A's rows are contiguous (lda apart). */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
small_nt (int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
    float *C, int ldc, const int m, const int nb)
{
  __mmask16 kt = cnn_lanes16 (0, K % 16 ? K % 16 : 16);
  for (int j = 0; j < N; j += nb) {
    int rows = MIN (nb, N - j);
    const float *b[8];
#pragma GCC unroll 8
    for (int r = 0; r < nb; r++)
      b[r] = B + (size_t) (j + MIN (r, rows - 1)) * ldb;  /* past N: the last row again, unused */
    __m512 acc[SMALL_M_MAX * 8];
#pragma GCC unroll 32
    for (int i = 0; i < m * nb; i++)
      acc[i] = _mm512_setzero_ps ();
    for (int k = 0; k < K; k += 16) {
      __mmask16 mk = k + 16 <= K ? 0xffff : kt;
      __m512 bv[8];
#pragma GCC unroll 8
      for (int r = 0; r < nb; r++)
        bv[r] = _mm512_maskz_loadu_ps (mk, b[r] + k);
#pragma GCC unroll 7
      for (int i = 0; i < m; i++) {
        __m512 a = _mm512_maskz_loadu_ps (mk, A + (size_t) i * lda + k);
#pragma GCC unroll 8
        for (int r = 0; r < nb; r++)
          acc[i * nb + r] = _mm512_fmadd_ps (a, bv[r], acc[i * nb + r]);
      }
    }
#pragma GCC unroll 7
    for (int i = 0; i < m; i++) {
      __m512 v[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; r++)
        v[r] = r < nb ? acc[i * nb + r] : _mm512_setzero_ps ();
      float s[8];
      _mm256_storeu_ps (s, hsum8 (v));
      for (int r = 0; r < rows; r++)
        store_c (C + (size_t) i * ldc + j + r, s[r], alpha, beta);
    }
  }
}

/* One instance per row count: registers hold m x nv (or m x nb) sums, at
 * most 16, which leaves room for B's vectors and A's broadcasts. */
#define SMALL_CASE(m, nv, nb) \
  case m: \
    if (tb) \
      small_nt (N, K, alpha, A, lda, B, ldb, beta, C, ldc, m, nb); \
    else \
      small_nn (ta, N, K, alpha, A, lda, B, ldb, beta, C, ldc, m, nv); \
    break;

__attribute__ ((target ("avx512f")))
static void
small_dispatch (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  switch (M) {
    SMALL_CASE (1, 8, 8)
    SMALL_CASE (2, 6, 8)
    SMALL_CASE (3, 4, 4)
    SMALL_CASE (4, 4, 4)
    SMALL_CASE (5, 2, 2)
    SMALL_CASE (6, 2, 2)
    SMALL_CASE (7, 2, 2)
  default:
    g_assert_not_reached ();
  }
}

bool
cnn_sgemm_small_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M < 1 || M > SMALL_M_MAX || N <= 0 || K <= 0 || !cnn_sgemm_avx512_available ())
    return false;
  if (ta && tb) {
    /* the dot products read A's rows: its few columns transposed a block
     * of K at a time, the blocks' products summed in C */
    float At[4096];
    int kb = 4096 / M / 16 * 16;
    for (int k0 = 0; k0 < K; k0 += kb) {
      int kn = MIN (kb, K - k0);
      for (int i = 0; i < M; i++)
        for (int k = 0; k < kn; k++)
          At[i * kn + k] = A[(size_t) (k0 + k) * lda + i];
      small_dispatch (false, tb, M, N, kn, alpha, At, kn, B + k0, ldb, k0 ? 1.f : beta, C, ldc);
    }
    return true;
  }
  small_dispatch (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return true;
}

bool
cnn_sgemm_small_rows_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M <= SMALL_M_MAX)
    return cnn_sgemm_small_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M > SMALL_ROWS_MAX || N <= 0 || K <= 0 || !cnn_sgemm_avx512_available ())
    return false;
  /* blocks of C's columns whose part of B (up to 256 KiB) stays in L2
   * while the rows go against it in even runs of 7 or fewer; not with both
   * transposed, whose call transposes its rows of A anew each time and
   * goes over B block of K by block of K anyway */
  int jb = ta && tb ? N : MAX (16, (int) ((256 << 10) / sizeof (float) / K) / 16 * 16);
  int runs = (M + SMALL_M_MAX - 1) / SMALL_M_MAX;
  for (int j = 0; j < N; j += jb) {
    int nj = MIN (jb, N - j);
    const float *Bj = tb ? B + (size_t) j * ldb : B + j;
    for (int r = 0; r < runs; r++) {
      int i0 = M * r / runs, i1 = M * (r + 1) / runs;
      const float *Ai = ta ? A + i0 : A + (size_t) i0 * lda;
      cnn_sgemm_small_avx512 (ta, tb, i1 - i0, nj, K, alpha, Ai, lda, Bj, ldb, beta, C + (size_t) i0 * ldc + j, ldc);
    }
  }
  return true;
}

#else

bool
cnn_sgemm_small_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  return false;
}

bool
cnn_sgemm_small_rows_avx512 (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  return false;
}

#endif
