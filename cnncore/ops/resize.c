/* resize.c - Resize (opset 10 to 13+) and Upsample (7, 9): nearest and
 * (multi-)linear interpolation with every coordinate transformation mode. */
#include "geometry.h"

enum { COORD_HALF_PIXEL, COORD_PYTORCH_HALF_PIXEL, COORD_ALIGN_CORNERS, COORD_ASYMMETRIC,
  COORD_TF_HALF_PIXEL_FOR_NN, COORD_TF_CROP_AND_RESIZE };
enum { NEAREST_ROUND_PREFER_FLOOR, NEAREST_ROUND_PREFER_CEIL, NEAREST_FLOOR, NEAREST_CEIL,
  NEAREST_SIMPLE };

typedef struct {
  bool linear;
  int coord, nearest;
  float extrapolation;
  float scales[CNN_MAX_DIMS];
  int n_scales;                 /* Upsample-7 attribute */
} resize_params;

static cnn_status
resize_parse (const cnn_node *n, void *params, GString *err)
{
  resize_params *p = params;
  const char *mode = cnn_attr_string (n, "mode", "nearest");
  if (strcmp (mode, "nearest") == 0)
    p->linear = false;
  else if (strcmp (mode, "linear") == 0 || strcmp (mode, "bilinear") == 0)
    p->linear = true;
  else
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "mode '%s' is not supported (nearest "
        "and linear are)", mode);
  bool legacy = n->op == CNN_OP_UPSAMPLE || n->opset < 11;
  /* Upsample and Resize-10 use asymmetric coordinates and truncating nearest. */
  p->coord = COORD_ASYMMETRIC;
  p->nearest = NEAREST_SIMPLE;
  if (!legacy) {
    const char *c = cnn_attr_string (n, "coordinate_transformation_mode", "half_pixel");
    static const char *names[] = { "half_pixel", "pytorch_half_pixel", "align_corners",
      "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize" };
    p->coord = -1;
    for (unsigned i = 0; i < G_N_ELEMENTS (names); i++)
      if (strcmp (c, names[i]) == 0)
        p->coord = (int) i;
    if (p->coord < 0)
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "coordinate_transformation_mode '%s'", c);
    const char *nm = cnn_attr_string (n, "nearest_mode", "round_prefer_floor");
    static const char *nnames[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };
    p->nearest = -1;
    for (unsigned i = 0; i < G_N_ELEMENTS (nnames); i++)
      if (strcmp (nm, nnames[i]) == 0)
        p->nearest = (int) i;
    if (p->nearest < 0)
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "nearest_mode '%s'", nm);
    if (cnn_attr_int (n, "exclude_outside", 0))
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "exclude_outside is not supported");
    if (cnn_node_attr (n, "antialias") && cnn_attr_int (n, "antialias", 0))
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "antialias is not supported");
  }
  p->extrapolation = cnn_attr_float (n, "extrapolation_value", 0.f);
  p->n_scales = cnn_attr_floats (n, "scales", p->scales, CNN_MAX_DIMS);
  if (p->n_scales > CNN_MAX_DIMS)
    return cnn_node_fail (n, err, CNN_E_INVALID, "too many scales");
  return CNN_OK;
}

typedef struct {
  float scale[CNN_MAX_DIMS], roi0[CNN_MAX_DIMS], roi1[CNN_MAX_DIMS];
  int64_t out[CNN_MAX_DIMS];
} resize_geom;

