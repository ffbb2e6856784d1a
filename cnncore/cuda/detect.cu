/* detect.cu - cnn_session_detect() on the GPU: every candidate of one
 * item's outputs decoded by a thread (detect-math.h, as the host decoder),
 * those above the threshold appended to a list; the list sorted by
 * confidence (ties in output order, as the host's stable sort), an IoU bit
 * matrix between all pairs (64 columns a word), then one block walks the
 * sorted list keeping boxes and or-ing their rows into a suppressed set.
 * Only the kept boxes travel back. */
#include "kernels.h"
#include "../detect-math.h"
#include <algorithm>
#include <cub/device/device_radix_sort.cuh>

#define THREADS 256

struct det_list {
  cnn_box *box;
  uint32_t *order;              /* the candidate's place in the outputs' order */
  unsigned *count;
  int64_t cap;
  const uint8_t *keep;          /* per class, or NULL */
  int n_classes;
};

__device__ static void
det_append (const det_list &l, const cnn_box &b, int64_t order)
{
  if (l.keep && (b.class_id < 0 || b.class_id >= l.n_classes || !l.keep[b.class_id]))
    return;
  unsigned slot = atomicAdd (l.count, 1u);
  if (slot < l.cap) {
    l.box[slot] = b;
    l.order[slot] = (uint32_t) order;
  }
}

__global__ static void
grid_k (cnn_decoder_options o, const float *d, int set, int C, int64_t H, int64_t W, int64_t base, det_list l)
{
  int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x;
  if (i >= o.n_anchors[set] * H * W)
    return;
  cnn_box b;
  if (cnn_det_grid_cell (&o, d, set, C, H, W, (int) (i / (H * W)), i % (H * W), &b))
    det_append (l, b, base + i);
}

__global__ static void
rows_k (cnn_decoder_options o, const float *d, int64_t N, int C, det_list l)
{
  int64_t idx = blockIdx.x * (int64_t) blockDim.x + threadIdx.x, k, gw;
  int stride;
  cnn_box b;
  if (idx < N && cnn_det_row_place (&o, N, idx, &k, &gw, &stride) &&
      cnn_det_row (&o, d + idx * (5 + C), C, k, gw, stride, &b))
    det_append (l, b, idx);
}

__global__ static void
columns_k (cnn_decoder_options o, const float *d, int64_t N, int C, det_list l)
{
  int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x;
  cnn_box b;
  if (i < N && cnn_det_column (&o, d, N, C, i, &b))
    det_append (l, b, i);
}

__global__ static void
ssd_k (cnn_decoder_options o, const float *s, const float *bx, int64_t N, int C, det_list l)
{
  int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x;
  cnn_box b;
  if (i < N && cnn_det_ssd_row (&o, s, bx, C, i, &b))
    det_append (l, b, i);
}

/* Sort keys: confidence descending, then the place in the outputs. */
__global__ static void
keys_k (const cnn_box *box, const uint32_t *order, unsigned n, uint64_t *key, uint32_t *val)
{
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  /* + 0: -0 as +0, which the host's comparison holds equal */
  uint32_t u = __float_as_uint (box[i].confidence + 0.f);
  uint32_t up = u & 0x80000000u ? ~u : u | 0x80000000u;        /* ascending as the floats */
  key[i] = (uint64_t) ~up << 32 | order[i];
  val[i] = i;
}

__global__ static void
gather_k (const cnn_box *box, const uint32_t *idx, unsigned n, cnn_box *out)
{
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = box[idx[i]];
}

/* Bit j % 64 of mask[i * words + j / 64]: box j (after i) overlaps box i
 * above the threshold, and NMS compares them (same class, or agnostic). */
__global__ static void
mask_k (const cnn_box *box, unsigned n, int words, float thr, int agnostic, uint64_t *mask)
{
  __shared__ cnn_box cols[64];
  unsigned r0 = blockIdx.y * 64, c0 = blockIdx.x * 64;
  unsigned nc = min (64u, n - c0);
  if (threadIdx.x < nc)
    cols[threadIdx.x] = box[c0 + threadIdx.x];
  __syncthreads ();
  unsigned i = r0 + threadIdx.x;
  if (r0 >= n || i >= n)
    return;
  cnn_box a = box[i];
  uint64_t bits = 0;
  for (unsigned k = 0; k < nc; k++) {
    unsigned j = c0 + k;
    if (j > i && (agnostic || cols[k].class_id == a.class_id) && cnn_det_iou (&a, &cols[k]) > thr)
      bits |= (uint64_t) 1 << k;
  }
  mask[(size_t) i * words + blockIdx.x] = bits;
}

