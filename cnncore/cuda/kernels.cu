/* kernels.cu - the CUDA backend's own kernels: elementwise with broadcasting,
 * epilogues, pooling, softmax, copies through strided views, pad, resize and
 * normalization.  Convolutions and GEMMs go to cuDNN and cuBLAS. */
#include "kernels.h"
#include <math.h>

#define BLOCK 256

static unsigned
grid_for (int64_t n)
{
  int64_t g = (n + BLOCK - 1) / BLOCK;
  if (g < 1)
    g = 1;
  return (unsigned) (g > 65535 * 16 ? 65535 * 16 : g);
}

#define GRID_LOOP(i, n) \
  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t) blockDim.x * gridDim.x)

__device__ __forceinline__ float
apply (const cnn_cu_act &f, float v)
{
  switch (f.func) {
    case CNN_CU_NONE: return v;
    case CNN_CU_RELU: return v > 0.f ? v : 0.f;
    case CNN_CU_LEAKY_RELU: return v >= 0.f ? v : v * f.alpha;
    case CNN_CU_CLIP: return v < f.alpha ? f.alpha : (v > f.beta ? f.beta : v);
    case CNN_CU_SIGMOID: return 1.f / (1.f + expf (-v));
    case CNN_CU_TANH: return tanhf (v);
    case CNN_CU_HARD_SWISH: return v * fmaxf (0.f, fminf (1.f, v / 6.f + 0.5f));
    case CNN_CU_SILU: return v / (1.f + expf (-v));
    case CNN_CU_HARD_SIGMOID: return fmaxf (0.f, fminf (1.f, f.alpha * v + f.beta));
    case CNN_CU_ELU: return v >= 0.f ? v : f.alpha * (expf (v) - 1.f);
    case CNN_CU_SELU: return f.gamma * (v > 0.f ? v : f.alpha * (expf (v) - 1.f));
    case CNN_CU_SOFTPLUS: return v > 20.f ? v : log1pf (expf (v));
    case CNN_CU_MISH: return v * tanhf (v > 20.f ? v : log1pf (expf (v)));
    case CNN_CU_EXP: return expf (v);
    case CNN_CU_LOG: return logf (v);
    case CNN_CU_SQRT: return sqrtf (v);
    case CNN_CU_ABS: return fabsf (v);
    case CNN_CU_NEG: return -v;
    case CNN_CU_RECIPROCAL: return 1.f / v;
    case CNN_CU_FLOOR: return floorf (v);
    case CNN_CU_CEIL: return ceilf (v);
    case CNN_CU_ERF: return erff (v);
    case CNN_CU_AFFINE: return f.alpha * v + f.beta;
  }
  return v;
}

/* ---- elementwise ---- */

__global__ void
unary_kernel (const float *x, float *y, int64_t n, cnn_cu_act f)
{
  GRID_LOOP (i, n)
    y[i] = apply (f, x[i]);
}

extern "C" cudaError_t
cnn_cu_unary (const float *x, float *y, int64_t n, cnn_cu_act f, cudaStream_t stream)
{
  if (n > 0)
    unary_kernel<<<grid_for (n), BLOCK, 0, stream>>> (x, y, n, f);
  return cudaGetLastError ();
}

__global__ void
bias_act_kernel (float *y, const float *bias, const float *res, int64_t n, int64_t channels,
    int64_t inner, cnn_cu_act f)
{
  GRID_LOOP (i, n) {
    float v = y[i];
    if (bias)
      v += bias[(i / inner) % channels];
    if (res)
      v += res[i];
    y[i] = apply (f, v);
  }
}

extern "C" cudaError_t
cnn_cu_bias_act (float *y, const float *bias, const float *res, int64_t n, int64_t channels,
    int64_t inner, cnn_cu_act f, cudaStream_t stream)
{
  if (n > 0)
    bias_act_kernel<<<grid_for (n), BLOCK, 0, stream>>> (y, bias, res, n, channels, inner, f);
  return cudaGetLastError ();
}

