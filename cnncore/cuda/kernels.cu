/* kernels.cu - the CUDA backend's own kernels: elementwise with broadcasting,
 * epilogues, pooling, softmax, copies through strided views, pad, resize and
 * normalization.  Convolutions and GEMMs go to cuDNN and cuBLAS. */
#include "kernels.h"
#include <cuda_fp16.h>
#include <math.h>

#define BLOCK 256

/* Loads and stores of activations: float32, or float16 with float math
 * (precision=fp16 stores every float tensor as half). */
__device__ __forceinline__ float ld (const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float ld (const __half *p, int64_t i) { return __half2float (p[i]); }
__device__ __forceinline__ void st (float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st (__half *p, int64_t i, float v) { p[i] = __float2half (v); }

/* Runs the statement with T the element type of @dt. */
#define DISPATCH(dt, ...) do { \
    if ((dt) == CNN_CU_F16) { typedef __half T; __VA_ARGS__; } \
    else { typedef float T; __VA_ARGS__; } \
  } while (0)

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

/* ---- conversions ---- */

template <typename S, typename D>
__global__ void
convert_kernel (const S *x, D *y, int64_t n)
{
  GRID_LOOP (i, n)
    st (y, i, ld (x, i));
}

extern "C" cudaError_t
cnn_cu_convert (int src_dt, const void *x, int dst_dt, void *y, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaGetLastError ();
  if (src_dt == dst_dt)
    return cudaMemcpyAsync (y, x, n * (src_dt == CNN_CU_F16 ? 2 : 4), cudaMemcpyDeviceToDevice, stream);
  if (src_dt == CNN_CU_F32)
    convert_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((const float *) x, (__half *) y, n);
  else
    convert_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((const __half *) x, (float *) y, n);
  return cudaGetLastError ();
}

extern "C" cudaError_t
cnn_cu_grow (void **p, size_t *have, size_t size, cudaStream_t stream)
{
  if (size <= *have)
    return cudaSuccess;
  cudaError_t e = cudaStreamSynchronize (stream);
  if (e != cudaSuccess)
    return e;
  cudaFree (*p);
  *p = NULL;
  *have = 0;
  if ((e = cudaMalloc (p, size)) == cudaSuccess)
    *have = size;
  return e;
}

/* ---- elementwise ---- */

template <typename T>
__global__ void
unary_kernel (const T *x, T *y, int64_t n, cnn_cu_act f)
{
  GRID_LOOP (i, n)
    st (y, i, apply (f, ld (x, i)));
}

extern "C" cudaError_t
cnn_cu_unary (int dt, const void *x, void *y, int64_t n, cnn_cu_act f, cudaStream_t stream)
{
  if (n > 0)
    DISPATCH (dt, unary_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((const T *) x, (T *) y, n, f));
  return cudaGetLastError ();
}

template <typename T>
__global__ void
bias_act_kernel (T *y, const T *bias, const T *res, int64_t n, int64_t channels, int64_t inner,
    cnn_cu_act f)
{
  GRID_LOOP (i, n) {
    float v = ld (y, i);
    if (bias)
      v += ld (bias, (i / inner) % channels);
    if (res)
      v += ld (res, i);
    st (y, i, apply (f, v));
  }
}

extern "C" cudaError_t
cnn_cu_bias_act (int dt, void *y, const void *bias, const void *res, int64_t n, int64_t channels,
    int64_t inner, cnn_cu_act f, cudaStream_t stream)
{
  if (n > 0)
    DISPATCH (dt, bias_act_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((T *) y, (const T *) bias,
            (const T *) res, n, channels, inner, f));
  return cudaGetLastError ();
}

typedef struct {
  float v[64];
} bias64;

template <typename T>
__global__ void
scale_bias_kernel (const T *x, T *y, int64_t n, int64_t channels, int64_t inner, float scale,
    bias64 b, int n_bias)
{
  GRID_LOOP (i, n)
    st (y, i, scale * ld (x, i) + (n_bias > 0 ? b.v[(i / inner) % channels] : 0.f));
}

extern "C" cudaError_t
cnn_cu_scale_bias (int dt, const void *x, void *y, int64_t n, int64_t channels, int64_t inner, float scale,
    const float *bias, int n_bias, cudaStream_t stream)
{
  bias64 b;
  if (n_bias < 0 || n_bias > 64)
    return cudaErrorInvalidValue;
  for (int i = 0; i < n_bias; i++)
    b.v[i] = bias[i];
  if (n > 0)
    DISPATCH (dt, scale_bias_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((const T *) x, (T *) y, n,
            channels, inner, scale, b, n_bias));
  return cudaGetLastError ();
}

template <typename T>
__global__ void
gemm_bias_kernel (T *y, const T *c, int64_t rows, int64_t cols, int64_t sm, int64_t sn, float beta,
    cnn_cu_act f)
{
  GRID_LOOP (i, rows * cols) {
    float v = ld (y, i);
    if (c)
      v += beta * ld (c, (i / cols) * sm + (i % cols) * sn);
    st (y, i, apply (f, v));
  }
}

extern "C" cudaError_t
cnn_cu_gemm_bias (int dt, void *y, const void *c, int64_t rows, int64_t cols, int64_t sm, int64_t sn,
    float beta, cnn_cu_act f, cudaStream_t stream)
{
  if (rows * cols > 0)
    DISPATCH (dt, gemm_bias_kernel<<<grid_for (rows * cols), BLOCK, 0, stream>>> ((T *) y, (const T *) c,
            rows, cols, sm, sn, beta, f));
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

template <typename T>
__global__ void
binary_same_kernel (int op, const T *a, const T *b, T *y, int64_t n)
{
  GRID_LOOP (i, n)
    st (y, i, binop (op, ld (a, i), ld (b, i)));
}

template <typename T>
__global__ void
binary_scalar_kernel (int op, const T *a, const T *b, T *y, int64_t n)
{
  float s = ld (b, 0);
  GRID_LOOP (i, n)
    st (y, i, binop (op, ld (a, i), s));
}

/* b varies along one channel axis only: b[(i / inner) % channels] */
template <typename T>
__global__ void
binary_channel_kernel (int op, const T *a, const T *b, T *y, int64_t n, int64_t channels, int64_t inner)
{
  GRID_LOOP (i, n)
    st (y, i, binop (op, ld (a, i), ld (b, (i / inner) % channels)));
}

template <typename T>
__global__ void
binary_kernel (int op, const T *a, cnn_cu_view va, const T *b, cnn_cu_view vb, T *y, int64_t n)
{
  GRID_LOOP (i, n)
    st (y, i, binop (op, ld (a, view_offset (va, i)), ld (b, view_offset (vb, i))));
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

template <typename T>
static void
binary_launch (int op, const T *a, cnn_cu_view va, const T *b, cnn_cu_view vb, T *y, int64_t n,
    cudaStream_t stream)
{
  int64_t channels, inner;
  bool ca = view_contiguous (va);
  if (ca && view_contiguous (vb))
    binary_same_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n);
  else if (ca && view_scalar (vb))
    binary_scalar_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n);
  else if (ca && view_channel (vb, &channels, &inner))
    binary_channel_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, b, y, n, channels, inner);
  else
    binary_kernel<<<grid_for (n), BLOCK, 0, stream>>> (op, a, va, b, vb, y, n);
}