static cnn_status
resize_geometry (cnn_exec *x, resize_geom *g)
{
  const resize_params *p = x->params;
  const cnn_tensor *X = x->in[0];
  int nd = X->ndim;
  const cnn_tensor *scales = NULL, *sizes = NULL, *roi = NULL;
  cnn_status st;
  for (int k = 1; k < x->n_in; k++)
    if ((st = cnn_need_const (x, k)))
      return st;
  if (x->node->op == CNN_OP_UPSAMPLE || x->node->opset < 11) {
    if (x->node->opset >= 9 || x->node->op == CNN_OP_RESIZE)
      scales = x->n_in > 1 ? x->in[1] : NULL;
  } else {
    roi = x->n_in > 1 ? x->in[1] : NULL;
    scales = x->n_in > 2 ? x->in[2] : NULL;
    sizes = x->n_in > 3 ? x->in[3] : NULL;
    if (scales && cnn_tensor_numel (scales) == 0)
      scales = NULL;
    if (roi && cnn_tensor_numel (roi) == 0)
      roi = NULL;
  }
  for (int d = 0; d < nd; d++) {
    g->roi0[d] = 0.f;
    g->roi1[d] = 1.f;
  }
  if (roi && p->coord == COORD_TF_CROP_AND_RESIZE) {
    if (cnn_tensor_numel (roi) != 2 * nd)
      return cnn_exec_fail (x, CNN_E_SHAPE, "roi must have 2 x rank values");
    for (int d = 0; d < nd; d++) {
      g->roi0[d] = (float) cnn_tensor_get_double (roi, d);
      g->roi1[d] = (float) cnn_tensor_get_double (roi, nd + d);
    }
  }
  if (sizes) {
    if (cnn_tensor_numel (sizes) != nd)
      return cnn_exec_fail (x, CNN_E_SHAPE, "sizes must have one value per dim");
    for (int d = 0; d < nd; d++) {
      g->out[d] = cnn_tensor_get_int (sizes, d);
      if (g->out[d] < 0 || g->out[d] > (1 << 24))
        return cnn_exec_fail (x, CNN_E_SHAPE, "sizes[%d] = %" G_GINT64_FORMAT, d, g->out[d]);
      g->scale[d] = X->dims[d] ? (float) g->out[d] / (float) X->dims[d] : 1.f;
    }
    return CNN_OK;
  }
  float sc[CNN_MAX_DIMS];
  if (scales) {
    if (cnn_tensor_numel (scales) != nd || scales->dtype != CNN_DTYPE_FLOAT32)
      return cnn_exec_fail (x, CNN_E_SHAPE, "scales must be float with one value per dim");
    for (int d = 0; d < nd; d++)
      sc[d] = ((const float *) scales->data)[d];
  } else if (p->n_scales == nd) {
    memcpy (sc, p->scales, sizeof (float) * nd);
  } else {
    return cnn_exec_fail (x, CNN_E_INVALID, "needs scales or sizes");
  }
  for (int d = 0; d < nd; d++) {
    if (!(sc[d] > 0.f) || sc[d] * X->dims[d] > (1 << 24))
      return cnn_exec_fail (x, CNN_E_SHAPE, "scale %g for dim %d", sc[d], d);
    g->scale[d] = sc[d];
    float span = p->coord == COORD_TF_CROP_AND_RESIZE ? g->roi1[d] - g->roi0[d] : 1.f;
    g->out[d] = (int64_t) floorf (X->dims[d] * span * sc[d]);
  }
  return CNN_OK;
}

static cnn_status
resize_infer (cnn_exec *x)
{
  cnn_status st;
  resize_geom g;
  if ((st = cnn_need_inputs (x, 1, 4)) || (st = resize_geometry (x, &g)))
    return st;
  if (x->in[0]->dtype != CNN_DTYPE_FLOAT32 && ((const resize_params *) x->params)->linear)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "linear resize needs float");
  cnn_set_out (x, 0, x->in[0]->dtype, x->in[0]->ndim, g.out);
  return CNN_OK;
}

