/* binary.c - broadcasting elementwise ops: Add, Sub, Mul, Div, Pow, Max, Min,
 * Sum, Equal, Less, Greater, Where, PRelu (numpy broadcasting). */
#include "geometry.h"

static bool
is_compare (cnn_op op)
{
  return op == CNN_OP_EQUAL || op == CNN_OP_LESS || op == CNN_OP_GREATER;
}

static bool
is_int (cnn_dtype t)
{
  return t == CNN_DTYPE_INT64 || t == CNN_DTYPE_INT32 || t == CNN_DTYPE_INT8 ||
      t == CNN_DTYPE_UINT8 || t == CNN_DTYPE_BOOL;
}

/* Old PRelu models give one slope per channel as [C]: see it as [C,1,...]. */
const cnn_tensor *
cnn_prelu_slope_view (const cnn_exec *x, cnn_tensor *tmp)
{
  const cnn_tensor *X = x->in[0], *S = x->in[1];
  if (x->node->op != CNN_OP_PRELU || S->ndim != 1 || X->ndim < 3 || S->dims[0] != X->dims[1] ||
      S->dims[0] == X->dims[X->ndim - 1])
    return S;
  *tmp = *S;
  tmp->ndim = X->ndim - 1;
  for (int d = 1; d < tmp->ndim; d++)
    tmp->dims[d] = 1;
  return tmp;
}

static cnn_status
binary_infer (cnn_exec *x)
{
  cnn_op op = x->node->op;
  bool variadic = op == CNN_OP_MAX || op == CNN_OP_MIN || op == CNN_OP_SUM;
  int nmin = op == CNN_OP_WHERE ? 3 : variadic ? 1 : 2;
  int nmax = op == CNN_OP_WHERE ? 3 : variadic ? 64 : 2;
  cnn_status st = cnn_need_inputs (x, nmin, nmax);
  if (st)
    return st;
  for (int k = 0; k < x->n_in; k++)
    if (!x->in[k])
      return cnn_exec_fail (x, CNN_E_INVALID, "input %d is missing", k);
  int first = op == CNN_OP_WHERE ? 1 : 0;
  cnn_dtype dt = x->in[first]->dtype;
  if (op == CNN_OP_WHERE && x->in[0]->dtype != CNN_DTYPE_BOOL)
    return cnn_exec_fail (x, CNN_E_INVALID, "condition must be bool");
  if (op != CNN_OP_WHERE && op != CNN_OP_EQUAL && dt != CNN_DTYPE_FLOAT32 &&
      dt != CNN_DTYPE_INT64 && dt != CNN_DTYPE_INT32)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "%s inputs are not supported", cnn_dtype_name (dt));
  if (op == CNN_OP_PRELU && dt != CNN_DTYPE_FLOAT32)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "only float is supported");
  for (int k = first + 1; k < x->n_in; k++)
    if (x->in[k]->dtype != dt && op != CNN_OP_POW)
      return cnn_exec_fail (x, CNN_E_INVALID, "inputs have different types");
  if (op == CNN_OP_POW && !(x->in[1]->dtype == CNN_DTYPE_FLOAT32 || is_int (x->in[1]->dtype)))
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "exponent type");
  cnn_tensor shape = *x->in[0], tmp;
  for (int k = 1; k < x->n_in; k++)
    if (!cnn_broadcast_shape (&shape, k == 1 ? cnn_prelu_slope_view (x, &tmp) : x->in[k], &shape))
      return cnn_exec_fail (x, CNN_E_SHAPE, "input shapes do not broadcast");
  if (op == CNN_OP_PRELU && !cnn_shape_equal (&shape, x->in[0]))
    return cnn_exec_fail (x, CNN_E_SHAPE, "slope does not broadcast to X");
  cnn_set_out (x, 0, is_compare (op) ? CNN_DTYPE_BOOL : dt, shape.ndim, shape.dims);
  return CNN_OK;
}

static inline double
fop (cnn_op op, double a, double b)
{
  switch (op) {
    case CNN_OP_ADD: case CNN_OP_SUM: return (float) a + (float) b;
    case CNN_OP_SUB: return (float) a - (float) b;
    case CNN_OP_MUL: return (float) a * (float) b;
    case CNN_OP_DIV: return (float) a / (float) b;
    case CNN_OP_POW: return powf ((float) a, (float) b);
    case CNN_OP_MAX: return isnan (a) || isnan (b) ? NAN : (a > b ? a : b);
    case CNN_OP_MIN: return isnan (a) || isnan (b) ? NAN : (a < b ? a : b);
    case CNN_OP_EQUAL: return a == b;
    case CNN_OP_LESS: return a < b;
    case CNN_OP_GREATER: return a > b;
    case CNN_OP_PRELU: return a < 0 ? (float) a * (float) b : a;
    default: return 0;
  }
}