extern "C" cudaError_t
cnn_cu_binary (int dt, int op, const void *a, cnn_cu_view va, const void *b, cnn_cu_view vb, void *y,
    int64_t n, cudaStream_t stream)
{
  if (n > 0)
    DISPATCH (dt, binary_launch<T> (op, (const T *) a, va, (const T *) b, vb, (T *) y, n, stream));
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

/* channels == 0: NCHW, @planes planes; else NHWC, @planes images of
 * @channels channels (element i of the output is (image, pixel, channel)) */
template <typename T>
__global__ void
pool_kernel (bool max, bool include_pad, const T *x, T *y, int64_t planes, int64_t channels,
    cnn_cu_window w)
{
  int64_t osz = w.out[0] * w.out[1] * w.out[2], isz = w.in[0] * w.in[1] * w.in[2];
  int64_t c = channels > 0 ? channels : 1, step = c;
  GRID_LOOP (i, planes * osz * c) {
    int64_t r = (i / c) % osz;
    int64_t oz = r / (w.out[1] * w.out[2]), oy = (r / w.out[2]) % w.out[1], ox = r % w.out[2];
    const T *xp = x + (i / (c * osz)) * isz * c + i % c;
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
          float v = ld (xp, ((iz * w.in[1] + iy) * w.in[2] + ix) * step);
          acc = max ? (v > acc ? v : acc) : acc + v;
          count++;
        }
      }
    }
    st (y, i, max ? acc : acc / (float) (include_pad ? padded : (count ? count : 1)));
  }
}

