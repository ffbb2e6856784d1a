/* kernels.h - the CUDA backend's own kernels (kernels.cu), callable from C.
 * Plain C types only: this header is compiled by nvcc and by the C compiler.
 * Every launcher queues work on @stream and returns the launch's error. */
#ifndef CNN_CUDA_KERNELS_H
#define CNN_CUDA_KERNELS_H

#include <stdint.h>
#include <stdbool.h>
#include <cuda_runtime.h>
#include "../cnn-detect.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_CUDA_MAX_DIMS 8

/* Element types of float tensors on the device: float32, or float16 when
 * the session runs at precision fp16 (kernels still compute in float).  Every
 * launcher taking @dt reads and writes its float tensors in that type. */
typedef enum { CNN_CU_F32, CNN_CU_F16 } cnn_cu_dtype;

/* Device memory for @size bytes at *@p (*@have bytes so far), grown as
 * asked once the work queued on @stream (which may use the old memory) is
 * done. */
cudaError_t cnn_cu_grow (void **p, size_t *have, size_t size, cudaStream_t stream);

/* y (@dst_dt) = x (@src_dt), n elements. */
cudaError_t cnn_cu_convert (int src_dt, const void *x, int dst_dt, void *y, int64_t n, cudaStream_t stream);

/* Elementwise functions: the unary ops, and the activations fused into
 * Conv/Gemm/norms (same numbering as cnn_act_type for those). */
typedef enum {
  CNN_CU_NONE, CNN_CU_RELU, CNN_CU_LEAKY_RELU, CNN_CU_CLIP, CNN_CU_SIGMOID, CNN_CU_TANH,
  CNN_CU_HARD_SWISH, CNN_CU_SILU,
  CNN_CU_HARD_SIGMOID, CNN_CU_ELU, CNN_CU_SELU, CNN_CU_SOFTPLUS, CNN_CU_MISH, CNN_CU_EXP,
  CNN_CU_LOG, CNN_CU_SQRT, CNN_CU_ABS, CNN_CU_NEG, CNN_CU_RECIPROCAL, CNN_CU_FLOOR, CNN_CU_CEIL,
  CNN_CU_ERF, CNN_CU_AFFINE,
} cnn_cu_func;

typedef struct {
  int func;                     /* cnn_cu_func */
  float alpha, beta, gamma;     /* leaky slope / clip bounds / selu... */
} cnn_cu_act;

typedef enum {
  CNN_CU_ADD, CNN_CU_SUB, CNN_CU_MUL, CNN_CU_DIV, CNN_CU_POW, CNN_CU_MAX, CNN_CU_MIN, CNN_CU_PRELU,
} cnn_cu_binop;

/* A view: dims and element strides (0 where broadcast). */
typedef struct {
  int nd;
  int64_t dims[CNN_CUDA_MAX_DIMS];
  int64_t stride[CNN_CUDA_MAX_DIMS];
} cnn_cu_view;

/* y = f(x) elementwise (in place allowed). */
cudaError_t cnn_cu_unary (int dt, const void *x, void *y, int64_t n, cnn_cu_act f, cudaStream_t stream);

/* Epilogue of convolutions and GEMMs: y = f(y + bias[channel] + res), channel
 * = (i / inner) % channels; bias and res may be NULL. */
cudaError_t cnn_cu_bias_act (int dt, void *y, const void *bias, const void *res, int64_t n, int64_t channels,
    int64_t inner, cnn_cu_act f, cudaStream_t stream);

/* y = scale * x + bias[channel] (bias on the host, at most 64 channels). */
cudaError_t cnn_cu_scale_bias (int dt, const void *x, void *y, int64_t n, int64_t channels, int64_t inner,
    float scale, const float *bias, int n_bias, cudaStream_t stream);

/* y[i] = f(y[i] + beta * c[row * sm + col * sn]) for a rows x cols matrix. */
cudaError_t cnn_cu_gemm_bias (int dt, void *y, const void *c, int64_t rows, int64_t cols, int64_t sm,
    int64_t sn, float beta, cnn_cu_act f, cudaStream_t stream);

/* y (contiguous, shape of @a's and @b's views) = a op b. */
cudaError_t cnn_cu_binary (int dt, int op, const void *a, cnn_cu_view va, const void *b, cnn_cu_view vb,
    void *y, int64_t n, cudaStream_t stream);

/* dst view <- src view, elements of @elem bytes (1, 2, 4 or 8); both views
 * have the same dims; strides in elements, may be negative. */
cudaError_t cnn_cu_copy (void *dst, cnn_cu_view vd, const void *src, cnn_cu_view vs, int64_t n,
    int elem, cudaStream_t stream);

