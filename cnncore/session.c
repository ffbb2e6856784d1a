/* session.c - a run context: shape inference with constant folding, the
 * activation memory plan, and running the planned nodes on a backend. */
#include "cnn-private.h"
#include "ops/geometry.h"

#define CNN_ALIGN 64

struct cnn_session {
  cnn_model *model;
  cnn_backend *backend;
  cnn_session_options opts;
  /* per model value */
  int n_values;
  cnn_tensor *t;
  bool *is_const;
  void **owned;                 /* data of folded constants */
  /* the plan */
  cnn_exec **execs;
  int n_execs;
  void *arena;
  size_t arena_size;
  cnn_tensor *outputs;
  void **host_outputs;          /* device backends: where outputs are copied to */
  cnn_session_stats stats;
  /* a batch run item by item (plan_for): the items, and each output's
   * whole batch; 0 and NULL otherwise */
  int64_t item_batch;
  void **item_out;
  /* items run apart, one a thread: a one-thread session per thread of the
   * pool, made at the first such run; NULL before, and where none could be */
  cnn_session **item_sessions;
  bool items_in_turn;           /* they could not be made: not tried again for this plan */
  bool profiling;
  bool deferred;                /* the plan waits for input values or shapes */
  double *times;
  GString *err;
  /* per model input: items set from pictures since the last run */
  struct image_input {
    bool *set;
    int n_items;
    bool on_backend;            /* converted by the backend, in its memory */
    float *host;                /* else converted here, whole tensor */
    size_t host_size;
  } *images;
};

static void
exec_free (cnn_exec *x)
{
  if (!x)
    return;
  if (x->cache && x->cache_free)
    x->cache_free (x->cache);
  exec_free (x->pre);
  g_free (x->in);
  g_free (x->out);
  g_free (x->in_const);
  g_free (x);
}

static void
plan_clear (cnn_session *s)
{
  for (int i = 0; i < s->n_values; i++)
    g_clear_pointer (&s->owned[i], g_free);
  for (int i = 0; i < s->n_execs; i++)
    exec_free (s->execs[i]);
  g_clear_pointer (&s->execs, g_free);
  g_clear_pointer (&s->times, g_free);
  s->n_execs = 0;
  const cnn_backend_i *bi = s->backend->iface;
  for (int i = 0; i < s->model->n_outputs; i++) {
    cnn_session_free_host (s, s->host_outputs[i]);
    s->host_outputs[i] = NULL;
    g_clear_pointer (&s->item_out[i], g_free);
  }
  s->item_batch = 0;
  /* the first lends its prepared weights to the others: freed last */
  for (int t = cnn_threadpool_size (s->backend->pool) - 1; s->item_sessions && t >= 0; t--)
    cnn_session_free (s->item_sessions[t]);
  g_clear_pointer (&s->item_sessions, g_free);
  s->items_in_turn = false;
  if (bi->plan_reset)
    bi->plan_reset (s->backend);
  if (s->arena)
    bi->free_buffer (s->backend, s->arena);
  s->arena = NULL;
  s->arena_size = 0;
}

typedef struct {
  int root;
  size_t size, offset;
  int first, last;
} buf_info;

static int
cmp_size_desc (const void *a, const void *b)
{
  const buf_info *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? 1 : -1;
  return x->first - y->first;
}

static size_t
align_up (size_t n)
{
  return (n + CNN_ALIGN - 1) / CNN_ALIGN * CNN_ALIGN;
}

/* Greedy best-fit over lifetimes: the largest buffers are placed first at the
 * lowest offset that does not overlap any placed buffer alive at the same time. */
static size_t
plan_offsets (buf_info *bufs, int n)
{
  if (n > 1)
    qsort (bufs, n, sizeof *bufs, cmp_size_desc);
  size_t peak = 0;
  buf_info **live = g_new (buf_info *, MAX (n, 1));
  for (int i = 0; i < n; i++) {
    int nl = 0;
    for (int j = 0; j < i; j++)
      if (bufs[j].first <= bufs[i].last && bufs[i].first <= bufs[j].last)
        live[nl++] = &bufs[j];
    /* sort overlapping by offset (insertion sort: short lists) */
    for (int a = 1; a < nl; a++)
      for (int b = a; b > 0 && live[b - 1]->offset > live[b]->offset; b--) {
        buf_info *tmp = live[b];
        live[b] = live[b - 1];
        live[b - 1] = tmp;
      }
    size_t off = 0;
    for (int j = 0; j < nl; j++) {
      if (live[j]->offset >= off + bufs[i].size)
        break;
      off = MAX (off, live[j]->offset + live[j]->size);
    }
    bufs[i].offset = off;
    peak = MAX (peak, off + bufs[i].size);
  }
  g_free (live);
  return peak;
}

static cnn_status
plan_input_shape (cnn_session *s, int i, const cnn_tensor *given)
{
  const cnn_model *m = s->model;
  const cnn_value *v = cnn_model_value (m, m->input_values[i]);
  cnn_tensor *t = &s->t[m->input_values[i]];
  t->dtype = v->dtype;
  if (given) {
    if (given->dtype != v->dtype) {
      g_string_append_printf (s->err, "input '%s' is %s, the model wants %s", v->name,
          cnn_dtype_name (given->dtype), cnn_dtype_name (v->dtype));
      return CNN_E_ARG;
    }
    bool ok = v->ndim < 0 || given->ndim == v->ndim;
    for (int k = 0; ok && k < v->ndim; k++)
      ok = v->dims[k] < 0 || v->dims[k] == given->dims[k];
    if (!ok || cnn_shape_numel_checked (given->ndim, given->dims, cnn_dtype_size (v->dtype)) < 0) {
      char b1[128], b2[128];
      cnn_tensor decl = { v->dtype, MAX (v->ndim, 0), { 0 }, NULL };
      memcpy (decl.dims, v->dims, sizeof v->dims);
      g_string_append_printf (s->err, "input '%s' has shape %s, the model declares %s", v->name,
          cnn_shape_str (given, b1, sizeof b1), cnn_shape_str (&decl, b2, sizeof b2));
      return CNN_E_SHAPE;
    }
    cnn_tensor_set_shape (t, v->dtype, given->ndim, given->dims);
    if (v->feeds_shape) {
      /* its values shape the plan: keep a copy and fold with it */
      size_t bytes = cnn_tensor_numel (given) * cnn_dtype_size (given->dtype);
      int vi = m->input_values[i];
      s->owned[vi] = g_memdup2 (given->data, MAX (bytes, 1));
      t->data = s->owned[vi];
      s->is_const[vi] = true;
    }
    return CNN_OK;
  }
  if (v->ndim < 0 || v->feeds_shape) {
    s->deferred = true;         /* planned at the first run, from the inputs given */
    return CNN_OK;
  }
  t->ndim = v->ndim;
  for (int k = 0; k < v->ndim; k++)
    t->dims[k] = v->dims[k] >= 0 ? v->dims[k] : s->opts.default_dim;
  return CNN_OK;
}

