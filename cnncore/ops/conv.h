/* conv.h - Conv params shared by the reference op and the fast CPU paths. */
#ifndef CNN_OPS_CONV_H
#define CNN_OPS_CONV_H
#include "ops.h"

typedef struct {
  cnn_window_params win;
  int64_t group;
} cnn_conv_params;

/* Window geometry for this node's input and weight. */
cnn_status cnn_conv_geometry (cnn_exec *x, cnn_window *w);

/* cpu/conv2d_depthwise.c: 3x3 depthwise, stride 1 or 2, with AVX-512. */
bool cnn_conv2d_dw3x3_applies (const cnn_exec *x);
size_t cnn_conv2d_dw3x3_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_dw3x3 (cnn_exec *x);

/* cpu/conv2d_winograd.c: F(4x4, 3x3) for 3x3 stride-1 dense convolutions. */
bool cnn_conv2d_winograd_applies (const cnn_exec *x);
size_t cnn_conv2d_winograd_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_winograd (cnn_exec *x);
/* Overrides CNN_WINOGRAD (tests); not thread safe against running sessions. */
void cnn_conv2d_winograd_enable (bool on);

/* cpu/conv2d_implicit.c: stride-1 2D convolutions as an implicit GEMM over a
 * zero-padded copy of the input (AVX-512). */
bool cnn_conv2d_implicit_applies (const cnn_exec *x);
size_t cnn_conv2d_implicit_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_implicit (cnn_exec *x);

/* cpu/conv2d_gemm.c: im2col + OpenBLAS sgemm, and a direct depthwise kernel. */
cnn_status cnn_conv2d_gemm (cnn_exec *x);
size_t cnn_conv2d_gemm_scratch (const cnn_exec *x);
/* The weights packed for cnn_sgemm_pack_a() as G groups of Mg x K, made
 * once per plan (x->cache); NULL when out of memory. */
const float *cnn_conv_packed_weights (cnn_exec *x, int64_t Mg, int64_t K);
#endif
