/* slice.c - Slice (attributes before opset 10, inputs from 10; negative
 * steps, clamping as in the spec). */
#include "geometry.h"

typedef struct {
  int64_t starts[CNN_MAX_DIMS], ends[CNN_MAX_DIMS], axes[CNN_MAX_DIMS];
  int n, n_axes;
} slice_params;

static cnn_status
slice_parse (const cnn_node *n, void *params, GString *err)
{
  slice_params *p = params;
  if (n->opset >= 10)
    return CNN_OK;
  p->n = cnn_attr_ints (n, "starts", p->starts, CNN_MAX_DIMS);
  int ne = cnn_attr_ints (n, "ends", p->ends, CNN_MAX_DIMS);
  p->n_axes = cnn_attr_ints (n, "axes", p->axes, CNN_MAX_DIMS);
  if (p->n < 0 || ne != p->n || p->n > CNN_MAX_DIMS || (p->n_axes >= 0 && p->n_axes != p->n))
    return cnn_node_fail (n, err, CNN_E_INVALID, "starts, ends and axes must have the same length");
  return CNN_OK;
}

typedef cnn_slice_geom slice_geom;

cnn_status
cnn_slice_geometry (cnn_exec *x, slice_geom *g)
{
  const slice_params *p = x->params;
  const cnn_tensor *X = x->in[0];
  int64_t starts[CNN_MAX_DIMS], ends[CNN_MAX_DIMS], axes[CNN_MAX_DIMS], steps[CNN_MAX_DIMS];
  int n;
  if (x->node->opset >= 10) {
    cnn_status st;
    for (int k = 1; k < x->n_in; k++)
      if ((st = cnn_need_const (x, k)))
        return st;
    if (x->n_in < 3 || !x->in[1] || !x->in[2])
      return cnn_exec_fail (x, CNN_E_INVALID, "starts and ends are required");
    int64_t c = cnn_tensor_numel (x->in[1]);
    if (c > CNN_MAX_DIMS || cnn_tensor_numel (x->in[2]) != c ||
        (x->n_in > 3 && x->in[3] && cnn_tensor_numel (x->in[3]) != c) ||
        (x->n_in > 4 && x->in[4] && cnn_tensor_numel (x->in[4]) != c))
      return cnn_exec_fail (x, CNN_E_SHAPE, "starts, ends, axes and steps must have the same length");
    n = (int) c;
    for (int i = 0; i < n; i++) {
      starts[i] = cnn_tensor_get_int (x->in[1], i);
      ends[i] = cnn_tensor_get_int (x->in[2], i);
      axes[i] = x->n_in > 3 && x->in[3] ? cnn_tensor_get_int (x->in[3], i) : i;
      steps[i] = x->n_in > 4 && x->in[4] ? cnn_tensor_get_int (x->in[4], i) : 1;
    }
  } else {
    n = p->n;
    for (int i = 0; i < n; i++) {
      starts[i] = p->starts[i];
      ends[i] = p->ends[i];
      axes[i] = p->n_axes >= 0 ? p->axes[i] : i;
      steps[i] = 1;
    }
  }
  for (int d = 0; d < X->ndim; d++) {
    g->start[d] = 0;
    g->step[d] = 1;
    g->dims[d] = X->dims[d];
  }
  bool seen[CNN_MAX_DIMS] = { false };
  for (int i = 0; i < n; i++) {
    int a = cnn_axis (axes[i], X->ndim);
    if (a < 0 || seen[a])
      return cnn_exec_fail (x, CNN_E_SHAPE, "bad axis %" G_GINT64_FORMAT, axes[i]);
    seen[a] = true;
    int64_t dim = X->dims[a], s = starts[i], e = ends[i], step = steps[i];
    if (step == 0)
      return cnn_exec_fail (x, CNN_E_SHAPE, "step is 0");
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (step > 0) {
      s = CLAMP (s, 0, dim);
      e = CLAMP (e, 0, dim);
    } else {
      s = CLAMP (s, 0, dim - 1);
      e = CLAMP (e, -1, dim - 1);
    }
    int64_t len = step > 0 ? (e - s + step - 1) / step : (s - e + (-step) - 1) / (-step);
    g->start[a] = s;
    g->step[a] = step;
    g->dims[a] = MAX (len, 0);
  }
  return CNN_OK;
}

