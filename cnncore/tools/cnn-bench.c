/* cnn-bench - inference speed of a model on cnncore.
 *
 *   cnn-bench MODEL [--threads 2] [--batch 1] [--runs 50] [--warmup 5] [--json]
 *
 * Feeds random inputs (symbolic dims = batch), warms up, then times each run
 * and prints median / p90 / minimum latency, images per second, achieved GFLOP/s and
 * the share of this machine's SGEMM peak (measured here, same threads: the
 * better of OpenBLAS and cnncore's own GEMM).  --json prints one JSON
 * object instead, for bench/compare.py. */
#include "cnn.h"
#include "cnn-private.h"
#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* GFLOP/s of a large square SGEMM, best of a few runs of OpenBLAS's and of
 * cnncore's own (cnn_gemm): the peak is the machine's, and a distribution's
 * OpenBLAS may run generic kernels on a CPU it does not know (Debian's 0.3.21
 * takes Prescott's SSE3 ones on Emerald Rapids), which would flatter us.
 * *source says which one won. */
static double
sgemm_peak (int threads, const char **source)
{
  const int n = 1024;
  float *a = g_new (float, n * n), *b = g_new (float, n * n), *c = g_new (float, n * n);
  for (int i = 0; i < n * n; i++)
    a[i] = b[i] = (float) (i % 7) * 0.1f;
  openblas_set_num_threads (threads);
  cnn_threadpool *pool = cnn_threadpool_new (threads);
  double best_blas = 0, best_own = 0;
  for (int r = 0; r < 6; r++) {
    gint64 t0 = g_get_monotonic_time ();
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
    gint64 t1 = g_get_monotonic_time ();
    cnn_gemm (pool, false, false, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
    gint64 t2 = g_get_monotonic_time ();
    best_blas = MAX (best_blas, 2.0 * n * n * n / ((t1 - t0) * 1e-6) / 1e9);
    best_own = MAX (best_own, 2.0 * n * n * n / ((t2 - t1) * 1e-6) / 1e9);
  }
  cnn_threadpool_free (pool);
  g_free (a);
  g_free (b);
  g_free (c);
  *source = best_blas >= best_own ? "OpenBLAS" : "cnncore";
  return MAX (best_blas, best_own);
}

/* --profile: time per op type, and the slowest nodes, over profiled runs:
 * each node's median over the runs (a shared VM's stalls made a node's
 * mean up to 60% above its timed runs), per op type the sum of those */
typedef struct {
  const char *name, *op_type;
  char shape[64];
  GArray *seconds;              /* one per run */
  double median;
} node_time;

typedef struct {
  GArray *nodes;                /* node_time, in execution order */
  guint at;                     /* index of the next node in this run */
} profile;

static void
add_node_time (const char *name, const char *op_type, const cnn_tensor *output, double seconds,
    gpointer user_data)
{
  profile *p = user_data;
  if (p->at == p->nodes->len) {
    node_time n = { name, op_type, "", g_array_new (FALSE, FALSE, sizeof (double)), 0 };
    for (int d = 0, o = 0; output && d < output->ndim && o < (int) sizeof n.shape - 24; d++)
      o += g_snprintf (n.shape + o, sizeof n.shape - o, d ? "x%" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
          output->dims[d]);
    g_array_append_val (p->nodes, n);
  }
  g_array_append_val (g_array_index (p->nodes, node_time, p->at).seconds, seconds);
  p->at++;
}

static gint
slower_first (gconstpointer a, gconstpointer b)
{
  double d = ((const node_time *) b)->median - ((const node_time *) a)->median;
  return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static void
print_profile (cnn_session *s, cnn_tensor *in, int nin, int runs, int n_slowest)
{
  profile p = { g_array_new (FALSE, FALSE, sizeof (node_time)), 0 };
  int done = 0;
  cnn_session_set_profiling (s, TRUE);
  for (; done < runs && cnn_session_run (s, in, nin, NULL); done++) {
    p.at = 0;
    cnn_session_foreach_node_time (s, add_node_time, &p);
  }
  cnn_session_set_profiling (s, FALSE);
  printf ("  per run, node by node (median of %d runs):\n", done);
  /* a batch run item by item goes an item a thread; profiled, its items
   * go one after another on all threads (each node's time is the batch's),
   * and these times add up to more than the timed runs' */
  cnn_session_stats st;
  cnn_session_get_stats (s, &st);
  if (st.batch_items > 1 && cnn_session_get_threads (s) > 1)
    printf ("  (the batch's items in turn on all threads, not an item a thread as in the timed runs)\n");
  GHashTable *by_op = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GPtrArray *ops = g_ptr_array_new ();  /* in order of first appearance */
  for (guint i = 0; i < p.nodes->len; i++) {
    node_time *n = &g_array_index (p.nodes, node_time, i);
    g_array_sort (n->seconds, cmp_double);
    n->median = n->seconds->len ? g_array_index (n->seconds, double, n->seconds->len / 2) : 0;
    double *t = g_hash_table_lookup (by_op, n->op_type);
    if (!t) {
      t = g_new0 (double, 2);
      g_hash_table_insert (by_op, (gpointer) n->op_type, t);
      g_ptr_array_add (ops, (gpointer) n->op_type);
    }
    t[0] += n->median;
    t[1] += 1;
  }
  for (guint i = 0; i < ops->len; i++) {
    const double *t = g_hash_table_lookup (by_op, ops->pdata[i]);
    printf ("  %-22s %4.0f nodes %9.3f ms\n", (const char *) ops->pdata[i], t[1], t[0] * 1e3);
  }
  g_array_sort (p.nodes, slower_first);
  printf ("  slowest nodes:\n");
  for (guint i = 0; i < MIN (p.nodes->len, (guint) n_slowest); i++) {
    const node_time *n = &g_array_index (p.nodes, node_time, i);
    printf ("  %8.3f ms  %-18s %-22s %s\n", n->median * 1e3, n->op_type, n->shape, n->name);
  }
  for (guint i = 0; i < p.nodes->len; i++)
    g_array_free (g_array_index (p.nodes, node_time, i).seconds, TRUE);
  g_ptr_array_free (ops, TRUE);
  g_hash_table_destroy (by_op);
  g_array_free (p.nodes, TRUE);
}

int
main (int argc, char **argv)
{
  static int threads = 2, runs = 50, warmup = 5, n_slowest = 12;
  static gint64 batch = 1;
  static gboolean json, reference, no_peak, profile;
  static char *backend, *precision;
  GOptionEntry entries[] = {
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N" },
    { "batch", 'b', 0, G_OPTION_ARG_INT64, &batch, "Value of symbolic dims (default 1)", "N" },
    { "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Timed runs (default 50)", "N" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "Untimed runs first (default 5)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
    { "reference", 0, 0, G_OPTION_ARG_NONE, &reference, "Reference kernels only", NULL },
    { "no-peak", 0, 0, G_OPTION_ARG_NONE, &no_peak, "Skip the SGEMM peak measurement", NULL },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "auto, cpu (default), cuda", "NAME" },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile, "Time per op type and the slowest nodes (up to 20 more runs, node by node)", NULL },
    { "slowest", 0, 0, G_OPTION_ARG_INT, &n_slowest, "Nodes --profile lists (default 12)", "N" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "CUDA arithmetic: fp32 (default), tf32, fp16", "P" },
    { NULL }
  };
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("MODEL - time a model on cnncore");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || runs < 1) {
    g_printerr ("%s\n", error ? error->message : "usage: cnn-bench MODEL [options]");
    return 2;
  }
  g_option_context_free (ctx);
  cnn_model *m = cnn_model_load (argv[1], &error);
  if (!m) {
    g_printerr ("cnn-bench: %s\n", error->message);
    return 1;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = threads;
  so.default_dim = batch;
  so.reference = reference;
  so.backend = backend ? backend : "cpu";
  so.precision = precision;
  cnn_session *s = cnn_session_new (m, &so, &error);
  if (!s) {
    g_printerr ("cnn-bench: %s\n", error->message);
    return 1;
  }
  int nin = cnn_model_get_n_inputs (m);
  cnn_tensor *in = g_new0 (cnn_tensor, nin);
  GRand *rng = g_rand_new_with_seed (1);
  for (int i = 0; i < nin; i++) {
    const cnn_tensor_info *info = cnn_model_get_input (m, i);
    in[i].dtype = info->dtype;
    in[i].ndim = info->ndim;
    for (int d = 0; d < info->ndim; d++)
      in[i].dims[d] = info->dims[d] < 0 ? batch : info->dims[d];
    int64_t n = cnn_tensor_numel (&in[i]);
    /* pinned on the GPU, as an element feeding it would hold frames */
    size_t bytes = MAX (n, 1) * MAX (cnn_dtype_size (info->dtype), 1);
    in[i].data = cnn_session_alloc_host (s, bytes);
    if (!in[i].data) {
      g_printerr ("cnn-bench: cannot allocate %zu bytes of input\n", bytes);
      return 1;
    }
    memset (in[i].data, 0, bytes);
    if (info->dtype == CNN_DTYPE_FLOAT32)
      for (int64_t k = 0; k < n; k++)
        ((float *) in[i].data)[k] = (float) g_rand_double (rng);
  }
  for (int r = 0; r < warmup; r++)
    if (!cnn_session_run (s, in, nin, &error)) {
      g_printerr ("cnn-bench: %s\n", error->message);
      return 1;
    }
  double *t = g_new (double, runs);
  for (int r = 0; r < runs; r++) {
    gint64 t0 = g_get_monotonic_time ();
    cnn_session_run (s, in, nin, NULL);
    t[r] = (g_get_monotonic_time () - t0) * 1e-3;
  }
  qsort (t, runs, sizeof (double), cmp_double);
  double median = t[runs / 2], p90 = t[MIN (runs - 1, (int) (runs * 0.9))];
  cnn_session_stats st;
  cnn_session_get_stats (s, &st);
  double gflops = st.flops / (median * 1e-3) / 1e9;
  gboolean on_cpu = strcmp (cnn_session_get_backend (s), "cpu") == 0;
  const char *peak_source = "";
  double peak = no_peak || !on_cpu ? 0 : sgemm_peak (threads, &peak_source);
  if (json) {
    printf ("{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"batch\": %" G_GINT64_FORMAT ", \"median_ms\": %.4f, "
        "\"min_ms\": %.4f, \"p90_ms\": %.4f, \"images_per_s\": %.3f, \"gflops\": %.2f, \"sgemm_peak_gflops\": %.2f, "
        "\"sgemm_peak_by\": \"%s\", \"openblas_core\": \"%s\", \"flops\": %" G_GINT64_FORMAT "}\n",
        argv[1], cnn_session_get_backend (s), precision ? precision : "fp32", threads, batch, median,
        t[0], p90, batch * 1000.0 / median, gflops, peak, peak_source, openblas_get_corename (), st.flops);
  } else {
    if (on_cpu)
      printf ("%s: cpu, threads %d, batch %" G_GINT64_FORMAT "\n", argv[1], threads, batch);
    else
      printf ("%s: %s %s, batch %" G_GINT64_FORMAT "\n", argv[1], cnn_session_get_backend (s),
          precision ? precision : "fp32", batch);
    /* the minimum too: on a shared VM it moves least from run to run */
    printf ("  median %.3f ms, p90 %.3f ms, min %.3f ms, %.1f images/s\n", median, p90, t[0],
        batch * 1000.0 / median);
    printf ("  %.2f GFLOP per run, %.1f GFLOP/s", st.flops / 1e9, gflops);
    if (peak > 0)
      printf (", %.0f%% of this machine's SGEMM peak (%.1f GFLOP/s, %s; OpenBLAS core %s)",
          100 * gflops / peak, peak, peak_source, openblas_get_corename ());
    printf ("\n");
  }
  if (profile)
    print_profile (s, in, nin, MIN (runs, 20), MAX (n_slowest, 0));
  for (int i = 0; i < nin; i++)
    cnn_session_free_host (s, in[i].data);
  g_free (in);
  g_free (t);
  g_rand_free (rng);
  cnn_session_free (s);
  cnn_model_unref (m);
  return 0;
}
