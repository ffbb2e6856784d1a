/* detect-math.h - one candidate of each decoder, shared by the host
 * decoder (detect.c) and the CUDA kernels (cuda/detect.cu), so that both
 * decode with the same arithmetic in the same order.  Each returns 1 and
 * fills @b where the candidate reaches the threshold, else 0.  Float32
 * outputs of one item. */
#ifndef CNN_DETECT_MATH_H
#define CNN_DETECT_MATH_H

#include "cnn-detect.h"
#include <math.h>

#ifdef __CUDACC__
#define CNN_HD __host__ __device__ __forceinline__
#else
#define CNN_HD static inline
#endif

CNN_HD float
cnn_det_sigmoid (float x)
{
  return 1.f / (1.f + expf (-x));
}

CNN_HD void
cnn_det_centre_box (float cx, float cy, float w, float h, float conf, int cls, cnn_box *b)
{
  b->x1 = cx - w / 2;
  b->y1 = cy - h / 2;
  b->x2 = cx + w / 2;
  b->y2 = cy + h / 2;
  b->confidence = conf;
  b->class_id = cls;
}

/* YOLOv2/v3 grid of output @set: [A*(5+C), H, W] at @d, anchor @a, cell
 * @off (y * W + x) with tx, ty, tw, th, to, classes. */
CNN_HD int
cnn_det_grid_cell (const cnn_decoder_options *o, const float *d, int set, int C, int64_t H, int64_t W,
    int a, int64_t off, cnn_box *b)
{
  int64_t plane = H * W;
  const float *base = d + (int64_t) a * (5 + C) * plane;
  float obj = cnn_det_sigmoid (base[4 * plane + off]);
  if (obj < o->threshold)
    return 0;
  int v2 = o->type == CNN_DECODER_YOLOV2;
  float mx = -INFINITY;
  for (int c = 0; c < C; c++)
    mx = fmaxf (mx, base[(5 + c) * plane + off]);
  /* softmax (v2) or sigmoid (v3) of each class; the first greatest wins */
  int best = 0;
  float top = 0, sum = 0;
  for (int c = 0; c < C; c++) {
    float l = base[(5 + c) * plane + off], e = v2 ? expf (l - mx) : cnn_det_sigmoid (l);
    sum += e;
    if (c == 0 || e > top) {
      best = c;
      top = e;
    }
  }
  float conf = obj * (v2 ? top / sum : top);
  if (conf < o->threshold)
    return 0;
  float cell_w = (float) o->input_width / W, cell_h = (float) o->input_height / H;
  int64_t x = off % W, y = off / W;
  float cx = (x + cnn_det_sigmoid (base[off])) * cell_w, cy = (y + cnn_det_sigmoid (base[plane + off])) * cell_h;
  float aw = o->anchors[set][2 * a], ah = o->anchors[set][2 * a + 1];
  float w = expf (base[2 * plane + off]) * (v2 ? aw * cell_w : aw);
  float h = expf (base[3 * plane + off]) * (v2 ? ah * cell_h : ah);
  cnn_det_centre_box (cx, cy, w, h, conf, best, b);
  return 1;
}

/* Where row @idx of N lies: for YOLOX raw outputs, cell @k of a grid @gw
 * cells wide at stride @stride (the grids of strides 8, 16 and 32, in that
 * order); 0 for rows past the grids, which are not boxes. */
CNN_HD int
cnn_det_row_place (const cnn_decoder_options *o, int64_t N, int64_t idx, int64_t *k, int64_t *gw, int *stride)
{
  *k = idx;
  *gw = N;
  *stride = 1;
  if (o->type != CNN_DECODER_YOLOX)
    return idx < N;
  for (int s = 0; s < 3; s++) {
    int st = 8 << s;
    int64_t w = o->input_width / st, h = o->input_height / st;
    if (*k < w * h) {
      *gw = w;
      *stride = st;
      return 1;
    }
    *k -= w * h;
  }
  return 0;
}

/* YOLOv5 / YOLOX row @r of 5 + C values; YOLOX raw: cell @k of a grid @gw
 * cells wide at stride @stride. */