/* Output coordinate -> input coordinate along one dim. */
static float
source_coord (const resize_params *p, const resize_geom *g, int d, int64_t o, int64_t in)
{
  float s = g->scale[d];
  int64_t out = g->out[d];
  switch (p->coord) {
    case COORD_HALF_PIXEL: return (o + 0.5f) / s - 0.5f;
    case COORD_PYTORCH_HALF_PIXEL: return out > 1 ? (o + 0.5f) / s - 0.5f : 0.f;
    case COORD_ALIGN_CORNERS: {
      /* the spec divides by the unrounded resized length in * scale */
      float len = in * s;
      return len > 1.f ? o * (float) (in - 1) / (len - 1.f) : 0.f;
    }
    case COORD_TF_HALF_PIXEL_FOR_NN: return (o + 0.5f) / s;
    case COORD_TF_CROP_AND_RESIZE:
      return out > 1 ? g->roi0[d] * (in - 1) + o * (g->roi1[d] - g->roi0[d]) * (in - 1) / (out - 1)
          : 0.5f * (g->roi0[d] + g->roi1[d]) * (in - 1);
    default: return o / s;
  }
}

static int64_t
nearest_index (const resize_params *p, float c, float scale)
{
  switch (p->nearest) {
    case NEAREST_ROUND_PREFER_FLOOR:
      return c == floorf (c) + 0.5f ? (int64_t) floorf (c) : (int64_t) roundf (c);
    case NEAREST_ROUND_PREFER_CEIL: return (int64_t) roundf (c);
    case NEAREST_FLOOR: return (int64_t) floorf (c);
    case NEAREST_CEIL: return (int64_t) ceilf (c);
    default: return scale < 1.f ? (int64_t) ceilf (c) : (int64_t) c;
  }
}

static cnn_status
resize_compute (cnn_exec *x)
{
  const resize_params *p = x->params;
  resize_geom g;
  cnn_status st = resize_geometry (x, &g);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  size_t es = cnn_dtype_size (X->dtype);
  int64_t xst[CNN_MAX_DIMS], ost[CNN_MAX_DIMS], n = cnn_tensor_numel (O);
  cnn_strides (X, xst);
  cnn_strides (O, ost);
  /* per-dim tables: lower index, upper index, weight, outside flag */
  int64_t total = 0;
  for (int d = 0; d < nd; d++)
    total += O->dims[d];
  int64_t *lo = g_new (int64_t, MAX (total, 1)), *hi = g_new (int64_t, MAX (total, 1));
  float *wt = g_new (float, MAX (total, 1));
  bool *outside = g_new0 (bool, MAX (total, 1));
  int64_t base[CNN_MAX_DIMS];
  for (int d = 0, b = 0; d < nd; d++) {
    base[d] = b;
    int64_t in = X->dims[d];
    for (int64_t o = 0; o < O->dims[d]; o++, b++) {
      float c = source_coord (p, &g, d, o, in);
      if (p->coord == COORD_TF_CROP_AND_RESIZE && (c < 0 || c > in - 1))
        outside[b] = true;
      if (p->linear) {
        float cc = CLAMP (c, 0.f, (float) (in - 1));
        int64_t i0 = (int64_t) floorf (cc);
        lo[b] = MIN (i0, in - 1);
        hi[b] = MIN (i0 + 1, in - 1);
        wt[b] = cc - (float) i0;
      } else {
        int64_t i = nearest_index (p, c, g.scale[d]);
        lo[b] = hi[b] = CLAMP (i, 0, in - 1);
        wt[b] = 0.f;
      }
    }
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, idx[CNN_MAX_DIMS];
    bool out = false;
    for (int d = 0; d < nd; d++) {
      idx[d] = base[d] + r / ost[d];
      r %= ost[d];
      out |= outside[idx[d]];
    }
    if (out) {
      ((float *) O->data)[i] = p->extrapolation;
      continue;
    }
    if (!p->linear) {
      int64_t src = 0;
      for (int d = 0; d < nd; d++)
        src += lo[idx[d]] * xst[d];
      memcpy ((char *) O->data + i * es, (const char *) X->data + src * es, es);
      continue;
    }
    /* n-linear: sum over the corners of dims that interpolate */
    int id[CNN_MAX_DIMS], k = 0;
    int64_t src0 = 0;
    for (int d = 0; d < nd; d++) {
      if (hi[idx[d]] != lo[idx[d]] && wt[idx[d]] != 0.f)
        id[k++] = d;
      src0 += lo[idx[d]] * xst[d];
    }
    double acc = 0;
    for (int c = 0; c < (1 << k); c++) {
      double w = 1;
      int64_t src = src0;
      for (int j = 0; j < k; j++) {
        int64_t b = idx[id[j]];
        if (c & (1 << j)) {
          w *= wt[b];
          src += (hi[b] - lo[b]) * xst[id[j]];
        } else {
          w *= 1.0 - wt[b];
        }
      }
      acc += w * ((const float *) X->data)[src];
    }
    ((float *) O->data)[i] = (float) acc;
  }
  g_free (lo);
  g_free (hi);
  g_free (wt);
  g_free (outside);
  return CNN_OK;
}

