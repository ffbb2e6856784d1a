/* pool.c - MaxPool, AveragePool (1D/2D/3D, ceil_mode, count_include_pad,
 * dilations, auto_pad), GlobalAveragePool, GlobalMaxPool. */
#include "geometry.h"

#define SPATIAL_MIN_PIXELS 1024        /* output pixels of a plane from which MaxPool splits by rows */

typedef struct {
  cnn_window_params win;
  bool count_include_pad;
} pool_params;

static cnn_status
pool_parse (const cnn_node *n, void *params, GString *err)
{
  pool_params *p = params;
  if (n->op == CNN_OP_GLOBAL_AVG_POOL || n->op == CNN_OP_GLOBAL_MAX_POOL)
    return CNN_OK;
  cnn_status st = cnn_window_parse (n, &p->win, err);
  if (st)
    return st;
  if (!p->win.has_kernel)
    return cnn_node_fail (n, err, CNN_E_INVALID, "kernel_shape is required");
  if (n->op == CNN_OP_MAX_POOL && n->n_out > 1 && n->out[1] >= 0)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "the Indices output is not supported");
  if (n->op == CNN_OP_AVERAGE_POOL && (p->win.dil[0] > 1 || p->win.dil[1] > 1 || p->win.dil[2] > 1))
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "dilated AveragePool is not supported");
  p->count_include_pad = cnn_attr_int (n, "count_include_pad", 0) != 0;
  return CNN_OK;
}

bool
cnn_pool_count_include_pad (const cnn_exec *x)
{
  return x->node->op == CNN_OP_AVERAGE_POOL && ((const pool_params *) x->params)->count_include_pad;
}

cnn_status
cnn_pool_geometry (cnn_exec *x, cnn_window *w)
{
  const pool_params *p = x->params;
  const cnn_tensor *X = x->in[0];
  if (x->node->op == CNN_OP_GLOBAL_AVG_POOL || x->node->op == CNN_OP_GLOBAL_MAX_POOL) {
    if (X->ndim < 3 || X->ndim > 5)
      return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "input must have 1 to 3 spatial dims");
    cnn_window_params gp = { 0 };
    int64_t kernel[3];
    for (int i = 0; i < 3; i++)
      gp.stride[i] = gp.dil[i] = 1;
    for (int i = 0; i < X->ndim - 2; i++)
      kernel[i] = X->dims[2 + i];
    return cnn_window_resolve (x, &gp, kernel, X, w);
  }
  return cnn_window_resolve (x, &p->win, p->win.kernel, X, w);
}

static cnn_status
pool_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)))
    return st;
  cnn_window w;
  if ((st = cnn_pool_geometry (x, &w)))
    return st;
  const cnn_tensor *X = x->in[0];
  int64_t dims[5] = { X->dims[0], X->dims[1] };
  for (int i = 0; i < w.nsp; i++)
    dims[2 + i] = w.out[3 - w.nsp + i];
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, X->ndim, dims);
  return CNN_OK;
}

typedef struct {
  cnn_exec *x;
  cnn_window w;
  int64_t planes, bands;        /* the fast 2D MaxPool: tasks band of rows by band (cnn_spatial_split()) */
} pool_ctx;

CNN_MULTIVERSION static void
pool_plane (int64_t plane, int tid, void *data)
{
  pool_ctx *c = data;
  const cnn_window *w = &c->w;
  const pool_params *p = c->x->params;
  cnn_op op = c->x->node->op;
  bool is_max = op == CNN_OP_MAX_POOL || op == CNN_OP_GLOBAL_MAX_POOL;
  bool include_pad = op == CNN_OP_AVERAGE_POOL && p->count_include_pad;
  int64_t isz = w->in[0] * w->in[1] * w->in[2], osz = w->out[0] * w->out[1] * w->out[2];
  const float *xi = (const float *) c->x->in[0]->data + plane * isz;
  float *o = (float *) c->x->out[0]->data + plane * osz;
  for (int64_t z = 0; z < w->out[0]; z++)
    for (int64_t y = 0; y < w->out[1]; y++)
      for (int64_t xx = 0; xx < w->out[2]; xx++) {
        double acc = is_max ? -INFINITY : 0.0;
        int64_t count = 0, padded = 1;
        int64_t start[3] = { z * w->stride[0] - w->pad0[0], y * w->stride[1] - w->pad0[1],
          xx * w->stride[2] - w->pad0[2] };
        for (int d = 0; d < 3 && include_pad; d++) {
          int64_t lo = start[d], hi = MIN (start[d] + (w->kernel[d] - 1) * w->dil[d] + 1,
              w->in[d] + w->pad1[d]);
          padded *= MAX (hi - lo, 0);
        }
        for (int64_t kz = 0; kz < w->kernel[0]; kz++) {
          int64_t iz = start[0] + kz * w->dil[0];
          if (iz < 0 || iz >= w->in[0])
            continue;
          for (int64_t ky = 0; ky < w->kernel[1]; ky++) {
            int64_t iy = start[1] + ky * w->dil[1];
            if (iy < 0 || iy >= w->in[1])
              continue;
            for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
              int64_t ix = start[2] + kx * w->dil[2];
              if (ix < 0 || ix >= w->in[2])
                continue;
              float v = xi[(iz * w->in[1] + iy) * w->in[2] + ix];
              if (is_max)
                acc = v > acc ? v : acc;
              else
                acc += v;
              count++;
            }
          }
        }
        float r;
        if (is_max)
          r = (float) acc;
        else
          r = (float) (acc / (double) (include_pad ? padded : MAX (count, 1)));
        o[(z * w->out[1] + y) * w->out[2] + xx] = r;
      }
}