extern "C" cudaError_t
cnn_cu_pool (int dt, bool max, bool include_pad, const void *x, void *y, int64_t planes, int64_t channels,
    cnn_cu_window w, cudaStream_t stream)
{
  int64_t n = planes * (channels > 0 ? channels : 1) * w.out[0] * w.out[1] * w.out[2];
  if (n > 0)
    DISPATCH (dt, pool_kernel<<<grid_for (n), BLOCK, 0, stream>>> (max, include_pad, (const T *) x, (T *) y,
            planes, channels, w));
  return cudaGetLastError ();
}

/* one warp per plane (whole warps step together, so the shuffles are safe) */
template <typename T>
__global__ void
global_pool_kernel (bool max, const T *x, T *y, int64_t planes, int64_t size)
{
  int lane = threadIdx.x & 31;
  int64_t warps = (int64_t) gridDim.x * blockDim.x / 32;
  for (int64_t p = ((int64_t) blockIdx.x * blockDim.x + threadIdx.x) / 32; p < planes; p += warps) {
    const T *xp = x + p * size;
    float acc = max ? -INFINITY : 0.f;
    for (int64_t i = lane; i < size; i += 32)
      acc = max ? fmaxf (acc, ld (xp, i)) : acc + ld (xp, i);
    for (int o = 16; o > 0; o /= 2) {
      float v = __shfl_down_sync (0xffffffffu, acc, o);
      acc = max ? fmaxf (acc, v) : acc + v;
    }
    if (lane == 0)
      st (y, p, max ? acc : acc / (float) size);
  }
}

/* NHWC: one thread per (image, channel); neighbours read neighbouring channels */
template <typename T>
__global__ void
global_pool_nhwc_kernel (bool max, const T *x, T *y, int64_t n, int64_t channels, int64_t size)
{
  GRID_LOOP (i, n * channels) {
    const T *xp = x + (i / channels) * size * channels + i % channels;
    float acc = max ? -INFINITY : 0.f;
    for (int64_t k = 0; k < size; k++)
      acc = max ? fmaxf (acc, ld (xp, k * channels)) : acc + ld (xp, k * channels);
    st (y, i, max ? acc : acc / (float) size);
  }
}

extern "C" cudaError_t
cnn_cu_global_pool (int dt, bool max, const void *x, void *y, int64_t planes, int64_t channels,
    int64_t size, cudaStream_t stream)
{
  if (channels > 0 && planes > 0)
    DISPATCH (dt, global_pool_nhwc_kernel<<<grid_for (planes * channels), BLOCK, 0, stream>>> (max,
            (const T *) x, (T *) y, planes, channels, size));
  else if (planes > 0)
    DISPATCH (dt, global_pool_kernel<<<grid_for (planes * 32), BLOCK, 0, stream>>> (max, (const T *) x,
            (T *) y, planes, size));
  return cudaGetLastError ();
}

/* ---- softmax ---- */

