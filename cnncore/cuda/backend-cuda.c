/* backend-cuda.c - the CUDA backend: convolutions on cuDNN, GEMMs on cuBLAS,
 * the rest on our kernels (kernels.cu).  Activations live in one device
 * arena planned by the session; constants are uploaded once per plan.  An op
 * without a CUDA kernel runs its reference kernel on the CPU between copies,
 * so every model that runs on the CPU runs here too. */
#include "../ops/geometry.h"
#include "../ops/conv.h"
#include "kernels.h"
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cublas_v2.h>

typedef struct {
  cnn_backend base;
  int device;
  cudaStream_t stream;
  cudnnHandle_t cudnn;
  cublasHandle_t cublas;
  bool tf32;
  /* precision fp16: every float tensor on the device (activations and
   * constants) is stored as half; the session's tensors stay float32 */
  bool half;
  int dt;                       /* cnn_cu_dtype of float tensors on the device */
  char *arena;                  /* the session's arena, for telling device pointers apart */
  size_t arena_size;
  GHashTable *consts;           /* host pointer -> device copy, for this plan */
  void *workspace;              /* cuDNN workspace, grown as plans ask */
  size_t workspace_size;
  void *stage;                  /* float32 staging for converting uploads and downloads */
  size_t stage_size;
  /* cnn_session_detect(): the outputs as float32 (fp16), cnn_cu_detect()'s
   * candidate lists and its IoU bit matrix, grown as asked */
  void *det_in, *det_scratch, *det_mask;
  size_t det_in_size, det_scratch_size, det_mask_size;
  /* channels last (tf32, fp16; CNN_CUDA_NHWC=0: off): tensor cores want
   * NHWC, so chains of 4D convolutions, pools and elementwise ops keep their
   * tensors NHWC; other ops see NCHW copies (see layout_plan) */
  bool nhwc_mode;
  bool plan_nhwc;               /* nhwc_mode, for this plan (see layouts_begin) */
  GHashTable *nhwc;             /* cnn_tensor * stored NHWC in this plan */
  GHashTable *keep_nchw;        /* cnn_tensor * that must stay NCHW: read by aliases, graph outputs */
  GHashTable *own;              /* device buffers of nodes that dev_ptr passes through */
  int n_fallback;               /* nodes of the plan that run on the CPU */
  /* the plan's kernels captured once into a CUDA graph, then replayed:
   * one launch instead of hundreds (CNN_CUDA_GRAPHS=0 turns this off) */
  bool graphs;
  bool fuse;                    /* cuDNN's fused convolution (CNN_CUDA_FUSE=0: off) */
  int plan_runs;                /* runs of this plan so far */
  bool graph_failed;
  cudaGraphExec_t graph;
  /* pre-processing: per batch item, pinned and device memory for the
   * picture's rows and the scaling tables, reused frame after frame */
  struct image_slot {
    void *host, *dev;
    size_t size;
    cudaEvent_t copied;         /* the host memory may be written again */
  } *image_slots;
  int n_image_slots;
} cuda_backend;

/* What one node keeps between runs of a plan (exec->cache). */
typedef struct {
  bool ready, fallback;
  /* convolutions */
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  int algo;
  size_t ws;
  /* bias + ReLU + residual inside cuDNN's call */
  bool fused;
  cudnnActivationDescriptor_t ad;
  cudnnTensorDescriptor_t bd;
  void *zero_bias;
  /* asymmetric pads: Conv pads its input here; ConvTranspose computes its
   * unpadded output here (pad_out: those dims, pad_begin/end: the pads) */
  void *padded;
  int64_t pad_in[5], pad_out[5], pad_begin[5], pad_end[5];
  /* resize tables */
  void *tables;
  cnn_cu_resize_tables rt;
  bool linear;
  float extrapolation;
  /* layouts: the node runs on NHWC data (output 0 NHWC, but for global
   * pools); inputs it reads in the other layout are converted first */
  bool nhwc;
  void *wt;                     /* NHWC convolution: the filter, KRSC */
  int n_relayout;
  struct relayout {
    int k;                      /* input index, -1: the residual */
    bool to_nhwc;
    void *buf;
  } *relayouts;
  cnn_tensor *tin, **pin, tres; /* the inputs as the node reads them */
  bool ran;                     /* has run once (cuDNN's errors show then) */
} node_state;

#define CUDA_TRY(x, call) do { cudaError_t e_ = (call); \
    if (e_ != cudaSuccess) return cnn_exec_fail ((x), CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e_)); \
  } while (0)
#define CUDNN_TRY(x, call) do { cudnnStatus_t s_ = (call); \
    if (s_ != CUDNN_STATUS_SUCCESS) return cnn_exec_fail ((x), CNN_E_BACKEND, "cuDNN: %s", cudnnGetErrorString (s_)); \
  } while (0)
#define CUBLAS_TRY(x, call) do { cublasStatus_t s_ = (call); \
    if (s_ != CUBLAS_STATUS_SUCCESS) return cnn_exec_fail ((x), CNN_E_BACKEND, "cuBLAS: %s", cublasGetStatusString (s_)); \
  } while (0)

static void
device_free (void *p)
{
  cudaFree (p);
}

static void
layout_clear (node_state *s)
{
  for (int i = 0; i < s->n_relayout; i++)
    cudaFree (s->relayouts[i].buf);
  g_clear_pointer (&s->relayouts, g_free);
  g_clear_pointer (&s->tin, g_free);
  g_clear_pointer (&s->pin, g_free);
  s->n_relayout = 0;
}

/* What conv_plan and convt_plan made. */
static void
conv_state_clear (node_state *s)
{
  if (s->xd) cudnnDestroyTensorDescriptor (s->xd);
  if (s->yd) cudnnDestroyTensorDescriptor (s->yd);
  if (s->wd) cudnnDestroyFilterDescriptor (s->wd);
  if (s->cd) cudnnDestroyConvolutionDescriptor (s->cd);
  if (s->padded) cudaFree (s->padded);
  if (s->ad) cudnnDestroyActivationDescriptor (s->ad);
  if (s->bd) cudnnDestroyTensorDescriptor (s->bd);
  if (s->zero_bias) cudaFree (s->zero_bias);
  if (s->wt) cudaFree (s->wt);
  s->xd = s->yd = s->bd = NULL;
  s->wd = NULL;
  s->cd = NULL;
  s->ad = NULL;
  s->padded = s->zero_bias = NULL;
  s->wt = NULL;
  s->fused = false;
}

static void
node_state_free (void *p)
{
  node_state *s = p;
  conv_state_clear (s);
  if (s->tables) cudaFree (s->tables);
  layout_clear (s);
  g_free (s);
}

static size_t
tensor_bytes (const cnn_tensor *t)
{
  return (size_t) cnn_tensor_numel (t) * cnn_dtype_size (t->dtype);
}

/* Whether tensors of @dtype are stored as half on the device. */
static bool
is_half (const cuda_backend *cb, cnn_dtype dtype)
{
  return cb->half && dtype == CNN_DTYPE_FLOAT32;
}

/* Bytes of one element of @dtype on the device. */
static size_t
dev_elem (const cuda_backend *cb, cnn_dtype dtype)
{
  return is_half (cb, dtype) ? 2 : cnn_dtype_size (dtype);
}

static size_t
dev_bytes (const cuda_backend *cb, const cnn_tensor *t)
{
  return (size_t) cnn_tensor_numel (t) * dev_elem (cb, t->dtype);
}

static cudaError_t
grow_stage (cuda_backend *cb, size_t size)
{
  return cnn_cu_grow (&cb->stage, &cb->stage_size, size, cb->stream);
}

/* Host data (as the session holds it) to device memory (as this backend
 * stores it): float32 goes through the staging buffer into half at fp16. */
static cudaError_t
upload (cuda_backend *cb, void *dst, const void *src, cnn_dtype dtype, int64_t numel)
{
  size_t bytes = (size_t) numel * cnn_dtype_size (dtype);
  if (!is_half (cb, dtype))
    return cudaMemcpyAsync (dst, src, bytes, cudaMemcpyHostToDevice, cb->stream);
  cudaError_t e = grow_stage (cb, bytes);
  if (e == cudaSuccess)
    e = cudaMemcpyAsync (cb->stage, src, bytes, cudaMemcpyHostToDevice, cb->stream);
  if (e == cudaSuccess)
    e = cnn_cu_convert (CNN_CU_F32, cb->stage, CNN_CU_F16, dst, numel, cb->stream);
  return e;
}

/* The reverse of upload; the copy is complete when the stream is. */
static cudaError_t
download (cuda_backend *cb, void *dst, const void *src, cnn_dtype dtype, int64_t numel)
{
  size_t bytes = (size_t) numel * cnn_dtype_size (dtype);
  if (!is_half (cb, dtype))
    return cudaMemcpyAsync (dst, src, bytes, cudaMemcpyDeviceToHost, cb->stream);
  cudaError_t e = grow_stage (cb, bytes);
  if (e == cudaSuccess)
    e = cnn_cu_convert (CNN_CU_F16, src, CNN_CU_F32, cb->stage, numel, cb->stream);
  if (e == cudaSuccess)
    e = cudaMemcpyAsync (dst, cb->stage, bytes, cudaMemcpyDeviceToHost, cb->stream);
  return e;
}

/* The device address of a tensor's data: in the arena already, or a constant
 * uploaded at its first use in this plan. */
static cnn_status
dev_ptr (cuda_backend *cb, cnn_exec *x, const cnn_tensor *t, void **out)
{
  char *p = t->data;
  if ((p >= cb->arena && p < cb->arena + cb->arena_size) || g_hash_table_contains (cb->own, p)) {
    *out = p;
    return CNN_OK;
  }
  void *d = g_hash_table_lookup (cb->consts, p);
  if (!d) {
    size_t bytes = MAX (dev_bytes (cb, t), 1);
    CUDA_TRY (x, cudaMalloc (&d, bytes));
    cudaError_t e = upload (cb, d, p, t->dtype, cnn_tensor_numel (t));
    if (e != cudaSuccess) {
      cudaFree (d);
      return cnn_exec_fail (x, CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
    }
    g_hash_table_insert (cb->consts, p, d);
  }
  *out = d;
  return CNN_OK;
}

#define DEV(x, t, var) do { cnn_status st_ = dev_ptr (cb, (x), (t), (void **) &(var)); \
    if (st_) return st_; } while (0)