/* The only exec reading value v, if v is not a graph output. */
static int
sole_reader (cnn_session *s, int v, int from)
{
  const cnn_value *val = cnn_model_value (s->model, v);
  if (val->n_consumers != 1 || val->output_index >= 0)
    return -1;
  for (int e = from; e < s->n_execs; e++) {
    const cnn_node *n = s->execs[e]->node;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] == v)
        return e;
  }
  return -1;
}

/* Takes exec @e out of the plan's list, and returns it. */
static cnn_exec *
unlink_exec (cnn_session *s, int e)
{
  cnn_exec *x = s->execs[e];
  memmove (&s->execs[e], &s->execs[e + 1], sizeof (cnn_exec *) * (s->n_execs - e - 1));
  s->n_execs--;
  return x;
}

static void
drop_exec (cnn_session *s, int e)
{
  exec_free (unlink_exec (s, e));
}

/* Conv -> Add(residual) [-> Relu] becomes one Conv that adds the residual
 * in its epilogue: the ResNet pattern, one memory pass instead of three.
 * Needs shapes, so it runs at plan time. */
/* Whether an exec before @before writes value v. */
static bool
produced_before (cnn_session *s, int v, int before)
{
  for (int e = 0; e < before; e++) {
    const cnn_exec *x = s->execs[e];
    for (int k = 0; k < x->n_out; k++)
      if ((k == 0 ? x->out0_value : x->node->out[k]) == v)
        return true;
  }
  return false;
}

static void
fuse_residuals (cnn_session *s)
{
  for (int e = 0; e < s->n_execs; e++) {
    cnn_exec *x = s->execs[e];
    if (x->node->op != CNN_OP_CONV || x->act.type != CNN_ACT_NONE || x->residual ||
        x->out[0]->dtype != CNN_DTYPE_FLOAT32)
      continue;
    int a = sole_reader (s, x->out0_value, e + 1);
    if (a < 0)
      continue;
    cnn_exec *add = s->execs[a];
    const cnn_node *an = add->node;
    if (an->op != CNN_OP_ADD || an->n_in != 2 || an->in[0] < 0 || an->in[1] < 0 || an->in[0] == an->in[1])
      continue;
    int other = an->in[0] == x->out0_value ? an->in[1] : an->in[0];
    const cnn_tensor *r = &s->t[other];
    if (!cnn_shape_equal (r, x->out[0]) || r->dtype != CNN_DTYPE_FLOAT32)
      continue;
    /* the residual must exist when the Conv runs */
    const cnn_value *rv = cnn_model_value (s->model, other);
    bool ready = rv->producer < 0 || s->is_const[other] || produced_before (s, other, e);
    if (!ready)
      continue;
    x->residual = r;
    x->residual_value = other;
    x->out[0] = add->out[0];
    x->out0_value = an->out[0];
    drop_exec (s, a);
    int rl = sole_reader (s, x->out0_value, e + 1);
    if (rl >= 0 && s->execs[rl]->node->op == CNN_OP_RELU) {
      x->act.type = CNN_ACT_RELU;
      x->out[0] = s->execs[rl]->out[0];
      x->out0_value = s->execs[rl]->node->out[0];
      drop_exec (s, rl);
    }
  }
}

/* A Resize whose output only a Transpose to NHWC reads goes into that
 * Transpose (x->pre), which has it write NHWC (ops/resize.c): DeepLab's
 * class map, 5.5 MB, is not written and read back once more.  Returns the
 * scratch bytes the fused execs need. */
static size_t
fuse_resize_transpose (cnn_session *s)
{
  size_t scratch = 0;
  for (int e = 0; e < s->n_execs; e++) {
    cnn_exec *rz = s->execs[e];
    if ((rz->node->op != CNN_OP_RESIZE && rz->node->op != CNN_OP_UPSAMPLE) || rz->pre ||
        rz->out0_value != rz->node->out[0])
      continue;
    int t = sole_reader (s, rz->out0_value, e + 1);
    if (t < 0 || s->execs[t]->pre || !cnn_resize_nhwc_applies (rz, s->execs[t]))
      continue;
    cnn_exec *tr = s->execs[t];
    tr->pre = unlink_exec (s, e--);
    size_t need = cnn_resize_nhwc_scratch (tr);
    scratch = MAX (scratch, need);
  }
  return scratch;
}

/* Concat in place: an input that only the Concat reads, written by an exec
 * of this plan, gets its slice of the Concat's output as its buffer (root
 * the output, at @offset bytes), so that its producer writes it there and
 * the Concat copies nothing (SqueezeNet's fire modules).
 * Only where every dim before the axis is 1, so that the slices are
 * contiguous. */
static void
place_concat_inputs (cnn_session *s, int *root, size_t *offset)
{
  for (int e = 0; e < s->n_execs; e++) {
    cnn_exec *x = s->execs[e];
    const cnn_node *n = x->node;
    int ov = x->out0_value;
    if (n->op != CNN_OP_CONCAT || ov < 0 || root[ov] != ov || cnn_dims_prod (x->out[0], 0, cnn_concat_axis (x)) != 1)
      continue;
    size_t off = 0, es = cnn_dtype_size (x->out[0]->dtype);
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      bool once = true;
      for (int j = 0; j < n->n_in; j++)
        once &= j == k || n->in[j] != v;
      if (once && !s->is_const[v] && root[v] == v && cnn_model_value (s->model, v)->input_index < 0 &&
          sole_reader (s, v, 0) == e && produced_before (s, v, e)) {
        root[v] = ov;
        offset[v] = off;
      }
      off += cnn_tensor_numel (&s->t[v]) * es;
    }
  }
  /* a Concat's output placed in a later Concat: its inputs follow it */
  for (int i = 0; i < s->n_values; i++) {
    int r = root[i];
    size_t o = offset[i];
    while (root[r] != r) {
      o += offset[r];
      r = root[r];
    }
    root[i] = r;
    offset[i] = o;
  }
}