/* block-wide reduction (sum or max); every thread gets the result */
template <typename A>
__device__ A
block_reduce (A v, bool max)
{
  __shared__ A part[32];
  for (int o = 16; o > 0; o /= 2) {
    A w = __shfl_down_sync (0xffffffffu, v, o);
    v = max ? fmax (v, w) : v + w;
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nw = (blockDim.x + 31) / 32;
  __syncthreads ();
  if (lane == 0)
    part[warp] = v;
  __syncthreads ();
  if (warp == 0) {
    v = lane < nw ? part[lane] : (max ? (A) -INFINITY : (A) 0);
    for (int o = 16; o > 0; o /= 2) {
      A w = __shfl_down_sync (0xffffffffu, v, o);
      v = max ? fmax (v, w) : v + w;
    }
    if (lane == 0)
      part[0] = v;
  }
  __syncthreads ();
  return part[0];
}

/* contiguous rows: one block per row */
template <typename T>
__global__ void
softmax_rows_kernel (bool log, const T *x, T *y, int64_t len)
{
  const T *a = x + blockIdx.x * len;
  T *o = y + blockIdx.x * len;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
    mx = fmaxf (mx, ld (a, i));
  mx = block_reduce<float> (mx, true);
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
    sum += expf (ld (a, i) - mx);
  sum = block_reduce<float> (sum, false);
  if (log) {
    float ls = logf (sum);
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      st (o, i, ld (a, i) - mx - ls);
  } else {
    float inv = 1.f / sum;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      st (o, i, expf (ld (a, i) - mx) * inv);
  }
}

/* strided rows: one thread per row */
template <typename T>
__global__ void
softmax_strided_kernel (bool log, const T *x, T *y, int64_t rows, int64_t len, int64_t inner)
{
  GRID_LOOP (r, rows) {
    int64_t outer = r / inner, in = r % inner;
    const T *a = x + outer * len * inner + in;
    T *o = y + outer * len * inner + in;
    float mx = -INFINITY;
    for (int64_t i = 0; i < len; i++)
      mx = fmaxf (mx, ld (a, i * inner));
    float sum = 0.f;
    for (int64_t i = 0; i < len; i++)
      sum += expf (ld (a, i * inner) - mx);
    if (log) {
      float ls = logf (sum);
      for (int64_t i = 0; i < len; i++)
        st (o, i * inner, ld (a, i * inner) - mx - ls);
    } else {
      float inv = 1.f / sum;
      for (int64_t i = 0; i < len; i++)
        st (o, i * inner, expf (ld (a, i * inner) - mx) * inv);
    }
  }
}

extern "C" cudaError_t
cnn_cu_softmax (int dt, bool log, const void *x, void *y, int64_t outer, int64_t len, int64_t inner,
    cudaStream_t stream)
{
  if (outer * len * inner <= 0)
    return cudaGetLastError ();
  if (inner == 1 && len >= 64 && outer <= INT32_MAX)
    DISPATCH (dt, softmax_rows_kernel<<<(unsigned) outer, BLOCK, 0, stream>>> (log, (const T *) x, (T *) y,
            len));
  else
    DISPATCH (dt, softmax_strided_kernel<<<grid_for (outer * inner), BLOCK, 0, stream>>> (log, (const T *) x,
            (T *) y, outer * inner, len, inner));
  return cudaGetLastError ();
}

/* ---- pad ---- */

typedef struct {
  int nd;
  int64_t in[CNN_CUDA_MAX_DIMS], out[CNN_CUDA_MAX_DIMS], pad[CNN_CUDA_MAX_DIMS];
} pad_geom;

template <typename T>
__global__ void
pad_kernel (int mode, const T *x, T *y, pad_geom g, float value, int64_t n)
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
    st (y, i, outside ? value : ld (x, src));
  }
}

extern "C" cudaError_t
cnn_cu_pad (int dt, int mode, const void *x, void *y, int nd, const int64_t *in_dims, const int64_t *out_dims,
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
    DISPATCH (dt, pad_kernel<<<grid_for (n), BLOCK, 0, stream>>> (mode, (const T *) x, (T *) y, g, value, n));
  return cudaGetLastError ();
}

/* ---- resize ---- */

template <typename T>
__global__ void
resize2d_kernel (const T *x, T *y, int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
    bool linear, float extrapolation, cnn_cu_resize_tables t)
{
  GRID_LOOP (i, planes * oh * ow) {
    int64_t p = i / (oh * ow), r = i % (oh * ow), yy = r / ow, xx = r % ow;
    if (t.yout[yy] || t.xout[xx]) {
      st (y, i, extrapolation);
      continue;
    }
    const T *src = x + p * ih * iw;
    const T *a = src + (int64_t) t.y0[yy] * iw;
    if (!linear) {
      st (y, i, ld (a, t.x0[xx]));
      continue;
    }
    const T *b = src + (int64_t) t.y1[yy] * iw;
    float wx = t.wx[xx], wy = t.wy[yy];
    float a0 = ld (a, t.x0[xx]), b0 = ld (b, t.x0[xx]);
    float top = a0 + wx * (ld (a, t.x1[xx]) - a0);
    float bot = b0 + wx * (ld (b, t.x1[xx]) - b0);
    st (y, i, top + wy * (bot - top));
  }
}

