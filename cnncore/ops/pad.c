/* pad.c - Pad: constant, reflect and edge modes; pads as attribute (opset
 * < 11) or input; negative pads crop. */
#include "geometry.h"

enum { PAD_CONSTANT = CNN_PAD_CONSTANT, PAD_REFLECT = CNN_PAD_REFLECT, PAD_EDGE = CNN_PAD_EDGE };

typedef struct {
  int mode;
  int64_t pads[2 * CNN_MAX_DIMS];
  int n_pads;
  float value;
} pad_params;

static cnn_status
pad_parse (const cnn_node *n, void *params, GString *err)
{
  pad_params *p = params;
  const char *mode = cnn_attr_string (n, "mode", "constant");
  if (strcmp (mode, "constant") == 0)
    p->mode = PAD_CONSTANT;
  else if (strcmp (mode, "reflect") == 0)
    p->mode = PAD_REFLECT;
  else if (strcmp (mode, "edge") == 0)
    p->mode = PAD_EDGE;
  else
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "mode '%s' is not supported", mode);
  p->n_pads = cnn_attr_ints (n, n->opset < 2 ? "paddings" : "pads", p->pads, 2 * CNN_MAX_DIMS);
  p->value = cnn_attr_float (n, "value", 0.f);
  return CNN_OK;
}

int
cnn_pad_mode (const cnn_exec *x)
{
  return ((const pad_params *) x->params)->mode;
}

cnn_status
cnn_pad_resolve (cnn_exec *x, int64_t *pads, double *value)
{
  const pad_params *p = x->params;
  int nd = x->in[0]->ndim, np = p->n_pads;
  *value = p->value;
  if (x->node->opset >= 11) {
    cnn_status st;
    if (x->n_in < 2 || !x->in[1])
      return cnn_exec_fail (x, CNN_E_INVALID, "pads input is required");
    if ((st = cnn_need_const (x, 1)) || (x->n_in > 2 && (st = cnn_need_const (x, 2))))
      return st;
    np = (int) MIN (cnn_tensor_numel (x->in[1]), 2 * CNN_MAX_DIMS + 1);
    for (int i = 0; i < np && i < 2 * CNN_MAX_DIMS; i++)
      pads[i] = cnn_tensor_get_int (x->in[1], i);
    if (x->n_in > 2 && x->in[2] && cnn_tensor_numel (x->in[2]) > 0)
      *value = cnn_tensor_get_double (x->in[2], 0);
  } else {
    memcpy (pads, p->pads, sizeof p->pads);
  }
  if (np != 2 * nd)
    return cnn_exec_fail (x, CNN_E_SHAPE, "pads has %d values for rank %d", np, nd);
  for (int d = 0; d < nd; d++) {
    int64_t dim = x->in[0]->dims[d];
    if (dim + pads[d] + pads[nd + d] < 0 || pads[d] > (1 << 24) || pads[nd + d] > (1 << 24))
      return cnn_exec_fail (x, CNN_E_SHAPE, "pads for dim %d are out of range", d);
    if (x->params && ((const pad_params *) x->params)->mode == PAD_REFLECT &&
        (pads[d] >= dim || pads[nd + d] >= dim) && (pads[d] > 0 || pads[nd + d] > 0))
      return cnn_exec_fail (x, CNN_E_SHAPE, "reflect pads must be smaller than dim %d", d);
  }
  return CNN_OK;
}

static cnn_status
pad_infer (cnn_exec *x)
{
  cnn_status st;
  int64_t pads[2 * CNN_MAX_DIMS], dims[CNN_MAX_DIMS];
  double v;
  if ((st = cnn_need_inputs (x, 1, 4)) || (st = cnn_pad_resolve (x, pads, &v)))
    return st;
  int nd = x->in[0]->ndim;
  for (int d = 0; d < nd; d++)
    dims[d] = x->in[0]->dims[d] + pads[d] + pads[nd + d];
  cnn_set_out (x, 0, x->in[0]->dtype, nd, dims);
  return CNN_OK;
}