static cnn_status
pool_ref (cnn_exec *x)
{
  pool_ctx c = { x };
  cnn_status st = cnn_pool_geometry (x, &c.w);
  if (st)
    return st;
  int64_t planes = x->in[0]->dims[0] * x->in[0]->dims[1];
  for (int64_t i = 0; i < planes; i++)
    pool_plane (i, 0, &c);
  return CNN_OK;
}

/* The horizontal taps of one (already vertically reduced) row into the
 * output row: each tap is one pass over the valid columns (strided for
 * stride 2). */
static inline void
pool_row_taps (const cnn_window *w, const float *restrict row, float *restrict o, int64_t W, int64_t OW,
    bool is_max)
{
  int64_t sx = w->stride[2];
  for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
    int64_t ix0 = kx - w->pad0[2];
    int64_t lo = ix0 >= 0 ? 0 : (-ix0 + sx - 1) / sx;
    int64_t hi = W - ix0 > 0 ? MIN (OW, (W - ix0 + sx - 1) / sx) : 0;
    const float *restrict src = row + ix0;
    if (is_max)
      for (int64_t ox = lo; ox < hi; ox++)
        o[ox] = src[ox * sx] > o[ox] ? src[ox * sx] : o[ox];
    else
      for (int64_t ox = lo; ox < hi; ox++)
        o[ox] += src[ox * sx];
  }
}

/* 2D windows without dilation, one output row at a time: the window's rows
 * are first reduced into one row (contiguous, vectorized), then only the
 * horizontal taps are strided; averages divide by the clipped window size. */
CNN_MULTIVERSION static void
pool_plane_2d (int64_t plane, int tid, void *data)
{
  pool_ctx *c = data;
  const cnn_window *w = &c->w;
  const pool_params *p = c->x->params;
  bool is_max = c->x->node->op == CNN_OP_MAX_POOL || c->x->node->op == CNN_OP_GLOBAL_MAX_POOL;
  bool include_pad = c->x->node->op == CNN_OP_AVERAGE_POOL && p->count_include_pad;
  int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2], sx = w->stride[2];
  const float *xi = (const float *) c->x->in[0]->data + plane * H * W;
  float *out = (float *) c->x->out[0]->data + plane * OH * OW;
  float rowbuf[W <= 4096 ? W : 1];
  for (int64_t oy = 0; oy < OH; oy++) {
    int64_t ys = oy * w->stride[1] - w->pad0[1], ye = ys + w->kernel[1];
    int64_t y0 = MAX (ys, 0), y1 = MIN (ye, H);
    float *restrict o = out + oy * OW;
    for (int64_t ox = 0; ox < OW; ox++)
      o[ox] = is_max ? -INFINITY : 0.f;
    if (W <= 4096 && y1 - y0 > 1) {
      float *restrict r = rowbuf;
      /* max as the reference takes it: NaN never wins */
      for (int64_t i = 0; i < W; i++)
        r[i] = is_max ? -INFINITY : 0.f;
      for (int64_t y = y0; y < y1; y++) {
        const float *restrict src = xi + y * W;
        if (is_max)
          for (int64_t i = 0; i < W; i++)
            r[i] = src[i] > r[i] ? src[i] : r[i];
        else
          for (int64_t i = 0; i < W; i++)
            r[i] += src[i];
      }
      pool_row_taps (w, r, o, W, OW, is_max);
    } else {
      for (int64_t y = y0; y < y1; y++)
        pool_row_taps (w, xi + y * W, o, W, OW, is_max);
    }
    if (!is_max)
      for (int64_t ox = 0; ox < OW; ox++) {
        int64_t xs = ox * sx - w->pad0[2], xe = xs + w->kernel[2];
        int64_t count = include_pad ? (MIN (ye, H + w->pad1[1]) - ys) * (MIN (xe, W + w->pad1[2]) - xs) :
            (y1 - y0) * (MIN (xe, W) - MAX (xs, 0));
        o[ox] /= (float) MAX (count, 1);
      }
  }
}

