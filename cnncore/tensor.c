/* tensor.c - dtypes, shapes, half floats, attributes, errors and threads. */
#include "cnn-private.h"
#include <math.h>
#include <stdarg.h>

G_DEFINE_QUARK (cnn-error-quark, cnn_error)

const char *
cnn_dtype_name (cnn_dtype dtype)
{
  switch (dtype) {
    case CNN_DTYPE_FLOAT32: return "float";
    case CNN_DTYPE_UINT8: return "uint8";
    case CNN_DTYPE_INT8: return "int8";
    case CNN_DTYPE_INT32: return "int32";
    case CNN_DTYPE_INT64: return "int64";
    case CNN_DTYPE_BOOL: return "bool";
    case CNN_DTYPE_FLOAT16: return "float16";
    default: return "undefined";
  }
}

size_t
cnn_dtype_size (cnn_dtype dtype)
{
  switch (dtype) {
    case CNN_DTYPE_FLOAT32: case CNN_DTYPE_INT32: return 4;
    case CNN_DTYPE_INT64: return 8;
    case CNN_DTYPE_UINT8: case CNN_DTYPE_INT8: case CNN_DTYPE_BOOL: return 1;
    case CNN_DTYPE_FLOAT16: return 2;
    default: return 0;
  }
}

int64_t
cnn_tensor_numel (const cnn_tensor *t)
{
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->dims[i];
  return n;
}

int64_t
cnn_shape_numel_checked (int ndim, const int64_t *dims, size_t elem)
{
  int64_t n = 1;
  if (ndim < 0 || ndim > CNN_MAX_DIMS)
    return -1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0)
      return -1;
    if (dims[i] == 0)
      return 0;
  }
  for (int i = 0; i < ndim; i++) {
    if (dims[i] > CNN_MAX_TENSOR_BYTES / (int64_t) MAX (elem, 1) / n)
      return -1;
    n *= dims[i];
  }
  return n;
}

bool
cnn_shape_equal (const cnn_tensor *a, const cnn_tensor *b)
{
  if (a->ndim != b->ndim)
    return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i])
      return false;
  return true;
}

void
cnn_tensor_set_shape (cnn_tensor *t, cnn_dtype dtype, int ndim, const int64_t *dims)
{
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t->dims[i] = dims[i];
}

int64_t
cnn_tensor_get_int (const cnn_tensor *t, int64_t i)
{
  switch (t->dtype) {
    case CNN_DTYPE_INT64: return ((const int64_t *) t->data)[i];
    case CNN_DTYPE_INT32: return ((const int32_t *) t->data)[i];
    case CNN_DTYPE_FLOAT32: return (int64_t) ((const float *) t->data)[i];
    case CNN_DTYPE_UINT8: case CNN_DTYPE_BOOL: return ((const uint8_t *) t->data)[i];
    case CNN_DTYPE_INT8: return ((const int8_t *) t->data)[i];
    default: return 0;
  }
}

double
cnn_tensor_get_double (const cnn_tensor *t, int64_t i)
{
  if (t->dtype == CNN_DTYPE_FLOAT32)
    return ((const float *) t->data)[i];
  return (double) cnn_tensor_get_int (t, i);
}

int
cnn_axis (int64_t axis, int ndim)
{
  if (axis < 0)
    axis += ndim;
  if (axis < 0 || axis >= MAX (ndim, 1))
    return -1;
  return (int) axis;
}

bool
cnn_broadcast_shape (const cnn_tensor *a, const cnn_tensor *b, cnn_tensor *out)
{
  int nd = MAX (a->ndim, b->ndim);
  int64_t dims[CNN_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return false;
    dims[i] = da == 1 ? db : da;
  }
  out->ndim = nd;
  memcpy (out->dims, dims, sizeof (int64_t) * nd);
  return true;
}

const char *
cnn_shape_str (const cnn_tensor *t, char *buf, size_t size)
{
  size_t o = 0;
  o += g_snprintf (buf + o, size - o, "[");
  for (int i = 0; i < t->ndim && o < size; i++)
    o += g_snprintf (buf + o, size - o, "%s%" G_GINT64_FORMAT, i ? "," : "", t->dims[i]);
  if (o < size)
    g_snprintf (buf + o, size - o, "]");
  return buf;
}

/* ---- half floats ---- */

float
cnn_half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, f;
  if (exp == 0) {
    if (man == 0) {
      f = sign;
    } else {                    /* subnormal: normalize */
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        exp--;
      }
      man &= 0x3ff;
      f = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    f = sign | 0x7f800000 | (man << 13);
  } else {
    f = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float r;
  memcpy (&r, &f, 4);
  return r;
}

uint16_t
cnn_float_to_half (float v)
{
  uint32_t f;
  memcpy (&f, &v, 4);
  uint32_t sign = (f >> 16) & 0x8000;
  int32_t exp = (int32_t) ((f >> 23) & 0xff) - 127 + 15;
  uint32_t man = f & 0x7fffff;
  if (((f >> 23) & 0xff) == 0xff)
    return sign | 0x7c00 | (man ? 0x200 : 0);
  if (exp >= 31)
    return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10)
      return sign;
    man |= 0x800000;
    uint32_t shift = 14 - exp;
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      h++;
    return sign | h;
  }
  uint32_t h = sign | (exp << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    h++;                        /* may carry into the exponent, which is right */
  return h;
}