typedef struct {
  float v[64];
} bias64;

__global__ void
scale_bias_kernel (const float *x, float *y, int64_t n, int64_t channels, int64_t inner, float scale,
    bias64 b, int n_bias)
{
  GRID_LOOP (i, n)
    y[i] = scale * x[i] + (n_bias > 0 ? b.v[(i / inner) % channels] : 0.f);
}

extern "C" cudaError_t
cnn_cu_scale_bias (const float *x, float *y, int64_t n, int64_t channels, int64_t inner, float scale,
    const float *bias, int n_bias, cudaStream_t stream)
{
  bias64 b;
  if (n_bias < 0 || n_bias > 64)
    return cudaErrorInvalidValue;
  for (int i = 0; i < n_bias; i++)
    b.v[i] = bias[i];
  if (n > 0)
    scale_bias_kernel<<<grid_for (n), BLOCK, 0, stream>>> (x, y, n, channels, inner, scale, b, n_bias);
  return cudaGetLastError ();
}

__global__ void
gemm_bias_kernel (float *y, const float *c, int64_t rows, int64_t cols, int64_t sm, int64_t sn,
    float beta, cnn_cu_act f)
{
  GRID_LOOP (i, rows * cols) {
    float v = y[i];
    if (c)
      v += beta * c[(i / cols) * sm + (i % cols) * sn];
    y[i] = apply (f, v);
  }
}

extern "C" cudaError_t
cnn_cu_gemm_bias (float *y, const float *c, int64_t rows, int64_t cols, int64_t sm, int64_t sn,
    float beta, cnn_cu_act f, cudaStream_t stream)
{
  if (rows * cols > 0)
    gemm_bias_kernel<<<grid_for (rows * cols), BLOCK, 0, stream>>> (y, c, rows, cols, sm, sn, beta, f);
  return cudaGetLastError ();
}

__device__ __forceinline__ float
binop (int op, float a, float b)
{
  switch (op) {
    case CNN_CU_ADD: return a + b;
    case CNN_CU_SUB: return a - b;
    case CNN_CU_MUL: return a * b;
    case CNN_CU_DIV: return a / b;
    case CNN_CU_POW: return powf (a, b);
    case CNN_CU_MAX: return isnan (a) || isnan (b) ? NAN : (a > b ? a : b);
    case CNN_CU_MIN: return isnan (a) || isnan (b) ? NAN : (a < b ? a : b);
    case CNN_CU_PRELU: return a < 0.f ? a * b : a;
  }
  return 0.f;
}

/* offset in a view of element i of the contiguous output */
__device__ __forceinline__ int64_t
view_offset (const cnn_cu_view &v, int64_t i)
{
  int64_t off = 0;
  for (int d = v.nd - 1; d >= 0; d--) {
    int64_t q = i / v.dims[d];
    off += (i - q * v.dims[d]) * v.stride[d];
    i = q;
  }
  return off;
}

__global__ void
binary_same_kernel (int op, const float *a, const float *b, float *y, int64_t n)
{
  GRID_LOOP (i, n)
    y[i] = binop (op, a[i], b[i]);
}

__global__ void
binary_scalar_kernel (int op, const float *a, const float *b, float *y, int64_t n)
{
  float s = b[0];
  GRID_LOOP (i, n)
    y[i] = binop (op, a[i], s);
}

/* b varies along one channel axis only: b[(i / inner) % channels] */
__global__ void
binary_channel_kernel (int op, const float *a, const float *b, float *y, int64_t n, int64_t channels,
    int64_t inner)
{
  GRID_LOOP (i, n)
    y[i] = binop (op, a[i], b[(i / inner) % channels]);
}

__global__ void
binary_kernel (int op, const float *a, cnn_cu_view va, const float *b, cnn_cu_view vb, float *y,
    int64_t n)
{
  GRID_LOOP (i, n)
    y[i] = binop (op, a[view_offset (va, i)], b[view_offset (vb, i)]);
}