/* Fast path: only the last two dims resize (images), float data.  Each
 * source row a task needs is resampled across once (column tables) into
 * one of two row buffers, then each output row blends its two (linear) or
 * copies its one (nearest): contiguous, vectorized work, and upsampling 33
 * rows to 257 resamples 33 rows, not 514.  Output rows whose source
 * coordinates fall outside (tf_crop_and_resize) take the per-pixel loop. */
typedef struct {
  cnn_exec *x;
  const cnn_resize_tables *t;
  int64_t rows;                 /* output rows per task */
  int64_t tasks_per_plane;
  bool any_xout;
} rz_ctx;

CNN_MULTIVERSION static void
resample_row (const cnn_resize_tables *t, const float *a, float *h)
{
  /* nearest at a whole factor: each value repeated, no gathers */
  if (t->dup == 2)
    for (int64_t j = 0; j < t->iw; j++) {
      h[2 * j] = a[j];
      h[2 * j + 1] = a[j];
    }
  else if (t->dup > 2)
    for (int64_t j = 0; j < t->iw; j++)
      for (int64_t r = 0; r < t->dup; r++)
        h[j * t->dup + r] = a[j];
  else if (t->linear)
    for (int64_t i = 0; i < t->ow; i++)
      h[i] = a[t->x0[i]] + t->wx[i] * (a[t->x1[i]] - a[t->x0[i]]);
  else
    for (int64_t i = 0; i < t->ow; i++)
      h[i] = a[t->x0[i]];
}

/* Output row @y of a plane (source @src) into @dst: per pixel where some
 * source coordinates fall outside, else from the source rows resampled
 * across into @buf (two rows, @held: which source row each holds, -1
 * none), a row held there not resampled again. */
static inline void
resize_row (const cnn_resize_tables *t, bool any_xout, const float *src, int64_t y, float *const *buf,
    int64_t *held, float *restrict dst)
{
  if (t->yout[y] || any_xout) {
    const float *a = src + t->y0[y] * t->iw, *b = src + t->y1[y] * t->iw;
    for (int64_t i = 0; i < t->ow; i++) {
      if (t->yout[y] || t->xout[i])
        dst[i] = t->extrapolation;
      else if (!t->linear)
        dst[i] = a[t->x0[i]];
      else {
        float top = a[t->x0[i]] + t->wx[i] * (a[t->x1[i]] - a[t->x0[i]]);
        float bot = b[t->x0[i]] + t->wx[i] * (b[t->x1[i]] - b[t->x0[i]]);
        dst[i] = top + t->wy[y] * (bot - top);
      }
    }
    return;
  }
  if (!t->linear) {
    resample_row (t, src + t->y0[y] * t->iw, dst);
    return;
  }
  /* the two source rows, each resampled into a buffer unless held there,
   * never evicting the other */
  int64_t want0 = t->y0[y], want1 = t->y1[y];
  int s0 = held[0] == want0 ? 0 : held[1] == want0 ? 1 : -1;
  int s1 = held[0] == want1 ? 0 : held[1] == want1 ? 1 : -1;
  if (s0 < 0) {
    s0 = s1 == 0 ? 1 : 0;
    resample_row (t, src + want0 * t->iw, buf[s0]);
    held[s0] = want0;
    if (want1 == want0)
      s1 = s0;
  }
  if (s1 < 0) {
    s1 = 1 - s0;
    resample_row (t, src + want1 * t->iw, buf[s1]);
    held[s1] = want1;
  }
  const float *restrict top = buf[s0], *restrict bot = buf[s1];
  float wy = t->wy[y];
  for (int64_t i = 0; i < t->ow; i++)
    dst[i] = top[i] + wy * (bot[i] - top[i]);
}