static cnn_status
slice_infer (cnn_exec *x)
{
  cnn_status st;
  slice_geom g;
  if ((st = cnn_need_inputs (x, 1, 5)) || (st = cnn_slice_geometry (x, &g)))
    return st;
  cnn_set_out (x, 0, x->in[0]->dtype, x->in[0]->ndim, g.dims);
  return CNN_OK;
}

/* The input offset of the output's first element. */
static int64_t
slice_origin (const slice_geom *g, const int64_t *ist, int nd)
{
  int64_t src = 0;
  for (int d = 0; d < nd; d++)
    src += g->start[d] * ist[d];
  return src;
}

/* Steps the output multi-index @idx over dims 0..@last (the last fastest),
 * and @src, the input offset, with it. */
static inline void
slice_advance (const slice_geom *g, const int64_t *ist, const int64_t *odims, int last, int64_t *idx,
    int64_t *src)
{
  for (int d = last; d >= 0; d--) {
    *src += g->step[d] * ist[d];
    if (++idx[d] < odims[d])
      break;
    *src -= g->step[d] * ist[d] * odims[d];
    idx[d] = 0;
  }
}

static cnn_status
slice_compute (cnn_exec *x)
{
  slice_geom g;
  cnn_status st = cnn_slice_geometry (x, &g);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  size_t es = cnn_dtype_size (X->dtype);
  int64_t ist[CNN_MAX_DIMS], n = cnn_tensor_numel (O), idx[CNN_MAX_DIMS] = { 0 };
  cnn_strides (X, ist);
  int64_t src = slice_origin (&g, ist, nd);
  for (int64_t i = 0; i < n; i++) {
    memcpy ((char *) O->data + i * es, (const char *) X->data + src * es, es);
    slice_advance (&g, ist, O->dims, nd - 1, idx, &src);
  }
  return CNN_OK;
}

/* Fast path: where the innermost dim is taken with step 1, a run of it at
 * a time, the runs along the next dim, evenly apart in the input, as one
 * cnn_copy_rows() (an SSD's boxes are sliced into thousands of runs of 2),
 * the multi-index stepped once per such block. */
static cnn_status
slice_fast (cnn_exec *x)
{
  slice_geom g;
  cnn_status st = cnn_slice_geometry (x, &g);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  int64_t n = cnn_tensor_numel (O);
  if (nd == 0 || n == 0 || g.step[nd - 1] != 1)
    return slice_compute (x);
  size_t es = cnn_dtype_size (X->dtype);
  int64_t ist[CNN_MAX_DIMS], idx[CNN_MAX_DIMS] = { 0 };
  cnn_strides (X, ist);
  int64_t src = slice_origin (&g, ist, nd), run = O->dims[nd - 1];
  /* runs per block: along dim nd - 2, that many input strides apart */
  int64_t per = nd > 1 ? O->dims[nd - 2] : 1, apart = nd > 1 ? g.step[nd - 2] * ist[nd - 2] : 0;
  int64_t blocks = n / run / per;
  size_t bytes = (size_t) run * es;
  char *dst = O->data;
  for (int64_t b = 0; b < blocks; b++, dst += bytes * per) {
    cnn_copy_rows (dst, (int64_t) bytes, (const char *) X->data + src * es, apart * (int64_t) es, bytes, per);
    slice_advance (&g, ist, O->dims, nd - 3, idx, &src);
  }
  return CNN_OK;
}

CNN_OP_DEF (slice) = { "Slice", sizeof (slice_params), slice_parse, slice_infer, slice_compute,
  slice_fast, NULL, NULL, 0, 0x1e };