static cnn_status
plan (cnn_session *s, const cnn_tensor *inputs)
{
  cnn_model *m = s->model;
  cnn_status st;
  plan_clear (s);
  memset (&s->stats, 0, sizeof s->stats);
  for (int i = 0; i < s->n_values; i++) {
    const cnn_value *v = cnn_model_value (m, i);
    memset (&s->t[i], 0, sizeof (cnn_tensor));
    s->is_const[i] = v->const_data != NULL;
    if (v->const_data) {
      cnn_tensor_set_shape (&s->t[i], v->dtype, v->ndim, v->dims);
      s->t[i].data = v->const_data;
      s->stats.constant_bytes += cnn_tensor_numel (&s->t[i]) * cnn_dtype_size (v->dtype);
    }
  }
  s->deferred = false;
  for (int i = 0; i < m->n_inputs; i++)
    if ((st = plan_input_shape (s, i, inputs ? &inputs[i] : NULL)) != CNN_OK)
      return st;
  if (s->deferred)
    return CNN_OK;

  int nn = (int) m->nodes->len;
  s->execs = g_new0 (cnn_exec *, MAX (nn, 1));
  int *root = g_new (int, s->n_values);
  for (int i = 0; i < s->n_values; i++)
    root[i] = i;
  size_t scratch = 0;
  st = CNN_OK;
  for (int ni = 0; ni < nn && st == CNN_OK; ni++) {
    cnn_node *n = cnn_model_node (m, ni);
    const cnn_op_def *def = cnn_op_defs[n->op];
    cnn_exec *x = g_new0 (cnn_exec, 1);
    x->node = n;
    x->params = n->params;
    x->n_in = n->n_in;
    x->n_out = n->n_out;
    x->in = g_new0 (cnn_tensor *, MAX (n->n_in, 1));
    x->out = g_new0 (cnn_tensor *, MAX (n->n_out, 1));
    x->in_const = g_new0 (bool, MAX (n->n_in, 1));
    x->pool = s->backend->pool;
    x->threads = cnn_threadpool_size (x->pool);
    x->act = n->act;
    x->residual_value = -1;
    x->out0_value = n->n_out > 0 ? n->out[0] : -1;
    x->err = s->err;
    bool all_const = true;
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0)
        continue;
      x->in[k] = &s->t[n->in[k]];
      x->in_const[k] = s->is_const[n->in[k]];
      all_const &= x->in_const[k];
      if (x->in[k]->dtype == CNN_DTYPE_UNDEFINED)
        st = cnn_exec_fail (x, CNN_E_INVALID, "input %d ('%s') has no value", k,
            cnn_model_value (m, n->in[k])->name);
    }
    for (int k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0)
        x->out[k] = &s->t[n->out[k]];
    if (st == CNN_OK)
      st = def->infer (x);
    for (int k = 0; k < n->n_out && st == CNN_OK; k++) {
      cnn_tensor *o = x->out[k];
      if (o && cnn_shape_numel_checked (o->ndim, o->dims, MAX (cnn_dtype_size (o->dtype), 1)) < 0) {
        char b[128];
        st = cnn_exec_fail (x, CNN_E_SHAPE, "output %d would be %s: too large", k,
            cnn_shape_str (o, b, sizeof b));
      }
    }
    if (st != CNN_OK) {
      g_free (x->in); g_free (x->out); g_free (x->in_const); g_free (x);
      break;
    }
    if (all_const || (def->flags & CNN_OPF_SHAPE_ONLY)) {
      /* Constant folding: run the reference kernel once, now. */
      for (int k = 0; k < n->n_out; k++) {
        if (!x->out[k])
          continue;
        size_t bytes = cnn_tensor_numel (x->out[k]) * cnn_dtype_size (x->out[k]->dtype);
        s->owned[n->out[k]] = g_try_malloc0 (MAX (bytes, 1));
        if (!s->owned[n->out[k]]) {
          st = cnn_exec_fail (x, CNN_E_NOMEM, "out of memory folding a constant");
          break;
        }
        x->out[k]->data = s->owned[n->out[k]];
        s->is_const[n->out[k]] = true;
        s->stats.constant_bytes += bytes;
      }
      if (st == CNN_OK)
        st = def->compute_ref (x);
      g_free (x->in); g_free (x->out); g_free (x->in_const); g_free (x);
      continue;
    }
    if ((def->flags & CNN_OPF_ALIAS) && n->in[0] >= 0 && n->out[0] >= 0)
      root[n->out[0]] = root[n->in[0]];
    if (s->backend->iface->host_kernels && !s->opts.reference && def->compute_fast && def->scratch_size)
      scratch = MAX (scratch, def->scratch_size (x));
    s->stats.flops += def->flops ? def->flops (x) : (x->out[0] ? cnn_tensor_numel (x->out[0]) : 0);
    s->execs[s->n_execs++] = x;
  }
  if (st != CNN_OK) {
    g_free (root);
    return st;
  }

  fuse_residuals (s);
  if (!s->opts.reference && s->backend->iface->host_kernels && !s->backend->iface->device_memory) {
    size_t fused = fuse_resize_transpose (s);
    scratch = MAX (scratch, fused);
  }
  for (int e = 0; e < s->n_execs; e++)
    for (int i = 0; i < m->n_outputs; i++)
      s->execs[e]->out0_final |= s->execs[e]->out0_value == m->output_values[i];
  /* bytes into its root's buffer where a value is a slice of it */
  size_t *alias_offset = g_new0 (size_t, MAX (s->n_values, 1));
  if (!s->opts.reference && s->backend->iface->host_kernels && !s->backend->iface->device_memory)
    place_concat_inputs (s, root, alias_offset);

  /* Lifetimes of the arena buffers (roots of non-constant, non-input values). */
  int nv = s->n_values;
  int *first = g_new (int, MAX (nv, 1)), *last = g_new (int, MAX (nv, 1));
  for (int i = 0; i < nv; i++)
    first[i] = last[i] = -1;
  for (int e = 0; e < s->n_execs; e++) {
    const cnn_exec *x = s->execs[e];
    const cnn_node *n = x->node;
    for (int k = 0; k < n->n_out; k++) {
      int v = k == 0 ? x->out0_value : n->out[k];
      if (v >= 0 && first[root[v]] < 0)
        first[root[v]] = e;
    }
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0)
        last[root[n->in[k]]] = MAX (last[root[n->in[k]]], e);
    if (x->residual_value >= 0)
      last[root[x->residual_value]] = MAX (last[root[x->residual_value]], e);
    for (int k = 0; x->pre && k < x->pre->node->n_in; k++)
      if (x->pre->node->in[k] >= 0)
        last[root[x->pre->node->in[k]]] = MAX (last[root[x->pre->node->in[k]]], e);
  }
  for (int i = 0; i < m->n_outputs; i++)
    last[root[m->output_values[i]]] = G_MAXINT;
  /* a device backend computes on copies of the inputs in its own memory */
  bool device = s->backend->iface->device_memory;
  for (int i = 0; device && i < m->n_inputs; i++) {
    int v = m->input_values[i];
    if (!s->is_const[v] && root[v] == v && last[v] >= 0)
      first[v] = 0;
  }
  GArray *bufs = g_array_new (FALSE, FALSE, sizeof (buf_info));
  for (int i = 0; i < nv; i++) {
    if (root[i] != i || first[i] < 0 || s->is_const[i] || (!device && cnn_model_value (m, i)->input_index >= 0))
      continue;
    buf_info b = { i, align_up (MAX (cnn_tensor_numel (&s->t[i]) * cnn_dtype_size (s->t[i].dtype), 1)),
      0, first[i], MAX (last[i], first[i]) };
    s->stats.naive_activation_bytes += b.size;
    g_array_append_val (bufs, b);
  }
  size_t peak = plan_offsets ((buf_info *) bufs->data, (int) bufs->len);
  s->stats.peak_activation_bytes = peak;
  s->arena_size = peak + align_up (scratch);
  s->arena = s->backend->iface->alloc_buffer (s->backend, MAX (s->arena_size, CNN_ALIGN));
  if (!s->arena) {
    g_string_append_printf (s->err, "cannot allocate %zu bytes of activation memory (backend %s)",
        s->arena_size, s->backend->iface->name);
    st = CNN_E_NOMEM;
  } else {
    for (guint b = 0; b < bufs->len; b++) {
      buf_info *bi = &g_array_index (bufs, buf_info, b);
      s->t[bi->root].data = (char *) s->arena + bi->offset;
    }
    for (int i = 0; i < nv; i++)
      if (root[i] != i && !s->is_const[i])    /* a graph input's root has no data yet: NULL */
        s->t[i].data = alias_offset[i] ? (char *) s->t[root[i]].data + alias_offset[i] : s->t[root[i]].data;
    for (int e = 0; e < s->n_execs; e++) {
      s->execs[e]->scratch = (char *) s->arena + peak;
      s->execs[e]->scratch_size = scratch;
    }
  }
  g_array_free (bufs, TRUE);
  g_free (first);
  g_free (last);
  g_free (root);
  g_free (alias_offset);
  s->stats.n_exec_nodes = s->n_execs;
  s->times = g_new0 (double, MAX (s->n_execs, 1));
  for (int i = 0; i < m->n_outputs; i++) {
    int v = m->output_values[i];
    s->outputs[i] = s->t[v];
    if (device && st == CNN_OK && !s->is_const[v]) {
      size_t bytes = MAX (cnn_tensor_numel (&s->t[v]) * cnn_dtype_size (s->t[v].dtype), 1);
      s->host_outputs[i] = cnn_session_alloc_host (s, bytes);
      if (!s->host_outputs[i]) {
        g_string_append_printf (s->err, "cannot allocate %zu bytes for output %d", bytes, i);
        st = CNN_E_NOMEM;
      }
    }
  }
  return st;
}