/* NCHW <-> NHWC copy of the 4D tensor @t (dims in NCHW order). */
static cudaError_t
relayout_copy (cuda_backend *cb, void *dst, const void *src, const cnn_tensor *t, bool to_nhwc)
{
  int64_t n = t->dims[0], c = t->dims[1], h = t->dims[2], w = t->dims[3];
  int64_t nhwc_dims[4] = { n, h, w, c }, nchw_strides_of_nhwc[4] = { c * h * w, w, 1, h * w };
  int64_t nchw_dims[4] = { n, c, h, w }, nhwc_strides_of_nchw[4] = { h * w * c, 1, w * c, c };
  const int64_t *dims = to_nhwc ? nhwc_dims : nchw_dims;
  const int64_t *sstr = to_nhwc ? nchw_strides_of_nhwc : nhwc_strides_of_nchw;
  cnn_cu_view vd = { 4 }, vs = { 4 };
  int64_t step = 1;
  for (int d = 3; d >= 0; d--) {
    vd.dims[d] = vs.dims[d] = dims[d];
    vd.stride[d] = step;
    vs.stride[d] = sstr[d];
    step *= dims[d];
  }
  return cnn_cu_copy (dst, vd, src, vs, n * c * h * w, (int) dev_elem (cb, t->dtype), cb->stream);
}

static cnn_cu_act
act_of (const cnn_act *a)
{
  cnn_cu_act f = { (int) a->type, a->alpha, a->beta, 0.f };
  return f;
}

static cnn_status
grow_workspace (cuda_backend *cb, cnn_exec *x, size_t size)
{
  if (size <= cb->workspace_size)
    return CNN_OK;
  CUDA_TRY (x, cudaStreamSynchronize (cb->stream));
  if (cb->workspace)
    cudaFree (cb->workspace);
  cb->workspace = NULL;
  cb->workspace_size = 0;
  CUDA_TRY (x, cudaMalloc (&cb->workspace, size));
  cb->workspace_size = size;
  return CNN_OK;
}

/* ---- convolutions (cuDNN) ---- */

static int64_t
dims_numel (const int64_t *dims, int nd)
{
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= dims[i];
  return n;
}

static cudnnDataType_t
cudnn_type (const cuda_backend *cb)
{
  return cb->half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

static cnn_status
set_nd (cuda_backend *cb, cnn_exec *x, cudnnTensorDescriptor_t *d, int nd, const int64_t *dims64, bool nhwc)
{
  int dims[5], strides[5];
  for (int i = 0; i < nd; i++) {
    if (dims64[i] > INT32_MAX)
      return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "dim %d is too large for cuDNN", i);
    dims[i] = (int) dims64[i];
  }
  if (dims_numel (dims64, nd) > INT32_MAX)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "tensor too large for cuDNN's descriptors");
  strides[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; i--)
    strides[i] = strides[i + 1] * dims[i + 1];
  if (nhwc && nd == 4) {
    strides[1] = 1;
    strides[3] = dims[1];
    strides[2] = dims[3] * dims[1];
    strides[0] = dims[2] * strides[2];
  }
  CUDNN_TRY (x, cudnnCreateTensorDescriptor (d));
  CUDNN_TRY (x, cudnnSetTensorNdDescriptor (*d, cudnn_type (cb), nd, dims, strides));
  return CNN_OK;
}

/* Tensor dims as cuDNN sees them: 1D and 2D as 4D, 3D as 5D. */
static int
conv_dims (const cnn_window *w, int64_t n, int64_t c, const int64_t *sp, int64_t *dims)
{
  dims[0] = n;
  dims[1] = c;
  if (w->nsp <= 2) {
    dims[2] = sp[1];
    dims[3] = sp[2];
    return 4;
  }
  dims[2] = sp[0];
  dims[3] = sp[1];
  dims[4] = sp[2];
  return 5;
}

static cnn_status
conv_describe (cuda_backend *cb, cnn_exec *x, node_state *s, const cnn_window *w, int64_t group,
    const int64_t *xdims, int nd, const int64_t *ydims, const cnn_tensor *W, bool symmetric_pads)
{
  cnn_status st;
  int wdims[5], pad[3], stride[3], dil[3], nsp = nd - 2, off = 3 - nsp;
  if ((st = set_nd (cb, x, &s->xd, nd, xdims, s->nhwc)) || (st = set_nd (cb, x, &s->yd, nd, ydims, s->nhwc)))
    return st;
  wdims[0] = (int) W->dims[0];
  wdims[1] = (int) W->dims[1];
  for (int i = 0; i < nsp; i++) {
    wdims[2 + i] = (int) w->kernel[off + i];
    pad[i] = symmetric_pads ? (int) w->pad0[off + i] : 0;
    stride[i] = (int) w->stride[off + i];
    dil[i] = (int) w->dil[off + i];
  }
  CUDNN_TRY (x, cudnnCreateFilterDescriptor (&s->wd));
  CUDNN_TRY (x, cudnnSetFilterNdDescriptor (s->wd, cudnn_type (cb), s->nhwc ? CUDNN_TENSOR_NHWC :
          CUDNN_TENSOR_NCHW, nd, wdims));
  CUDNN_TRY (x, cudnnCreateConvolutionDescriptor (&s->cd));
  CUDNN_TRY (x, cudnnSetConvolutionNdDescriptor (s->cd, nsp, pad, stride, dil, CUDNN_CROSS_CORRELATION,
          CUDNN_DATA_FLOAT));
  CUDNN_TRY (x, cudnnSetConvolutionGroupCount (s->cd, (int) group));
  /* accumulation in float always; tensor cores for tf32 and fp16 */
  CUDNN_TRY (x, cudnnSetConvolutionMathType (s->cd, cb->tf32 || cb->half ? CUDNN_TENSOR_OP_MATH :
          CUDNN_FMA_MATH));
  return CNN_OK;
}

/* Takes the entry of cudnnFind's results (fastest first) for the node:
 * on tensor cores where the precision allows them, for Find's timings are
 * noisy enough to rank a plain FMA kernel first, which then runs several
 * times slower.  The algorithm was timed with its math type, which the
 * descriptor must then carry, or cuDNN runs another kernel.  A macro
 * (reading `cb`): the forward and backward-data results have different
 * types. */
#define USE_ALGO(x, s, perf, found, what) do { \
    int k_ = -1; \
    for (int j_ = 0; j_ < (found); j_++) { \
      if ((perf)[j_].status != CUDNN_STATUS_SUCCESS) \
        continue; \
      bool tc_ = (perf)[j_].mathType != CUDNN_DEFAULT_MATH && (perf)[j_].mathType != CUDNN_FMA_MATH; \
      if (k_ < 0) \
        k_ = j_; \
      if (tc_ && (cb->tf32 || cb->half)) { \
        k_ = j_; \
        break; \
      } \
    } \
    if (k_ < 0) \
      return cnn_exec_fail ((x), CNN_E_BACKEND, "cuDNN has no algorithm for this " what); \
    g_debug ("%s: cuDNN algorithm %d, math type %d, %.3f ms in cudnnFind", (x)->node->name, \
        (int) (perf)[k_].algo, (int) (perf)[k_].mathType, (perf)[k_].time); \
    (s)->algo = (perf)[k_].algo; \
    (s)->ws = (perf)[k_].memory; \
    if (cb->tf32 || cb->half) \
      CUDNN_TRY ((x), cudnnSetConvolutionMathType ((s)->cd, (perf)[k_].mathType)); \
  } while (0)

static cnn_status
conv_plan (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  cnn_window w;
  cnn_status st = cnn_conv_geometry (x, &w);
  if (st)
    return st;
  const cnn_conv_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1];
  int64_t xdims[5], ydims[5], sp_in[3], sp_out[3];
  bool symmetric = true;
  for (int i = 0; i < 3; i++) {
    symmetric &= w.pad0[i] == w.pad1[i];
    sp_in[i] = w.in[i] + (w.pad0[i] + w.pad1[i]);
    sp_out[i] = w.out[i];
  }
  s->nhwc &= symmetric;         /* the pad copy below is NCHW */
  int nd = conv_dims (&w, X->dims[0], X->dims[1], symmetric ? w.in : sp_in, xdims);
  conv_dims (&w, X->dims[0], W->dims[0], sp_out, ydims);
  if (!symmetric) {
    /* cuDNN pads symmetrically: pad into a buffer first */
    int64_t pb[3] = { w.pad0[0], w.pad0[1], w.pad0[2] };
    conv_dims (&w, X->dims[0], X->dims[1], w.in, s->pad_in);
    conv_dims (&w, X->dims[0], X->dims[1], sp_in, s->pad_out);
    int64_t zero[2] = { 0, 0 };
    conv_dims (&w, zero[0], zero[1], pb, s->pad_begin);
    CUDA_TRY (x, cudaMalloc ((void **) &s->padded, dims_numel (s->pad_out, nd) * dev_elem (cb, X->dtype)));
  }
  if ((st = conv_describe (cb, x, s, &w, p->group, xdims, nd, ydims, W, symmetric)))
    return st;
  if (s->nhwc) {
    void *wd;
    DEV (x, W, wd);
    CUDA_TRY (x, cudaMalloc (&s->wt, dev_bytes (cb, W)));
    CUDA_TRY (x, relayout_copy (cb, s->wt, wd, W, true));
  }
  /* pick the fastest algorithm for this shape once, by running them */
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int found = 0;
  CUDNN_TRY (x, cudnnFindConvolutionForwardAlgorithm (cb->cudnn, s->xd, s->wd, s->cd, s->yd,
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf));
  USE_ALGO (x, s, perf, found, "convolution");
  /* cuDNN adds bias, residual and ReLU in the convolution's own call for
   * ReLU always, and for no activation with the implicit-GEMM algorithm */
  bool relu = x->act.type == CNN_ACT_RELU;
  if (cb->fuse && (relu || (x->act.type == CNN_ACT_NONE && s->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM))) {
    int64_t bdims[5] = { 1, W->dims[0], 1, 1, 1 };
    CUDNN_TRY (x, cudnnCreateActivationDescriptor (&s->ad));
    CUDNN_TRY (x, cudnnSetActivationDescriptor (s->ad, relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
            CUDNN_PROPAGATE_NAN, 0.0));
    if ((st = set_nd (cb, x, &s->bd, nd, bdims, false)))
      return st;
    if (x->n_in < 3 || !x->in[2]) {
      CUDA_TRY (x, cudaMalloc ((void **) &s->zero_bias, W->dims[0] * sizeof (float)));
      /* zero bits are 0 in half too */
      CUDA_TRY (x, cudaMemsetAsync (s->zero_bias, 0, W->dims[0] * sizeof (float), cb->stream));
    }
    s->fused = true;
  }
  return grow_workspace (cb, x, s->ws);
}

