/* gemm.c - SGEMM on the session's thread pool: OpenBLAS single threaded on
 * slices of C (column blocks, or row blocks when C is narrow). */
#include "../cnn-private.h"

typedef struct {
  bool ta, tb, split_rows;
  int M, N, K, lda, ldb, ldc, block, n_blocks;
  float alpha, beta;
  const float *A, *B;
  float *C;
} gemm_job;

/* One thread's part: up to 28 rows with B in place (a classifier head at
 * a small batch), else the tiled kernels. */
static void
gemm_serial (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
    float beta, float *C, int ldc)
{
  if (!cnn_sgemm_small_rows_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    cnn_sgemm_serial (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void
gemm_block (int64_t b, int tid, void *data)
{
  const gemm_job *j = data;
  int s = (int) b * j->block, n = MIN (j->block, (j->split_rows ? j->M : j->N) - s);
  if (n <= 0)
    return;
  if (j->split_rows) {
    const float *A = j->ta ? j->A + s : j->A + (size_t) s * j->lda;
    gemm_serial (j->ta, j->tb, n, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
        j->C + (size_t) s * j->ldc, j->ldc);
  } else {
    const float *B = j->tb ? j->B + (size_t) s * j->ldb : j->B + s;
    gemm_serial (j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta,
        j->C + s, j->ldc);
  }
}

void
cnn_gemm (cnn_threadpool *pool, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  int T = cnn_threadpool_size (pool);
  if (T <= 1 || (int64_t) M * N * K < (1 << 18)) {
    gemm_serial (trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm_job j = { trans_a, trans_b, false, M, N, K, lda, ldb, ldc, 0, 0, alpha, beta, A, B, C };
  /* slices of at least 64 columns (or 16 rows), a few per thread */
  j.split_rows = N < 64 * T && M >= 16 * T;
  int extent = j.split_rows ? M : N, align = j.split_rows ? 8 : 16;
  int blocks = MIN (2 * T, MAX (1, extent / (j.split_rows ? 16 : 64)));
  if (blocks % T && blocks > T)
    blocks -= blocks % T;       /* equal work per thread */
  j.block = ((extent + blocks - 1) / blocks + align - 1) / align * align;
  j.n_blocks = (extent + j.block - 1) / j.block;
  cnn_parallel_for (pool, j.n_blocks, gemm_block, &j);
}