static bool
view_contiguous (const cnn_cu_view &v)
{
  int64_t s = 1;
  for (int d = v.nd - 1; d >= 0; d--) {
    if (v.dims[d] != 1 && v.stride[d] != s)
      return false;
    s *= v.dims[d];
  }
  return true;
}

static bool
view_scalar (const cnn_cu_view &v)
{
  for (int d = 0; d < v.nd; d++)
    if (v.dims[d] != 1 && v.stride[d] != 0)
      return false;
  return true;
}

/* One axis c with stride 1 in b, all others broadcast: the per-channel case. */
static bool
view_channel (const cnn_cu_view &v, int64_t *channels, int64_t *inner)
{
  int axis = -1;
  for (int d = 0; d < v.nd; d++)
    if (v.dims[d] != 1 && v.stride[d] != 0) {
      if (axis >= 0 || v.stride[d] != 1)
        return false;
      axis = d;
    }
  if (axis < 0)
    return false;
  *channels = v.dims[axis];
  *inner = 1;
  for (int d = axis + 1; d < v.nd; d++)
    *inner *= v.dims[d];
  return true;
}

extern "C" cudaError_t
cnn_cu_binary (int op, const float *a, cnn_cu_view va, const float *b, cnn_cu_view vb, float *y,
    int64_t n, cudaStream_t stream)
{
  int64_t channels, inner;
  if (n <= 0)
    return cudaGetLastError ();
  bool ca = view_contiguous (va);
  if (ca && view_contiguous (vb))
    binary_same_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n);
  else if (ca && view_scalar (vb))
    binary_scalar_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n);
  else if (ca && view_channel (vb, &channels, &inner))
    binary_channel_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n, channels, inner);
  else
    binary_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, va, b, vb, y, n);
  return cudaGetLastError ();
}

/* ---- copies through views ---- */

template <typename T>
__global__ void
copy_kernel (T *dst, cnn_cu_view vd, const T *src, cnn_cu_view vs, int64_t n)
{
  GRID_LOOP (i, n)
    dst[view_offset (vd, i)] = src[view_offset (vs, i)];
}