/* Global pooling: one contiguous pass per plane (the window code would
 * take a loop setup per tap: 1.2 of SqueezeNet's 6.4 ms). */
CNN_MULTIVERSION static void
pool_plane_global (int64_t plane, int tid, void *data)
{
  pool_ctx *c = data;
  const cnn_window *w = &c->w;
  int64_t n = w->in[0] * w->in[1] * w->in[2];
  const float *restrict xi = (const float *) c->x->in[0]->data + plane * n;
  float *o = (float *) c->x->out[0]->data + plane;
  if (c->x->node->op == CNN_OP_GLOBAL_MAX_POOL) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
      m = xi[i] > m ? xi[i] : m;
    *o = m;
    return;
  }
  float part[8] = { 0 };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      part[k] += xi[i + k];
  double acc = 0;
  for (int k = 0; k < 8; k++)
    acc += part[k];
  for (; i < n; i++)
    acc += xi[i];
  *o = (float) (acc / (double) MAX (n, 1));
}

static void
pool_plane_max2d (int64_t task, int tid, void *data)
{
  pool_ctx *c = data;
  const cnn_window *w = &c->w;
  int64_t isz = w->in[1] * w->in[2], osz = w->out[1] * w->out[2], plane = task % c->planes, oy0, oy1;
  cnn_spatial_part (w->out[1], task / c->planes, c->bands, 1, &oy0, &oy1);
  cnn_maxpool2d_rows (w, (const float *) c->x->in[0]->data + plane * isz,
      (float *) c->x->out[0]->data + plane * osz, oy0, oy1);
}

static cnn_status
pool_fast (cnn_exec *x)
{
  pool_ctx c = { x };
  cnn_status st = cnn_pool_geometry (x, &c.w);
  if (st)
    return st;
  cnn_op op = x->node->op;
  bool plain_2d = c.w.nsp == 2 && c.w.dil[1] == 1 && c.w.dil[2] == 1;
  void (*fn) (int64_t, int, void *) = op == CNN_OP_GLOBAL_AVG_POOL || op == CNN_OP_GLOBAL_MAX_POOL ?
      pool_plane_global : op == CNN_OP_MAX_POOL && cnn_maxpool2d_applies (&c.w) ? pool_plane_max2d :
      plain_2d ? pool_plane_2d : pool_plane;
  c.planes = x->in[0]->dims[0] * x->in[0]->dims[1];
  /* small pools: waking the pool costs more than the work */
  cnn_threadpool *pool = cnn_tensor_numel (x->in[0]) > 32768 ? x->pool : NULL;
  /* large planes by bands of rows, each thread the part of the image that
   * the convolutions around give it (SqueezeNet's 64 x 111 x 111 -> 55 x
   * 55: 0.075 -> 0.064 ms at 2 threads in the model) */
  int threads = cnn_threadpool_size (pool);
  c.bands = fn == pool_plane_max2d && threads > 1 && cnn_spatial_split () && c.w.out[1] >= 2 * threads &&
      c.w.out[1] * c.w.out[2] >= SPATIAL_MIN_PIXELS ? threads : 1;
  cnn_parallel_for (pool, c.bands * c.planes, fn, &c);
  return CNN_OK;
}

static int64_t
pool_flops (const cnn_exec *x)
{
  return cnn_tensor_numel (x->in[0]);
}

#define POOL(fn, name) \
  CNN_OP_DEF (fn) = { name, sizeof (pool_params), pool_parse, pool_infer, pool_ref, pool_fast, \
    NULL, pool_flops, 0 }

POOL (max_pool, "MaxPool");
POOL (average_pool, "AveragePool");
POOL (global_average_pool, "GlobalAveragePool");
POOL (global_max_pool, "GlobalMaxPool");