/* Whether @x keeps the items of a batch apart, where every value's leading
 * dim is the batch (items_separable() checks that): ops that could mix
 * items along it with the shapes unchanged are checked further; an op not
 * listed is taken to mix them. */
static bool
keeps_items_apart (cnn_exec *x)
{
  switch (x->node->op) {
    case CNN_OP_SOFTMAX:
    case CNN_OP_LOG_SOFTMAX:
      return cnn_softmax_axis (x) > 0;
    case CNN_OP_SLICE: {
      cnn_slice_geom g;
      return cnn_slice_geometry (x, &g) == CNN_OK && g.start[0] == 0 && g.step[0] == 1;
    }
    case CNN_OP_TRANSPOSE: {
      int perm[CNN_MAX_DIMS];
      return cnn_transpose_perm (x, perm) == CNN_OK && perm[0] == 0;
    }
    case CNN_OP_CONV: case CNN_OP_CONV_TRANSPOSE: case CNN_OP_MAX_POOL: case CNN_OP_AVERAGE_POOL:
    case CNN_OP_GLOBAL_AVG_POOL: case CNN_OP_GLOBAL_MAX_POOL: case CNN_OP_GEMM: case CNN_OP_MATMUL:
    case CNN_OP_BATCH_NORM: case CNN_OP_INSTANCE_NORM: case CNN_OP_RELU: case CNN_OP_LEAKY_RELU:
    case CNN_OP_PRELU: case CNN_OP_SIGMOID: case CNN_OP_TANH: case CNN_OP_CLIP: case CNN_OP_HARD_SIGMOID:
    case CNN_OP_HARD_SWISH: case CNN_OP_ELU: case CNN_OP_SELU: case CNN_OP_SOFTPLUS: case CNN_OP_MISH:
    case CNN_OP_EXP: case CNN_OP_LOG: case CNN_OP_SQRT: case CNN_OP_ABS: case CNN_OP_NEG:
    case CNN_OP_RECIPROCAL: case CNN_OP_FLOOR: case CNN_OP_CEIL: case CNN_OP_ERF: case CNN_OP_ADD:
    case CNN_OP_SUB: case CNN_OP_MUL: case CNN_OP_DIV: case CNN_OP_POW: case CNN_OP_MAX: case CNN_OP_MIN:
    case CNN_OP_SUM: case CNN_OP_EQUAL: case CNN_OP_LESS: case CNN_OP_GREATER: case CNN_OP_WHERE:
    case CNN_OP_CONCAT: case CNN_OP_SPLIT: case CNN_OP_RESHAPE: case CNN_OP_FLATTEN: case CNN_OP_SQUEEZE:
    case CNN_OP_UNSQUEEZE: case CNN_OP_IDENTITY: case CNN_OP_DROPOUT: case CNN_OP_PAD: case CNN_OP_RESIZE:
    case CNN_OP_UPSAMPLE: case CNN_OP_CAST: case CNN_OP_EXPAND: case CNN_OP_DEPTH_TO_SPACE:
    case CNN_OP_SPACE_TO_DEPTH: case CNN_OP_ARGMAX: case CNN_OP_ARGMIN: case CNN_OP_REDUCE_MEAN:
    case CNN_OP_REDUCE_SUM: case CNN_OP_REDUCE_MAX: case CNN_OP_REDUCE_MIN: case CNN_OP_IMAGE_SCALER:
    case CNN_OP_CROP: case CNN_OP_AFFINE:
      return true;
    default:
      return false;
  }
}