static cnn_status
conv_run (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  const float one = 1.f, zero = 0.f;
  void *X = NULL, *W = NULL, *Y = NULL, *B = NULL, *R = NULL;
  DEV (x, x->in[0], X);
  DEV (x, x->in[1], W);
  DEV (x, x->out[0], Y);
  if (x->n_in > 2 && x->in[2])
    DEV (x, x->in[2], B);
  if (x->residual)
    DEV (x, x->residual, R);
  if (s->wt)
    W = s->wt;
  if (s->padded) {
    int nd = x->in[0]->ndim <= 4 ? 4 : 5;
    CUDA_TRY (x, cnn_cu_pad (cb->dt, CNN_PAD_CONSTANT, X, s->padded, nd, s->pad_in, s->pad_out, s->pad_begin, 0.f,
            dims_numel (s->pad_out, nd), cb->stream));
    X = s->padded;
  }
  if (s->fused) {
    /* y = act(conv(x) + alpha2 * z + bias): z is the residual, or y itself with alpha2 0 */
    CUDNN_TRY (x, cudnnConvolutionBiasActivationForward (cb->cudnn, &one, s->xd, X, s->wd, W, s->cd,
            s->algo, cb->workspace, s->ws, R ? &one : &zero, s->yd, R ? R : Y, s->bd,
            B ? B : s->zero_bias, s->ad, s->yd, Y));
    return CNN_OK;
  }
  CUDNN_TRY (x, cudnnConvolutionForward (cb->cudnn, &one, s->xd, X, s->wd, W, s->cd, s->algo,
          cb->workspace, s->ws, &zero, s->yd, Y));
  if (B || R || x->act.type != CNN_ACT_NONE) {
    const cnn_tensor *O = x->out[0];
    /* NHWC: the channel is the innermost index */
    CUDA_TRY (x, cnn_cu_bias_act (cb->dt, Y, B, R, cnn_tensor_numel (O), O->dims[1],
            s->nhwc ? 1 : cnn_dims_prod (O, 2, O->ndim), act_of (&x->act), cb->stream));
  }
  return CNN_OK;
}

static cnn_status
convt_plan (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  cnn_convt_sizes z;
  cnn_status st = cnn_conv_transpose_sizes (x, &z);
  if (st)
    return st;
  const cnn_window *w = &z.w;
  bool symmetric = true;
  int64_t full[3], begin[3];
  for (int i = 0; i < 3; i++) {
    symmetric &= w->pad0[i] == w->pad1[i];
    full[i] = w->in[i] + w->pad0[i] + w->pad1[i];
    begin[i] = w->pad0[i];
  }
  /* ConvTranspose is the data gradient of a Conv from our output to our
   * input: its weight (C, M/group, k...) is that Conv's filter as it is.
   * cuDNN pads symmetrically: with other pads, compute the whole unpadded
   * output and copy the window out of it. */
  int64_t xdims[5], ydims[5];
  int nd = conv_dims (w, z.N, z.M, symmetric ? w->in : full, xdims);
  conv_dims (w, z.N, z.C, w->out, ydims);
  if (!symmetric) {
    memcpy (s->pad_out, xdims, sizeof xdims);
    int64_t zero[2] = { 0, 0 };
    conv_dims (w, zero[0], zero[1], begin, s->pad_begin);
    int64_t end[3] = { w->pad1[0], w->pad1[1], w->pad1[2] };
    conv_dims (w, zero[0], zero[1], end, s->pad_end);
    CUDA_TRY (x, cudaMalloc ((void **) &s->padded, dims_numel (xdims, nd) * dev_elem (cb, x->out[0]->dtype)));
  }
  if ((st = conv_describe (cb, x, s, w, z.group, xdims, nd, ydims, x->in[1], symmetric)))
    return st;
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int found = 0;
  CUDNN_TRY (x, cudnnFindConvolutionBackwardDataAlgorithm (cb->cudnn, s->wd, s->yd, s->cd, s->xd,
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, perf));
  USE_ALGO (x, s, perf, found, "transposed convolution");
  return grow_workspace (cb, x, s->ws);
}

static cnn_status
convt_run (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  const float one = 1.f, zero = 0.f;
  void *X = NULL, *W = NULL, *Y = NULL, *B = NULL;
  DEV (x, x->in[0], X);
  DEV (x, x->in[1], W);
  DEV (x, x->out[0], Y);
  if (x->n_in > 2 && x->in[2])
    DEV (x, x->in[2], B);
  /* xd describes our output (or its unpadded whole), yd our input */
  CUDNN_TRY (x, cudnnConvolutionBackwardData (cb->cudnn, &one, s->wd, W, s->yd, X, s->cd, s->algo,
          cb->workspace, s->ws, &zero, s->xd, s->padded ? s->padded : Y));
  if (s->padded) {
    const cnn_tensor *O = x->out[0];
    int nd = O->ndim <= 4 ? 4 : 5;
    cnn_cu_view vd = { nd }, vs = { nd };
    int64_t off = 0, st = 1;
    for (int i = nd - 1; i >= 0; i--) {
      vs.stride[i] = st;
      off += s->pad_begin[i] * st;
      st *= s->pad_out[i];
    }
    /* our output's dims as cuDNN sees them (1D as 2D) */
    st = 1;
    for (int i = nd - 1; i >= 0; i--) {
      vd.dims[i] = vs.dims[i] = i < 2 ? s->pad_out[i] : s->pad_out[i] - s->pad_begin[i] - s->pad_end[i];
      vd.stride[i] = st;
      st *= vd.dims[i];
    }
    size_t es = dev_elem (cb, O->dtype);
    CUDA_TRY (x, cnn_cu_copy (Y, vd, (char *) s->padded + off * es, vs, cnn_tensor_numel (O), (int) es,
            cb->stream));
  }
  if (B || x->act.type != CNN_ACT_NONE) {
    const cnn_tensor *O = x->out[0];
    CUDA_TRY (x, cnn_cu_bias_act (cb->dt, Y, B, NULL, cnn_tensor_numel (O), O->dims[1],
            cnn_dims_prod (O, 2, O->ndim), act_of (&x->act), cb->stream));
  }
  return CNN_OK;
}

/* ---- GEMMs (cuBLAS) ---- */

/* Row-major Y[M,N] = op(A) op(B), through column-major Y^T = op(B)^T op(A)^T;
 * half data accumulates in float on the tensor cores. */
