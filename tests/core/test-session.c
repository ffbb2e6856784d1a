/* test-session - the graph engine around the kernels: fused activations and
 * folded BatchNormalization against the unfused graph, symbolic batch
 * dimensions, external data, sessions on many threads sharing one model,
 * flush-to-zero on every thread, the memory plan's buffer reuse, and
 * batches run item by item. */
#include "cnn.h"
#include "onnx-builder.h"
#include "running-on-valgrind.h"
#include <math.h>
#include <stdio.h>
#include <glib/gstdio.h>

static int n_pass, n_fail;
static GRand *rng;

#define CHECK(cond, ...) do { \
    if (cond) { n_pass++; } else { n_fail++; printf ("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf (__VA_ARGS__); printf ("\n"); } \
  } while (0)

static cnn_model *
load (ob_model *b)
{
  GError *err = NULL;
  cnn_model *m = ob_load (b, &err);
  if (!m) {
    printf ("load: %s\n", err->message);
    g_error_free (err);
  }
  ob_free (b);
  return m;
}

static float *
random_data (int64_t n)
{
  float *d = g_new (float, n);
  for (int64_t i = 0; i < n; i++)
    d[i] = (float) g_rand_double_range (rng, -2, 2);
  return d;
}

/* Runs m on in (with options @so, NULL for the defaults) and copies output
 * index out_i. */
static float *
run_with (cnn_model *m, const cnn_session_options *so, cnn_tensor *in, int out_i, int64_t *n_out)
{
  GError *err = NULL;
  *n_out = -1;
  cnn_session *s = cnn_session_new (m, so, &err);
  if (!s || !cnn_session_run (s, in, 1, &err)) {
    printf ("run: %s\n", err->message);
    g_error_free (err);
    cnn_session_free (s);
    return NULL;
  }
  const cnn_tensor *o = cnn_session_get_output (s, out_i);
  *n_out = cnn_tensor_numel (o);
  float *copy = g_memdup2 (o->data, *n_out * sizeof (float));
  cnn_session_free (s);
  return copy;
}

static float *
run (cnn_model *m, cnn_tensor *in, int out_i, int64_t *n_out)
{
  return run_with (m, NULL, in, out_i, n_out);
}

static double
max_diff (const float *a, const float *b, int64_t n)
{
  double d = 0;
  for (int64_t i = 0; i < n; i++)
    d = MAX (d, fabs (a[i] - b[i]));
  return d;
}

/* Conv (+ BatchNormalization) + activation, with the intermediate either
 * private (fusable) or also a graph output (not fusable). */
static cnn_model *
conv_act_model (const char *act, gboolean bn, gboolean expose, const float *w, const float *bn_data)
{
  ob_model *b = ob_new (13);
  int64_t xd[4] = { 1, 3, 9, 11 }, wd[4] = { 6, 3, 3, 3 }, C = 6;
  ob_input (b, "x", 4, xd);
  ob_init_float (b, "w", 4, wd, w, rng);
  ob_init_float (b, "bias", 1, &C, w, rng);
  Onnx__NodeProto *n = ob_node (b, "Conv", "x,w,bias", "c");
  int64_t pads[4] = { 1, 1, 1, 1 };
  ob_attr_ints (b, n, "pads", 4, pads);
  const char *last = "c";
  if (bn) {
    ob_init_float (b, "g", 1, &C, bn_data, rng);
    ob_init_float (b, "be", 1, &C, bn_data + 6, rng);
    ob_init_float (b, "mu", 1, &C, bn_data + 12, rng);
    ob_init_float (b, "var", 1, &C, bn_data + 18, rng);
    ob_node (b, "BatchNormalization", "c,g,be,mu,var", "bn");
    last = "bn";
  }
  char *in = g_strdup (last);
  if (strcmp (act, "SiLU") == 0) {
    char *sin = g_strdup_printf ("%s", in);
    ob_node (b, "Sigmoid", sin, "sig");
    char *mi = g_strdup_printf ("%s,sig", in);
    ob_node (b, "Mul", mi, "y");
    g_free (sin);
    g_free (mi);
  } else if (strcmp (act, "Clip") == 0) {
    float lo = -0.5f, hi = 0.75f;
    int64_t one = 1;
    Onnx__TensorProto *t = ob_init_float (b, "lo", 0, &one, &lo, rng);
    t->n_float_data = 1;
    t = ob_init_float (b, "hi", 0, &one, &hi, rng);
    t->n_float_data = 1;
    char *ci = g_strdup_printf ("%s,lo,hi", in);
    ob_node (b, "Clip", ci, "y");
    g_free (ci);
  } else if (strcmp (act, "None") == 0) {
    ob_node (b, "Identity", in, "y");
  } else {
    Onnx__NodeProto *a = ob_node (b, act, in, "y");
    if (strcmp (act, "LeakyRelu") == 0)
      ob_attr_float (b, a, "alpha", 0.2f);
  }
  g_free (in);
  ob_output (b, "y");
  if (expose)
    ob_output (b, last);
  return load (b);
}

static void
test_fusion (void)
{
  const char *acts[] = { "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSwish", "SiLU", "None" };
  float *w = random_data (6 * 3 * 3 * 3);
  float bn[24];
  for (int i = 0; i < 24; i++)
    bn[i] = i < 18 ? (float) g_rand_double_range (rng, -1, 1) : (float) g_rand_double_range (rng, 0.3, 2);
  float *xdata = random_data (3 * 9 * 11);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 1, 3, 9, 11 }, xdata };
  for (unsigned a = 0; a < G_N_ELEMENTS (acts); a++)
    for (int with_bn = 0; with_bn < 2; with_bn++) {
      cnn_model *fused = conv_act_model (acts[a], with_bn, FALSE, w, bn);
      cnn_model *plain = conv_act_model (acts[a], with_bn, TRUE, w, bn);
      if (!fused || !plain) {
        CHECK (FALSE, "%s: model did not load", acts[a]);
        continue;
      }
      cnn_model_stats fs, ps;
      cnn_model_get_stats (fused, &fs);
      cnn_model_get_stats (plain, &ps);
      gboolean is_act = strcmp (acts[a], "None") != 0;
      CHECK (fs.n_fused_activations == is_act && fs.n_folded_batchnorms == with_bn,
          "%s%s: %d fused, %d folded", acts[a], with_bn ? "+BN" : "", fs.n_fused_activations,
          fs.n_folded_batchnorms);
      /* BN still folds: what is exposed is its output, not the Conv's */
      CHECK (ps.n_fused_activations == 0 && ps.n_folded_batchnorms == with_bn,
          "%s: an exposed intermediate was fused away", acts[a]);
      int64_t n1 = 0, n2 = 0;
      float *y1 = run (fused, &in, 0, &n1), *y2 = run (plain, &in, 0, &n2);
      double d = y1 && y2 && n1 == n2 ? max_diff (y1, y2, n1) : INFINITY;
      CHECK (d < 1e-5, "%s%s: fused differs from unfused by %g", acts[a], with_bn ? "+BN" : "", d);
      printf ("ok   fused Conv%s+%s vs unfused: max abs %.3g\n", with_bn ? "+BN" : "", acts[a], d);
      g_free (y1);
      g_free (y2);
      cnn_model_unref (fused);
      cnn_model_unref (plain);
    }
  g_free (w);
  g_free (xdata);
}

