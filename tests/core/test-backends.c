/* test-backends - whole models on a backend against the CPU reference
 * kernels, on the same random input: max abs error and max error relative
 * to the output's range, per output.
 *
 *   test-backends [--backend cuda] [--precision fp32|tf32|fp16] [--batch N] [--low X] [--high Y]
 *                 [--threads N] MODEL...
 *
 * Fails above 5e-4 of the range (fp32: other summation orders and cuDNN
 * algorithms) or 2e-2 (tf32, fp16: 10-bit mantissas); exits 77 (skipped)
 * when the backend cannot start, for want of a GPU say. */
#include "cnn.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static char *opt_backend = "cuda", *opt_precision;
static gint64 opt_batch = 1, opt_threads = 2;
static double opt_lo = -1, opt_hi = 1;

static int
run_model (const char *path, double tolerance)
{
  GError *err = NULL;
  cnn_model *m = cnn_model_load (path, &err);
  if (!m) {
    printf ("FAIL %s: %s\n", path, err->message);
    g_error_free (err);
    return 1;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = (int) opt_threads;
  so.default_dim = opt_batch;
  so.reference = TRUE;
  cnn_session *ref = cnn_session_new (m, &so, &err);
  so.reference = FALSE;
  so.backend = opt_backend;
  so.precision = opt_precision;
  cnn_session *dev = ref ? cnn_session_new (m, &so, &err) : NULL;
  int nin = cnn_model_get_n_inputs (m), failed = 0;
  cnn_tensor *in = g_new0 (cnn_tensor, MAX (nin, 1));
  GRand *rng = g_rand_new_with_seed (7);
  for (int i = 0; i < nin; i++) {
    const cnn_tensor_info *info = cnn_model_get_input (m, i);
    in[i].dtype = info->dtype;
    in[i].ndim = info->ndim;
    for (int d = 0; d < info->ndim; d++)
      in[i].dims[d] = info->dims[d] < 0 ? opt_batch : info->dims[d];
    int64_t n = cnn_tensor_numel (&in[i]);
    in[i].data = g_malloc0 (MAX (n, 1) * MAX (cnn_dtype_size (info->dtype), 1));
    if (info->dtype == CNN_DTYPE_FLOAT32)
      for (int64_t k = 0; k < n; k++)
        ((float *) in[i].data)[k] = (float) g_rand_double_range (rng, opt_lo, opt_hi);
  }
  if (!dev || !cnn_session_run (ref, in, nin, &err) || !cnn_session_run (dev, in, nin, &err)) {
    printf ("FAIL %s: %s\n", path, err->message);
    g_clear_error (&err);
    failed = 1;
  }
  for (int o = 0; !failed && o < cnn_model_get_n_outputs (m); o++) {
    const cnn_tensor *a = cnn_session_get_output (ref, o), *b = cnn_session_get_output (dev, o);
    int64_t n = cnn_tensor_numel (a);
    if (a->dtype != CNN_DTYPE_FLOAT32 || b->dtype != a->dtype || cnn_tensor_numel (b) != n) {
      gboolean same = b->dtype == a->dtype && cnn_tensor_numel (b) == n &&
          memcmp (a->data, b->data, n * cnn_dtype_size (a->dtype)) == 0;
      printf ("%s %s output %d (%s): %s\n", same ? "ok  " : "FAIL", path, o, cnn_dtype_name (a->dtype),
          same ? "identical" : "differs");
      failed |= !same;
      continue;
    }
    const float *x = a->data, *y = b->data;
    double lo = INFINITY, hi = -INFINITY, max_abs = 0;
    for (int64_t k = 0; k < n; k++) {
      lo = MIN (lo, x[k]);
      hi = MAX (hi, x[k]);
      double e = fabs ((double) x[k] - y[k]);
      max_abs = isnan (e) ? INFINITY : MAX (max_abs, e);
    }
    double range = MAX (hi - lo, 1e-6);
    gboolean ok = max_abs <= tolerance * range;
    printf ("%s %s output %d: %" G_GINT64_FORMAT " values, range %.3g, max abs %.3g, max rel to range %.3g\n",
        ok ? "ok  " : "FAIL", path, o, n, range, max_abs, max_abs / range);
    failed |= !ok;
  }
  for (int i = 0; i < nin; i++)
    g_free (in[i].data);
  g_free (in);
  g_rand_free (rng);
  cnn_session_free (ref);
  cnn_session_free (dev);
  cnn_model_unref (m);
  return failed;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &opt_backend, "Backend to check (default cuda)", "NAME" },
    { "precision", 'p', 0, G_OPTION_ARG_STRING, &opt_precision, "fp32 (default), tf32 or fp16", "P" },
    { "batch", 'n', 0, G_OPTION_ARG_INT64, &opt_batch, "Value of symbolic dims (default 1)", "N" },
    { "low", 0, 0, G_OPTION_ARG_DOUBLE, &opt_lo, "Random inputs from (default -1)", "X" },
    { "high", 0, 0, G_OPTION_ARG_DOUBLE, &opt_hi, "Random inputs up to (default 1)", "X" },
    { "threads", 't', 0, G_OPTION_ARG_INT64, &opt_threads, "CPU threads of both sessions (default 2)", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("MODEL... - check a backend against the CPU reference");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *err = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc < 2) {
    g_printerr ("%s\n", err ? err->message : "usage: test-backends [options] MODEL...");
    return 2;
  }
  g_option_context_free (ctx);
  double tolerance = opt_precision && strcmp (opt_precision, "fp32") != 0 ? 2e-2 : 5e-4;
  /* skip, not fail, where the backend cannot start */
  const char *const *names = cnn_backend_list ();
  gboolean compiled = FALSE;
  for (int i = 0; names[i]; i++)
    compiled |= strcmp (names[i], opt_backend) == 0;
  if (!compiled) {
    printf ("SKIP: backend %s is not compiled in\n", opt_backend);
    return 77;
  }
  int failed = 0, total = 0;
  for (int i = 1; i < argc; i++) {
    if (!g_file_test (argv[i], G_FILE_TEST_EXISTS)) {
      printf ("skip %s: not found\n", argv[i]);
      continue;
    }
    int r = run_model (argv[i], tolerance);
    if (r && total == 0 && failed == 0) {
      /* the first model failing to start the backend means no device */
      cnn_model *m = cnn_model_load (argv[i], NULL);
      cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
      so.backend = opt_backend;
      cnn_session *s = m ? cnn_session_new (m, &so, &err) : NULL;
      if (!s && err && err->code == CNN_ERROR_BACKEND) {
        printf ("SKIP: %s\n", err->message);
        return 77;
      }
      g_clear_error (&err);
      cnn_session_free (s);
      if (m)
        cnn_model_unref (m);
    }
    failed += r;
    total++;
  }
  printf ("test-backends (%s, %s): %d models, %d failed\n", opt_backend,
      opt_precision ? opt_precision : "fp32", total, failed);
  return failed ? 1 : 0;
}