CNN_MULTIVERSION static void
resize_rows (int64_t task, int tid, void *data)
{
  rz_ctx *c = data;
  const cnn_resize_tables *t = c->t;
  int64_t plane = task / c->tasks_per_plane, y0 = task % c->tasks_per_plane * c->rows;
  int64_t y1 = MIN (t->oh, y0 + c->rows);
  const float *src = (const float *) c->x->in[0]->data + plane * t->ih * t->iw;
  float *out = (float *) c->x->out[0]->data + plane * t->oh * t->ow;
  float *buf[2] = { (float *) c->x->scratch + (size_t) tid * 2 * t->ow, NULL };
  buf[1] = buf[0] + t->ow;
  int64_t held[2] = { -1, -1 };
  for (int64_t y = y0; y < y1; y++) {
    float *restrict dst = out + y * t->ow;
    /* nearest: the row above copied where it came from the same source row */
    if (!t->linear && !t->yout[y] && !c->any_xout && y > y0 && t->y0[y] == t->y0[y - 1])
      memcpy (dst, dst - t->ow, sizeof (float) * t->ow);
    else
      resize_row (t, c->any_xout, src, y, buf, held, dst);
  }
}

static void
axis_table (const resize_params *p, const resize_geom *g, int d, int64_t in, int64_t out, int64_t *i0,
    int64_t *i1, float *w, bool *outside)
{
  for (int64_t o = 0; o < out; o++) {
    float c = source_coord (p, g, d, o, in);
    outside[o] = p->coord == COORD_TF_CROP_AND_RESIZE && (c < 0 || c > in - 1);
    if (p->linear) {
      float cc = CLAMP (c, 0.f, (float) (in - 1));
      int64_t f = (int64_t) floorf (cc);
      i0[o] = MIN (f, in - 1);
      i1[o] = MIN (f + 1, in - 1);
      w[o] = cc - (float) f;
    } else {
      i0[o] = i1[o] = CLAMP (nearest_index (p, c, g->scale[d]), 0, in - 1);
      w[o] = 0.f;
    }
  }
}

bool
cnn_resize_tables_new (cnn_exec *x, cnn_resize_tables *t)
{
  const resize_params *p = x->params;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  memset (t, 0, sizeof *t);
  bool ok = nd >= 2 && X->dtype == CNN_DTYPE_FLOAT32;
  for (int d = 0; ok && d < nd - 2; d++)
    ok = X->dims[d] == O->dims[d];
  resize_geom g;
  if (!ok || resize_geometry (x, &g) != CNN_OK)
    return false;
  for (int d = 0; d < nd - 2; d++)
    if (p->coord == COORD_TF_CROP_AND_RESIZE && (g.roi0[d] != 0.f || g.roi1[d] != 1.f))
      return false;
  t->ih = X->dims[nd - 2];
  t->iw = X->dims[nd - 1];
  t->oh = O->dims[nd - 2];
  t->ow = O->dims[nd - 1];
  t->linear = p->linear;
  t->extrapolation = p->extrapolation;
  t->x0 = g_new (int64_t, MAX (t->ow, 1));
  t->x1 = g_new (int64_t, MAX (t->ow, 1));
  t->wx = g_new (float, MAX (t->ow, 1));
  t->xout = g_new (bool, MAX (t->ow, 1));
  t->y0 = g_new (int64_t, MAX (t->oh, 1));
  t->y1 = g_new (int64_t, MAX (t->oh, 1));
  t->wy = g_new (float, MAX (t->oh, 1));
  t->yout = g_new (bool, MAX (t->oh, 1));
  axis_table (p, &g, nd - 1, t->iw, t->ow, t->x0, t->x1, t->wx, t->xout);
  axis_table (p, &g, nd - 2, t->ih, t->oh, t->y0, t->y1, t->wy, t->yout);
  if (!t->linear && t->iw > 0 && t->ow % t->iw == 0 && t->ow > t->iw) {
    t->dup = t->ow / t->iw;
    for (int64_t i = 0; i < t->ow && t->dup; i++)
      if (t->xout[i] || t->x0[i] != i / t->dup)
        t->dup = 0;
  }
  return true;
}