static cnn_model *
batch_model_sized (int64_t hw, int64_t C)
{
  ob_model *b = ob_new (13);
  int64_t xd[4] = { -1, 3, hw, hw }, wd[4] = { C, 3, 3, 3 }, shape[2] = { 0, -1 };
  ob_input (b, "x", 4, xd);
  ob_init_float (b, "w", 4, wd, NULL, rng);
  ob_init_float (b, "b", 1, &C, NULL, rng);
  ob_init_int64 (b, "shape", 2, shape);
  ob_node (b, "Conv", "x,w,b", "c");
  ob_node (b, "Relu", "c", "r");
  ob_node (b, "MaxPool", "r", "p");
  ob_node (b, "Reshape", "p,shape", "y");
  Onnx__NodeProto *mp = g_ptr_array_index (b->nodes, 2);
  int64_t k[2] = { 2, 2 };
  ob_attr_ints (b, mp, "kernel_shape", 2, k);
  ob_attr_ints (b, mp, "strides", 2, k);
  ob_output (b, "y");
  return load (b);
}

static cnn_model *
batch_model (void)
{
  return batch_model_sized (10, 4);
}

static void
test_symbolic_batch (void)
{
  cnn_model *m = batch_model ();
  const cnn_tensor_info *info = cnn_model_get_input (m, 0);
  CHECK (info->dims[0] == -1 && info->dim_names[0] && strcmp (info->dim_names[0], "N") == 0,
      "symbolic dim not reported");
  int64_t per = 3 * 10 * 10;
  float *x = random_data (3 * per);
  cnn_session *s = cnn_session_new (m, NULL, NULL);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 3, 3, 10, 10 }, x };
  GError *err = NULL;
  CHECK (cnn_session_run (s, &in, 1, &err), "batch 3: %s", err ? err->message : "");
  const cnn_tensor *o = cnn_session_get_output (s, 0);
  CHECK (o->ndim == 2 && o->dims[0] == 3 && o->dims[1] == 4 * 4 * 4, "batch 3 output shape");
  float *y3 = g_memdup2 (o->data, cnn_tensor_numel (o) * sizeof (float));
  int64_t per_out = o->dims[1];
  double worst = 0;
  for (int i = 0; i < 3; i++) {
    cnn_tensor one = { CNN_DTYPE_FLOAT32, 4, { 1, 3, 10, 10 }, x + i * per };
    CHECK (cnn_session_run (s, &one, 1, &err), "batch 1: %s", err ? err->message : "");
    o = cnn_session_get_output (s, 0);
    CHECK (o->dims[0] == 1, "batch 1 output shape");
    worst = MAX (worst, max_diff (o->data, y3 + i * per_out, per_out));
  }
  CHECK (worst < 1e-5, "batch 3 differs from 3 x batch 1 by %g", worst);
  printf ("ok   symbolic batch: batch 3 vs 3 x batch 1 (re-planned each time): max abs %.3g\n", worst);
  g_free (y3);
  g_free (x);
  cnn_session_free (s);
  cnn_model_unref (m);
}