static cnn_status
pad_compute (cnn_exec *x)
{
  const pad_params *p = x->params;
  int64_t pads[2 * CNN_MAX_DIMS];
  double value;
  cnn_status st = cnn_pad_resolve (x, pads, &value);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  size_t es = cnn_dtype_size (X->dtype);
  int64_t ist[CNN_MAX_DIMS], ost[CNN_MAX_DIMS], n = cnn_tensor_numel (O);
  cnn_strides (X, ist);
  cnn_strides (O, ost);
  char fill[8] = { 0 };
  switch (X->dtype) {
    case CNN_DTYPE_FLOAT32: { float f = (float) value; memcpy (fill, &f, 4); break; }
    case CNN_DTYPE_INT64: { int64_t v = (int64_t) value; memcpy (fill, &v, 8); break; }
    case CNN_DTYPE_INT32: { int32_t v = (int32_t) value; memcpy (fill, &v, 4); break; }
    default: fill[0] = (char) (int) value; break;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, src = 0;
    bool outside = false;
    for (int d = 0; d < nd; d++) {
      int64_t o = r / ost[d], s = o - pads[d], dim = X->dims[d];
      r %= ost[d];
      if (s < 0 || s >= dim) {
        if (p->mode == PAD_CONSTANT) {
          outside = true;
          break;
        } else if (p->mode == PAD_EDGE) {
          s = s < 0 ? 0 : dim - 1;
        } else {
          s = s < 0 ? -s : 2 * (dim - 1) - s;
        }
      }
      src += s * ist[d];
    }
    memcpy ((char *) O->data + i * es, outside ? fill : (const char *) X->data + src * es, es);
  }
  return CNN_OK;
}

/* Fast path: whole rows of the last dim at a time; the row's middle is a
 * memcpy, its ends are filled per mode, and rows outside the input in the
 * other dims come from their mapped source row. */
typedef struct {
  cnn_exec *x;
  const pad_params *p;
  int64_t pads[2 * CNN_MAX_DIMS];
  char fill[8];
} pad_ctx;

static void
pad_row (int64_t r, int tid, void *data)
{
  pad_ctx *c = data;
  const cnn_tensor *X = c->x->in[0], *O = c->x->out[0];
  int nd = X->ndim, last = nd - 1;
  size_t es = cnn_dtype_size (X->dtype);
  int64_t ow = O->dims[last], iw = X->dims[last], p0 = c->pads[last];
  char *dst = (char *) O->data + r * ow * es;
  /* source row: map every outer index */
  int64_t rem = r, src_row = 0, mul = 1;
  bool outside = false;
  for (int d = last - 1; d >= 0; d--) {
    int64_t o = rem % O->dims[d], s = o - c->pads[d], dim = X->dims[d];
    rem /= O->dims[d];
    if (s < 0 || s >= dim) {
      if (c->p->mode == PAD_CONSTANT)
        outside = true;
      else if (c->p->mode == PAD_EDGE)
        s = s < 0 ? 0 : dim - 1;
      else
        s = s < 0 ? -s : 2 * (dim - 1) - s;
    }
    src_row += s * mul;
    mul *= dim;
  }
  if (outside) {
    for (int64_t i = 0; i < ow; i++)
      memcpy (dst + i * es, c->fill, es);
    return;
  }
  const char *src = (const char *) X->data + src_row * iw * es;
  int64_t lo = CLAMP (p0, 0, ow), hi = CLAMP (p0 + iw, lo, ow);
  memcpy (dst + lo * es, src + (lo - p0) * es, (hi - lo) * es);
  for (int64_t i = 0; i < lo; i++) {
    int64_t s = i - p0;
    s = c->p->mode == PAD_EDGE ? 0 : c->p->mode == PAD_REFLECT ? -s : -1;
    memcpy (dst + i * es, s < 0 ? c->fill : src + s * es, es);
  }
  for (int64_t i = hi; i < ow; i++) {
    int64_t s = i - p0;
    s = c->p->mode == PAD_EDGE ? iw - 1 : c->p->mode == PAD_REFLECT ? 2 * (iw - 1) - s : -1;
    memcpy (dst + i * es, s < 0 ? c->fill : src + s * es, es);
  }
}

static cnn_status
pad_fast (cnn_exec *x)
{
  pad_ctx c = { x, x->params };
  double value;
  cnn_status st = cnn_pad_resolve (x, c.pads, &value);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  if (X->ndim < 1 || X->dtype != CNN_DTYPE_FLOAT32 || cnn_tensor_numel (X) == 0 ||
      c.pads[X->ndim - 1] < 0 || c.pads[2 * X->ndim - 1] < 0)
    return pad_compute (x);
  float f = (float) value;
  memcpy (c.fill, &f, 4);
  int64_t rows = cnn_tensor_numel (O) / O->dims[O->ndim - 1];
  cnn_parallel_for (rows > 64 ? x->pool : NULL, rows, pad_row, &c);
  return CNN_OK;
}

CNN_OP_DEF (pad) = { "Pad", sizeof (pad_params), pad_parse, pad_infer, pad_compute, pad_fast, NULL,
  NULL, 0, 0x6 };