/* Whether the plan just made for one item (s->t) serves a batch of @N
 * whose shapes were @at_n: every value computed per run has the batch as
 * its leading dim (1 here, N there, the other dims equal), so that an
 * op's output item k depends on its inputs' items k only (or on
 * constants), where its op keeps items apart (keeps_items_apart(),
 * checked before). */
static bool
items_separable (cnn_session *s, const cnn_tensor *at_n, int64_t N)
{
  for (int v = 0; v < s->n_values; v++) {
    const cnn_tensor *a = &s->t[v], *b = &at_n[v];
    if (s->is_const[v] || a->dtype == CNN_DTYPE_UNDEFINED)
      continue;
    if (a->ndim < 1 || a->ndim != b->ndim || a->dims[0] != 1 || b->dims[0] != N ||
        memcmp (a->dims + 1, b->dims + 1, (a->ndim - 1) * sizeof a->dims[0]) != 0)
      return false;
  }
  for (int i = 0; i < s->model->n_outputs; i++)
    if (s->is_const[s->model->output_values[i]])
      return false;
  return true;
}

/* Plans for @inputs (NULL: the declared shapes).  On a host backend a batch
 * of N > 1 whose items the graph keeps apart runs as N runs of the plan
 * for one item, each item's activations staying in cache where the whole
 * batch's would not (at batch 4 the layers took 2-15% longer per image
 * than at batch 1); its outputs are gathered into whole-batch buffers.
 * CNN_BATCH_WHOLE=1 keeps the batch whole, for comparisons. */
#define ITEM_MIN_BYTES ((size_t) 1 << 20)

static cnn_status
plan_for (cnn_session *s, const cnn_tensor *inputs)
{
  static int whole = -1;
  if (whole < 0)
    whole = g_strcmp0 (g_getenv ("CNN_BATCH_WHOLE"), "1") == 0;
  cnn_model *m = s->model;
  cnn_status st = plan (s, inputs);
  const cnn_backend_i *bi = s->backend->iface;
  if (st != CNN_OK || s->deferred || whole || s->opts.reference || bi->device_memory || !bi->host_kernels ||
      m->n_inputs < 1)
    return st;
  int64_t N = s->t[m->input_values[0]].ndim ? s->t[m->input_values[0]].dims[0] : 0;
  for (int i = 0; i < m->n_inputs; i++) {
    int v = m->input_values[i];
    if (N <= 1 || s->is_const[v] || s->t[v].ndim < 1 || s->t[v].dims[0] != N)
      return st;
  }
  /* items whose activations fit a core's cache (1 MiB of L2 here) are
   * better off together: a batch of tiny runs pays each node's start N
   * times; the ops checked on the batch's plan, before planning again */
  if (s->stats.peak_activation_bytes < N * ITEM_MIN_BYTES)
    return st;
  for (int e = 0; e < s->n_execs; e++)
    if (!keeps_items_apart (s->execs[e]))
      return st;
  cnn_tensor *at_n = g_memdup2 (s->t, s->n_values * sizeof (cnn_tensor));
  cnn_tensor *one = g_new (cnn_tensor, m->n_inputs);
  for (int i = 0; i < m->n_inputs; i++) {
    one[i] = at_n[m->input_values[i]];
    one[i].dims[0] = 1;
    one[i].data = NULL;
  }
  bool items = plan (s, one) == CNN_OK && !s->deferred && items_separable (s, at_n, N);
  for (int i = 0; items && i < m->n_outputs; i++) {
    const cnn_tensor *o = &s->t[m->output_values[i]];
    s->item_out[i] = g_try_malloc (MAX (cnn_tensor_numel (o) * cnn_dtype_size (o->dtype) * N, 1));
    items = s->item_out[i] != NULL;
  }
  g_free (at_n);
  g_free (one);
  g_string_truncate (s->err, 0);
  if (!items)
    return plan (s, inputs);    /* the whole batch after all */
  s->item_batch = N;
  s->stats.flops *= N;
  for (int i = 0; i < m->n_outputs; i++) {
    s->outputs[i].dims[0] = N;
    s->outputs[i].data = s->item_out[i];
  }
  return CNN_OK;
}

static gboolean
fail (cnn_session *s, cnn_status st, GError **error)
{
  g_set_error (error, CNN_ERROR, cnn_error_code_from_status (st), "%s", s->err->str);
  g_string_truncate (s->err, 0);
  return FALSE;
}

cnn_session *
cnn_session_new (cnn_model *model, const cnn_session_options *opts, GError **error)
{
  cnn_session_options def = CNN_SESSION_OPTIONS_INIT;
  if (!opts)
    opts = &def;
  if (opts->threads < 0 || opts->default_dim < 0) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
        "threads and default_dim must not be negative");
    return NULL;
  }
  int threads = opts->threads > 0 ? opts->threads : (int) g_get_num_processors ();
  cnn_backend *backend = cnn_backend_new (opts, threads, error);
  if (!backend)
    return NULL;
  cnn_session *s = g_new0 (cnn_session, 1);
  s->model = cnn_model_ref (model);
  s->backend = backend;
  s->opts = *opts;
  s->opts.backend = NULL;
  s->opts.precision = NULL;
  if (s->opts.default_dim == 0)
    s->opts.default_dim = 1;
  s->n_values = (int) model->values->len;
  s->t = g_new0 (cnn_tensor, s->n_values);
  s->is_const = g_new0 (bool, s->n_values);
  s->owned = g_new0 (void *, s->n_values);
  s->outputs = g_new0 (cnn_tensor, model->n_outputs);
  s->host_outputs = g_new0 (void *, MAX (model->n_outputs, 1));
  s->images = g_new0 (struct image_input, MAX (model->n_inputs, 1));
  s->item_out = g_new0 (void *, MAX (model->n_outputs, 1));
  s->err = g_string_new (NULL);
  cnn_status st = plan_for (s, NULL);
  if (st != CNN_OK) {
    fail (s, st, error);
    cnn_session_free (s);
    return NULL;
  }
  return s;
}

void
cnn_session_free (cnn_session *s)
{
  if (!s)
    return;
  plan_clear (s);
  cnn_backend_free (s->backend);
  g_free (s->t);
  g_free (s->is_const);
  g_free (s->owned);
  g_free (s->outputs);
  g_free (s->host_outputs);
  g_free (s->item_out);
  for (int i = 0; i < s->model->n_inputs; i++) {
    g_free (s->images[i].set);
    g_free (s->images[i].host);
  }
  g_free (s->images);
  g_string_free (s->err, TRUE);
  cnn_model_unref (s->model);
  g_free (s);
}

const char *
cnn_session_get_backend (const cnn_session *s)
{
  return s->backend->iface->name;
}