static void
test_external_data (void)
{
  char *dir = g_dir_make_tmp ("cnn-ext-XXXXXX", NULL);
  int64_t xd[2] = { 2, 3 };
  float w[6] = { 1, 2, 3, 4, 5, 6 }, x[6] = { 10, 20, 30, 40, 50, 60 };
  char *bin = g_build_filename (dir, "weights.bin", NULL);
  char blob[32] = "skip-me!";       /* 8 bytes before the tensor */
  memcpy (blob + 8, w, sizeof w);
  g_file_set_contents (bin, blob, 8 + sizeof w, NULL);
  ob_model *b = ob_new (13);
  ob_input (b, "x", 2, xd);
  Onnx__TensorProto *t = ob_init_float (b, "w", 2, xd, NULL, rng);
  t->n_float_data = 0;
  t->has_data_location = 1;
  t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  const char *kv[3][2] = { { "location", "weights.bin" }, { "offset", "8" }, { "length", "24" } };
  t->n_external_data = 3;
  t->external_data = ob_keep (b, g_new0 (Onnx__StringStringEntryProto *, 3));
  for (int i = 0; i < 3; i++) {
    Onnx__StringStringEntryProto *e = ob_keep (b, g_new0 (Onnx__StringStringEntryProto, 1));
    onnx__string_string_entry_proto__init (e);
    e->key = ob_str (b, kv[i][0]);
    e->value = ob_str (b, kv[i][1]);
    t->external_data[i] = e;
  }
  ob_node (b, "Add", "x,w", "y");
  ob_output (b, "y");
  char *path = g_build_filename (dir, "model.onnx", NULL);
  CHECK (ob_save (b, path), "cannot write %s", path);
  ob_free (b);
  GError *err = NULL;
  cnn_model *m = cnn_model_load (path, &err);
  CHECK (m != NULL, "external data model: %s", err ? err->message : "");
  if (m) {
    cnn_tensor in = { CNN_DTYPE_FLOAT32, 2, { 2, 3 }, x };
    int64_t n;
    float *y = run (m, &in, 0, &n);
    gboolean ok = y && n == 6;
    for (int i = 0; ok && i < 6; i++)
      ok = y[i] == x[i] + w[i];
    CHECK (ok, "external data values");
    printf ("ok   external data read at an offset\n");
    g_free (y);
    cnn_model_unref (m);
  }
  g_clear_error (&err);
  g_remove (path);
  g_remove (bin);
  g_rmdir (dir);
  g_free (path);
  g_free (bin);
  g_free (dir);
}

typedef struct {
  cnn_model *model;
  const float *x;
  const float *want;
  int64_t n_out;
  int runs;
  double worst;
  gboolean failed;
} thread_job;

static gpointer
thread_main (gpointer data)
{
  thread_job *j = data;
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 1;
  cnn_session *s = cnn_session_new (j->model, &so, NULL);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 2, 3, 10, 10 }, (void *) j->x };
  for (int r = 0; r < j->runs && s; r++) {
    if (!cnn_session_run (s, &in, 1, NULL)) {
      j->failed = TRUE;
      break;
    }
    j->worst = MAX (j->worst, max_diff (cnn_session_get_output (s, 0)->data, j->want, j->n_out));
  }
  j->failed |= s == NULL;
  cnn_session_free (s);
  return NULL;
}

static void
test_threads (void)
{
  cnn_model *m = batch_model ();
  float *x = random_data (2 * 3 * 10 * 10);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 2, 3, 10, 10 }, x };
  int64_t n;
  float *want = run (m, &in, 0, &n);
  thread_job jobs[6];
  GThread *th[6];
  for (int i = 0; i < 6; i++) {
    jobs[i] = (thread_job) { m, x, want, n, 200, 0, FALSE };
    th[i] = g_thread_new ("runner", thread_main, &jobs[i]);
  }
  double worst = 0;
  gboolean failed = FALSE;
  for (int i = 0; i < 6; i++) {
    g_thread_join (th[i]);
    worst = MAX (worst, jobs[i].worst);
    failed |= jobs[i].failed;
  }
  CHECK (!failed && worst < 1e-5, "6 threads sharing one model: failed %d, max abs %g", failed, worst);
  printf ("ok   6 threads x 200 runs on one shared model: max abs vs single run %.3g\n", worst);
  g_free (want);
  g_free (x);
  cnn_model_unref (m);
}

/* Flush-to-zero on every thread of a run: 1e-20 * 1e-20 (a denormal) comes
 * out 0 in every element of a Mul split across 4 threads, as on 1. */