CNN_HD int
cnn_det_row (const cnn_decoder_options *o, const float *r, int C, int64_t k, int64_t gw, int stride, cnn_box *b)
{
  int best = 0;
  for (int c = 1; c < C; c++)
    if (r[5 + c] > r[5 + best])
      best = c;
  float conf = r[4] * r[5 + best];
  if (conf < o->threshold)
    return 0;
  float cx = r[0], cy = r[1], w = r[2], h = r[3];
  if (o->type == CNN_DECODER_YOLOX) {
    cx = (cx + k % gw) * stride;
    cy = (cy + k / gw) * stride;
    w = expf (w) * stride;
    h = expf (h) * stride;
  }
  cnn_det_centre_box (cx, cy, w, h, conf, best, b);
  return 1;
}

/* YOLOv8 column @i of [4 + C, N] at @d. */
CNN_HD int
cnn_det_column (const cnn_decoder_options *o, const float *d, int64_t N, int C, int64_t i, cnn_box *b)
{
  int best = 0;
  for (int c = 1; c < C; c++)
    if (d[(4 + c) * N + i] > d[(4 + best) * N + i])
      best = c;
  float conf = d[(4 + best) * N + i];
  if (!(conf >= o->threshold))
    return 0;
  cnn_det_centre_box (d[i], d[N + i], d[2 * N + i], d[3 * N + i], conf, best, b);
  return 1;
}

/* SSD priors in generation order: per step, per cell (rows of cells), per
 * min size. */
CNN_HD int64_t
cnn_det_n_priors (const cnn_decoder_options *o)
{
  int64_t n = 0;
  for (int k = 0; k < o->n_steps; k++) {
    int step = o->steps[k];
    n += (int64_t) ((o->input_width + step - 1) / step) * ((o->input_height + step - 1) / step) *
        o->n_min_sizes[k];
  }
  return n;
}

/* Prior @i (below cnn_det_n_priors()): centre and size relative to the
 * input. */
CNN_HD void
cnn_det_prior (const cnn_decoder_options *o, int64_t i, float *pcx, float *pcy, float *pw, float *ph)
{
  for (int k = 0; k < o->n_steps; k++) {
    int step = o->steps[k], sizes = o->n_min_sizes[k];
    int64_t gw = (o->input_width + step - 1) / step, gh = (o->input_height + step - 1) / step;
    if (i >= gw * gh * sizes) {
      i -= gw * gh * sizes;
      continue;
    }
    int64_t cell = i / sizes, fx = cell % gw, fy = cell / gw;
    int size = (int) (i % sizes);
    *pcx = (fx + 0.5f) / gw;
    *pcy = (fy + 0.5f) / gh;
    *pw = o->min_sizes[k][size] / o->input_width;
    *ph = o->min_sizes[k][size] / o->input_height;
    return;
  }
  *pcx = *pcy = *pw = *ph = 0;  /* past the priors: callers stop before */
}

/* SSD row @i: scores @s [N, C], boxes @bx [N, 4]. */
CNN_HD int
cnn_det_ssd_row (const cnn_decoder_options *o, const float *s, const float *bx, int C, int64_t i, cnn_box *b)
{
  const float *si = s + i * C;
  int best = -1;
  for (int c = 0; c < C; c++)
    if (c != o->background_class && (best < 0 || si[c] > si[best]))
      best = c;
  if (best < 0 || si[best] < o->threshold)
    return 0;
  float x1 = bx[4 * i], y1 = bx[4 * i + 1], x2 = bx[4 * i + 2], y2 = bx[4 * i + 3];
  if (o->type == CNN_DECODER_SSD_PRIORS) {
    float pcx, pcy, pw, ph;
    cnn_det_prior (o, i, &pcx, &pcy, &pw, &ph);
    float cx = pcx + x1 * o->center_variance * pw, cy = pcy + y1 * o->center_variance * ph;
    float w = pw * expf (x2 * o->size_variance), h = ph * expf (y2 * o->size_variance);
    x1 = cx - w / 2;
    y1 = cy - h / 2;
    x2 = cx + w / 2;
    y2 = cy + h / 2;
  }
  b->x1 = x1 * o->input_width;
  b->y1 = y1 * o->input_height;
  b->x2 = x2 * o->input_width;
  b->y2 = y2 * o->input_height;
  b->confidence = si[best];
  b->class_id = best;
  return 1;
}

CNN_HD float
cnn_det_iou (const cnn_box *a, const cnn_box *b)
{
  float ix = fmaxf (0.f, fminf (a->x2, b->x2) - fmaxf (a->x1, b->x1));
  float iy = fmaxf (0.f, fminf (a->y2, b->y2) - fmaxf (a->y1, b->y1));
  float inter = ix * iy;
  float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
  return ua > 0 ? inter / ua : 0.f;
}

#endif /* CNN_DETECT_MATH_H */
