/* ops.h - helpers shared by the op files. */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include "../cnn-private.h"
#include <math.h>

static inline cnn_status
cnn_need_inputs (cnn_exec *x, int min, int max)
{
  if (x->n_in < min || x->n_in > max)
    return cnn_exec_fail (x, CNN_E_INVALID, "takes %d to %d inputs, has %d", min, max, x->n_in);
  for (int k = 0; k < min; k++)
    if (!x->in[k])
      return cnn_exec_fail (x, CNN_E_INVALID, "input %d is required", k);
  if (x->n_out < 1 || !x->out[0])
    return cnn_exec_fail (x, CNN_E_INVALID, "output 0 is required");
  return CNN_OK;
}

static inline cnn_status
cnn_need_dtype (cnn_exec *x, int k, cnn_dtype dtype)
{
  if (k < x->n_in && x->in[k] && x->in[k]->dtype != dtype)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "input %d is %s, only %s is supported", k,
        cnn_dtype_name (x->in[k]->dtype), cnn_dtype_name (dtype));
  return CNN_OK;
}

/* Every present input is float32. */
static inline cnn_status
cnn_need_float_inputs (cnn_exec *x)
{
  cnn_status st = CNN_OK;
  for (int k = 0; k < x->n_in && st == CNN_OK; k++)
    st = cnn_need_dtype (x, k, CNN_DTYPE_FLOAT32);
  return st;
}

/* Inputs that set shapes (Reshape's shape, Slice's starts...) must be known
 * when planning: initializers, or computed from shapes by constant folding. */
static inline cnn_status
cnn_need_const (cnn_exec *x, int k)
{
  if (k < x->n_in && x->in[k] && !x->in_const[k])
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "input %d must be a constant (an initializer "
        "or computed from shapes only); data-dependent shapes are not supported", k);
  return CNN_OK;
}

static inline void
cnn_set_out (cnn_exec *x, int k, cnn_dtype dtype, int ndim, const int64_t *dims)
{
  if (k < x->n_out && x->out[k])
    cnn_tensor_set_shape (x->out[k], dtype, ndim, dims);
}

/* Element strides of `in` seen through broadcasting to `out`'s shape. */
static inline void
cnn_bcast_strides (const cnn_tensor *in, const cnn_tensor *out, int64_t *strides)
{
  int64_t s = 1;
  for (int i = out->ndim - 1; i >= 0; i--) {
    int j = i - (out->ndim - in->ndim);
    if (j < 0 || in->dims[j] == 1) {
      strides[i] = 0;
    } else {
      strides[i] = s;
    }
    if (j >= 0)
      s *= in->dims[j];
  }
}

/* Row-major strides of t. */
static inline void
cnn_strides (const cnn_tensor *t, int64_t *strides)
{
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t->dims[i];
  }
}

/* Product of dims [a, b). */
static inline int64_t
cnn_dims_prod (const cnn_tensor *t, int a, int b)
{
  int64_t p = 1;
  for (int i = a; i < b; i++)
    p *= t->dims[i];
  return p;
}

/* @n rows of @bytes each, @ds and @ss bytes apart in @dst and @src.  Rows
 * of 4 to 16 bytes (an SSD's or UltraFace's boxes and scores, 2 or 4 values
 * a row, sliced and concatenated along the last axis) as plain stores of a
 * size known here: a memcpy() call per row took several times the copy. */
static inline void
cnn_copy_rows (void *dst, int64_t ds, const void *src, int64_t ss, size_t bytes, int64_t n)
{
  char *d = dst;
  const char *s = src;
#define CNN_COPY_ROWS_OF(b) \
  for (int64_t i = 0; i < n; i++) \
    memcpy (d + i * ds, s + i * ss, b); \
  return
  switch (bytes) {
    case 4:
      CNN_COPY_ROWS_OF (4);
    case 8:
      CNN_COPY_ROWS_OF (8);
    case 12:
      CNN_COPY_ROWS_OF (12);
    case 16:
      CNN_COPY_ROWS_OF (16);
    default:
      CNN_COPY_ROWS_OF (bytes);
  }
#undef CNN_COPY_ROWS_OF
}

/* Spatial geometry of conv and pooling, normalized to 3 spatial dims (1D and
 * 2D have leading dims of size 1), so one kernel serves all. */
typedef struct {
  int nsp;                      /* spatial dims in the file: 1..3 */
  int64_t kernel[3], stride[3], dil[3], pad0[3], pad1[3];
  int64_t in[3], out[3];
} cnn_window;

enum { CNN_AUTO_PAD_NOTSET, CNN_AUTO_PAD_VALID, CNN_AUTO_PAD_SAME_UPPER, CNN_AUTO_PAD_SAME_LOWER };

typedef struct {
  int nsp;                      /* 0: taken from the input */
  int64_t kernel[3], stride[3], dil[3], pads[6];
  int auto_pad;
  bool has_kernel;
  bool ceil_mode;
} cnn_window_params;

cnn_status cnn_window_parse (const cnn_node *n, cnn_window_params *p, GString *err);
/* Resolves output sizes and pads for an input of spatial size in[0..nsp). */
cnn_status cnn_window_resolve (cnn_exec *x, const cnn_window_params *p, const int64_t *kernel,
    const cnn_tensor *input, cnn_window *w);

#define CNN_OP_DEF(fn) const cnn_op_def cnn_op_def_##fn

#endif