static void
test_denormals (void)
{
  if (RUNNING_ON_VALGRIND) {
    printf ("skip denormals: valgrind ignores flush-to-zero\n");
    return;
  }
  ob_model *b = ob_new (13);
  int64_t d[2] = { 64, 1024 };
  ob_input (b, "x", 2, d);
  ob_node (b, "Mul", "x,x", "y");
  ob_output (b, "y");
  cnn_model *m = load (b);
  int64_t n = d[0] * d[1], n_out;
  float *x = g_new (float, n);
  for (int64_t i = 0; i < n; i++)
    x[i] = 1e-20f;
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 2, { d[0], d[1] }, x };
  for (int threads = 1; threads <= 4; threads += 3) {
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.threads = threads;
    float *y = m ? run_with (m, &so, &in, 0, &n_out) : NULL;
    int64_t nonzero = 0;
    for (int64_t i = 0; y && i < n_out; i++)
      nonzero += y[i] != 0.f;
    CHECK (y && n_out == n && nonzero == 0, "denormal products on %d threads: %" G_GINT64_FORMAT " not flushed",
        threads, nonzero);
    if (y && nonzero == 0)
      printf ("ok   denormal products flushed to zero on %d thread(s)\n", threads);
    g_free (y);
  }
  g_free (x);
  if (m)
    cnn_model_unref (m);
}

typedef struct {
  gint *visits;                 /* per item */
  gint threads;
  gint *bad_thread;
} parallel_job;

static void
parallel_item (int i, int thread, gpointer data)
{
  parallel_job *j = data;
  g_atomic_int_inc (&j->visits[i]);
  if (thread < 0 || thread >= j->threads)
    g_atomic_int_set (j->bad_thread, 1);
}

typedef struct {
  gint open;                    /* 1 while cnn_session_parallel_for() has not returned */
  gint visits[4];
  gint *late;                   /* set by an item run after the call returned */
} short_loop;

static void
short_item (int i, int thread, gpointer data)
{
  short_loop *l = data;
  if (!g_atomic_int_get (&l->open))
    g_atomic_int_set (l->late, 1);
  g_atomic_int_inc (&l->visits[i]);
}

/* Many loops of 2 to 4 items back to back on more threads than cores: the
 * caller often runs out of items before a worker wakes and closes the
 * loop without it.  No item may run twice, none be skipped, and none run
 * after the call returned (a worker joining a closed loop would). */
static void
test_parallel_for_short_loops (void)
{
  cnn_model *m = batch_model ();
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 4;
  cnn_session *s = cnn_session_new (m, &so, NULL);
  CHECK (s != NULL, "a session on 4 threads");
  gint late = 0, loops = RUNNING_ON_VALGRIND ? 2000 : 50000;
  gboolean ok = s != NULL;
  short_loop *l = g_new0 (short_loop, loops);
  for (int k = 0; ok && k < loops; k++) {
    int n = 2 + k % 3;
    l[k].open = 1;
    l[k].late = &late;
    cnn_session_parallel_for (s, n, short_item, &l[k]);
    g_atomic_int_set (&l[k].open, 0);
    for (int i = 0; i < n; i++)
      ok &= l[k].visits[i] == 1;
  }
  cnn_session_free (s);         /* joins the workers: a late item would be done */
  CHECK (ok && !late, "%d short loops on 4 threads: %s", loops, !ok ? "an item ran twice or not at all" :
      "an item ran after the call returned");
  printf ("ok   %d short loops on 4 threads: each item once, none after the call returned\n", loops);
  g_free (l);
  cnn_model_unref (m);
}

/* cnn_session_parallel_for: every item once, thread numbers in range, and
 * (between runs) the session still runs right. */
static void
test_parallel_for (void)
{
  cnn_model *m = batch_model ();
  float *x = random_data (2 * 3 * 10 * 10);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 2, 3, 10, 10 }, x };
  int64_t n_out;
  float *want = run (m, &in, 0, &n_out);
  for (int threads = 1; threads <= 3; threads++) {
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.threads = threads;
    cnn_session *s = cnn_session_new (m, &so, NULL);
    CHECK (s && cnn_session_get_threads (s) == threads, "%d threads: the session has %d", threads,
        s ? cnn_session_get_threads (s) : -1);
    gboolean ok = s != NULL;
    for (int n = 0; ok && n < 2000; n = n * 3 + 1) {
      gint *visits = g_new0 (gint, MAX (n, 1)), bad = 0;
      parallel_job j = { visits, threads, &bad };
      cnn_session_parallel_for (s, n, parallel_item, &j);
      for (int i = 0; i < n; i++)
        ok &= visits[i] == 1;
      ok &= !bad;
      g_free (visits);
      ok &= cnn_session_run (s, &in, 1, NULL) &&
          max_diff (cnn_session_get_output (s, 0)->data, want, n_out) < 1e-5;
    }
    CHECK (ok, "cnn_session_parallel_for on %d threads", threads);
    printf ("ok   cnn_session_parallel_for on %d thread(s): each item once, runs between unchanged\n", threads);
    cnn_session_free (s);
  }
  g_free (want);
  g_free (x);
  cnn_model_unref (m);
}