/* Window geometry normalized to 3 spatial dims. */
typedef struct {
  int64_t in[3], out[3], kernel[3], stride[3], dil[3], pad0[3], pad1[3];
} cnn_cu_window;

/* @channels 0: NCHW data, @planes (n * c) planes; else NHWC data of
 * @planes images with @channels channels, the output NHWC too. */
cudaError_t cnn_cu_pool (int dt, bool max, bool include_pad, const void *x, void *y, int64_t planes,
    int64_t channels, cnn_cu_window w, cudaStream_t stream);
/* Mean or max over each of @planes planes of @size (@channels 0), or over
 * the @size pixels of each channel of @planes NHWC images. */
cudaError_t cnn_cu_global_pool (int dt, bool max, const void *x, void *y, int64_t planes, int64_t channels,
    int64_t size, cudaStream_t stream);

cudaError_t cnn_cu_softmax (int dt, bool log, const void *x, void *y, int64_t outer, int64_t len,
    int64_t inner, cudaStream_t stream);

/* out[o] = x[(o - pads) mapped per mode] or value. */
cudaError_t cnn_cu_pad (int dt, int mode, const void *x, void *y, int nd, const int64_t *in_dims,
    const int64_t *out_dims, const int64_t *pads_begin, float value, int64_t n, cudaStream_t stream);

/* Last-two-dims resize from device tables (see cnn_resize_tables). */
typedef struct {
  const int *y0, *y1, *x0, *x1;
  const float *wy, *wx;
  const unsigned char *yout, *xout;
} cnn_cu_resize_tables;
cudaError_t cnn_cu_resize2d (int dt, const void *x, void *y, int64_t planes, int64_t ih, int64_t iw,
    int64_t oh, int64_t ow, bool linear, float extrapolation, cnn_cu_resize_tables t,
    cudaStream_t stream);

/* Instance norm: per (n, c) plane of @size, scale and bias per channel. */
cudaError_t cnn_cu_instance_norm (int dt, const void *x, void *y, const void *scale, const void *bias,
    int64_t n, int64_t c, int64_t size, float eps, cnn_cu_act f, cudaStream_t stream);
/* Inference batch norm with statistics given. */
cudaError_t cnn_cu_batch_norm (int dt, const void *x, void *y, const void *scale, const void *bias,
    const void *mean, const void *var, int64_t n, int64_t c, int64_t size, float eps, cnn_cu_act f,
    cudaStream_t stream);

/* Pre-processing (cnn_session_set_input_image): one item of a float input
 * from an 8-bit picture, as cnn_image_to_tensor computes it.  The picture's
 * planes hold rows row_lo[p] on (the region's rows); the tables give, per
 * tensor column and row, the two region positions blended, the weight and
 * whether it lies on the picture. */
typedef struct {
  int *x0, *x1, *y0, *y1;
  float *wx, *wy;
  unsigned char *xin, *yin;
} cnn_cu_image_tables;

typedef struct {
  const uint8_t *plane[3];
  int64_t stride[3];
  int row_lo[3];
  int comp_plane[3], comp_offset[3], comp_pstride[3];
  bool yuv;
  float yoff, ymul, coff, cmul, rv, gu, gv, bu;
  int rx, ry;                   /* the region's origin in the picture */
  cnn_cu_image_tables tab;
  int channels, height, width;
  bool nhwc, bgr;
  float mean[3], inv[3], pad[3];
} cnn_cu_image;
cudaError_t cnn_cu_image_to_tensor (int dt, const cnn_cu_image *a, void *y, cudaStream_t stream);

/* One item's detector outputs for cnn_cu_detect(): float32 on the device,
 * and the last two dims of each (grids: H, W). */
typedef struct {
  const float *data[4];
  int64_t rows[4], cols[4];
  int n, C;
  int scores;                   /* SSD: the output of scores (the other holds the boxes) */
} cnn_cu_det_outputs;

/* Candidates cnn_cu_detect() decodes: at most this many boxes come back. */
int64_t cnn_cu_detect_cap (const cnn_decoder_options *o, const cnn_cu_det_outputs *in);

/* cnn_session_detect() on the GPU: decodes @in with @o, NMS by @nms, the
 * kept boxes to host @out (room for cnn_cu_detect_cap()), their number to
 * *@n_out; synchronizes @stream.  *@scratch and *@mask are device memory
 * of *@scratch_size and *@mask_size bytes that calls grow (the caller
 * frees them). */
cudaError_t cnn_cu_detect (const cnn_decoder_options *o, const cnn_nms_options *nms, const cnn_cu_det_outputs *in,
    void **scratch, size_t *scratch_size, void **mask, size_t *mask_size, cnn_box *out, int *n_out,
    cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