static inline int64_t
iop (cnn_op op, int64_t a, int64_t b)
{
  switch (op) {
    case CNN_OP_ADD: case CNN_OP_SUM: return (int64_t) ((uint64_t) a + (uint64_t) b);
    case CNN_OP_SUB: return (int64_t) ((uint64_t) a - (uint64_t) b);
    case CNN_OP_MUL: return (int64_t) ((uint64_t) a * (uint64_t) b);
    case CNN_OP_DIV: return b == 0 ? 0 : (a == INT64_MIN && b == -1 ? a : a / b);
    case CNN_OP_POW: { int64_t r = 1; for (int64_t i = 0; i < b && i < 64; i++) r *= a; return r; }
    case CNN_OP_MAX: return a > b ? a : b;
    case CNN_OP_MIN: return a < b ? a : b;
    case CNN_OP_EQUAL: return a == b;
    case CNN_OP_LESS: return a < b;
    case CNN_OP_GREATER: return a > b;
    default: return 0;
  }
}

static void
store (const cnn_tensor *t, int64_t i, double f, int64_t v, bool as_float)
{
  switch (t->dtype) {
    case CNN_DTYPE_FLOAT32: ((float *) t->data)[i] = as_float ? (float) f : (float) v; break;
    case CNN_DTYPE_INT64: ((int64_t *) t->data)[i] = as_float ? (int64_t) f : v; break;
    case CNN_DTYPE_INT32: ((int32_t *) t->data)[i] = (int32_t) (as_float ? (int64_t) f : v); break;
    default: ((uint8_t *) t->data)[i] = (uint8_t) (as_float ? (int64_t) f : v); break;
  }
}

/* Reference: every output element computed from its own multi-index. */
static cnn_status
binary_ref (cnn_exec *x)
{
  cnn_tensor *o = x->out[0];
  cnn_op op = x->node->op;
  int64_t n = cnn_tensor_numel (o), st[64][CNN_MAX_DIMS], ostr[CNN_MAX_DIMS];
  int nin = MIN (x->n_in, 64);
  cnn_tensor tmp;
  for (int k = 0; k < nin; k++)
    cnn_bcast_strides (k == 1 ? cnn_prelu_slope_view (x, &tmp) : x->in[k], o, st[k]);
  cnn_strides (o, ostr);
  int first = op == CNN_OP_WHERE ? 1 : 0;
  bool as_float = x->in[first]->dtype == CNN_DTYPE_FLOAT32 || (op == CNN_OP_POW &&
      x->in[1]->dtype == CNN_DTYPE_FLOAT32);
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[CNN_MAX_DIMS], r = i;
    for (int d = 0; d < o->ndim; d++) {
      idx[d] = r / ostr[d];
      r %= ostr[d];
    }
    int64_t off[64];
    for (int k = 0; k < nin; k++) {
      off[k] = 0;
      for (int d = 0; d < o->ndim; d++)
        off[k] += idx[d] * st[k][d];
    }
    if (op == CNN_OP_WHERE) {
      int s = ((const uint8_t *) x->in[0]->data)[off[0]] ? 1 : 2;
      size_t es = cnn_dtype_size (o->dtype);
      memcpy ((char *) o->data + i * es, (const char *) x->in[s]->data + off[s] * es, es);
      continue;
    }
    if (as_float) {
      double acc = cnn_tensor_get_double (x->in[0], off[0]);
      for (int k = 1; k < nin; k++)
        acc = fop (op, acc, cnn_tensor_get_double (x->in[k], off[k]));
      store (o, i, acc, 0, true);
    } else {
      int64_t acc = cnn_tensor_get_int (x->in[0], off[0]);
      for (int k = 1; k < nin; k++)
        acc = iop (op, acc, cnn_tensor_get_int (x->in[k], off[k]));
      store (o, i, 0, acc, false);
    }
  }
  return CNN_OK;
}

/* Fast path for float Add/Sub/Mul/Div/PRelu of two inputs: rows of the
 * last dim, each input either contiguous or broadcast along it.  Adjacent
 * dims that both inputs read alike are merged first (same shapes: one row),
 * and a task takes a block of rows, stepping their multi-index: an SSD's
 * 4420 x 2 box tensors were 4420 rows of 2, each with a call and a division
 * per dim. */
#define BINARY_TASK_VALUES 4096

typedef struct {
  cnn_exec *x;
  int nd;                       /* dims after merging */
  int64_t dims[CNN_MAX_DIMS], sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS];
  int64_t inner, rows, rows_per_task;
} fast_ctx;