/* x -> Conv -> Add(x) -> Relu: planned as one Conv with a residual, equal to
 * the same graph with the Conv's output exposed (which stops the fusion). */
static void
test_residual_fusion (void)
{
  float *w = random_data (4 * 4 * 9);
  cnn_model *m[2];
  for (int expose = 0; expose < 2; expose++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { 1, 4, 37, 41 }, wd[4] = { 4, 4, 3, 3 }, pads[4] = { 1, 1, 1, 1 };
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, w, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", "x,w", "c");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_node (b, "Add", "c,x", "a");
    ob_node (b, "Relu", "a", "y");
    ob_output (b, "y");
    if (expose)
      ob_output (b, "c");
    m[expose] = load (b);
  }
  float *x = random_data (4 * 37 * 41);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 1, 4, 37, 41 }, x };
  int64_t n1, n2;
  for (int ref = 0; ref < 2; ref++) {
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.reference = ref;
    cnn_session *s = cnn_session_new (m[0], &so, NULL);
    cnn_session_stats st;
    cnn_session_get_stats (s, &st);
    CHECK (st.n_exec_nodes == 1, "Conv+Add+Relu planned as %d nodes", st.n_exec_nodes);
    CHECK (cnn_session_run (s, &in, 1, NULL), "fused run");
    n1 = cnn_tensor_numel (cnn_session_get_output (s, 0));
    float *y1 = g_memdup2 (cnn_session_get_output (s, 0)->data, n1 * sizeof (float));
    /* the same kernels unfused: the fast ones round differently (Winograd) */
    float *y2 = run_with (m[1], &so, &in, 0, &n2);
    double d = n1 == n2 ? max_diff (y1, y2, n1) : INFINITY;
    CHECK (d < 1e-5, "residual fusion differs by %g", d);
    printf ("ok   Conv+Add+Relu fused into one node (%s kernels): max abs vs unfused %.3g\n",
        ref ? "reference" : "fast", d);
    g_free (y1);
    g_free (y2);
    cnn_session_free (s);
  }
  cnn_model_unref (m[0]);
  cnn_model_unref (m[1]);
  g_free (x);
  g_free (w);
}

static void
test_memory_plan (void)
{
  /* A chain of 12 convs: buffers must be reused. */
  ob_model *b = ob_new (13);
  int64_t xd[4] = { 1, 8, 32, 32 }, wd[4] = { 8, 8, 3, 3 }, pads[4] = { 1, 1, 1, 1 };
  ob_input (b, "x", 4, xd);
  ob_init_float (b, "w", 4, wd, NULL, rng);
  for (int i = 0; i < 12; i++) {
    char *io = i ? g_strdup_printf ("t%d,w", i - 1) : g_strdup ("x,w");
    char *out = g_strdup_printf (i == 11 ? "y" : "t%d", i);
    Onnx__NodeProto *n = ob_node (b, "Conv", io, out);
    ob_attr_ints (b, n, "pads", 4, pads);
    g_free (io);
    g_free (out);
  }
  ob_output (b, "y");
  cnn_model *m = load (b);
  cnn_session *s = cnn_session_new (m, NULL, NULL);
  cnn_session_stats st;
  cnn_session_get_stats (s, &st);
  size_t one = 8 * 32 * 32 * sizeof (float);
  CHECK (st.peak_activation_bytes <= 3 * one && st.naive_activation_bytes >= 12 * one,
      "peak %zu, naive %zu", st.peak_activation_bytes, st.naive_activation_bytes);
  printf ("ok   memory plan of a 12-conv chain: peak %zu bytes, %zu without reuse\n",
      st.peak_activation_bytes, st.naive_activation_bytes);
  cnn_session_free (s);
  cnn_model_unref (m);
}

/* Concats written in place (session.c): inputs only a Concat reads are
 * computed straight into their slices, nested Concats included; an input
 * given twice, one that is a graph output and a Concat whose slices are
 * not contiguous (axis 2) copy.  The outputs equal the reference
 * session's (which copies every Concat), and the plan needs less memory
 * (on host memory: device backends copy). */