int
cnn_session_get_threads (const cnn_session *s)
{
  return cnn_threadpool_size (s->backend->pool);
}

typedef struct {
  void (*func) (int i, int thread, gpointer data);
  gpointer data;
} parallel_call;

static void
parallel_item (int64_t i, int tid, void *data)
{
  parallel_call *c = data;
  c->func ((int) i, tid, c->data);
}

void
cnn_session_parallel_for (cnn_session *s, int n, void (*func) (int i, int thread, gpointer data),
    gpointer data)
{
  parallel_call c = { func, data };
  cnn_parallel_for (s->backend->pool, n, parallel_item, &c);
}

static bool
image_pending (const cnn_session *s, int i)
{
  const struct image_input *im = &s->images[i];
  for (int k = 0; k < im->n_items; k++)
    if (im->set[k])
      return true;
  return false;
}

static void
images_clear (cnn_session *s)
{
  for (int i = 0; i < s->model->n_inputs; i++)
    if (s->images[i].set)
      memset (s->images[i].set, 0, s->images[i].n_items * sizeof (bool));
}

/* Plans for the shapes (and shape values) of @inputs unless the plan fits
 * them.  An input may come without data where pictures were set for it, or
 * it is @image, about to get one. */
static gboolean
fit_plan (cnn_session *s, const cnn_tensor *inputs, int n_inputs, int image, GError **error)
{
  cnn_model *m = s->model;
  cnn_status st;
  if (n_inputs != m->n_inputs || (n_inputs && !inputs)) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
        "the model has %d inputs, %d given", m->n_inputs, n_inputs);
    return FALSE;
  }
  bool replan = s->arena == NULL;
  for (int i = 0; i < n_inputs; i++) {
    const cnn_value *v = cnn_model_value (m, m->input_values[i]);
    bool picture = i == image || image_pending (s, i);
    if (!inputs[i].data && cnn_tensor_numel (&inputs[i]) > 0 && (!picture || v->feeds_shape)) {
      g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "input %d has no data", i);
      return FALSE;
    }
    const cnn_tensor *t = &s->t[m->input_values[i]];
    cnn_tensor planned = *t;    /* the shape the plan serves: item by item, the batch */
    if (s->item_batch)
      planned.dims[0] = s->item_batch;
    if (!cnn_shape_equal (&planned, &inputs[i]) || t->dtype != inputs[i].dtype)
      replan = true;
    else if (!replan && v->feeds_shape &&
        memcmp (t->data, inputs[i].data, cnn_tensor_numel (t) * cnn_dtype_size (t->dtype)) != 0)
      replan = true;            /* new shape values */
  }
  if (!replan)
    return TRUE;
  for (int i = 0; i < n_inputs; i++)
    if (image_pending (s, i)) {
      images_clear (s);
      g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
          "input %d: its pictures were set for other input shapes", i);
      return FALSE;
    }
  if ((st = plan_for (s, inputs)) != CNN_OK)
    return fail (s, st, error);
  return TRUE;
}

gboolean
cnn_session_set_input_image (cnn_session *s, const cnn_tensor *inputs, int n_inputs, int input, int item,
    const cnn_image *img, const cnn_image_map *map, GError **error)
{
  cnn_model *m = s->model;
  const char *why = NULL;
  if (input < 0 || input >= m->n_inputs || n_inputs != m->n_inputs || !inputs)
    why = "no such input";
  else if (!img || !map)
    why = "no picture";
  else if (inputs[input].dtype != CNN_DTYPE_FLOAT32 || inputs[input].ndim != 4)
    why = "a picture goes into a float32 tensor of 4 dims";
  else if (inputs[input].dims[map->nhwc ? 3 : 1] != 1 && inputs[input].dims[map->nhwc ? 3 : 1] != 3)
    why = "a picture goes into 1 or 3 channels";
  else if (item < 0 || item >= inputs[input].dims[0])
    why = "the item is outside the batch";
  else if (inputs[input].dims[1] > G_MAXINT || inputs[input].dims[2] > G_MAXINT || inputs[input].dims[3] > G_MAXINT)
    why = "the tensor is too large";
  else
    why = cnn_image_check (img, map);
  if (why) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "input %d, item %d: %s", input, item, why);
    return FALSE;
  }
  if (!fit_plan (s, inputs, n_inputs, input, error))
    return FALSE;
  if (s->is_const[m->input_values[input]]) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "input %d is a constant of the model", input);
    return FALSE;
  }
  struct image_input *im = &s->images[input];
  const cnn_tensor *t = &s->t[m->input_values[input]];
  const cnn_backend_i *bi = s->backend->iface;
  int n = (int) inputs[input].dims[0];
  if (!image_pending (s, input)) {
    im->on_backend = bi->device_memory && bi->set_image && s->arena && !s->deferred && t->data;
    if (im->n_items != n) {
      g_free (im->set);
      im->set = g_new0 (bool, n);
      im->n_items = n;
    }
  }
  if (im->on_backend) {
    cnn_status st = bi->set_image (s->backend, t, item, img, map, s->err);
    if (st != CNN_OK) {
      images_clear (s);
      return fail (s, st, error);
    }
  } else {
    size_t bytes = cnn_tensor_numel (&inputs[input]) * sizeof (float);
    if (im->host_size < bytes) {
      g_free (im->host);
      im->host = g_try_malloc (bytes);
      im->host_size = im->host ? bytes : 0;
      if (!im->host) {
        images_clear (s);
        g_set_error (error, CNN_ERROR, CNN_ERROR_NO_MEMORY, "input %d: cannot allocate %zu bytes", input, bytes);
        return FALSE;
      }
    }
    const int64_t *d = inputs[input].dims;
    cnn_image_to_tensor (img, map, (int) d[map->nhwc ? 3 : 1], (int) d[map->nhwc ? 1 : 2],
        (int) d[map->nhwc ? 2 : 3], im->host + item * (cnn_tensor_numel (&inputs[input]) / n));
  }
  im->set[item] = true;
  return TRUE;
}

/* An input given as pictures: items not set are zeros. */
static cnn_status
images_finish (cnn_session *s, int i, const void **data)
{
  struct image_input *im = &s->images[i];
  cnn_tensor *t = &s->t[s->model->input_values[i]];
  int64_t per = cnn_tensor_numel (t) * MAX (s->item_batch, 1) / im->n_items;
  cnn_status st = CNN_OK;
  for (int k = 0; k < im->n_items && st == CNN_OK; k++)
    if (!im->set[k]) {
      if (im->on_backend)
        st = s->backend->iface->set_image (s->backend, t, k, NULL, NULL, s->err);
      else
        memset (im->host + k * per, 0, per * sizeof (float));
    }
  *data = im->on_backend ? NULL : im->host;
  return st;
}