static cnn_status
gemm_rm (cuda_backend *cb, cnn_exec *x, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
    const void *A, const void *B, void *Y)
{
  const float zero = 0.f;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "matrix too large for cuBLAS");
  cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  int lda = tb ? (int) K : (int) N, ldb = ta ? (int) M : (int) K;
  if (cb->half)
    CUBLAS_TRY (x, cublasGemmEx (cb->cublas, opa, opb, (int) N, (int) M, (int) K, &alpha, B, CUDA_R_16F, lda,
            A, CUDA_R_16F, ldb, &zero, Y, CUDA_R_16F, (int) N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  else
    CUBLAS_TRY (x, cublasSgemm (cb->cublas, opa, opb, (int) N, (int) M, (int) K, &alpha, B, lda, A, ldb,
            &zero, Y, (int) N));
  return CNN_OK;
}

static cnn_status
gemm_run (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  const cnn_gemm_params *p = x->params;
  const cnn_tensor *A = x->in[0], *O = x->out[0];
  const cnn_tensor *C = x->n_in > 2 ? x->in[2] : NULL;
  int64_t M = O->dims[0], N = O->dims[1], K = p->trans_a ? A->dims[0] : A->dims[1];
  void *a = NULL, *b = NULL, *y = NULL, *c = NULL;
  DEV (x, x->in[0], a);
  DEV (x, x->in[1], b);
  DEV (x, x->out[0], y);
  cnn_status st = gemm_rm (cb, x, p->trans_a, p->trans_b, M, N, K, p->alpha, a, b, y);
  if (st)
    return st;
  int64_t sm = 0, sn = 0;
  if (C && p->beta != 0.f && cnn_tensor_numel (C) > 0) {
    int64_t str[CNN_MAX_DIMS];
    cnn_bcast_strides (C, O, str);
    sm = str[0];
    sn = str[1];
    DEV (x, C, c);
  }
  if (c || x->act.type != CNN_ACT_NONE)
    CUDA_TRY (x, cnn_cu_gemm_bias (cb->dt, y, c, M, N, sm, sn, p->beta, act_of (&x->act), cb->stream));
  return CNN_OK;
}

static cnn_status
matmul_run (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  cnn_matmul_geom g;
  cnn_status st = cnn_matmul_geometry (x, &g);
  if (st)
    return st;
  char *a = NULL, *b = NULL, *y = NULL;
  size_t es = dev_elem (cb, x->out[0]->dtype);
  DEV (x, x->in[0], a);
  DEV (x, x->in[1], b);
  DEV (x, x->out[0], y);
  bool b_shared = true, a_linear = true;
  for (int64_t bi = 0; bi < g.batch && (b_shared || a_linear); bi++) {
    int64_t oa, ob;
    cnn_matmul_batch_offsets (&g, bi, &oa, &ob);
    b_shared &= ob == 0;
    a_linear &= oa == bi;
  }
  if (b_shared && a_linear) {
    /* one weight for the whole batch: one GEMM of batch*M rows */
    st = gemm_rm (cb, x, false, false, g.batch * g.M, g.N, g.K, 1.f, a, b, y);
  } else {
    for (int64_t bi = 0; bi < g.batch && st == CNN_OK; bi++) {
      int64_t oa, ob;
      cnn_matmul_batch_offsets (&g, bi, &oa, &ob);
      st = gemm_rm (cb, x, false, false, g.M, g.N, g.K, 1.f, a + oa * g.M * g.K * es,
          b + ob * g.K * g.N * es, y + bi * g.M * g.N * es);
    }
  }
  if (st == CNN_OK && x->act.type != CNN_ACT_NONE)
    CUDA_TRY (x, cnn_cu_unary (cb->dt, y, y, cnn_tensor_numel (x->out[0]), act_of (&x->act), cb->stream));
  return st;
}

/* ---- everything else ---- */

static cnn_cu_view
view_of (const cnn_tensor *t, const cnn_tensor *shape)
{
  cnn_cu_view v = { shape->ndim };
  cnn_bcast_strides (t, shape, v.stride);
  memcpy (v.dims, shape->dims, sizeof (int64_t) * shape->ndim);
  return v;
}

static int
unary_func (cnn_op op)
{
  switch (op) {
    case CNN_OP_RELU: return CNN_CU_RELU;
    case CNN_OP_LEAKY_RELU: return CNN_CU_LEAKY_RELU;
    case CNN_OP_SIGMOID: return CNN_CU_SIGMOID;
    case CNN_OP_TANH: return CNN_CU_TANH;
    case CNN_OP_HARD_SIGMOID: return CNN_CU_HARD_SIGMOID;
    case CNN_OP_HARD_SWISH: return CNN_CU_HARD_SWISH;
    case CNN_OP_ELU: return CNN_CU_ELU;
    case CNN_OP_SELU: return CNN_CU_SELU;
    case CNN_OP_SOFTPLUS: return CNN_CU_SOFTPLUS;
    case CNN_OP_MISH: return CNN_CU_MISH;
    case CNN_OP_EXP: return CNN_CU_EXP;
    case CNN_OP_LOG: return CNN_CU_LOG;
    case CNN_OP_SQRT: return CNN_CU_SQRT;
    case CNN_OP_ABS: return CNN_CU_ABS;
    case CNN_OP_NEG: return CNN_CU_NEG;
    case CNN_OP_RECIPROCAL: return CNN_CU_RECIPROCAL;
    case CNN_OP_FLOOR: return CNN_CU_FLOOR;
    case CNN_OP_CEIL: return CNN_CU_CEIL;
    case CNN_OP_ERF: return CNN_CU_ERF;
    default: return -1;
  }
}

static int
binary_op (cnn_op op)
{
  switch (op) {
    case CNN_OP_ADD: return CNN_CU_ADD;
    case CNN_OP_SUB: return CNN_CU_SUB;
    case CNN_OP_MUL: return CNN_CU_MUL;
    case CNN_OP_DIV: return CNN_CU_DIV;
    case CNN_OP_POW: return CNN_CU_POW;
    case CNN_OP_MAX: return CNN_CU_MAX;
    case CNN_OP_MIN: return CNN_CU_MIN;
    case CNN_OP_SUM: return CNN_CU_ADD;
    case CNN_OP_PRELU: return CNN_CU_PRELU;
    default: return -1;
  }
}

static bool
is_alias_op (cnn_op op)
{
  return op == CNN_OP_RESHAPE || op == CNN_OP_FLATTEN || op == CNN_OP_SQUEEZE ||
      op == CNN_OP_UNSQUEEZE || op == CNN_OP_IDENTITY || op == CNN_OP_DROPOUT;
}

static bool
all_float (const cnn_exec *x)
{
  for (int k = 0; k < x->n_in; k++)
    if (x->in[k] && x->in[k]->dtype != CNN_DTYPE_FLOAT32)
      return false;
  for (int k = 0; k < x->n_out; k++)
    if (x->out[k] && x->out[k]->dtype != CNN_DTYPE_FLOAT32)
      return false;
  return true;
}

/* Whether a CUDA kernel runs this node (else: the CPU reference). */
static bool
cuda_supports_op (cnn_backend *b, const cnn_exec *x)
{
  cnn_op op = x->node->op;
  if (is_alias_op (op))
    return x->n_out == 1 || !x->out[1];
  if (op == CNN_OP_CONCAT || op == CNN_OP_TRANSPOSE || op == CNN_OP_SLICE)
    return cnn_dtype_size (x->out[0]->dtype) > 0 && x->out[0]->ndim <= CNN_CUDA_MAX_DIMS;
  if (!all_float (x))
    return false;
  if (unary_func (op) >= 0)
    return true;
  if (binary_op (op) >= 0)
    return x->n_in == 2 && x->in[0] && x->in[1];
  switch (op) {
    case CNN_OP_CONV: case CNN_OP_CONV_TRANSPOSE:
      return x->in[0]->ndim >= 3 && x->in[0]->ndim <= 5;
    case CNN_OP_CLIP:
      /* the bounds are read on the host: they must be constants */
      return (x->n_in < 2 || !x->in[1] || x->in_const[1]) && (x->n_in < 3 || !x->in[2] || x->in_const[2]);
    case CNN_OP_GEMM: case CNN_OP_MATMUL:
    case CNN_OP_MAX_POOL: case CNN_OP_AVERAGE_POOL: case CNN_OP_GLOBAL_AVG_POOL: case CNN_OP_GLOBAL_MAX_POOL:
    case CNN_OP_SOFTMAX: case CNN_OP_LOG_SOFTMAX: case CNN_OP_PAD:
      return true;
    case CNN_OP_INSTANCE_NORM: case CNN_OP_BATCH_NORM:
      return x->in[0]->ndim >= 2;
    case CNN_OP_RESIZE: case CNN_OP_UPSAMPLE:
      return true;              /* image-like resizes; others fall back at plan time */
    case CNN_OP_AFFINE:
      return true;
    case CNN_OP_IMAGE_SCALER: case CNN_OP_CROP:
      return x->in[0]->ndim == 4;
    default:
      return false;
  }
}

static cnn_status
resize_plan (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  cnn_resize_tables t;
  if (!cnn_resize_tables_new (x, &t)) {
    s->fallback = true;
    return CNN_OK;
  }
  /* one device block: int indices, float weights, byte flags */
  size_t ny = t.oh, nx = t.ow;
  size_t bytes = (2 * ny + 2 * nx) * sizeof (int) + (ny + nx) * sizeof (float) + ny + nx;
  char *host = g_malloc (bytes);
  int *y0 = (int *) host, *y1 = y0 + ny, *x0 = y1 + ny, *x1 = x0 + nx;
  float *wy = (float *) (x1 + nx), *wx = wy + ny;
  unsigned char *yo = (unsigned char *) (wx + nx), *xo = yo + ny;
  for (size_t i = 0; i < ny; i++) {
    y0[i] = (int) t.y0[i]; y1[i] = (int) t.y1[i]; wy[i] = t.wy[i]; yo[i] = t.yout[i];
  }
  for (size_t i = 0; i < nx; i++) {
    x0[i] = (int) t.x0[i]; x1[i] = (int) t.x1[i]; wx[i] = t.wx[i]; xo[i] = t.xout[i];
  }
  s->linear = t.linear;
  s->extrapolation = t.extrapolation;
  cnn_resize_tables_clear (&t);
  cudaError_t e = cudaMalloc (&s->tables, bytes);
  if (e == cudaSuccess)
    e = cudaMemcpyAsync (s->tables, host, bytes, cudaMemcpyHostToDevice, cb->stream);
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (cb->stream);
  if (e == cudaSuccess) {
    char *d = s->tables;
    s->rt.y0 = (const int *) d;
    s->rt.y1 = s->rt.y0 + ny;
    s->rt.x0 = s->rt.y1 + ny;
    s->rt.x1 = s->rt.x0 + nx;
    s->rt.wy = (const float *) (s->rt.x1 + nx);
    s->rt.wx = s->rt.wy + ny;
    s->rt.yout = (const unsigned char *) (s->rt.wx + nx);
    s->rt.xout = s->rt.yout + ny;
  }
  g_free (host);
  if (e != cudaSuccess)
    return cnn_exec_fail (x, CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
  return CNN_OK;
}

static cnn_status
run_native (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  cnn_op op = x->node->op;
  cudaStream_t st = cb->stream;
  const cnn_tensor *I = x->in[0], *O = x->out[0];
  int64_t n = cnn_tensor_numel (O);
  void *in0 = NULL, *out0 = NULL;
  DEV (x, I, in0);
  DEV (x, O, out0);
  void *xi = in0, *yo = out0;
  int dt = cb->dt;

  if (op == CNN_OP_CONV)
    return conv_run (cb, x, s);
  if (op == CNN_OP_CONV_TRANSPOSE)
    return convt_run (cb, x, s);
  if (op == CNN_OP_GEMM)
    return gemm_run (cb, x, s);
  if (op == CNN_OP_MATMUL)
    return matmul_run (cb, x, s);
  if (is_alias_op (op)) {
    if (in0 != out0)
      CUDA_TRY (x, cudaMemcpyAsync (out0, in0, dev_bytes (cb, O), cudaMemcpyDeviceToDevice, st));
    return CNN_OK;
  }
  int f = unary_func (op);
  if (f >= 0) {
    const cnn_unary_params *p = x->params;
    cnn_cu_act a = { f, p->alpha, p->beta, p->gamma };
    CUDA_TRY (x, cnn_cu_unary (dt, xi, yo, n, a, st));
    return CNN_OK;
  }
  int bop = binary_op (op);
  if (bop >= 0) {
    void *b;
    cnn_tensor tmp;
    DEV (x, x->in[1], b);
    const cnn_tensor *B = op == CNN_OP_PRELU ? cnn_prelu_slope_view (x, &tmp) : x->in[1];
    CUDA_TRY (x, cnn_cu_binary (dt, bop, xi, view_of (I, O), b, view_of (B, O), yo, n, st));
    return CNN_OK;
  }
  switch (op) {
    case CNN_OP_AFFINE: {
      const cnn_legacy_params *p = x->params;
      cnn_cu_act a = { CNN_CU_AFFINE, p->alpha, p->beta, 0 };
      CUDA_TRY (x, cnn_cu_unary (dt, xi, yo, n, a, st));
      return CNN_OK;
    }
    case CNN_OP_IMAGE_SCALER: {
      const cnn_legacy_params *p = x->params;
      CUDA_TRY (x, cnn_cu_scale_bias (dt, xi, yo, n, I->dims[1], I->dims[2] * I->dims[3], p->scale, p->bias,
              p->n_bias, st));
      return CNN_OK;
    }
    case CNN_OP_CROP: {
      const cnn_legacy_params *p = x->params;
      cnn_cu_view vd = { 4 }, vs = { 4 };
      cnn_strides (O, vd.stride);
      cnn_strides (I, vs.stride);
      memcpy (vd.dims, O->dims, sizeof (int64_t) * 4);
      memcpy (vs.dims, O->dims, sizeof (int64_t) * 4);
      size_t es = dev_elem (cb, I->dtype);
      CUDA_TRY (x, cnn_cu_copy (out0, vd, (char *) xi + (p->border[1] * I->dims[3] + p->border[0]) * es, vs,
              n, (int) es, st));
      return CNN_OK;
    }
    case CNN_OP_CLIP: {
      cnn_cu_act a = { CNN_CU_CLIP, 0, 0, 0 };
      cnn_clip_bounds (x, &a.alpha, &a.beta);
      CUDA_TRY (x, cnn_cu_unary (dt, xi, yo, n, a, st));
      return CNN_OK;
    }
    case CNN_OP_MAX_POOL: case CNN_OP_AVERAGE_POOL: {
      cnn_window w;
      cnn_status r = cnn_pool_geometry (x, &w);
      if (r)
        return r;
      cnn_cu_window cw;
      for (int i = 0; i < 3; i++) {
        cw.in[i] = w.in[i]; cw.out[i] = w.out[i]; cw.kernel[i] = w.kernel[i];
        cw.stride[i] = w.stride[i]; cw.dil[i] = w.dil[i]; cw.pad0[i] = w.pad0[i]; cw.pad1[i] = w.pad1[i];
      }
      CUDA_TRY (x, cnn_cu_pool (dt, op == CNN_OP_MAX_POOL, cnn_pool_count_include_pad (x), xi, yo,
              s->nhwc ? I->dims[0] : I->dims[0] * I->dims[1], s->nhwc ? I->dims[1] : 0, cw, st));
      return CNN_OK;
    }
    case CNN_OP_GLOBAL_AVG_POOL: case CNN_OP_GLOBAL_MAX_POOL:
      CUDA_TRY (x, cnn_cu_global_pool (dt, op == CNN_OP_GLOBAL_MAX_POOL, xi, yo,
              s->nhwc ? I->dims[0] : I->dims[0] * I->dims[1], s->nhwc ? I->dims[1] : 0,
              cnn_dims_prod (I, 2, I->ndim), st));
      return CNN_OK;
    case CNN_OP_SOFTMAX: case CNN_OP_LOG_SOFTMAX: {
      int64_t len, inner;
      cnn_softmax_dims (x, &len, &inner);
      int64_t total = cnn_tensor_numel (I);
      CUDA_TRY (x, cnn_cu_softmax (dt, op == CNN_OP_LOG_SOFTMAX, xi, yo, len * inner > 0 ? total / (len * inner) : 0,
              len, inner, st));
      return CNN_OK;
    }
    case CNN_OP_PAD: {
      int64_t pads[2 * CNN_MAX_DIMS];
      double value;
      cnn_status r = cnn_pad_resolve (x, pads, &value);
      if (r)
        return r;
      CUDA_TRY (x, cnn_cu_pad (dt, cnn_pad_mode (x), xi, yo, I->ndim, I->dims, O->dims, pads, (float) value, n, st));
      return CNN_OK;
    }
    case CNN_OP_RESIZE: case CNN_OP_UPSAMPLE:
      CUDA_TRY (x, cnn_cu_resize2d (dt, xi, yo, n / MAX (O->dims[O->ndim - 1] * O->dims[O->ndim - 2], 1),
              I->dims[I->ndim - 2], I->dims[I->ndim - 1], O->dims[O->ndim - 2], O->dims[O->ndim - 1],
              s->linear, s->extrapolation, s->rt, st));
      return CNN_OK;
    case CNN_OP_INSTANCE_NORM: case CNN_OP_BATCH_NORM: {
      const cnn_norm_params *p = x->params;
      void *scale, *bias;
      DEV (x, x->in[1], scale);
      DEV (x, x->in[2], bias);
      int64_t sp = cnn_dims_prod (I, 2, I->ndim);
      if (op == CNN_OP_INSTANCE_NORM) {
        CUDA_TRY (x, cnn_cu_instance_norm (dt, xi, yo, scale, bias, I->dims[0], I->dims[1], sp, p->epsilon,
                act_of (&x->act), st));
      } else {
        void *mean, *var;
        DEV (x, x->in[3], mean);
        DEV (x, x->in[4], var);
        CUDA_TRY (x, cnn_cu_batch_norm (dt, xi, yo, scale, bias, mean, var, I->dims[0], I->dims[1], sp,
                p->epsilon, act_of (&x->act), st));
      }
      return CNN_OK;
    }
    case CNN_OP_TRANSPOSE: {
      int perm[CNN_MAX_DIMS];
      cnn_status r = cnn_transpose_perm (x, perm);
      if (r)
        return r;
      int64_t istr[CNN_MAX_DIMS];
      cnn_strides (I, istr);
      cnn_cu_view vd = { O->ndim }, vs = { O->ndim };
      cnn_strides (O, vd.stride);
      for (int d = 0; d < O->ndim; d++) {
        vd.dims[d] = vs.dims[d] = O->dims[d];
        vs.stride[d] = istr[perm[d]];
      }
      CUDA_TRY (x, cnn_cu_copy (out0, vd, in0, vs, n, (int) dev_elem (cb, O->dtype), st));
      return CNN_OK;
    }
    case CNN_OP_SLICE: {
      cnn_slice_geom g;
      cnn_status r = cnn_slice_geometry (x, &g);
      if (r)
        return r;
      int64_t istr[CNN_MAX_DIMS], off = 0;
      cnn_strides (I, istr);
      cnn_cu_view vd = { O->ndim }, vs = { O->ndim };
      cnn_strides (O, vd.stride);
      for (int d = 0; d < O->ndim; d++) {
        vd.dims[d] = vs.dims[d] = O->dims[d];
        vs.stride[d] = istr[d] * g.step[d];
        off += g.start[d] * istr[d];
      }
      size_t es = dev_elem (cb, O->dtype);
      CUDA_TRY (x, cnn_cu_copy (out0, vd, (const char *) in0 + off * es, vs, n, (int) es, st));
      return CNN_OK;
    }
    case CNN_OP_CONCAT: {
      int axis = cnn_concat_axis (x);
      size_t es = dev_elem (cb, O->dtype);
      int64_t outer = cnn_dims_prod (O, 0, axis), inner = cnn_dims_prod (O, axis + 1, O->ndim) * es;
      if (s->nhwc) {
        /* channels of NHWC images: rows of pixels */
        outer = O->dims[0] * O->dims[2] * O->dims[3];
        inner = es;
      }
      int64_t orow = O->dims[axis] * inner, off = 0;
      for (int k = 0; k < x->n_in; k++) {
        int64_t row = x->in[k]->dims[axis] * inner;
        void *src;
        DEV (x, x->in[k], src);
        if (row > 0 && outer > 0)
          CUDA_TRY (x, cudaMemcpy2DAsync ((char *) out0 + off, orow, src, row, row, outer,
                  cudaMemcpyDeviceToDevice, st));
        off += row;
      }
      return CNN_OK;
    }
    default:
      return cnn_exec_fail (x, CNN_E_BACKEND, "no CUDA kernel");
  }
}

/* ---- the CPU fallback ---- */

/* Runs the reference kernel on host copies of the node's tensors. */
static cnn_status
run_fallback (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  /* Concat takes thousands of inputs: these go on the heap */
  cnn_tensor *tin = g_new0 (cnn_tensor, MAX (x->n_in, 1)), *tout = g_new0 (cnn_tensor, MAX (x->n_out, 1));
  cnn_tensor **pin = g_new0 (cnn_tensor *, MAX (x->n_in, 1)), **pout = g_new0 (cnn_tensor *, MAX (x->n_out, 1));
  cnn_tensor res;
  char *buf = NULL;
  size_t total = 0;
  /* one host block for every non-constant input, the residual and the outputs */
  for (int k = 0; k < x->n_in; k++)
    if (x->in[k] && !x->in_const[k])
      total += (tensor_bytes (x->in[k]) + 63) / 64 * 64;
  if (x->residual)
    total += (tensor_bytes (x->residual) + 63) / 64 * 64;
  for (int k = 0; k < x->n_out; k++)
    if (x->out[k])
      total += (tensor_bytes (x->out[k]) + 63) / 64 * 64;
  buf = g_try_malloc (MAX (total, 1));
  cnn_status st = CNN_OK;
  if (!buf) {
    st = cnn_exec_fail (x, CNN_E_NOMEM, "cannot allocate %zu bytes of host staging", total);
    goto out;
  }
  cudaError_t e = cudaStreamSynchronize (cb->stream);
  size_t off = 0;
  for (int k = 0; k < x->n_in && e == cudaSuccess; k++) {
    pin[k] = x->in[k] ? &tin[k] : NULL;
    if (!x->in[k])
      continue;
    tin[k] = *x->in[k];
    if (x->in_const[k])
      continue;                 /* constants live in host memory */
    tin[k].data = buf + off;
    e = download (cb, tin[k].data, x->in[k]->data, x->in[k]->dtype, cnn_tensor_numel (x->in[k]));
    off += (tensor_bytes (x->in[k]) + 63) / 64 * 64;
  }
  if (x->residual && e == cudaSuccess) {
    res = *x->residual;
    res.data = buf + off;
    e = download (cb, res.data, x->residual->data, x->residual->dtype, cnn_tensor_numel (x->residual));
    off += (tensor_bytes (x->residual) + 63) / 64 * 64;
  }
  for (int k = 0; k < x->n_out; k++) {
    pout[k] = x->out[k] ? &tout[k] : NULL;
    if (!x->out[k])
      continue;
    tout[k] = *x->out[k];
    tout[k].data = buf + off;
    off += (tensor_bytes (x->out[k]) + 63) / 64 * 64;
  }
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (cb->stream);
  if (e != cudaSuccess) {
    st = cnn_exec_fail (x, CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
    goto out;
  }
  cnn_exec h = *x;
  h.in = pin;
  h.out = pout;
  h.residual = x->residual ? &res : NULL;
  h.scratch = NULL;
  h.scratch_size = 0;
  h.cache = NULL;
  st = cnn_op_defs[x->node->op]->compute_ref (&h);
  for (int k = 0; k < x->n_out && st == CNN_OK && e == cudaSuccess; k++)
    if (x->out[k])
      e = upload (cb, x->out[k]->data, tout[k].data, x->out[k]->dtype, cnn_tensor_numel (x->out[k]));
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (cb->stream);  /* before the staging block goes */
  if (st == CNN_OK && e != cudaSuccess)
    st = cnn_exec_fail (x, CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
out:
  g_free (buf);
  g_free (tin);
  g_free (tout);
  g_free (pin);
  g_free (pout);
  return st;
}

/* ---- layouts ---- */

static bool
is_nhwc (cuda_backend *cb, const cnn_tensor *t)
{
  return t && g_hash_table_contains (cb->nhwc, t);
}

/* Whether @t may be stored NHWC. */
static bool
nhwc_candidate (cuda_backend *cb, const cnn_tensor *t)
{
  return cb->plan_nhwc && t && t->ndim == 4 && t->dtype == CNN_DTYPE_FLOAT32 &&
      !g_hash_table_contains (cb->keep_nchw, t);
}

/* At a plan's first run: the tensors that must stay NCHW.  An alias op
 * shares its input's buffer with its output, which means NCHW; the session
 * reads graph outputs as NCHW.  In tf32 a plan with grouped (depthwise)
 * convolutions stays NCHW: cuDNN has no fast NHWC tf32 kernels for them
 * (MobileNetV2 at batch 32 on an H200: 5,550 images/s NHWC, 11,180 NCHW). */
static void
layouts_begin (cuda_backend *cb, cnn_exec *const *execs, int n)
{
  g_hash_table_remove_all (cb->nhwc);
  g_hash_table_remove_all (cb->keep_nchw);
  cb->plan_nhwc = cb->nhwc_mode;
  for (int i = 0; i < n; i++) {
    const cnn_exec *x = execs[i];
    if (cb->tf32 && x->node->op == CNN_OP_CONV && ((const cnn_conv_params *) x->params)->group > 1)
      cb->plan_nhwc = false;
    if (x->out0_final && x->out[0])
      g_hash_table_add (cb->keep_nchw, x->out[0]);
    if (is_alias_op (x->node->op) && x->in[0])
      g_hash_table_add (cb->keep_nchw, x->in[0]);
  }
}

/* Whether a node other than Conv runs on its NHWC input(s) as they are. */
static bool
runs_nhwc (cuda_backend *cb, const cnn_exec *x)
{
  const cnn_tensor *O = x->out[0];
  cnn_op op = x->node->op;
  if (!is_nhwc (cb, x->in[0]))
    return false;
  if (op == CNN_OP_GLOBAL_AVG_POOL || op == CNN_OP_GLOBAL_MAX_POOL)
    return true;                /* its 1x1 output is the same in both layouts */
  if (!nhwc_candidate (cb, O))
    return false;
  if (unary_func (op) >= 0 || op == CNN_OP_CLIP || op == CNN_OP_AFFINE)
    return true;
  if (binary_op (op) >= 0 && op != CNN_OP_PRELU)
    return is_nhwc (cb, x->in[1]) && cnn_shape_equal (x->in[0], O) && cnn_shape_equal (x->in[1], O);
  if (op == CNN_OP_MAX_POOL || op == CNN_OP_AVERAGE_POOL)
    return x->n_out == 1 || !x->out[1];
  if (op == CNN_OP_CONCAT) {
    if (cnn_concat_axis (x) != 1)
      return false;
    for (int k = 0; k < x->n_in; k++)
      if (!is_nhwc (cb, x->in[k]))
        return false;
    return true;
  }
  return false;
}

static void
layout_forget (cuda_backend *cb, node_state *s)
{
  for (int i = 0; i < s->n_relayout; i++)
    g_hash_table_remove (cb->own, s->relayouts[i].buf);
  layout_clear (s);
  memset (&s->tres, 0, sizeof s->tres);
}

/* Decides the node's layout (Conv: conv_plan did) and the inputs it must
 * read converted, and records the layout of its output. */
static cnn_status
layout_plan (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  layout_forget (cb, s);
  bool conv = x->node->op == CNN_OP_CONV;
  if (s->fallback)
    s->nhwc = false;
  else if (!conv)
    s->nhwc = runs_nhwc (cb, x);
  s->relayouts = g_new0 (struct relayout, x->n_in + 1);
  for (int k = -1; k < x->n_in; k++) {
    const cnn_tensor *t = k < 0 ? x->residual : x->in[k];
    if (!t || (k >= 0 && x->in_const[k]) || t->ndim != 4 || t->dtype != CNN_DTYPE_FLOAT32)
      continue;
    bool want = s->nhwc && (!conv || k <= 0);
    if (want == is_nhwc (cb, t))
      continue;
    struct relayout *r = &s->relayouts[s->n_relayout];
    CUDA_TRY (x, cudaMalloc (&r->buf, dev_bytes (cb, t)));
    r->k = k;
    r->to_nhwc = want;
    s->n_relayout++;
    g_hash_table_add (cb->own, r->buf);
  }
  if (s->n_relayout > 0) {
    s->tin = g_new0 (cnn_tensor, MAX (x->n_in, 1));
    s->pin = g_new0 (cnn_tensor *, MAX (x->n_in, 1));
    for (int k = 0; k < x->n_in; k++)
      s->pin[k] = x->in[k];
    for (int i = 0; i < s->n_relayout; i++) {
      const struct relayout *r = &s->relayouts[i];
      cnn_tensor *t = r->k < 0 ? &s->tres : &s->tin[r->k];
      *t = r->k < 0 ? *x->residual : *x->in[r->k];
      t->data = r->buf;
      if (r->k >= 0)
        s->pin[r->k] = t;
    }
  }
  cnn_op op = x->node->op;
  for (int k = 0; k < x->n_out; k++)
    if (x->out[k])
      g_hash_table_remove (cb->nhwc, x->out[k]);
  if (s->nhwc && op != CNN_OP_GLOBAL_AVG_POOL && op != CNN_OP_GLOBAL_MAX_POOL)
    g_hash_table_add (cb->nhwc, x->out[0]);
  return CNN_OK;
}

/* Runs a prepared node: converts the inputs it reads in the other layout,
 * then its kernel, on the GPU or the CPU. */
static cnn_status
run_node (cuda_backend *cb, cnn_exec *x, node_state *s)
{
  if (s->n_relayout == 0)
    return s->fallback ? run_fallback (cb, x, s) : run_native (cb, x, s);
  for (int i = 0; i < s->n_relayout; i++) {
    const struct relayout *r = &s->relayouts[i];
    const cnn_tensor *t = r->k < 0 ? x->residual : x->in[r->k];
    CUDA_TRY (x, relayout_copy (cb, r->buf, t->data, t, r->to_nhwc));
  }
  cnn_exec h = *x;
  h.in = s->pin;
  if (s->tres.data)
    h.residual = &s->tres;
  return s->fallback ? run_fallback (cb, &h, s) : run_native (cb, &h, s);
}

/* ---- the vtable ---- */

static cnn_status
node_prepare (cuda_backend *cb, cnn_exec *x, node_state **out)
{
  node_state *s = x->cache;
  if (s && s->ready) {
    *out = s;
    return CNN_OK;
  }
  if (!s) {
    s = g_new0 (node_state, 1);
    x->cache = s;
    x->cache_free = node_state_free;
  }
  cnn_status st = CNN_OK;
  s->fallback = !cuda_supports_op (&cb->base, x);
  if (!s->fallback) {
    switch (x->node->op) {
      case CNN_OP_CONV:
        s->nhwc = cb->plan_nhwc && x->in[0]->ndim == 4 && x->in_const[1] && nhwc_candidate (cb, x->out[0]);
        st = conv_plan (cb, x, s);
        if (st != CNN_OK && s->nhwc) {
          /* no NHWC kernel for this one in cuDNN: NCHW then */
          g_debug ("%s (%s): NHWC: %s", x->node->name, x->node->op_type, x->err->str);
          g_string_truncate (x->err, 0);
          conv_state_clear (s);
          s->nhwc = false;
          st = conv_plan (cb, x, s);
        }
        break;
      case CNN_OP_CONV_TRANSPOSE: st = convt_plan (cb, x, s); break;
      case CNN_OP_RESIZE: case CNN_OP_UPSAMPLE: st = resize_plan (cb, x, s); break;
      default: break;
    }
    if (st == CNN_E_BACKEND || st == CNN_E_UNSUPPORTED) {
      /* cuDNN cannot take this one (a geometry it does not support, a
       * tensor too large for its descriptors): the CPU can */
      g_debug ("%s (%s): %s; running it on the CPU", x->node->name, x->node->op_type, x->err->str);
      g_string_truncate (x->err, 0);
      s->fallback = true;
      st = CNN_OK;
    }
  }
  if (st == CNN_OK && s->fallback) {
    cb->n_fallback++;
    g_debug ("%s (%s) runs on the CPU", x->node->name, x->node->op_type);
  }
  if (st == CNN_OK)
    st = layout_plan (cb, x, s);
  s->ready = st == CNN_OK;
  *out = s;
  return st;
}

static void
graph_drop (cuda_backend *cb)
{
  if (cb->graph)
    cudaGraphExecDestroy (cb->graph);
  cb->graph = NULL;
  cb->graph_failed = false;
  cb->plan_runs = 0;
}

/* Records the plan's kernels into cb->graph.  False when something in it
 * cannot be captured: then the plan keeps running node by node. */
static bool
graph_capture (cuda_backend *cb, cnn_exec *const *execs, int n)
{
  cudaGraph_t g = NULL;
  if (cudaStreamBeginCapture (cb->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError ();
    return false;
  }
  cnn_status st = CNN_OK;
  for (int i = 0; i < n && st == CNN_OK; i++)
    st = run_node (cb, execs[i], execs[i]->cache);
  cudaError_t e = cudaStreamEndCapture (cb->stream, &g);
  if (st == CNN_OK && e == cudaSuccess)
    e = cudaGraphInstantiate (&cb->graph, g, 0);
  if (g)
    cudaGraphDestroy (g);
  if (st != CNN_OK || e != cudaSuccess) {
    cudaGetLastError ();
    if (execs[0]->err)
      g_string_truncate (execs[0]->err, 0);
    cb->graph = NULL;
    g_debug ("CUDA graph capture failed: %s", cudaGetErrorString (e));
    return false;
  }
  return true;
}

/* Every node planned, and none on the CPU. */
static bool
all_native (cnn_exec *const *execs, int n)
{
  for (int i = 0; i < n; i++) {
    const node_state *s = execs[i]->cache;
    if (!s || !s->ready || s->fallback)
      return false;
  }
  return n > 0;
}

static cnn_status
cuda_graph_compute (cnn_backend *b, cnn_exec *const *execs, int n, double *times)
{
  cuda_backend *cb = (cuda_backend *) b;
  cnn_status st = CNN_OK;
  cudaSetDevice (cb->device);
  /* from the second run of a plan with every node on the GPU: the graph */
  if (cb->graphs && !times && cb->plan_runs > 0 && !cb->graph_failed && all_native (execs, n)) {
    if (!cb->graph && !graph_capture (cb, execs, n))
      cb->graph_failed = true;
    if (cb->graph) {
      cudaError_t e = cudaGraphLaunch (cb->graph, cb->stream);
      if (e == cudaSuccess)
        e = cudaStreamSynchronize (cb->stream);
      if (e != cudaSuccess)
        return cnn_exec_fail (execs[n - 1], CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
      return CNN_OK;
    }
  }
  if (cb->plan_runs++ == 0)
    layouts_begin (cb, execs, n);
  for (int i = 0; i < n && st == CNN_OK; i++) {
    cnn_exec *x = execs[i];
    node_state *s = NULL;
    gint64 t0 = times ? g_get_monotonic_time () : 0;
    st = node_prepare (cb, x, &s);
    if (st == CNN_OK)
      st = run_node (cb, x, s);
    cnn_op op = x->node->op;
    if (st != CNN_OK && s && !s->ran && !s->fallback && (op == CNN_OP_CONV || op == CNN_OP_CONV_TRANSPOSE)) {
      /* cuDNN found an algorithm, then refused the call (fp16 3D transposed
       * convolutions): the CPU computes this one */
      g_debug ("%s (%s): %s; running it on the CPU", x->node->name, x->node->op_type, x->err->str);
      g_string_truncate (x->err, 0);
      cudaGetLastError ();
      s->fallback = true;
      cb->n_fallback++;
      st = layout_plan (cb, x, s);
      if (st == CNN_OK)
        st = run_node (cb, x, s);
    }
    if (s)
      s->ran = true;
    if (times) {
      cudaStreamSynchronize (cb->stream);
      times[i] = (g_get_monotonic_time () - t0) * 1e-6;
    }
  }
  if (st == CNN_OK) {
    cudaError_t e = cudaStreamSynchronize (cb->stream);
    if (e != cudaSuccess && n > 0)
      st = cnn_exec_fail (execs[n - 1], CNN_E_BACKEND, "CUDA: %s", cudaGetErrorString (e));
  }
  return st;
}

static void *
cuda_alloc_buffer (cnn_backend *b, size_t size)
{
  cuda_backend *cb = (cuda_backend *) b;
  void *p = NULL;
  cudaSetDevice (cb->device);
  if (cudaMalloc (&p, size) != cudaSuccess) {
    cudaGetLastError ();        /* clear the sticky-free error state */
    return NULL;
  }
  cb->arena = p;
  cb->arena_size = size;
  return p;
}

static void
cuda_free_buffer (cnn_backend *b, void *buf)
{
  cuda_backend *cb = (cuda_backend *) b;
  cudaStreamSynchronize (cb->stream);
  cudaFree (buf);
  if (buf == cb->arena) {
    cb->arena = NULL;
    cb->arena_size = 0;
  }
}

static cnn_status
cuda_set_tensor (cnn_backend *b, void *dst, const void *src, cnn_dtype dtype, int64_t numel, GString *err)
{
  cuda_backend *cb = (cuda_backend *) b;
  cudaError_t e = upload (cb, dst, src, dtype, numel);
  if (e != cudaSuccess) {
    g_string_append_printf (err, "copying an input to the GPU: %s", cudaGetErrorString (e));
    return CNN_E_BACKEND;
  }
  return CNN_OK;
}

static cnn_status
cuda_get_tensor (cnn_backend *b, void *dst, const void *src, cnn_dtype dtype, int64_t numel, GString *err)
{
  cuda_backend *cb = (cuda_backend *) b;
  cudaError_t e = download (cb, dst, src, dtype, numel);
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (cb->stream);
  if (e != cudaSuccess) {
    g_string_append_printf (err, "copying an output from the GPU: %s", cudaGetErrorString (e));
    return CNN_E_BACKEND;
  }
  return CNN_OK;
}

static void
cuda_plan_reset (cnn_backend *b)
{
  cuda_backend *cb = (cuda_backend *) b;
  cudaStreamSynchronize (cb->stream);
  graph_drop (cb);
  g_hash_table_remove_all (cb->consts);
  g_hash_table_remove_all (cb->nhwc);
  g_hash_table_remove_all (cb->own);
  cb->n_fallback = 0;
}

static void *
cuda_alloc_host (cnn_backend *b, size_t size)
{
  void *p = NULL;
  if (cudaMallocHost (&p, size) != cudaSuccess) {
    cudaGetLastError ();
    return NULL;
  }
  return p;
}

static void
cuda_free_host (cnn_backend *b, void *buf)
{
  cudaFreeHost (buf);
}

/* ---- pre-processing ---- */

static size_t
align16 (size_t n)
{
  return (n + 15) & ~(size_t) 15;
}

static cudaError_t
image_slot_reserve (cuda_backend *cb, int item, size_t size, struct image_slot **out)
{
  cudaError_t e = cudaSuccess;
  if (item >= cb->n_image_slots) {
    cb->image_slots = g_renew (struct image_slot, cb->image_slots, item + 1);
    memset (cb->image_slots + cb->n_image_slots, 0, (item + 1 - cb->n_image_slots) * sizeof (struct image_slot));
    cb->n_image_slots = item + 1;
  }
  struct image_slot *sl = &cb->image_slots[item];
  if (!sl->copied && (e = cudaEventCreateWithFlags (&sl->copied, cudaEventDisableTiming)) != cudaSuccess)
    return e;
  /* the last copy out of the host memory must be over */
  if ((e = cudaEventSynchronize (sl->copied)) != cudaSuccess)
    return e;
  if (sl->size < size) {
    cudaFreeHost (sl->host);
    cudaFree (sl->dev);
    sl->host = sl->dev = NULL;
    sl->size = 0;
    if ((e = cudaMallocHost (&sl->host, size)) != cudaSuccess || (e = cudaMalloc (&sl->dev, size)) != cudaSuccess)
      return e;
    sl->size = size;
  }
  *out = sl;
  return cudaSuccess;
}

/* The scaling tables at the start of an image slot (host or device). */
static cnn_cu_image_tables
image_tables_at (void *base, int W, int H)
{
  cnn_cu_image_tables t;
  t.x0 = base;
  t.x1 = t.x0 + W;
  t.y0 = t.x1 + W;
  t.y1 = t.y0 + H;
  t.wx = (float *) (t.y1 + H);
  t.wy = t.wx + W;
  t.xin = (unsigned char *) (t.wy + H);
  t.yin = t.xin + W;
  return t;
}

/* Only the region's rows travel, with the tables of the scaling (worked
 * out on the host by the reference's own function), in one copy. */
static cnn_status
cuda_set_image (cnn_backend *b, const cnn_tensor *t, int item, const cnn_image *img, const cnn_image_map *map,
    GString *err)
{
  cuda_backend *cb = (cuda_backend *) b;
  size_t elem = dev_elem (cb, t->dtype);
  int64_t per = cnn_tensor_numel (t) / t->dims[0];
  char *dst = (char *) t->data + item * per * elem;
  cudaError_t e;
  if (!img) {
    if ((e = cudaMemsetAsync (dst, 0, per * elem, cb->stream)) != cudaSuccess)
      goto fail;
    return CNN_OK;
  }
  cnn_cu_image a = { 0 };
  a.channels = (int) t->dims[map->nhwc ? 3 : 1];
  a.height = (int) t->dims[map->nhwc ? 1 : 2];
  a.width = (int) t->dims[map->nhwc ? 2 : 3];
  /* rows and bytes of each plane that the region reads */
  int lo[3] = { G_MAXINT, G_MAXINT, G_MAXINT }, hi[3] = { -1, -1, -1 };
  size_t row_bytes[3] = { 0 }, off[3] = { 0 };
  for (int k = 0; k < 3; k++) {
    int p = img->comp_plane[k], sub = img->yuv && k > 0;
    lo[p] = MIN (lo[p], map->y >> sub);
    hi[p] = MAX (hi[p], (map->y + map->h - 1) >> sub);
    size_t bytes = (size_t) ((map->x + map->w - 1) >> sub) * img->comp_pstride[k] + img->comp_offset[k] + 1;
    row_bytes[p] = MAX (row_bytes[p], bytes);
  }
  int W = a.width, H = a.height;
  size_t tables = align16 ((size_t) (W + H) * (2 * sizeof (int) + sizeof (float) + 1)), size = tables;
  for (int p = 0; p < 3; p++)
    if (hi[p] >= 0) {
      off[p] = size;
      size = align16 (size + (size_t) (hi[p] - lo[p]) * img->stride[p] + row_bytes[p]);
    }
  struct image_slot *sl;
  if ((e = image_slot_reserve (cb, item, size, &sl)) != cudaSuccess)
    goto fail;
  char *h = sl->host, *d = sl->dev;
  cnn_cu_image_tables ht = image_tables_at (h, W, H);
  for (int i = 0; i < W; i++)
    ht.xin[i] = cnn_image_taps (i, map->off_x, map->scale_x, map->w, &ht.x0[i], &ht.x1[i], &ht.wx[i]);
  for (int j = 0; j < H; j++)
    ht.yin[j] = cnn_image_taps (j, map->off_y, map->scale_y, map->h, &ht.y0[j], &ht.y1[j], &ht.wy[j]);
  for (int p = 0; p < 3; p++)
    if (hi[p] >= 0) {
      /* on the session's threads: one core copying a 1080p frame was most of the GPU path's time */
      cnn_parallel_copy (cb->base.pool, h + off[p], img->plane[p] + (size_t) lo[p] * img->stride[p],
          (size_t) (hi[p] - lo[p]) * img->stride[p] + row_bytes[p]);
      a.plane[p] = (const uint8_t *) d + off[p];
      a.stride[p] = img->stride[p];
      a.row_lo[p] = lo[p];
    }
  a.tab = image_tables_at (d, W, H);
  for (int k = 0; k < 3; k++) {
    a.comp_plane[k] = img->comp_plane[k];
    a.comp_offset[k] = img->comp_offset[k];
    a.comp_pstride[k] = img->comp_pstride[k];
    a.mean[k] = map->mean[k];
    a.inv[k] = 1.f / map->std[k];
    a.pad[k] = (map->pad_value - map->mean[k]) * a.inv[k];
  }
  a.yuv = img->yuv;
  a.yoff = img->yoff;
  a.ymul = img->ymul;
  a.coff = img->coff;
  a.cmul = img->cmul;
  a.rv = img->rv;
  a.gu = img->gu;
  a.gv = img->gv;
  a.bu = img->bu;
  a.rx = map->x;
  a.ry = map->y;
  a.nhwc = map->nhwc;
  a.bgr = map->bgr;
  if ((e = cudaMemcpyAsync (d, h, size, cudaMemcpyHostToDevice, cb->stream)) != cudaSuccess ||
      (e = cudaEventRecord (sl->copied, cb->stream)) != cudaSuccess ||
      (e = cnn_cu_image_to_tensor (is_half (cb, t->dtype) ? CNN_CU_F16 : CNN_CU_F32, &a, dst, cb->stream)) != cudaSuccess)
    goto fail;
  return CNN_OK;
fail:
  cudaGetLastError ();
  g_string_append_printf (err, "pre-processing on the GPU: %s", cudaGetErrorString (e));
  return CNN_E_BACKEND;
}

static void
cuda_free (cnn_backend *b)
{
  cuda_backend *cb = (cuda_backend *) b;
  cudaSetDevice (cb->device);
  cudaStreamSynchronize (cb->stream);
  graph_drop (cb);
  for (int i = 0; i < cb->n_image_slots; i++) {
    struct image_slot *sl = &cb->image_slots[i];
    cudaFreeHost (sl->host);
    cudaFree (sl->dev);
    if (sl->copied)
      cudaEventDestroy (sl->copied);
  }
  g_free (cb->image_slots);
  cnn_threadpool_free (cb->base.pool);
  g_hash_table_destroy (cb->consts);
  g_hash_table_destroy (cb->nhwc);
  g_hash_table_destroy (cb->keep_nchw);
  g_hash_table_destroy (cb->own);
  if (cb->workspace)
    cudaFree (cb->workspace);
  if (cb->stage)
    cudaFree (cb->stage);
  cudaFree (cb->det_in);
  cudaFree (cb->det_scratch);
  cudaFree (cb->det_mask);
  if (cb->cublas)
    cublasDestroy (cb->cublas);
  if (cb->cudnn)
    cudnnDestroy (cb->cudnn);
  if (cb->stream)
    cudaStreamDestroy (cb->stream);
  g_free (cb);
}

/* ---- detection ---- */

static cnn_status
cuda_detect (cnn_backend *b, const cnn_decoder_options *o, const cnn_nms_options *nms, const cnn_tensor *const *outs,
    int n, int item, int C, GArray *boxes, GString *err)
{
  cuda_backend *cb = (cuda_backend *) b;
  cnn_cu_det_outputs in = { .n = n, .C = C };
  size_t floats = 0;
  for (int i = 0; i < n; i++)
    floats += (size_t) cnn_tensor_numel (outs[i]);
  cudaError_t e = cb->half ? cnn_cu_grow (&cb->det_in, &cb->det_in_size, floats * sizeof (float), cb->stream) :
      cudaSuccess;
  floats = 0;
  for (int i = 0; i < n && e == cudaSuccess; i++) {
    const cnn_tensor *t = outs[i];
    int64_t per = cnn_tensor_numel (t);
    const char *src = (const char *) t->data + (size_t) item * per * dev_elem (cb, t->dtype);
    in.rows[i] = t->dims[t->ndim - 2];
    in.cols[i] = t->dims[t->ndim - 1];
    in.data[i] = (const float *) src;
    if (cb->half) {
      float *f = (float *) cb->det_in + floats;
      e = cnn_cu_convert (CNN_CU_F16, src, CNN_CU_F32, f, per, cb->stream);
      in.data[i] = f;
      floats += (size_t) per;
    }
  }
  /* SSD: the scores are the output whose rows are not of 4 (as the host's) */
  in.scores = n == 2 && in.cols[0] == 4 && in.cols[1] != 4 ? 1 : 0;
  int64_t cap = cnn_cu_detect_cap (o, &in);
  guint len = boxes->len;
  g_array_set_size (boxes, len + (guint) MAX (cap, 0));
  int kept = 0;
  if (e == cudaSuccess)
    e = cnn_cu_detect (o, nms, &in, &cb->det_scratch, &cb->det_scratch_size, &cb->det_mask, &cb->det_mask_size,
        &g_array_index (boxes, cnn_box, len), &kept, cb->stream);
  g_array_set_size (boxes, len + (guint) kept);
  if (e != cudaSuccess) {
    g_string_append_printf (err, "detection on the GPU: %s", cudaGetErrorString (e));
    return CNN_E_BACKEND;
  }
  return CNN_OK;
}

static const cnn_backend_i cuda_backend_i = {
  /* .name          = */ "cuda",
  /* .device_memory = */ true,
  /* .host_kernels  = */ false,
  /* .supports_op   = */ cuda_supports_op,
  /* .alloc_buffer  = */ cuda_alloc_buffer,
  /* .free_buffer   = */ cuda_free_buffer,
  /* .graph_compute = */ cuda_graph_compute,
  /* .free          = */ cuda_free,
  /* .set_tensor    = */ cuda_set_tensor,
  /* .get_tensor    = */ cuda_get_tensor,
  /* .plan_reset    = */ cuda_plan_reset,
  /* .alloc_host    = */ cuda_alloc_host,
  /* .free_host     = */ cuda_free_host,
  /* .set_image     = */ cuda_set_image,
  /* .detect        = */ cuda_detect,
};

cnn_backend *
cnn_backend_cuda_new (const cnn_session_options *opts, int threads, GError **error)
{
  int count = 0;
  cudaError_t e = cudaGetDeviceCount (&count);
  if (e != cudaSuccess || count == 0) {
    int driver = 0;
    cudaDriverGetVersion (&driver);
    if (driver == 0)
      g_set_error (error, CNN_ERROR, CNN_ERROR_BACKEND, "no CUDA device: no NVIDIA driver is loaded");
    else
      g_set_error (error, CNN_ERROR, CNN_ERROR_BACKEND, "no CUDA device (driver %d.%d: %s)", driver / 1000,
          driver % 1000 / 10, e != cudaSuccess ? cudaGetErrorString (e) : "no GPU found");
    cudaGetLastError ();
    return NULL;
  }
  cuda_backend *cb = g_new0 (cuda_backend, 1);
  cb->base.iface = &cuda_backend_i;
  cb->base.pool = threads > 1 ? cnn_threadpool_new (threads) : NULL;
  cb->tf32 = g_strcmp0 (opts->precision, "tf32") == 0;
  cb->half = g_strcmp0 (opts->precision, "fp16") == 0;
  cb->dt = cb->half ? CNN_CU_F16 : CNN_CU_F32;
  cb->graphs = g_strcmp0 (g_getenv ("CNN_CUDA_GRAPHS"), "0") != 0;
  cb->fuse = g_strcmp0 (g_getenv ("CNN_CUDA_FUSE"), "0") != 0;
  cudaGetDevice (&cb->device);
  cb->consts = g_hash_table_new_full (NULL, NULL, NULL, device_free);
  cb->nhwc_mode = (cb->tf32 || cb->half) && g_strcmp0 (g_getenv ("CNN_CUDA_NHWC"), "0") != 0;
  cb->nhwc = g_hash_table_new (NULL, NULL);
  cb->keep_nchw = g_hash_table_new (NULL, NULL);
  cb->own = g_hash_table_new (NULL, NULL);
  const char *what = "creating a CUDA stream";
  e = cudaStreamCreateWithFlags (&cb->stream, cudaStreamNonBlocking);
  cudnnStatus_t ds = CUDNN_STATUS_SUCCESS;
  cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
  if (e == cudaSuccess) {
    what = "starting cuDNN";
    ds = cudnnCreate (&cb->cudnn);
    if (ds == CUDNN_STATUS_SUCCESS)
      ds = cudnnSetStream (cb->cudnn, cb->stream);
  }
  if (e == cudaSuccess && ds == CUDNN_STATUS_SUCCESS) {
    what = "starting cuBLAS";
    bs = cublasCreate (&cb->cublas);
    if (bs == CUBLAS_STATUS_SUCCESS)
      bs = cublasSetStream (cb->cublas, cb->stream);
    if (bs == CUBLAS_STATUS_SUCCESS)
      bs = cublasSetMathMode (cb->cublas, cb->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH :
          cb->half ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH);
  }
  if (e != cudaSuccess || ds != CUDNN_STATUS_SUCCESS || bs != CUBLAS_STATUS_SUCCESS) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_BACKEND, "%s: %s", what,
        e != cudaSuccess ? cudaGetErrorString (e) :
        ds != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString (ds) : cublasGetStatusString (bs));
    cuda_free (&cb->base);
    return NULL;
  }
  return &cb->base;
}