static void
test_concat_in_place (void)
{
  ob_model *b = ob_new (13);
  int64_t xd[4] = { 1, 4, 9, 11 }, pads[4] = { 1, 1, 1, 1 };
  ob_input (b, "x", 4, xd);
  /* d first and before c in e: a misplaced slice of c would overwrite it */
  ob_node (b, "Relu", "x", "d");
  const char *convs[] = { "a", "b", "f", "q1", "q2" };
  const int64_t ms[] = { 5, 3, 2, 2, 2 };
  for (int i = 0; i < 5; i++) {
    char *w = g_strdup_printf ("w%d", i), *in = g_strdup_printf ("x,w%d", i);
    ob_init_float (b, w, 4, (int64_t[4]) { ms[i], 4, 3, 3 }, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", in, convs[i]);
    ob_attr_ints (b, n, "pads", 4, pads);
    g_free (w);
    g_free (in);
  }
  ob_attr_int (b, ob_node (b, "Concat", "a,b", "c"), "axis", 1);
  ob_attr_int (b, ob_node (b, "Concat", "d,c", "e"), "axis", 1);
  ob_attr_int (b, ob_node (b, "Concat", "e,f,f", "y"), "axis", 1);
  ob_attr_int (b, ob_node (b, "Concat", "q1,q2", "r"), "axis", 2);
  ob_output (b, "y");
  ob_output (b, "r");
  ob_output (b, "a");
  cnn_model *m = load (b);
  float *x = random_data (4 * 9 * 11);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 1, 4, 9, 11 }, x };
  cnn_session *s[2];
  cnn_session_stats st[2];
  for (int ref = 0; ref < 2; ref++) {
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.reference = ref;
    s[ref] = cnn_session_new (m, &so, NULL);
    CHECK (s[ref] && cnn_session_run (s[ref], &in, 1, NULL), "Concat graph runs");
    cnn_session_get_stats (s[ref], &st[ref]);
  }
  double d = 0;
  for (int o = 0; o < 3; o++) {
    const cnn_tensor *f = cnn_session_get_output (s[0], o), *r = cnn_session_get_output (s[1], o);
    CHECK (cnn_tensor_numel (f) == cnn_tensor_numel (r), "output %d shape", o);
    d = MAX (d, max_diff (f->data, r->data, cnn_tensor_numel (f)));
  }
  /* device memory (CNN_CPU_STAGED) copies every Concat */
  gboolean staged = g_strcmp0 (g_getenv ("CNN_CPU_STAGED"), "1") == 0;
  CHECK (d < 1e-4 && (staged || st[0].peak_activation_bytes < st[1].peak_activation_bytes),
      "Concat in place: max abs %g, peak %zu against %zu copying", d, st[0].peak_activation_bytes,
      st[1].peak_activation_bytes);
  printf ("ok   Concats in place: outputs as the reference's (max abs %.3g), peak %zu bytes against %zu\n", d,
      st[0].peak_activation_bytes, st[1].peak_activation_bytes);
  cnn_session_free (s[0]);
  cnn_session_free (s[1]);
  g_free (x);
  cnn_model_unref (m);
}

/* A batch whose items the graph keeps apart, 1 MiB of activations each or
 * more, runs item by item (the plan for one item: its memory, and the
 * batch's FLOPs), with the results of the whole batch; small items stay
 * together; graphs of items as large that mix them along the batch, with
 * the shapes unchanged (a Softmax over it, a Slice that reverses it) or
 * not (a Transpose that moves it, a mean over it), run as one batch, with
 * the reference kernels' results. */
#define MIX_W 262145            /* a row of floats over 1 MiB */

static cnn_model *
mixing_model (int which)
{
  ob_model *b = ob_new (13);
  int64_t xd[2] = { -1, MIX_W };
  ob_input (b, "x", 2, xd);
  ob_node (b, "Relu", "x", "r");
  if (which == 0) {
    Onnx__NodeProto *n = ob_node (b, "Softmax", "r", "y");
    ob_attr_int (b, n, "axis", 0);
  } else if (which == 1) {
    int64_t st = -1, en = G_MININT64, ax = 0, step = -1;
    ob_init_int64 (b, "st", 1, &st);
    ob_init_int64 (b, "en", 1, &en);
    ob_init_int64 (b, "ax", 1, &ax);
    ob_init_int64 (b, "sp", 1, &step);
    ob_node (b, "Slice", "r,st,en,ax,sp", "y");
  } else if (which == 3) {
    Onnx__NodeProto *n = ob_node (b, "ReduceMean", "r", "y");
    int64_t axes = 0;
    ob_attr_ints (b, n, "axes", 1, &axes);
  } else {
    Onnx__NodeProto *n = ob_node (b, "Transpose", "r", "t");
    int64_t perm[2] = { 1, 0 };
    ob_attr_ints (b, n, "perm", 2, perm);
    int64_t shape[2] = { -1, MIX_W };
    ob_init_int64 (b, "shape", 2, shape);
    ob_node (b, "Reshape", "t,shape", "y");
  }
  ob_output (b, "y");
  return load (b);
}