extern "C" cudaError_t
cnn_cu_copy (void *dst, cnn_cu_view vd, const void *src, cnn_cu_view vs, int64_t n, int elem,
    cudaStream_t stream)
{
  if (n <= 0)
    return cudaGetLastError ();
  unsigned g = grid_for (n);
  switch (elem) {
    case 1: copy_kernel<<<g, BLOCK, 0, stream>>> ((uint8_t *) dst, vd, (const uint8_t *) src, vs, n); break;
    case 2: copy_kernel<<<g, BLOCK, 0, stream>>> ((uint16_t *) dst, vd, (const uint16_t *) src, vs, n); break;
    case 4: copy_kernel<<<g, BLOCK, 0, stream>>> ((uint32_t *) dst, vd, (const uint32_t *) src, vs, n); break;
    case 8: copy_kernel<<<g, BLOCK, 0, stream>>> ((uint64_t *) dst, vd, (const uint64_t *) src, vs, n); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError ();
}

/* ---- pooling ---- */

__global__ void
pool_kernel (bool max, bool include_pad, const float *x, float *y, int64_t planes, cnn_cu_window w)
{
  int64_t osz = w.out[0] * w.out[1] * w.out[2], isz = w.in[0] * w.in[1] * w.in[2];
  GRID_LOOP (i, planes * osz) {
    int64_t p = i / osz, r = i % osz;
    int64_t oz = r / (w.out[1] * w.out[2]), oy = (r / w.out[2]) % w.out[1], ox = r % w.out[2];
    const float *xp = x + p * isz;
    float acc = max ? -INFINITY : 0.f;
    int64_t count = 0, padded = 1;
    int64_t start[3] = { oz * w.stride[0] - w.pad0[0], oy * w.stride[1] - w.pad0[1],
      ox * w.stride[2] - w.pad0[2] };
    /* count_include_pad counts the padded border, not what ceil_mode adds past it */
    for (int d = 0; d < 3 && include_pad; d++) {
      int64_t hi = start[d] + (w.kernel[d] - 1) * w.dil[d] + 1;
      hi = hi < w.in[d] + w.pad1[d] ? hi : w.in[d] + w.pad1[d];
      padded *= hi > start[d] ? hi - start[d] : 0;
    }
    for (int64_t kz = 0; kz < w.kernel[0]; kz++) {
      int64_t iz = start[0] + kz * w.dil[0];
      if (iz < 0 || iz >= w.in[0])
        continue;
      for (int64_t ky = 0; ky < w.kernel[1]; ky++) {
        int64_t iy = start[1] + ky * w.dil[1];
        if (iy < 0 || iy >= w.in[1])
          continue;
        for (int64_t kx = 0; kx < w.kernel[2]; kx++) {
          int64_t ix = start[2] + kx * w.dil[2];
          if (ix < 0 || ix >= w.in[2])
            continue;
          float v = xp[(iz * w.in[1] + iy) * w.in[2] + ix];
          acc = max ? (v > acc ? v : acc) : acc + v;
          count++;
        }
      }
    }
    y[i] = max ? acc : acc / (float) (include_pad ? padded : (count ? count : 1));
  }
}

extern "C" cudaError_t
cnn_cu_pool (bool max, bool include_pad, const float *x, float *y, int64_t planes, cnn_cu_window w,
    cudaStream_t stream)
{
  int64_t n = planes * w.out[0] * w.out[1] * w.out[2];
  if (n > 0)
    pool_kernel<<<grid_for (n), BLOCK, 0, stream>>> (max, include_pad, x, y, planes, w);
  return cudaGetLastError ();
}

/* one warp per plane (whole warps step together, so the shuffles are safe) */
__global__ void
global_pool_kernel (bool max, const float *x, float *y, int64_t planes, int64_t size)
{
  int lane = threadIdx.x & 31;
  int64_t warps = (int64_t) gridDim.x * blockDim.x / 32;
  for (int64_t p = ((int64_t) blockIdx.x * blockDim.x + threadIdx.x) / 32; p < planes; p += warps) {
    const float *xp = x + p * size;
    float acc = max ? -INFINITY : 0.f;
    for (int64_t i = lane; i < size; i += 32)
      acc = max ? fmaxf (acc, xp[i]) : acc + xp[i];
    for (int o = 16; o > 0; o /= 2) {
      float v = __shfl_down_sync (0xffffffffu, acc, o);
      acc = max ? fmaxf (acc, v) : acc + v;
    }
    if (lane == 0)
      y[p] = max ? acc : acc / (float) size;
  }
}

extern "C" cudaError_t
cnn_cu_global_pool (bool max, const float *x, float *y, int64_t planes, int64_t size,
    cudaStream_t stream)
{
  if (planes > 0)
    global_pool_kernel<<<grid_for (planes * 32), BLOCK, 0, stream>>> (max, x, y, planes, size);
  return cudaGetLastError ();
}

/* ---- softmax ---- */

/* block-wide reduction (sum or max); every thread gets the result */
template <typename T>
__device__ T
block_reduce (T v, bool max)
{
  __shared__ T part[32];
  for (int o = 16; o > 0; o /= 2) {
    T w = __shfl_down_sync (0xffffffffu, v, o);
    v = max ? fmax (v, w) : v + w;
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nw = (blockDim.x + 31) / 32;
  __syncthreads ();
  if (lane == 0)
    part[warp] = v;
  __syncthreads ();
  if (warp == 0) {
    v = lane < nw ? part[lane] : (max ? (T) -INFINITY : (T) 0);
    for (int o = 16; o > 0; o /= 2) {
      T w = __shfl_down_sync (0xffffffffu, v, o);
      v = max ? fmax (v, w) : v + w;
    }
    if (lane == 0)
      part[0] = v;
  }
  __syncthreads ();
  return part[0];
}

/* contiguous rows: one block per row */
__global__ void
softmax_rows_kernel (bool log, const float *x, float *y, int64_t len)
{
  const float *a = x + blockIdx.x * len;
  float *o = y + blockIdx.x * len;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
    mx = fmaxf (mx, a[i]);
  mx = block_reduce<float> (mx, true);
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
    sum += expf (a[i] - mx);
  sum = block_reduce<float> (sum, false);
  if (log) {
    float ls = logf (sum);
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      o[i] = a[i] - mx - ls;
  } else {
    float inv = 1.f / sum;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      o[i] = expf (a[i] - mx) * inv;
  }
}

/* strided rows: one thread per row */
__global__ void
softmax_strided_kernel (bool log, const float *x, float *y, int64_t rows, int64_t len, int64_t inner)
{
  GRID_LOOP (r, rows) {
    int64_t outer = r / inner, in = r % inner;
    const float *a = x + outer * len * inner + in;
    float *o = y + outer * len * inner + in;
    float mx = -INFINITY;
    for (int64_t i = 0; i < len; i++)
      mx = fmaxf (mx, a[i * inner]);
    float sum = 0.f;
    for (int64_t i = 0; i < len; i++)
      sum += expf (a[i * inner] - mx);
    if (log) {
      float ls = logf (sum);
      for (int64_t i = 0; i < len; i++)
        o[i * inner] = a[i * inner] - mx - ls;
    } else {
      float inv = 1.f / sum;
      for (int64_t i = 0; i < len; i++)
        o[i * inner] = expf (a[i * inner] - mx) * inv;
    }
  }
}

extern "C" cudaError_t
cnn_cu_softmax (bool log, const float *x, float *y, int64_t outer, int64_t len, int64_t inner,
    cudaStream_t stream)
{
  if (outer * len * inner <= 0)
    return cudaGetLastError ();
  if (inner == 1 && len >= 64 && outer <= INT32_MAX)
    softmax_rows_kernel<<<(unsigned) outer, BLOCK, 0, stream>>> (log, x, y, len);
  else
    softmax_strided_kernel<<<grid_for (outer * inner), BLOCK, 0, stream>>> (log, x, y, outer * inner, len,
        inner);
  return cudaGetLastError ();
}

/* ---- pad ---- */

typedef struct {
  int nd;
  int64_t in[CNN_CUDA_MAX_DIMS], out[CNN_CUDA_MAX_DIMS], pad[CNN_CUDA_MAX_DIMS];
} pad_geom;

__global__ void
pad_kernel (int mode, const float *x, float *y, pad_geom g, float value, int64_t n)
{
  GRID_LOOP (i, n) {
    int64_t r = i, src = 0, stride = 1;
    bool outside = false;
    for (int d = g.nd - 1; d >= 0; d--) {
      int64_t o = r % g.out[d], dim = g.in[d], s = o - g.pad[d];
      r /= g.out[d];
      if (s < 0 || s >= dim) {
        if (mode == 0)
          outside = true;
        else if (mode == 2)
          s = s < 0 ? 0 : dim - 1;
        else
          s = s < 0 ? -s : 2 * (dim - 1) - s;
      }
      src += s * stride;
      stride *= dim;
    }
    y[i] = outside ? value : x[src];
  }
}

extern "C" cudaError_t
cnn_cu_pad (int mode, const float *x, float *y, int nd, const int64_t *in_dims, const int64_t *out_dims,
    const int64_t *pads_begin, float value, int64_t n, cudaStream_t stream)
{
  pad_geom g;
  g.nd = nd;
  for (int d = 0; d < nd; d++) {
    g.in[d] = in_dims[d];
    g.out[d] = out_dims[d];
    g.pad[d] = pads_begin[d];
  }
  if (n > 0)
    pad_kernel<<<grid_for (n), BLOCK, 0, stream>>> (mode, x, y, g, value, n);
  return cudaGetLastError ();
}

/* ---- resize ---- */

__global__ void
resize2d_kernel (const float *x, float *y, int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
    bool linear, float extrapolation, cnn_cu_resize_tables t)
{
  GRID_LOOP (i, planes * oh * ow) {
    int64_t p = i / (oh * ow), r = i % (oh * ow), yy = r / ow, xx = r % ow;
    if (t.yout[yy] || t.xout[xx]) {
      y[i] = extrapolation;
      continue;
    }
    const float *src = x + p * ih * iw;
    const float *a = src + (int64_t) t.y0[yy] * iw;
    if (!linear) {
      y[i] = a[t.x0[xx]];
      continue;
    }
    const float *b = src + (int64_t) t.y1[yy] * iw;
    float wx = t.wx[xx], wy = t.wy[yy];
    float top = a[t.x0[xx]] + wx * (a[t.x1[xx]] - a[t.x0[xx]]);
    float bot = b[t.x0[xx]] + wx * (b[t.x1[xx]] - b[t.x0[xx]]);
    y[i] = top + wy * (bot - top);
  }
}

extern "C" cudaError_t
cnn_cu_resize2d (const float *x, float *y, int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
    bool linear, float extrapolation, cnn_cu_resize_tables t, cudaStream_t stream)
{
  int64_t n = planes * oh * ow;
  if (n > 0)
    resize2d_kernel<<<grid_for (n), BLOCK, 0, stream>>> (x, y, planes, ih, iw, oh, ow, linear,
        extrapolation, t);
  return cudaGetLastError ();
}

/* ---- normalization ---- */

/* one block per plane; mean and variance in two passes and in double, as
 * the reference computes them (planes of 10^5 values lose digits in float) */
__global__ void
instance_norm_kernel (const float *x, float *y, const float *scale, const float *bias, int64_t c,
    int64_t size, float eps, cnn_cu_act f)
{
  int64_t p = blockIdx.x;
  const float *a = x + p * size;
  float *o = y + p * size;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x)
    s += a[i];
  double mean = block_reduce<double> (s, false) / (double) size;
  double v = 0.0;
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x) {
    double d = a[i] - mean;
    v += d * d;
  }
  double var = block_reduce<double> (v, false) / (double) size;
  int64_t ch = p % c;
  float k = (float) (scale[ch] / sqrt (var + eps)), b = (float) (bias[ch] - mean * k);
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x)
    o[i] = apply (f, a[i] * k + b);
}

