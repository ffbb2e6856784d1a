/* geometry.h - what the reference ops tell other backends: their parsed
 * attributes and the geometry they resolve from shapes and constant inputs,
 * so that a backend computes exactly what the reference computes. */
#ifndef CNN_OPS_GEOMETRY_H
#define CNN_OPS_GEOMETRY_H
#include "ops.h"

/* activation.c: attributes of the elementwise unary ops */
typedef struct {
  float alpha, beta, gamma;
} cnn_unary_params;

/* binary.c: PRelu's slope as it broadcasts (old models give [C] per channel);
 * may point at @tmp */
const cnn_tensor *cnn_prelu_slope_view (const cnn_exec *x, cnn_tensor *tmp);

/* clip.c: the bounds in effect (attributes or constant inputs) */
void cnn_clip_bounds (const cnn_exec *x, float *lo, float *hi);

/* pool.c */
cnn_status cnn_pool_geometry (cnn_exec *x, cnn_window *w);
bool cnn_pool_count_include_pad (const cnn_exec *x);
/* cpu/maxpool2d.c: the fast 2D MaxPool of output rows [oy0, oy1) of one
 * plane, where it applies */
bool cnn_maxpool2d_applies (const cnn_window *w);
void cnn_maxpool2d_rows (const cnn_window *w, const float *x, float *y, int64_t oy0, int64_t oy1);

/* concat.c: the normalized axis */
int cnn_concat_axis (const cnn_exec *x);

/* softmax.c: the reduced length and the stride between its elements */
void cnn_softmax_dims (const cnn_exec *x, int64_t *len, int64_t *inner);
/* its axis, normalized (0 for a scalar) */
int cnn_softmax_axis (const cnn_exec *x);

/* transpose.c; cpu/transpose.c: the fast kernel */
cnn_status cnn_transpose_perm (cnn_exec *x, int *perm);
cnn_status cnn_transpose_fast (cnn_exec *x);

/* slice.c: per input dim, the first index and the step */
typedef struct {
  int64_t start[CNN_MAX_DIMS], step[CNN_MAX_DIMS], dims[CNN_MAX_DIMS];
} cnn_slice_geom;
cnn_status cnn_slice_geometry (cnn_exec *x, cnn_slice_geom *g);

/* gemm.c */
typedef struct {
  float alpha, beta;
  bool trans_a, trans_b;
} cnn_gemm_params;

typedef struct {
  int64_t M, K, N, batch;
  cnn_tensor out;
  int64_t sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS], so[CNN_MAX_DIMS];  /* batch strides in matrices */
  int nbatch_dims;
} cnn_matmul_geom;
cnn_status cnn_matmul_geometry (cnn_exec *x, cnn_matmul_geom *g);
/* Matrix offsets (in matrices) of batch @bi in A and B. */
void cnn_matmul_batch_offsets (const cnn_matmul_geom *g, int64_t bi, int64_t *oa, int64_t *ob);

/* norm.c */
typedef struct {
  float epsilon;
} cnn_norm_params;

/* pad.c */
enum { CNN_PAD_CONSTANT, CNN_PAD_REFLECT, CNN_PAD_EDGE };
int cnn_pad_mode (const cnn_exec *x);
/* pads: begin for every dim, then end for every dim */
cnn_status cnn_pad_resolve (cnn_exec *x, int64_t *pads, double *value);

/* legacy.c: ImageScaler, Crop, Affine */
typedef struct {
  float scale, alpha, beta;
  float bias[64];
  int n_bias;
  int64_t border[4], crop_scale[2];     /* border: left, top, right, bottom */
  int n_border, n_crop_scale;
} cnn_legacy_params;

/* conv_transpose.c */
typedef struct {
  cnn_window w;
  int64_t group;
  int64_t N, C, Cg, Mg, M, isz, osz, ksz;
} cnn_convt_sizes;
cnn_status cnn_conv_transpose_sizes (cnn_exec *x, cnn_convt_sizes *s);

/* resize.c: when only the last two dims resize, the per-axis source indices
 * and weights of both (i0 == i1 and weight 0 for nearest; outside marks
 * points that take the extrapolation value).  False: not such a resize. */
typedef struct {
  int64_t ih, iw, oh, ow;
  int64_t *y0, *y1, *x0, *x1;
  float *wy, *wx;
  bool *yout, *xout;
  bool linear;
  float extrapolation;
  int64_t dup;                  /* nearest, each input column k times over (x0[i] = i / k): k, else 0 */
} cnn_resize_tables;
bool cnn_resize_tables_new (cnn_exec *x, cnn_resize_tables *t);
void cnn_resize_tables_clear (cnn_resize_tables *t);
/* A 4D Resize of H and W (@rz) whose output @tr, a Transpose to NHWC
 * (perm 0, 2, 3, 1), alone reads: whether the Resize can write NHWC
 * itself, the scratch the fused pair needs (tr->pre = rz), and the pair
 * run (tr's output written, rz's never). */
bool cnn_resize_nhwc_applies (cnn_exec *rz, cnn_exec *tr);
size_t cnn_resize_nhwc_scratch (const cnn_exec *tr);
cnn_status cnn_resize_nhwc (cnn_exec *tr);
/* cpu/transpose.c: out[j * out_stride + i] = in[i * in_stride + j] for i
 * < rows, j < cols (4-byte elements). */
void cnn_transpose_block32 (const float *in, int64_t rows, int64_t cols, int64_t in_stride, float *out,
    int64_t out_stride);

#endif