void
cnn_resize_tables_clear (cnn_resize_tables *t)
{
  g_free (t->x0);
  g_free (t->x1);
  g_free (t->wx);
  g_free (t->xout);
  g_free (t->y0);
  g_free (t->y1);
  g_free (t->wy);
  g_free (t->yout);
  memset (t, 0, sizeof *t);
}

/* two resampled rows per thread */
static size_t
resize_scratch (const cnn_exec *x)
{
  const cnn_tensor *O = x->out[0];
  return O->ndim >= 2 ? 2 * (size_t) O->dims[O->ndim - 1] * sizeof (float) * MAX (x->threads, 1) : 0;
}

static cnn_status
resize_fast (cnn_exec *x)
{
  cnn_resize_tables t;
  if (!cnn_resize_tables_new (x, &t))
    return resize_compute (x);
  if (x->scratch_size < resize_scratch (x)) {
    cnn_resize_tables_clear (&t);
    return resize_compute (x);
  }
  int64_t planes = cnn_tensor_numel (x->out[0]) / MAX (t.ow * t.oh, 1);
  int threads = MAX (x->threads, 1);
  /* about 8 tasks a thread, rows of one plane each */
  int64_t rows = CLAMP (planes * t.oh / (8 * threads), 1, MAX (t.oh, 1));
  rz_ctx c = { x, &t, rows, (t.oh + rows - 1) / rows, false };
  for (int64_t i = 0; i < t.ow; i++)
    c.any_xout |= t.xout[i];
  cnn_parallel_for (planes * t.oh * t.ow > 16384 ? x->pool : NULL, planes * c.tasks_per_plane, resize_rows, &c);
  cnn_resize_tables_clear (&t);
  return CNN_OK;
}

/* ---- a Resize writing NHWC for the Transpose after it (session.c) ---- */

/* Whether @tr, reading @rz's output alone, moves its channels last. */
bool
cnn_resize_nhwc_applies (cnn_exec *rz, cnn_exec *tr)
{
  int perm[CNN_MAX_DIMS];
  const cnn_tensor *O = rz->out[0];
  if (tr->node->op != CNN_OP_TRANSPOSE || O->ndim != 4 || O->dtype != CNN_DTYPE_FLOAT32 ||
      tr->in[0] != rz->out[0] || cnn_transpose_perm (tr, perm) != CNN_OK ||
      perm[0] != 0 || perm[1] != 2 || perm[2] != 3 || perm[3] != 1)
    return false;
  cnn_resize_tables t;
  if (!cnn_resize_tables_new (rz, &t))
    return false;
  cnn_resize_tables_clear (&t);
  return true;
}

/* Per thread: which source row each of the rows below holds, a row of
 * every channel (transposed into the output row), then two resampled
 * source rows per channel; 64-byte aligned. */
