/* sgemm_kernels.h - what the GEMM micro-kernels of cpu/sgemm_avx512.c and
 * cpu/sgemm_avx2.c share: the kernel signatures, their tables and the
 * scalar store of the thin kernels.  Private to cnncore/cpu. */
#ifndef CNN_SGEMM_KERNELS_H
#define CNN_SGEMM_KERNELS_H

#include "../cnn-private.h"

/* C[0..m, 0..n] (+)= the tile: A a packed panel of mr rows (k at Ap + k *
 * mr), B a packed panel with rows bs floats apart (0: the tile's width) or
 * the rows koff[k] of a matrix read in place; @first: C is overwritten,
 * else added to; @ep: cnn_sgemm_epilogue moved to the tile, or NULL. */
typedef void (*cnn_tile_kernel) (int kc, const float *Ap, const float *B, const int32_t *koff, int bs,
    float *C, int ldc, int m, int n, bool first, const cnn_sgemm_epilogue *ep);
/* The same for 1 to 4 columns (the kernel's n). */
typedef void (*cnn_thin_kernel) (int kc, const float *Ap, const float *B, const int32_t *koff, int bs,
    float *C, int ldc, int m, bool first, const cnn_sgemm_epilogue *ep);

/* The AVX2 kernels, B packed only (koff unused): [8 x 48 tile][one vector
 * (16 floats) wide], and [8-row tile][columns - 1]. */
extern const cnn_tile_kernel cnn_sgemm_avx2_tiles[2][2];
extern const cnn_thin_kernel cnn_sgemm_avx2_thins[2][4];

/* The thin kernels' results, sum[j][i] for column j and row i < m, into C
 * with the epilogue (on a grid or plain, as cnn_sgemm_gather()). */
static inline void
cnn_sgemm_thin_store (float sum[4][16], float *C, int ldc, int m, int n, bool first,
    const cnn_sgemm_epilogue *ep)
{
  if (ep && ep->grid_wq) {
    for (int j = 0; j < n; j++) {
      int g = ep->grid_j + j, y = g / ep->grid_wq, x = g - y * ep->grid_wq, d = y * ep->grid_ow + x;
      if (x >= ep->grid_ow)
        continue;
      for (int i = 0; i < m; i++) {
        float r = sum[j][i] + (ep->bias ? ep->bias[i] : 0.f);
        if (ep->residual)
          r += ep->residual[(size_t) i * ldc + d];
        C[(size_t) i * ldc + d] = cnn_act_one (ep->act, ep->alpha, ep->beta, r);
      }
    }
    return;
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      float *c = C + (size_t) i * ldc + j, r = sum[j][i];
      if (!first)
        r += *c;
      if (ep) {
        if (ep->bias)
          r += ep->bias[i];
        if (ep->residual)
          r += ep->residual[(size_t) i * ldc + j];
        r = cnn_act_one (ep->act, ep->alpha, ep->beta, r);
      }
      *c = r;
    }
}

#endif
