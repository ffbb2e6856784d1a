/* sgemm_avx512.c - single-threaded SGEMM with an AVX-512 micro-kernel
 * (12 x 32 register tile), GotoBLAS blocking and packing.  Debian's OpenBLAS
 * runs its AVX2 kernels on CPUs it does not know (and is pinned to them on
 * some), which leaves half of an AVX-512 FPU idle; this kernel uses it.
 * Callers split work across threads; the reference for its tests is the
 * plain triple loop. */
#include "../cnn-private.h"
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1
#endif

#define MR 12
#define NR CNN_SGEMM_NR
#define KC 256
#define MC (MR * 16)
#define NC (NR * 64)
/* floats ahead of the kernel's reads of packed A to prefetch: weights of
 * deep layers stream from DRAM once per run, used by few columns */
#ifndef A_PREFETCH
#define A_PREFETCH 1024
#endif

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

/* A[m0.., k0..] (or its transpose) into MR-row panels: panel p holds
 * A[p*MR + i][k] at [k * MR + i], zero rows past M. */
static void
pack_a (bool ta, const float *A, int lda, int m0, int mc, int k0, int kc, float *out)
{
  for (int p = 0; p < mc; p += MR) {
    int rows = MIN (MR, mc - p);
    for (int k = 0; k < kc; k++) {
      float *o = out + (size_t) p * kc + (size_t) k * MR;
      for (int i = 0; i < rows; i++)
        o[i] = ta ? A[(size_t) (k0 + k) * lda + m0 + p + i] : A[(size_t) (m0 + p + i) * lda + k0 + k];
      for (int i = rows; i < MR; i++)
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

/* C[0..m, 0..n] = (first ? beta * C : C) + alpha * Ap Bp over kc.  Row k of
 * B is at Bp + k * NR (a packed panel) or, with koff, at Bp + koff[k] (a
 * matrix read in place: an implicit GEMM's input). */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
kernel_12x32_any (int kc, const float *Ap, const float *Bp, const int32_t *koff, float *C, int ldc, int m,
    int n, float alpha, float beta, bool first)
{
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; i++)
    c0[i] = c1[i] = _mm512_setzero_ps ();
  for (int k = 0; k < kc; k++) {
    const float *b = koff ? Bp + koff[k] : Bp + (size_t) k * NR;
    if (koff) {
      /* the next tile's slice of this row: a large input does not stay in
       * cache between the column tiles of a row */
      _mm_prefetch ((const char *) (b + NR), _MM_HINT_T0);
      _mm_prefetch ((const char *) (b + NR + 16), _MM_HINT_T0);
    }
    __m512 b0, b1;
    if (koff) {
      b0 = _mm512_loadu_ps (b);
      b1 = _mm512_loadu_ps (b + 16);
    } else {
      b0 = _mm512_load_ps (b);
      b1 = _mm512_load_ps (b + 16);
    }
    const float *a = Ap + (size_t) k * MR;
    _mm_prefetch ((const char *) (a + A_PREFETCH), _MM_HINT_T0);
#define STEP(i) { __m512 ai = _mm512_set1_ps (a[i]); c0[i] = _mm512_fmadd_ps (ai, b0, c0[i]); \
      c1[i] = _mm512_fmadd_ps (ai, b1, c1[i]); }
    STEP (0) STEP (1) STEP (2) STEP (3) STEP (4) STEP (5)
    STEP (6) STEP (7) STEP (8) STEP (9) STEP (10) STEP (11)
#undef STEP
  }
  __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16) ((1u << n) - 1);
  __mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16) ((1u << (n - 16)) - 1) : 0;
  __m512 va = _mm512_set1_ps (alpha), vb = _mm512_set1_ps (beta);
  for (int i = 0; i < m; i++) {
    float *c = C + (size_t) i * ldc;
    __m512 r0 = _mm512_mul_ps (c0[i], va), r1 = _mm512_mul_ps (c1[i], va);
    if (!first || beta != 0.f) {
      __m512 o0 = _mm512_maskz_loadu_ps (m0, c), o1 = _mm512_maskz_loadu_ps (m1, c + 16);
      if (first) {
        o0 = _mm512_mul_ps (o0, vb);
        o1 = _mm512_mul_ps (o1, vb);
      }
      r0 = _mm512_add_ps (r0, o0);
      r1 = _mm512_add_ps (r1, o1);
    }
    _mm512_mask_storeu_ps (c, m0, r0);
    _mm512_mask_storeu_ps (c + 16, m1, r1);
  }
}

__attribute__ ((target ("avx512f")))
static void
kernel_12x32 (int kc, const float *Ap, const float *Bp, float *C, int ldc, int m, int n, float alpha,
    float beta, bool first)
{
  kernel_12x32_any (kc, Ap, Bp, NULL, C, ldc, m, n, alpha, beta, first);
}

__attribute__ ((target ("avx512f")))
static void
kernel_12x32_gather (int kc, const float *Ap, const float *B, const int32_t *koff, float *C, int ldc, int m,
    int n, bool first)
{
  kernel_12x32_any (kc, Ap, B, koff, C, ldc, m, n, 1.f, 0.f, first);
}