/* The greedy walk, one block: box i is kept unless a kept box before it
 * suppressed it; at most @max (0: all).  The kept boxes to @out, their
 * number to @kept_out. */
__global__ static void
select_k (const cnn_box *box, unsigned n, int words, const uint64_t *mask, unsigned max, unsigned *kept_idx,
    cnn_box *out, unsigned *kept_out)
{
  extern __shared__ uint64_t removed[];
  for (int w = threadIdx.x; w < words; w += blockDim.x)
    removed[w] = 0;
  __syncthreads ();
  unsigned kept = 0;
  for (unsigned i = 0; i < n; i++) {
    /* bit i is only ever set by rows before i: stable while this row's
     * or-ing below changes other bits of its word */
    if (removed[i / 64] >> (i % 64) & 1)
      continue;
    if (threadIdx.x == 0)
      kept_idx[kept] = i;
    if (++kept == max)
      break;
    for (int w = threadIdx.x; w < words; w += blockDim.x)
      removed[w] |= mask[(size_t) i * words + w];
    __syncthreads ();
  }
  __syncthreads ();
  for (unsigned k = threadIdx.x; k < kept; k += blockDim.x)
    out[k] = box[kept_idx[k]];
  if (threadIdx.x == 0)
    *kept_out = kept;
}

static unsigned
blocks (int64_t n)
{
  return (unsigned) ((n + THREADS - 1) / THREADS);
}

extern "C" int64_t
cnn_cu_detect_cap (const cnn_decoder_options *o, const cnn_cu_det_outputs *in)
{
  switch (o->type) {
    case CNN_DECODER_YOLOV2:
    case CNN_DECODER_YOLOV3: {
      int64_t n = 0;
      for (int i = 0; i < in->n; i++)
        n += o->n_anchors[i] * in->rows[i] * in->cols[i];
      return n;
    }
    case CNN_DECODER_YOLOV5:
    case CNN_DECODER_YOLOX:
      return in->rows[0];
    case CNN_DECODER_YOLOV8:
      return in->cols[0];
    case CNN_DECODER_SSD:
      return in->rows[in->scores];
    case CNN_DECODER_SSD_PRIORS:
      return std::min (in->rows[in->scores], cnn_det_n_priors (o));
    default:
      return 0;
  }
}

static size_t
align256 (size_t n)
{
  return (n + 255) & ~(size_t) 255;
}

#define TRY(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) return e_; } while (0)