extern "C" cudaError_t
cnn_cu_resize2d (int dt, const void *x, void *y, int64_t planes, int64_t ih, int64_t iw, int64_t oh,
    int64_t ow, bool linear, float extrapolation, cnn_cu_resize_tables t, cudaStream_t stream)
{
  int64_t n = planes * oh * ow;
  if (n > 0)
    DISPATCH (dt, resize2d_kernel<<<grid_for (n), BLOCK, 0, stream>>> ((const T *) x, (T *) y, planes, ih, iw,
            oh, ow, linear, extrapolation, t));
  return cudaGetLastError ();
}

/* ---- normalization ---- */

/* one block per plane; mean and variance in two passes and in double, as
 * the reference computes them (planes of 10^5 values lose digits in float) */
template <typename T>
__global__ void
instance_norm_kernel (const T *x, T *y, const T *scale, const T *bias, int64_t c, int64_t size, float eps,
    cnn_cu_act f)
{
  int64_t p = blockIdx.x;
  const T *a = x + p * size;
  T *o = y + p * size;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x)
    s += ld (a, i);
  double mean = block_reduce<double> (s, false) / (double) size;
  double v = 0.0;
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x) {
    double d = ld (a, i) - mean;
    v += d * d;
  }
  double var = block_reduce<double> (v, false) / (double) size;
  int64_t ch = p % c;
  /* (x - mean) * k + bias, x - mean rounded once on floats (ops/norm.c) */
  float m = (float) mean, k = (float) (ld (scale, ch) / sqrt (var + eps));
  float b = (float) (ld (bias, ch) - (mean - m) * k);
  for (int64_t i = threadIdx.x; i < size; i += blockDim.x)
    st (o, i, apply (f, (ld (a, i) - m) * k + b));
}

extern "C" cudaError_t
cnn_cu_instance_norm (int dt, const void *x, void *y, const void *scale, const void *bias, int64_t n,
    int64_t c, int64_t size, float eps, cnn_cu_act f, cudaStream_t stream)
{
  if (n * c > INT32_MAX)
    return cudaErrorInvalidValue;
  if (n * c > 0 && size > 0)
    DISPATCH (dt, instance_norm_kernel<<<(unsigned) (n * c), BLOCK, 0, stream>>> ((const T *) x, (T *) y,
            (const T *) scale, (const T *) bias, c, size, eps, f));
  return cudaGetLastError ();
}

template <typename T>
__global__ void
batch_norm_kernel (const T *x, T *y, const T *scale, const T *bias, const T *mean, const T *var,
    int64_t total, int64_t c, int64_t size, float eps, cnn_cu_act f)
{
  GRID_LOOP (i, total) {
    int64_t ch = (i / size) % c;
    float k = ld (scale, ch) / sqrtf (ld (var, ch) + eps);
    st (y, i, apply (f, ld (x, i) * k + (ld (bias, ch) - ld (mean, ch) * k)));
  }
}

extern "C" cudaError_t
cnn_cu_batch_norm (int dt, const void *x, void *y, const void *scale, const void *bias, const void *mean,
    const void *var, int64_t n, int64_t c, int64_t size, float eps, cnn_cu_act f, cudaStream_t stream)
{
  int64_t total = n * c * size;
  if (total > 0)
    DISPATCH (dt, batch_norm_kernel<<<grid_for (total), BLOCK, 0, stream>>> ((const T *) x, (T *) y,
            (const T *) scale, (const T *) bias, (const T *) mean, (const T *) var, total, c, size, eps, f));
  return cudaGetLastError ();
}

/* ---- pre-processing ---- */