size_t
cnn_sgemm_packed_a_size (int M, int K)
{
  return (size_t) (M + MR - 1) / MR * MR * K;
}

/* A in the kernel's panel layout for every (MC, KC) block, in loop order:
 * for pc, for ic: pack_a (ic, mc, pc, kc).  The offsets follow from M and K. */
void
cnn_sgemm_pack_a (bool ta, int M, int K, const float *A, int lda, float *packed)
{
  size_t off = 0;
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    for (int ic = 0; ic < M; ic += MC) {
      int mc = MIN (MC, M - ic);
      pack_a (ta, A, lda, ic, mc, pc, kc, packed + off);
      off += (size_t) (mc + MR - 1) / MR * MR * kc;
    }
  }
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

/* C = A B with both operands packed: A by cnn_sgemm_pack_a(), B in the
 * layout of cnn_sgemm_packed_b_offset() (its padding columns zero). */
void
cnn_sgemm_avx512_packed_ab (int M, int N, int K, const float *Apacked, const float *Bpacked, float *C,
    int ldc)
{
  int npad = (N + NR - 1) / NR * NR;
  size_t aoff = 0;
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    const float *Bp = Bpacked + (size_t) pc * npad;
    for (int ic = 0; ic < M; ic += MC) {
      int mc = MIN (MC, M - ic);
      const float *Ap = Apacked + aoff;
      for (int jr = 0; jr < N; jr += NR)
        for (int ir = 0; ir < mc; ir += MR)
          kernel_12x32 (kc, Ap + (size_t) ir * kc, Bp + (size_t) jr * kc, C + (size_t) (ic + ir) * ldc + jr,
              ldc, MIN (MR, mc - ir), MIN (NR, N - jr), 1.f, 0.f, pc == 0);
      aoff += (size_t) (mc + MR - 1) / MR * MR * kc;
    }
  }
}

/* Rows [m0, m1) of C = A B, A packed by cnn_sgemm_pack_a() (m0 a multiple
 * of MR), row k of B (columns 0..n-1) read in place at B + koff[k].  With
 * tail_packed, a last tile narrower than NR is copied into a packed panel
 * first, so nothing past column n - 1 is read (masked loads would do it but
 * run several times slower on some CPUs: Zen 5); else whole tiles are. */
void
cnn_sgemm_avx512_gather (int M, int m0, int m1, int n, int K, const float *Apacked, const float *B,
    const int32_t *koff, bool tail_packed, float *C, int ldc)
{
  int mpad = (M + MR - 1) / MR * MR;
  float *tail = tail_packed && n % NR ? thread_buf (true, (size_t) KC * NR) : NULL;
  if (tail_packed && n % NR && !tail) {
    g_critical ("cnn: out of memory for GEMM packing");
    return;
  }
  for (int pc = 0; pc < K; pc += KC) {
    int kc = MIN (KC, K - pc);
    const float *Ap = Apacked + (size_t) pc * mpad;
    for (int jr = 0; jr < n; jr += NR) {
      int cols = MIN (NR, n - jr);
      if (tail && cols < NR) {
        for (int k = 0; k < kc; k++) {
          memcpy (tail + (size_t) k * NR, B + koff[pc + k] + jr, sizeof (float) * cols);
          memset (tail + (size_t) k * NR + cols, 0, sizeof (float) * (NR - cols));
        }
        for (int ir = m0; ir < m1; ir += MR)
          kernel_12x32 (kc, Ap + (size_t) ir * kc, tail, C + (size_t) (ir - m0) * ldc + jr, ldc,
              MIN (MR, m1 - ir), cols, 1.f, 0.f, pc == 0);
        continue;
      }
      for (int ir = m0; ir < m1; ir += MR)
        kernel_12x32_gather (kc, Ap + (size_t) ir * kc, B + jr, koff + pc, C + (size_t) (ir - m0) * ldc + jr,
            ldc, MIN (MR, m1 - ir), cols, pc == 0);
    }
  }
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
        pack_a (ta, A, lda, ic, mc, pc, kc, Ap);
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
cnn_sgemm_packed_a_size (int M, int K)
{
  return 0;
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
cnn_sgemm_avx512_packed_ab (int M, int N, int K, const float *Apacked, const float *Bpacked, float *C,
    int ldc)
{
  g_assert_not_reached ();
}

void
cnn_sgemm_avx512_gather (int M, int m0, int m1, int n, int K, const float *Apacked, const float *B,
    const int32_t *koff, bool tail_packed, float *C, int ldc)
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

void
cnn_sgemm_serial (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M == 1) {
    /* one row (a batch-1 classifier head): a matrix-vector product, which
     * streams B once where sgemm would copy it into packed panels first */
    int incx = ta ? lda : 1;
    if (tb)
      cblas_sgemv (CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, incx, beta, C, 1);
    else
      cblas_sgemv (CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, incx, beta, C, 1);
    return;
  }
  /* a row or a few (GEMV-like) pack more than they compute: OpenBLAS */
  if (cnn_sgemm_avx512_available () && M >= 8)
    cnn_sgemm_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
        alpha, A, lda, B, ldb, beta, C, ldc);
}