typedef struct {
  cnn_session *s;
  const void **data;
  GError **errors;              /* per thread */
  int64_t first;                /* the loop's item i is item first + i */
} apart_job;

/* Item @k of the batch at @data, as inputs of one item. */
static void
item_inputs (const cnn_session *s, const void **data, int64_t k, cnn_tensor *in)
{
  const cnn_model *m = s->model;
  for (int i = 0; i < m->n_inputs; i++) {
    in[i] = s->t[m->input_values[i]];   /* one item's shape */
    in[i].data = (char *) data[i] + k * cnn_tensor_numel (&in[i]) * cnn_dtype_size (in[i].dtype);
  }
}

static void
run_item_apart (int64_t i, int tid, void *data)
{
  apart_job *j = data;
  int64_t k = j->first + i;
  cnn_session *s = j->s, *one = s->item_sessions[tid];
  cnn_model *m = s->model;
  if (j->errors[tid])
    return;
  cnn_tensor *in = g_newa (cnn_tensor, MAX (m->n_inputs, 1));
  item_inputs (s, j->data, k, in);
  if (!cnn_session_run (one, in, m->n_inputs, &j->errors[tid]))
    return;
  for (int i = 0; i < m->n_outputs; i++) {
    const cnn_tensor *o = cnn_session_get_output (one, i);
    size_t bytes = cnn_tensor_numel (o) * cnn_dtype_size (o->dtype);
    memcpy ((char *) s->item_out[i] + k * bytes, o->data, bytes);
  }
}

/* Exec @to (of a one-thread plan) takes the weights that @from (the same
 * node's exec in another one-thread plan of the same shapes, which
 * prepares them alike and outlives it) prepared, rather than preparing a
 * copy of its own. */
static void
exec_borrow_cache (cnn_exec *to, const cnn_exec *from)
{
  if (!to || !from || to->node != from->node)
    return;
  if (!to->cache && from->cache) {
    to->cache = from->cache;
    to->cache_free = NULL;
  }
  exec_borrow_cache (to->pre, from->pre);
}

/* Runs the first items of a plan_for() batch one a thread, as many as the
 * threads can take in equal shares, and says how many in @done.  A whole
 * item on one core pays no thread's start or wait in any node and keeps
 * its activations in that core's cache; the threads together so go through
 * a batch faster than all of them on every item in turn.  The rest (and
 * every item when profiling: each node's time is then the batch's) run on
 * all threads, item by item. */
static gboolean
run_items_apart (cnn_session *s, const void **data, int64_t *done, GError **error)
{
  int T = cnn_threadpool_size (s->backend->pool);
  int64_t n = s->item_batch / T * T;
  *done = 0;
  if (T < 2 || n == 0 || s->profiling || s->items_in_turn || g_strcmp0 (g_getenv ("CNN_ITEMS_APART"), "0") == 0)
    return TRUE;
  bool fresh = !s->item_sessions;
  if (fresh) {
    cnn_session_options opts = s->opts;
    opts.threads = 1;
    opts.backend = "cpu";
    cnn_tensor *in = g_newa (cnn_tensor, MAX (s->model->n_inputs, 1));
    item_inputs (s, data, 0, in);
    s->item_sessions = g_new0 (cnn_session *, T);
    for (int t = 0; t < T; t++) {
      g_autoptr (GError) why = NULL;
      /* planned here for one item, not by the threads at once */
      s->item_sessions[t] = cnn_session_new (s->model, &opts, &why);
      if (s->item_sessions[t] && !fit_plan (s->item_sessions[t], in, s->model->n_inputs, -1, &why)) {
        cnn_session_free (s->item_sessions[t]);
        s->item_sessions[t] = NULL;
      }
      if (!s->item_sessions[t]) {
        /* all threads on every item, as before */
        g_debug ("cnn: batch items run in turn: %s", why->message);
        for (int u = 0; u < t; u++)
          cnn_session_free (s->item_sessions[u]);
        g_clear_pointer (&s->item_sessions, g_free);
        s->items_in_turn = true;
        return TRUE;
      }
    }
  }
  GError **errors = g_new0 (GError *, T);
  apart_job j = { s, data, errors, 0 };
  /* the first run: one session runs the first item alone and prepares the
   * weights (packed, transformed: tiny YOLOv2's Winograd layers take 531
   * MB), which the others then read too, one copy in memory and in the
   * shared cache.  Not where input values shape the plan, which a session
   * could then plan anew, freeing what it lent */
  bool lend = fresh;
  for (int i = 0; i < s->model->n_inputs; i++)
    lend = lend && !cnn_model_value (s->model, s->model->input_values[i])->feeds_shape;
  if (lend) {
    run_item_apart (0, 0, &j);
    cnn_session *first = s->item_sessions[0];
    for (int t = 1; t < T && !errors[0]; t++) {
      cnn_session *one = s->item_sessions[t];
      for (int e = 0; one->n_execs == first->n_execs && e < one->n_execs; e++)
        exec_borrow_cache (one->execs[e], first->execs[e]);
    }
    j.first = 1;
  }
  if (!errors[0])
    cnn_parallel_for (s->backend->pool, n - j.first, run_item_apart, &j);
  /* the first thread's error is the run's */
  gboolean ok = TRUE;
  for (int t = 0; t < T; t++) {
    if (!errors[t])
      continue;
    if (ok)
      g_propagate_error (error, errors[t]);
    else
      g_error_free (errors[t]);
    ok = FALSE;
  }
  g_free (errors);
  *done = n;
  return ok;
}

/* A plan_for() batch: the plan for one item run on each item of the inputs
 * (host memory, at @data), its outputs copied into the batch's. */