CNN_MULTIVERSION static void
binary_rows (int64_t task, int tid, void *data)
{
  fast_ctx *c = data;
  int nd = c->nd;
  int64_t r0 = task * c->rows_per_task, r1 = MIN (r0 + c->rows_per_task, c->rows);
  int64_t idx[CNN_MAX_DIMS] = { 0 }, oa = 0, ob = 0, q = r0;
  for (int d = nd - 2; d >= 0; d--) {   /* the multi-index of row r0 */
    idx[d] = q % c->dims[d];
    q /= c->dims[d];
    oa += idx[d] * c->sa[d];
    ob += idx[d] * c->sb[d];
  }
  int64_t n = c->inner, da = c->sa[nd - 1], db = c->sb[nd - 1];
  for (int64_t row = r0; row < r1; row++) {
    const float *a = (const float *) c->x->in[0]->data + oa, *b = (const float *) c->x->in[1]->data + ob;
    float *out = (float *) c->x->out[0]->data + row * n;
    switch (c->x->node->op) {
#define LOOP(expr) \
      if (da && db) { for (int64_t i = 0; i < n; i++) { float va = a[i], vb = b[i]; out[i] = expr; } } \
      else if (da) { float vb = b[0]; for (int64_t i = 0; i < n; i++) { float va = a[i]; out[i] = expr; } } \
      else if (db) { float va = a[0]; for (int64_t i = 0; i < n; i++) { float vb = b[i]; out[i] = expr; } } \
      else { float va = a[0], vb = b[0]; for (int64_t i = 0; i < n; i++) out[i] = expr; } \
      break;
      case CNN_OP_ADD: LOOP (va + vb)
      case CNN_OP_SUB: LOOP (va - vb)
      case CNN_OP_MUL: LOOP (va * vb)
      case CNN_OP_DIV: LOOP (va / vb)
      case CNN_OP_PRELU: LOOP (va < 0.f ? va * vb : va)
#undef LOOP
      default: break;
    }
    for (int d = nd - 2; d >= 0; d--) {         /* the next row */
      oa += c->sa[d];
      ob += c->sb[d];
      if (++idx[d] < c->dims[d])
        break;
      oa -= c->sa[d] * c->dims[d];
      ob -= c->sb[d] * c->dims[d];
      idx[d] = 0;
    }
  }
}

static cnn_status
binary_fast (cnn_exec *x)
{
  cnn_op op = x->node->op;
  if (x->n_in != 2 || x->out[0]->dtype != CNN_DTYPE_FLOAT32 || x->in[1]->dtype != CNN_DTYPE_FLOAT32 ||
      !(op == CNN_OP_ADD || op == CNN_OP_SUB || op == CNN_OP_MUL || op == CNN_OP_DIV || op == CNN_OP_PRELU))
    return binary_ref (x);
  const cnn_tensor *o = x->out[0];
  int64_t sa[CNN_MAX_DIMS], sb[CNN_MAX_DIMS];
  cnn_bcast_strides (x->in[0], o, sa);
  cnn_tensor tmp;
  cnn_bcast_strides (cnn_prelu_slope_view (x, &tmp), o, sb);
  fast_ctx c = { x, 0 };
  /* merge a dim into the next where each input steps over it as over the
   * next one's whole extent (contiguous, or broadcast along both); dims of
   * one drop out */
  for (int d = 0; d < o->ndim; d++) {
    if (o->dims[d] == 1)
      continue;
    if (c.nd > 0 && c.sa[c.nd - 1] == sa[d] * o->dims[d] && c.sb[c.nd - 1] == sb[d] * o->dims[d]) {
      c.dims[c.nd - 1] *= o->dims[d];
      c.sa[c.nd - 1] = sa[d];
      c.sb[c.nd - 1] = sb[d];
      continue;
    }
    c.dims[c.nd] = o->dims[d];
    c.sa[c.nd] = sa[d];
    c.sb[c.nd] = sb[d];
    c.nd++;
  }
  if (c.nd == 0) {              /* one value */
    c.dims[0] = 1;
    c.sa[0] = c.sb[0] = 0;
    c.nd = 1;
  }
  c.inner = c.dims[c.nd - 1];
  int64_t total = cnn_tensor_numel (o);
  c.rows = c.inner ? total / c.inner : 0;
  c.rows_per_task = CLAMP (BINARY_TASK_VALUES / MAX (c.inner, 1), 1, MAX (c.rows, 1));
  int64_t tasks = (c.rows + c.rows_per_task - 1) / c.rows_per_task;
  cnn_parallel_for (total > 32768 ? x->pool : NULL, tasks, binary_rows, &c);
  return CNN_OK;
}

#define BINARY(fn, name) \
  CNN_OP_DEF (fn) = { name, 0, NULL, binary_infer, binary_ref, binary_fast, NULL, NULL, 0 }

BINARY (add, "Add");
BINARY (sub, "Sub");
BINARY (mul, "Mul");
BINARY (div, "Div");
BINARY (pow, "Pow");
BINARY (max, "Max");
BINARY (min, "Min");
BINARY (sum, "Sum");
BINARY (equal, "Equal");
BINARY (less, "Less");
BINARY (greater, "Greater");
BINARY (where, "Where");
BINARY (prelu, "PRelu");