static size_t
nhwc_per_thread (const cnn_exec *tr)
{
  const cnn_tensor *O = tr->pre->out[0];
  size_t bytes = (size_t) 2 * O->dims[1] * sizeof (int64_t) + (size_t) 3 * O->dims[1] * O->dims[3] * sizeof (float);
  return (bytes + 63) / 64 * 64;
}

size_t
cnn_resize_nhwc_scratch (const cnn_exec *tr)
{
  return nhwc_per_thread (tr) * MAX (tr->threads, 1);
}

typedef struct {
  const cnn_exec *rz;
  const cnn_resize_tables *t;
  float *out;
  int64_t C, rows, bands;
  bool any_xout;
  char *scratch;
  size_t per_thread;
} nhwc_ctx;

/* Task: a band of output rows of one image, every channel: each row of
 * every channel resized into a block, then the block transposed into the
 * NHWC output row. */
CNN_MULTIVERSION static void
resize_nhwc_rows (int64_t task, int tid, void *data)
{
  const nhwc_ctx *c = data;
  const cnn_resize_tables *t = c->t;
  int64_t n = task / c->bands, y0 = task % c->bands * c->rows, y1 = MIN (t->oh, y0 + c->rows);
  int64_t *held = (int64_t *) (c->scratch + (size_t) tid * c->per_thread);
  float *block = (float *) (held + 2 * c->C), *rows = block + c->C * t->ow;
  for (int64_t i = 0; i < 2 * c->C; i++)
    held[i] = -1;
  const float *in = (const float *) c->rz->in[0]->data + n * c->C * t->ih * t->iw;
  for (int64_t y = y0; y < y1; y++) {
    for (int64_t ch = 0; ch < c->C; ch++) {
      float *buf[2] = { rows + 2 * ch * t->ow, rows + (2 * ch + 1) * t->ow };
      resize_row (t, c->any_xout, in + ch * t->ih * t->iw, y, buf, held + 2 * ch, block + ch * t->ow);
    }
    cnn_transpose_block32 (block, c->C, t->ow, t->ow, c->out + ((n * t->oh + y) * t->ow) * c->C, c->C);
  }
}

cnn_status
cnn_resize_nhwc (cnn_exec *tr)
{
  cnn_exec *rz = tr->pre;
  cnn_resize_tables t;
  if (!rz || !cnn_resize_tables_new (rz, &t))
    return cnn_exec_fail (tr, CNN_E_BACKEND, "fused Resize to NHWC does not apply");
  size_t per_thread = nhwc_per_thread (tr);
  if (tr->scratch_size < cnn_resize_nhwc_scratch (tr)) {
    cnn_resize_tables_clear (&t);
    return cnn_exec_fail (tr, CNN_E_BACKEND, "scratch too small");
  }
  const cnn_tensor *O = rz->out[0];
  int64_t N = O->dims[0], C = O->dims[1];
  int threads = MAX (tr->threads, 1);
  /* about 8 tasks a thread, bands of rows (each keeps its channels' rows) */
  int64_t rows = CLAMP (N * t.oh / (8 * threads), 1, MAX (t.oh, 1));
  nhwc_ctx c = { rz, &t, tr->out[0]->data, C, rows, (t.oh + rows - 1) / rows, false, tr->scratch, per_thread };
  for (int64_t i = 0; i < t.ow; i++)
    c.any_xout |= t.xout[i];
  cnn_parallel_for (N * C * t.oh * t.ow > 16384 ? tr->pool : NULL, N * c.bands, resize_nhwc_rows, &c);
  cnn_resize_tables_clear (&t);
  return CNN_OK;
}

CNN_OP_DEF (resize) = { "Resize", sizeof (resize_params), resize_parse, resize_infer,
  resize_compute, resize_fast, resize_scratch, NULL, 0, 0xe };
CNN_OP_DEF (upsample) = { "Upsample", sizeof (resize_params), resize_parse, resize_infer,
  resize_compute, resize_fast, resize_scratch, NULL, 0, 0x2 };