void
cnn_half_to_float_n (const uint16_t *src, float *dst, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = cnn_half_to_float (src[i]);
}

/* ---- attributes ---- */

const cnn_attr *
cnn_node_attr (const cnn_node *n, const char *name)
{
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp (n->attrs[i].name, name) == 0)
      return &n->attrs[i];
  return NULL;
}

int64_t
cnn_attr_int (const cnn_node *n, const char *name, int64_t def)
{
  const cnn_attr *a = cnn_node_attr (n, name);
  if (a && a->type == CNN_ATTR_INT)
    return a->i;
  if (a && a->type == CNN_ATTR_FLOAT)
    return (int64_t) a->f;
  return def;
}

float
cnn_attr_float (const cnn_node *n, const char *name, float def)
{
  const cnn_attr *a = cnn_node_attr (n, name);
  if (a && a->type == CNN_ATTR_FLOAT)
    return a->f;
  if (a && a->type == CNN_ATTR_INT)
    return (float) a->i;
  return def;
}

const char *
cnn_attr_string (const cnn_node *n, const char *name, const char *def)
{
  const cnn_attr *a = cnn_node_attr (n, name);
  return a && a->type == CNN_ATTR_STRING ? a->s : def;
}

int
cnn_attr_ints (const cnn_node *n, const char *name, int64_t *out, int max)
{
  const cnn_attr *a = cnn_node_attr (n, name);
  if (!a || a->type != CNN_ATTR_INTS)
    return -1;
  for (int i = 0; i < a->n && i < max; i++)
    out[i] = a->ints[i];
  return a->n;
}

int
cnn_attr_floats (const cnn_node *n, const char *name, float *out, int max)
{
  const cnn_attr *a = cnn_node_attr (n, name);
  if (!a || a->type != CNN_ATTR_FLOATS)
    return -1;
  for (int i = 0; i < a->n && i < max; i++)
    out[i] = a->floats[i];
  return a->n;
}

/* ---- errors ---- */

static void
append_node_prefix (GString *err, const cnn_node *n)
{
  g_string_append_printf (err, "node '%s' (%s): ", n->name, n->op_type);
}

cnn_status
cnn_node_fail (const cnn_node *n, GString *err, cnn_status st, const char *fmt, ...)
{
  va_list ap;
  append_node_prefix (err, n);
  va_start (ap, fmt);
  g_string_append_vprintf (err, fmt, ap);
  va_end (ap);
  return st;
}

cnn_status
cnn_exec_fail (cnn_exec *x, cnn_status st, const char *fmt, ...)
{
  va_list ap;
  char buf[128];
  append_node_prefix (x->err, x->node);
  va_start (ap, fmt);
  g_string_append_vprintf (x->err, fmt, ap);
  va_end (ap);
  g_string_append (x->err, " (inputs:");
  for (int i = 0; i < x->n_in; i++) {
    if (x->in[i])
      g_string_append_printf (x->err, " %s %s", cnn_dtype_name (x->in[i]->dtype),
          cnn_shape_str (x->in[i], buf, sizeof buf));
    else
      g_string_append (x->err, " -");
  }
  g_string_append (x->err, ")");
  return st;
}

int
cnn_error_code_from_status (cnn_status st)
{
  switch (st) {
    case CNN_E_UNSUPPORTED: return CNN_ERROR_UNSUPPORTED;
    case CNN_E_SHAPE: return CNN_ERROR_SHAPE;
    case CNN_E_NOMEM: return CNN_ERROR_NO_MEMORY;
    case CNN_E_IO: return CNN_ERROR_IO;
    case CNN_E_BACKEND: return CNN_ERROR_BACKEND;
    case CNN_E_ARG: return CNN_ERROR_INVALID_ARGUMENT;
    default: return CNN_ERROR_INVALID_MODEL;
  }
}

/* ---- activations ---- */

CNN_MULTIVERSION void
cnn_act_apply (const cnn_act *act, float *x, int64_t n)
{
  /* locals: x could alias act, which would stop the loops vectorizing */
  const float alpha = act->alpha, beta = act->beta;
  switch (act->type) {
    case CNN_ACT_NONE:
      break;
    case CNN_ACT_RELU:
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0.f ? x[i] : 0.f;
      break;
    case CNN_ACT_LEAKY_RELU:
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] >= 0.f ? x[i] : x[i] * alpha;
      break;
    case CNN_ACT_CLIP:
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] < alpha ? alpha : (x[i] > beta ? beta : x[i]);
      break;
    case CNN_ACT_SIGMOID:
      for (int64_t i = 0; i < n; i++)
        x[i] = 1.f / (1.f + expf (-x[i]));
      break;
    case CNN_ACT_TANH:
      for (int64_t i = 0; i < n; i++)
        x[i] = tanhf (x[i]);
      break;
    case CNN_ACT_HARD_SWISH:
      for (int64_t i = 0; i < n; i++) {
        float t = x[i] / 6.f + 0.5f;
        x[i] *= t < 0.f ? 0.f : (t > 1.f ? 1.f : t);
      }
      break;
    case CNN_ACT_SILU:
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] / (1.f + expf (-x[i]));
      break;
  }
}