static void
test_batch_items (void)
{
  GError *err = NULL;
  /* items of 1 MiB of activations and more go one by one */
  cnn_model *m = batch_model_sized (256, 4);
  float *x = random_data (3 * 3 * 256 * 256);
  cnn_tensor one = { CNN_DTYPE_FLOAT32, 4, { 1, 3, 256, 256 }, x }, three = one;
  three.dims[0] = 3;
  cnn_session *s = cnn_session_new (m, NULL, NULL);
  cnn_session_stats st1, st3;
  CHECK (cnn_session_run (s, &one, 1, &err), "batch 1: %s", err ? err->message : "");
  cnn_session_get_stats (s, &st1);
  CHECK (cnn_session_run (s, &three, 1, &err), "batch 3: %s", err ? err->message : "");
  cnn_session_get_stats (s, &st3);
  gboolean whole = g_strcmp0 (g_getenv ("CNN_BATCH_WHOLE"), "1") == 0 || g_getenv ("CNN_CPU_STAGED");
  CHECK (whole || (st3.peak_activation_bytes == st1.peak_activation_bytes && st3.flops == 3 * st1.flops),
      "batch 3 item by item: peak %zu (batch 1: %zu), %" G_GINT64_FORMAT " FLOPs (batch 1: %" G_GINT64_FORMAT ")",
      st3.peak_activation_bytes, st1.peak_activation_bytes, st3.flops, st1.flops);
  CHECK (st1.batch_items == 0 && st3.batch_items == (whole ? 0 : 3), "batch_items %" G_GINT64_FORMAT
      " at batch 1, %" G_GINT64_FORMAT " at 3", st1.batch_items, st3.batch_items);
  /* a second run of the same shape keeps the plan; the items' outputs side by side */
  CHECK (cnn_session_run (s, &three, 1, &err), "batch 3 again: %s", err ? err->message : "");
  const cnn_tensor *o = cnn_session_get_output (s, 0);
  int64_t n_ref;
  cnn_session_options ro = CNN_SESSION_OPTIONS_INIT;
  ro.reference = TRUE;
  float *ref = run_with (m, &ro, &three, 0, &n_ref);
  CHECK (ref && o->dims[0] == 3 && cnn_tensor_numel (o) == n_ref, "batch 3 output shape");
  double d = ref ? max_diff (o->data, ref, n_ref) : 1;
  CHECK (d < 1e-4, "batch 3 item by item vs the reference: max abs %g", d);
  g_free (ref);
  cnn_session_free (s);
  cnn_model_unref (m);
  printf ("ok   batch 3 item by item: peak %zu bytes as at batch 1, max abs %.3g against the reference\n",
      st3.peak_activation_bytes, d);
  /* on 3 threads a batch of 7: 6 items one a thread, the last on all three;
   * twice, the second run on the item sessions of the first.  16 output
   * channels: the convolution's prepared weights, which the first item's
   * session lends the others */
  m = batch_model_sized (256, 16);
  float *x7 = random_data (7 * 3 * 256 * 256);
  cnn_tensor seven = { CNN_DTYPE_FLOAT32, 4, { 7, 3, 256, 256 }, x7 };
  cnn_session_options o3 = CNN_SESSION_OPTIONS_INIT;
  o3.threads = 3;
  s = cnn_session_new (m, &o3, NULL);
  ref = run_with (m, &ro, &seven, 0, &n_ref);
  for (int r = 0; r < 2; r++) {
    CHECK (cnn_session_run (s, &seven, 1, &err), "batch 7 on 3 threads: %s", err ? err->message : "");
    o = cnn_session_get_output (s, 0);
    CHECK (ref && o->dims[0] == 7 && cnn_tensor_numel (o) == n_ref, "batch 7 output shape");
    d = ref ? max_diff (o->data, ref, n_ref) : 1;
    CHECK (d < 1e-4, "batch 7 on 3 threads, run %d, vs the reference: max abs %g", r, d);
  }
  g_free (ref);
  g_free (x7);
  cnn_session_free (s);
  cnn_model_unref (m);
  printf ("ok   batch 7 on 3 threads, 6 items one a thread: max abs %.3g against the reference\n", d);
  /* items of a few KiB stay together: N tiny runs would pay each node's start N times */
  m = batch_model ();
  s = cnn_session_new (m, NULL, NULL);
  one.dims[2] = one.dims[3] = three.dims[2] = three.dims[3] = 10;
  CHECK (cnn_session_run (s, &one, 1, &err), "small batch 1: %s", err ? err->message : "");
  cnn_session_get_stats (s, &st1);
  CHECK (cnn_session_run (s, &three, 1, &err), "small batch 3: %s", err ? err->message : "");
  cnn_session_get_stats (s, &st3);
  CHECK (st3.peak_activation_bytes > st1.peak_activation_bytes && st3.batch_items == 0,
      "small items: peak %zu at batch 3, %zu at 1, batch_items %" G_GINT64_FORMAT, st3.peak_activation_bytes,
      st1.peak_activation_bytes, st3.batch_items);
  cnn_session_free (s);
  cnn_model_unref (m);
  static const char *names[] = { "Softmax over the batch", "Slice reversing the batch", "Transpose moving it",
    "ReduceMean over the batch" };
  float *xm = random_data (4 * MIX_W);
  for (int which = 0; which < 4; which++) {
    m = mixing_model (which);
    cnn_tensor in = { CNN_DTYPE_FLOAT32, 2, { 4, MIX_W }, xm };
    int64_t n_fast, n_ref2;
    float *fast = run (m, &in, 0, &n_fast), *r = run_with (m, &ro, &in, 0, &n_ref2);
    d = fast && r && n_fast == n_ref2 ? max_diff (fast, r, n_fast) : 1;
    CHECK (d < 1e-5, "%s: max abs %g against the reference", names[which], d);
    printf ("ok   %s: whole batch, max abs %.3g against the reference\n", names[which], d);
    g_free (fast);
    g_free (r);
    cnn_model_unref (m);
  }
  g_free (xm);
  g_free (x);
}