extern "C" cudaError_t
cnn_cu_detect (const cnn_decoder_options *o, const cnn_nms_options *nms, const cnn_cu_det_outputs *in,
    void **scratch, size_t *scratch_size, void **mask, size_t *mask_size, cnn_box *out, int *n_out,
    cudaStream_t stream)
{
  *n_out = 0;
  int64_t cap = cnn_cu_detect_cap (o, in);
  if (cap <= 0)
    return cudaSuccess;
  if (cap > (int64_t) UINT32_MAX / 2)
    return cudaErrorInvalidValue;
  /* the candidates, their sort keys and values both ways, the sorted list,
   * the kept indices, counts, the class filter, and CUB's own */
  size_t temp = 0;
  TRY (cub::DeviceRadixSort::SortPairs (NULL, temp, (uint64_t *) NULL, (uint64_t *) NULL, (uint32_t *) NULL,
          (uint32_t *) NULL, (int) cap, 0, 64, stream));
  size_t off[10], sz[10] = { sizeof (cnn_box) * cap, sizeof (uint32_t) * cap, sizeof (uint64_t) * cap,
    sizeof (uint64_t) * cap, sizeof (uint32_t) * cap, sizeof (uint32_t) * cap, sizeof (cnn_box) * cap,
    sizeof (unsigned) * cap, 4 * sizeof (unsigned) + (nms->keep_class ? (size_t) nms->n_classes : 0), temp };
  size_t total = 0;
  for (int k = 0; k < 10; k++) {
    off[k] = total;
    total += align256 (sz[k]);
  }
  TRY (cnn_cu_grow (scratch, scratch_size, total, stream));
  char *s = (char *) *scratch;
  cnn_box *cand = (cnn_box *) (s + off[0]), *sorted = (cnn_box *) (s + off[6]);
  uint32_t *order = (uint32_t *) (s + off[1]), *val_in = (uint32_t *) (s + off[4]);
  uint32_t *val_out = (uint32_t *) (s + off[5]);
  uint64_t *key_in = (uint64_t *) (s + off[2]), *key_out = (uint64_t *) (s + off[3]);
  unsigned *kept_idx = (unsigned *) (s + off[7]), *counts = (unsigned *) (s + off[8]);
  uint8_t *keep = nms->keep_class ? (uint8_t *) (counts + 4) : NULL;
  TRY (cudaMemsetAsync (counts, 0, 2 * sizeof (unsigned), stream));
  if (keep)
    TRY (cudaMemcpyAsync (keep, nms->keep_class, nms->n_classes, cudaMemcpyHostToDevice, stream));
  det_list l = { cand, order, counts, cap, keep, nms->n_classes };

  switch (o->type) {
    case CNN_DECODER_YOLOV2:
    case CNN_DECODER_YOLOV3: {
      int64_t base = 0;
      for (int i = 0; i < in->n; i++) {
        int64_t n = o->n_anchors[i] * in->rows[i] * in->cols[i];
        if (n > 0)
          grid_k <<< blocks (n), THREADS, 0, stream >>> (*o, in->data[i], i, in->C, in->rows[i], in->cols[i],
              base, l);
        base += n;
      }
      break;
    }
    case CNN_DECODER_YOLOV5:
    case CNN_DECODER_YOLOX:
      rows_k <<< blocks (cap), THREADS, 0, stream >>> (*o, in->data[0], in->rows[0], in->C, l);
      break;
    case CNN_DECODER_YOLOV8:
      columns_k <<< blocks (cap), THREADS, 0, stream >>> (*o, in->data[0], in->cols[0], in->C, l);
      break;
    default:
      ssd_k <<< blocks (cap), THREADS, 0, stream >>> (*o, in->data[in->scores], in->data[1 - in->scores], cap,
          in->C, l);
      break;
  }
  TRY (cudaGetLastError ());
  unsigned n = 0;
  TRY (cudaMemcpyAsync (&n, counts, sizeof n, cudaMemcpyDeviceToHost, stream));
  TRY (cudaStreamSynchronize (stream));
  n = (unsigned) std::min ((int64_t) n, cap);
  if (n == 0)
    return cudaSuccess;

  keys_k <<< blocks (n), THREADS, 0, stream >>> (cand, order, n, key_in, val_in);
  TRY (cub::DeviceRadixSort::SortPairs (s + off[9], temp, key_in, key_out, val_in, val_out, (int) n, 0, 64,
          stream));
  gather_k <<< blocks (n), THREADS, 0, stream >>> (cand, val_out, n, sorted);
  int words = (int) ((n + 63) / 64);
  if (words > 65535)            /* the grid's rows; and a bit matrix of over 2 GB */
    return cudaErrorInvalidValue;
  TRY (cnn_cu_grow (mask, mask_size, (size_t) n * words * sizeof (uint64_t), stream));
  dim3 grid (words, words);
  mask_k <<< grid, 64, 0, stream >>> (sorted, n, words, nms->iou_threshold, nms->agnostic, (uint64_t *) *mask);
  size_t shared = (size_t) words * sizeof (uint64_t);
  if (shared > 48 * 1024)
    TRY (cudaFuncSetAttribute (select_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) shared));
  /* the kept boxes over the candidates, which are no longer needed */
  select_k <<< 1, 1024, shared, stream >>> (sorted, n, words, (const uint64_t *) *mask, nms->max_boxes, kept_idx,
      cand, counts + 1);
  TRY (cudaGetLastError ());
  unsigned kept = 0;
  TRY (cudaMemcpyAsync (&kept, counts + 1, sizeof kept, cudaMemcpyDeviceToHost, stream));
  TRY (cudaStreamSynchronize (stream));
  TRY (cudaMemcpyAsync (out, cand, sizeof (cnn_box) * kept, cudaMemcpyDeviceToHost, stream));
  TRY (cudaStreamSynchronize (stream));
  *n_out = (int) kept;
  return cudaSuccess;
}