__device__ __forceinline__ int
image_comp (const cnn_cu_image &a, int k, int x, int y)
{
  if (a.yuv && k > 0) {
    x >>= 1;
    y >>= 1;
  }
  int p = a.comp_plane[k];
  return a.plane[p][(int64_t) (y - a.row_lo[p]) * a.stride[p] + (int64_t) x * a.comp_pstride[k] + a.comp_offset[k]];
}

__device__ __forceinline__ int
to_byte (float v)
{
  return v <= 0.f ? 0 : v >= 255.f ? 255 : (int) __fadd_rn (v, 0.5f);
}

/* Rounded operations throughout (no fused multiply-adds): the same bits as
 * the CPU reference. */
__device__ void
image_pixel (const cnn_cu_image &a, int x, int y, int rgb[3])
{
  if (!a.yuv) {
    for (int k = 0; k < 3; k++)
      rgb[k] = image_comp (a, k, x, y);
    return;
  }
  const float yy = __fmul_rn (__fsub_rn ((float) image_comp (a, 0, x, y), a.yoff), a.ymul);
  const float u = __fmul_rn (__fsub_rn ((float) image_comp (a, 1, x, y), a.coff), a.cmul);
  const float v = __fmul_rn (__fsub_rn ((float) image_comp (a, 2, x, y), a.coff), a.cmul);
  rgb[0] = to_byte (__fadd_rn (yy, __fmul_rn (a.rv, v)));
  rgb[1] = to_byte (__fadd_rn (__fadd_rn (yy, __fmul_rn (a.gu, u)), __fmul_rn (a.gv, v)));
  rgb[2] = to_byte (__fadd_rn (yy, __fmul_rn (a.bu, u)));
}

__device__ __forceinline__ float
lerp_rn (float a, float b, float w)
{
  return __fadd_rn (a, __fmul_rn (w, __fsub_rn (b, a)));
}

template <typename T>
__global__ void
image_kernel (const cnn_cu_image a, T *y)
{
  int64_t n = (int64_t) a.height * a.width, plane = n;
  GRID_LOOP (at, n) {
    int j = (int) (at / a.width), i = (int) (at % a.width);
    bool inside = a.tab.xin[i] && a.tab.yin[j];
    float v[3];
    if (inside) {
      int p00[3], p01[3], p10[3], p11[3];
      int sx0 = a.rx + a.tab.x0[i], sx1 = a.rx + a.tab.x1[i], sy0 = a.ry + a.tab.y0[j], sy1 = a.ry + a.tab.y1[j];
      image_pixel (a, sx0, sy0, p00);
      image_pixel (a, sx1, sy0, p01);
      image_pixel (a, sx0, sy1, p10);
      image_pixel (a, sx1, sy1, p11);
      float wx = a.tab.wx[i], wy = a.tab.wy[j];
      for (int k = 0; k < 3; k++) {
        /* integer differences, as the reference computes them */
        float top = __fadd_rn ((float) p00[k], __fmul_rn (wx, (float) (p01[k] - p00[k])));
        float bot = __fadd_rn ((float) p10[k], __fmul_rn (wx, (float) (p11[k] - p10[k])));
        v[k] = lerp_rn (top, bot, wy);
      }
    }
    if (a.channels == 1) {
      float g = inside ? __fdiv_rn (__fadd_rn (__fadd_rn (v[0], v[1]), v[2]), 3.f) : 0.f;
      st (y, at, inside ? __fmul_rn (__fsub_rn (g, a.mean[0]), a.inv[0]) : a.pad[0]);
      continue;
    }
    for (int k = 0; k < 3; k++) {
      float val = inside ? __fmul_rn (__fsub_rn (v[a.bgr ? 2 - k : k], a.mean[k]), a.inv[k]) : a.pad[k];
      st (y, a.nhwc ? at * 3 + k : k * plane + at, val);
    }
  }
}

extern "C" cudaError_t
cnn_cu_image_to_tensor (int dt, const cnn_cu_image *a, void *y, cudaStream_t stream)
{
  int64_t n = (int64_t) a->height * a->width;
  if (n > 0)
    DISPATCH (dt, image_kernel<<<grid_for (n), BLOCK, 0, stream>>> (*a, (T *) y));
  return cudaGetLastError ();
}