extern "C" cudaError_t
cnn_cu_instance_norm (const float *x, float *y, const float *scale, const float *bias, int64_t n,
    int64_t c, int64_t size, float eps, cnn_cu_act f, cudaStream_t stream)
{
  if (n * c > INT32_MAX)
    return cudaErrorInvalidValue;
  if (n * c > 0 && size > 0)
    instance_norm_kernel<<<(unsigned) (n * c), BLOCK, 0, stream>>> (x, y, scale, bias, c, size, eps, f);
  return cudaGetLastError ();
}

__global__ void
batch_norm_kernel (const float *x, float *y, const float *scale, const float *bias, const float *mean,
    const float *var, int64_t total, int64_t c, int64_t size, float eps, cnn_cu_act f)
{
  GRID_LOOP (i, total) {
    int64_t ch = (i / size) % c;
    float k = scale[ch] / sqrtf (var[ch] + eps);
    y[i] = apply (f, x[i] * k + (bias[ch] - mean[ch] * k));
  }
}

extern "C" cudaError_t
cnn_cu_batch_norm (const float *x, float *y, const float *scale, const float *bias, const float *mean,
    const float *var, int64_t n, int64_t c, int64_t size, float eps, cnn_cu_act f, cudaStream_t stream)
{
  int64_t total = n * c * size;
  if (total > 0)
    batch_norm_kernel<<<grid_for (total), BLOCK, 0, stream>>> (x, y, scale, bias, mean, var, total, c,
        size, eps, f);
  return cudaGetLastError ();
}
