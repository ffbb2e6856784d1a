/* softmax.c - Softmax and LogSoftmax.  Before opset 13 the input is coerced
 * to 2D at `axis` (default 1); from 13 on they work along one axis (default -1). */
#include "geometry.h"

typedef struct {
  int64_t axis;
} softmax_params;

static cnn_status
softmax_parse (const cnn_node *n, void *params, GString *err)
{
  softmax_params *p = params;
  (void) err;
  p->axis = cnn_attr_int (n, "axis", n->opset >= 13 ? -1 : 1);
  return CNN_OK;
}

static cnn_status
softmax_infer (cnn_exec *x)
{
  const softmax_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_need_dtype (x, 0, CNN_DTYPE_FLOAT32)))
    return st;
  if (cnn_axis (p->axis, x->in[0]->ndim) < 0 && !(x->in[0]->ndim == 0))
    return cnn_exec_fail (x, CNN_E_SHAPE, "axis %" G_GINT64_FORMAT " is out of range", p->axis);
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, x->in[0]->ndim, x->in[0]->dims);
  return CNN_OK;
}

/* A task takes a block of rows (an SSD's scores are thousands of rows of
 * two), and each exponential is taken once, kept in the output, then
 * scaled: the same values as taking it twice. */
#define SOFTMAX_TASK_VALUES 4096

typedef struct {
  cnn_exec *x;
  int64_t len, inner, rows, rows_per_task;
} sm_ctx;

CNN_MULTIVERSION static void
softmax_rows (int64_t task, int tid, void *data)
{
  sm_ctx *c = data;
  int64_t len = c->len, st = c->inner;
  bool log_sm = c->x->node->op == CNN_OP_LOG_SOFTMAX;
  for (int64_t r = task * c->rows_per_task; r < MIN ((task + 1) * c->rows_per_task, c->rows); r++) {
    int64_t outer = r / st, in = r % st;
    const float *a = (const float *) c->x->in[0]->data + outer * len * st + in;
    float *o = (float *) c->x->out[0]->data + outer * len * st + in;
    float mx = -INFINITY;
    for (int64_t i = 0; i < len; i++)
      mx = fmaxf (mx, a[i * st]);
    double sum = 0;
    if (log_sm) {
      for (int64_t i = 0; i < len; i++)
        sum += expf (a[i * st] - mx);
      float ls = (float) log (sum);
      for (int64_t i = 0; i < len; i++)
        o[i * st] = a[i * st] - mx - ls;
    } else {
      for (int64_t i = 0; i < len; i++) {
        float e = expf (a[i * st] - mx);
        o[i * st] = e;
        sum += e;
      }
      float inv = (float) (1.0 / sum);
      for (int64_t i = 0; i < len; i++)
        o[i * st] *= inv;
    }
  }
}

/* Fast path, rows along the last axis: a block's shifted values, then e^x
 * over the whole block at once (vectorized where the CPU has AVX-512, even
 * for rows of two), then each row scaled by its sum. */
CNN_MULTIVERSION static void
softmax_rows_fast (int64_t task, int tid, void *data)
{
  sm_ctx *c = data;
  if (c->inner != 1 || c->x->node->op == CNN_OP_LOG_SOFTMAX) {
    softmax_rows (task, tid, data);
    return;
  }
  int64_t len = c->len, r0 = task * c->rows_per_task, r1 = MIN (r0 + c->rows_per_task, c->rows);
  const float *a = (const float *) c->x->in[0]->data + r0 * len;
  float *o = (float *) c->x->out[0]->data + r0 * len;
  int64_t n = (r1 - r0) * len;
  if (len == 2) {
    /* rows of two (a detector's background / face scores): pair loops the
     * compiler vectorizes; the general loops below took 7 ns a value */
    for (int64_t i = 0; i < n; i += 2) {
      float mx = a[i + 1] > a[i] ? a[i + 1] : a[i];
      o[i] = a[i] - mx;
      o[i + 1] = a[i + 1] - mx;
    }
  } else {
    for (int64_t r = 0; r < r1 - r0; r++) {
      /* fmaxf() is a libm call here; NaNs are passed over either way */
      float mx = -INFINITY;
      for (int64_t i = 0; i < len; i++)
        mx = a[r * len + i] > mx ? a[r * len + i] : mx;
      for (int64_t i = 0; i < len; i++)
        o[r * len + i] = a[r * len + i] - mx;
    }
  }
  if (!cnn_exp_fast (o, o, n))
    for (int64_t i = 0; i < n; i++)
      o[i] = expf (o[i]);
  if (len == 2) {
    for (int64_t i = 0; i < n; i += 2) {
      float inv = (float) (1.0 / ((double) o[i] + (double) o[i + 1]));
      o[i] *= inv;
      o[i + 1] *= inv;
    }
    return;
  }
  for (int64_t r = 0; r < r1 - r0; r++) {
    double sum = 0;
    for (int64_t i = 0; i < len; i++)
      sum += o[r * len + i];
    float inv = (float) (1.0 / sum);
    for (int64_t i = 0; i < len; i++)
      o[r * len + i] *= inv;
  }
}

int
cnn_softmax_axis (const cnn_exec *x)
{
  const softmax_params *p = x->params;
  return x->in[0]->ndim ? cnn_axis (p->axis, x->in[0]->ndim) : 0;
}

void
cnn_softmax_dims (const cnn_exec *x, int64_t *len, int64_t *inner)
{
  const cnn_tensor *X = x->in[0];
  int axis = cnn_softmax_axis (x);
  *len = *inner = 1;
  if (x->node->opset < 13) {
    *len = cnn_dims_prod (X, axis, X->ndim);
  } else if (X->ndim) {
    *len = X->dims[axis];
    *inner = cnn_dims_prod (X, axis + 1, X->ndim);
  }
}

static cnn_status
softmax_run (cnn_exec *x, cnn_threadpool *pool, void (*rows) (int64_t, int, void *))
{
  const cnn_tensor *X = x->in[0];
  sm_ctx c = { x, 1, 1 };
  cnn_softmax_dims (x, &c.len, &c.inner);
  c.rows = c.len ? cnn_tensor_numel (X) / c.len : 0;
  c.rows_per_task = CLAMP (SOFTMAX_TASK_VALUES / MAX (c.len, 1), 1, MAX (c.rows, 1));
  int64_t tasks = (c.rows + c.rows_per_task - 1) / c.rows_per_task;
  cnn_parallel_for (c.rows * c.len > 65536 ? pool : NULL, tasks, rows, &c);
  return CNN_OK;
}

static cnn_status softmax_ref (cnn_exec *x) { return softmax_run (x, NULL, softmax_rows); }
static cnn_status softmax_fast (cnn_exec *x) { return softmax_run (x, x->pool, softmax_rows_fast); }

CNN_OP_DEF (softmax) = { "Softmax", sizeof (softmax_params), softmax_parse, softmax_infer,
  softmax_ref, softmax_fast, NULL, NULL, 0 };
CNN_OP_DEF (log_softmax) = { "LogSoftmax", sizeof (softmax_params), softmax_parse, softmax_infer,
  softmax_ref, softmax_fast, NULL, NULL, 0 };