static gboolean
run_items (cnn_session *s, const void **data, GError **error)
{
  cnn_model *m = s->model;
  const cnn_backend_i *bi = s->backend->iface;
  int64_t done;
  if (!run_items_apart (s, data, &done, error))
    return FALSE;
  double *sum = s->profiling ? g_new0 (double, MAX (s->n_execs, 1)) : NULL;
  cnn_status st = CNN_OK;
  for (int64_t k = done; k < s->item_batch && st == CNN_OK; k++) {
    for (int i = 0; i < m->n_inputs; i++) {
      cnn_tensor *t = &s->t[m->input_values[i]];
      t->data = (char *) data[i] + k * cnn_tensor_numel (t) * cnn_dtype_size (t->dtype);
    }
    st = bi->graph_compute (s->backend, s->execs, s->n_execs, s->profiling ? s->times : NULL);
    for (int e = 0; sum && e < s->n_execs; e++)
      sum[e] += s->times[e];
    for (int i = 0; i < m->n_outputs && st == CNN_OK; i++) {
      const cnn_tensor *o = &s->t[m->output_values[i]];
      size_t bytes = cnn_tensor_numel (o) * cnn_dtype_size (o->dtype);
      memcpy ((char *) s->item_out[i] + k * bytes, o->data, bytes);
    }
  }
  if (sum) {
    memcpy (s->times, sum, s->n_execs * sizeof (double));
    g_free (sum);
  }
  for (int i = 0; i < m->n_inputs; i++)
    s->t[m->input_values[i]].data = (void *) data[i];
  if (st != CNN_OK)
    return fail (s, st, error);
  for (int i = 0; i < m->n_outputs; i++) {
    s->outputs[i] = s->t[m->output_values[i]];
    s->outputs[i].dims[0] = s->item_batch;
    s->outputs[i].data = s->item_out[i];
  }
  return TRUE;
}

gboolean
cnn_session_run (cnn_session *s, const cnn_tensor *inputs, int n_inputs, GError **error)
{
  cnn_model *m = s->model;
  cnn_status st = CNN_OK;
  if (!fit_plan (s, inputs, n_inputs, -1, error))
    return FALSE;
  const cnn_backend_i *bi = s->backend->iface;
  const void **data = g_newa (const void *, MAX (n_inputs, 1));
  for (int i = 0; i < n_inputs && st == CNN_OK; i++) {
    cnn_tensor *t = &s->t[m->input_values[i]];
    data[i] = NULL;
    if (s->is_const[m->input_values[i]])
      continue;
    data[i] = inputs[i].data;
    if (!data[i] && image_pending (s, i) && ((st = images_finish (s, i, &data[i])) != CNN_OK || !data[i]))
      continue;                 /* in the backend's tensor already */
    if (!bi->device_memory)
      t->data = (void *) data[i];
    else if (t->data)
      st = bi->set_tensor (s->backend, t->data, data[i], t->dtype, cnn_tensor_numel (t), s->err);
  }
  images_clear (s);
  if (st != CNN_OK)
    return fail (s, st, error);
  if (s->item_batch)
    return run_items (s, data, error);
  st = bi->graph_compute (s->backend, s->execs, s->n_execs, s->profiling ? s->times : NULL);
  if (st != CNN_OK)
    return fail (s, st, error);
  for (int i = 0; i < m->n_outputs; i++) {
    s->outputs[i] = s->t[m->output_values[i]];
    if (s->host_outputs[i]) {
      st = bi->get_tensor (s->backend, s->host_outputs[i], s->outputs[i].data, s->outputs[i].dtype,
          cnn_tensor_numel (&s->outputs[i]), s->err);
      if (st != CNN_OK)
        return fail (s, st, error);
      s->outputs[i].data = s->host_outputs[i];
    }
  }
  return TRUE;
}

gboolean
cnn_session_detect (cnn_session *s, const cnn_decoder_options *o, const cnn_nms_options *nms, int item,
    GArray *boxes, GError **error)
{
  const cnn_model *m = s->model;
  const cnn_backend_i *bi = s->backend->iface;
  /* where the outputs live: a batch run item by item leaves them on the
   * host only */
  bool device = bi->device_memory && bi->detect && !s->item_batch;
  /* the batch of the last run: its first input's first dimension (the
   * plan's is one item's where the items ran apart) */
  int64_t batch = s->item_batch ? s->item_batch :
      m->n_inputs > 0 && s->t[m->input_values[0]].ndim > 0 ? s->t[m->input_values[0]].dims[0] : 1;
  int n = MIN (m->n_outputs, 4);
  cnn_tensor view[4], dview[4];
  const cnn_tensor *pv[4], *pd[4];
  g_array_set_size (boxes, 0);
  for (int i = 0; i < n; i++) {
    const cnn_tensor *t = &s->outputs[i];
    if (!t->data || t->dtype != CNN_DTYPE_FLOAT32 || item < 0 || item >= MAX (batch, 1) ||
        (batch > 1 && (t->ndim < 1 || t->dims[0] != batch))) {
      g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
          "detect: output %d holds no float32 item %d of a run", i, item);
      return FALSE;
    }
    view[i] = *t;
    dview[i] = s->t[m->output_values[i]];
    if (batch > 1)
      view[i].dims[0] = dview[i].dims[0] = 1;
    view[i].data = (char *) t->data + (size_t) item * cnn_tensor_numel (&view[i]) * sizeof (float);
    pv[i] = &view[i];
    pd[i] = &dview[i];
    device = device && s->host_outputs[i];        /* constants stay on the host */
  }
  int C = cnn_decoder_n_classes (o, pv, n, error);
  if (C < 0)
    return FALSE;
  if (device) {
    cnn_status st = bi->detect (s->backend, o, nms, pd, n, item, C, boxes, s->err);
    return st == CNN_OK ? TRUE : fail (s, st, error);
  }
  if (!cnn_decoder_decode (o, pv, n, boxes, error))
    return FALSE;
  cnn_boxes_nms (boxes, nms);
  return TRUE;
}

const cnn_tensor *
cnn_session_get_output (const cnn_session *s, int index)
{
  return index >= 0 && index < s->model->n_outputs ? &s->outputs[index] : NULL;
}

void
cnn_session_get_stats (const cnn_session *s, cnn_session_stats *stats)
{
  *stats = s->stats;
  stats->batch_items = s->item_batch;
}

void *
cnn_session_alloc_host (cnn_session *s, size_t size)
{
  const cnn_backend_i *bi = s->backend->iface;
  return bi->alloc_host ? bi->alloc_host (s->backend, MAX (size, 1)) : g_try_malloc (MAX (size, 1));
}

void
cnn_session_free_host (cnn_session *s, void *mem)
{
  const cnn_backend_i *bi = s->backend->iface;
  if (mem)
    bi->free_host ? bi->free_host (s->backend, mem) : g_free (mem);
}

void
cnn_session_set_profiling (cnn_session *s, gboolean enable)
{
  s->profiling = enable;
}

void
cnn_session_foreach_node_time (const cnn_session *s,
    void (*func) (const char *name, const char *op_type, const cnn_tensor *output,
        double seconds, gpointer user_data), gpointer user_data)
{
  for (int e = 0; e < s->n_execs; e++) {
    const cnn_exec *x = s->execs[e];
    func (x->node->name, x->node->op_type, x->out[0], s->times[e], user_data);
  }
}