/* Conv weights that are not constants (a graph input here; a node's output
 * alike) change from run to run: the fast kernels, which keep what they
 * derive from constant weights for the plan (packed panels, Winograd
 * transforms), must derive it again each run.  Every CPU convolution path:
 * Winograd (3x3), the implicit GEMM (3x3 stride 2, 1x1 in place, to 6
 * channels, 5x5 dilated, 1x1 with K split between the threads), narrow
 * (1x1 to 3 channels), depthwise, im2col + GEMM (1x1, K = 8).  Three
 * runs, new weights each, against the reference. */
static void
test_dynamic_weights (void)
{
  static const struct {
    int64_t C, M, H, k, stride, dil, group;
  } cases[] = {
    { 16, 16, 12, 3, 1, 1, 1 }, { 16, 32, 15, 3, 2, 1, 1 }, { 32, 24, 10, 1, 1, 1, 1 },
    { 16, 3, 20, 3, 1, 1, 1 }, { 16, 16, 14, 3, 1, 1, 16 }, { 8, 12, 17, 5, 1, 2, 1 },
    { 24, 3, 11, 1, 1, 1, 1 }, { 64, 6, 13, 1, 1, 1, 1 }, { 8, 16, 9, 1, 1, 1, 1 }, { 512, 64, 13, 1, 1, 1, 1 },
  };
  cnn_session_options ro = CNN_SESSION_OPTIONS_INIT;
  ro.reference = TRUE;
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    int64_t C = cases[c].C, M = cases[c].M, H = cases[c].H, k = cases[c].k, G = cases[c].group;
    int64_t pad = (k - 1) * cases[c].dil / 2, pads[4] = { pad, pad, pad, pad };
    int64_t xd[4] = { 1, C, H, H }, wd[4] = { M, C / G, k, k };
    int64_t strides[2] = { cases[c].stride, cases[c].stride }, dil[2] = { cases[c].dil, cases[c].dil };
    ob_model *b = ob_new (13);
    ob_input (b, "x", 4, xd);
    ob_input (b, "w", 4, wd);
    Onnx__NodeProto *n = ob_node (b, "Conv", "x,w", "y");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_attr_ints (b, n, "strides", 2, strides);
    ob_attr_ints (b, n, "dilations", 2, dil);
    ob_attr_int (b, n, "group", G);
    ob_output (b, "y");
    cnn_model *m = load (b);
    GError *err = NULL;
    cnn_session *s = cnn_session_new (m, NULL, &err), *r = cnn_session_new (m, &ro, &err);
    CHECK (s && r, "Conv with weights as an input: %s", err ? err->message : "");
    g_clear_error (&err);
    float *x = random_data (C * H * H);
    double worst = 0;
    for (int run_i = 0; s && r && run_i < 3; run_i++) {
      float *w = random_data (M * (C / G) * k * k);
      cnn_tensor in[2] = { { CNN_DTYPE_FLOAT32, 4, { 1, C, H, H }, x },
        { CNN_DTYPE_FLOAT32, 4, { M, C / G, k, k }, w } };
      gboolean ok = cnn_session_run (s, in, 2, &err) && cnn_session_run (r, in, 2, &err);
      CHECK (ok, "Conv with weights as an input, run %d: %s", run_i, err ? err->message : "");
      g_clear_error (&err);
      const cnn_tensor *o = cnn_session_get_output (s, 0), *o_ref = cnn_session_get_output (r, 0);
      double d = ok ? max_diff (o->data, o_ref->data, cnn_tensor_numel (o_ref)) : INFINITY;
      CHECK (d < 1e-3, "Conv C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
          " k%" G_GINT64_FORMAT " with weights as an input, run %d (new weights): max abs %g against the reference",
          C, M, H, H, k, run_i, d);
      worst = MAX (worst, d);
      g_free (w);
    }
    printf ("%s Conv C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%"
        G_GINT64_FORMAT " s%" G_GINT64_FORMAT " g%" G_GINT64_FORMAT
        ", weights as an input, new each run: max abs %.3g against the reference over 3 runs\n",
        worst < 1e-3 ? "ok  " : "FAIL", C, M, H, H, k, cases[c].stride, G, worst);
    g_free (x);
    cnn_session_free (s);
    cnn_session_free (r);
    cnn_model_unref (m);
  }
}

int
main (void)
{
  rng = g_rand_new_with_seed (99);
  test_fusion ();
  test_symbolic_batch ();
  test_external_data ();
  test_threads ();
  test_parallel_for ();
  test_parallel_for_short_loops ();
  test_denormals ();
  test_residual_fusion ();
  test_dynamic_weights ();
  test_memory_plan ();
  test_concat_in_place ();
  test_batch_items ();
  g_rand_free (rng);
  printf ("test-session: %d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
