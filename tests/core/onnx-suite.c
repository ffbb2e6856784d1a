/* onnx-suite - runs ONNX conformance tests (folders holding model.onnx and
 * test_data_set_N/{input,output}_K.pb) and compares with the stored outputs.
 *
 *   onnx-suite [--reference] [--verbose] DIR...
 *
 * Each DIR is either one test or a folder of tests.  A test whose model is
 * rejected as unsupported (an op, attribute or type outside the op list) is
 * skipped and listed; every other test must match within rtol 1e-3,
 * atol 1e-5 (ONNX's backend test tolerances, atol loosened for float32
 * summation order).  Exits non-zero on any failure. */
#include "cnn.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static gboolean opt_reference, opt_verbose;
static char *opt_backend = "cpu", *opt_precision;
static int n_pass, n_fail, n_skip;
static GString *skipped, *failed;

static gboolean
compare (const cnn_tensor *got, const cnn_tensor *want, double *max_abs, double *max_rel,
    char **why)
{
  *max_abs = *max_rel = 0;
  if (got->ndim != want->ndim || cnn_tensor_numel (got) != cnn_tensor_numel (want)) {
    *why = g_strdup_printf ("shape: rank %d, %" G_GINT64_FORMAT " elements; expected rank %d, %"
        G_GINT64_FORMAT, got->ndim, cnn_tensor_numel (got), want->ndim, cnn_tensor_numel (want));
    return FALSE;
  }
  for (int d = 0; d < got->ndim; d++)
    if (got->dims[d] != want->dims[d]) {
      *why = g_strdup_printf ("dim %d is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT, d,
          got->dims[d], want->dims[d]);
      return FALSE;
    }
  gboolean ok = TRUE;
  int64_t n = cnn_tensor_numel (got);
  for (int64_t i = 0; i < n; i++) {
    double a, b;
    if (got->dtype == CNN_DTYPE_FLOAT32)
      a = ((const float *) got->data)[i];
    else if (got->dtype == CNN_DTYPE_INT64)
      a = (double) ((const int64_t *) got->data)[i];
    else if (got->dtype == CNN_DTYPE_INT32)
      a = ((const int32_t *) got->data)[i];
    else if (got->dtype == CNN_DTYPE_INT8)
      a = ((const int8_t *) got->data)[i];
    else
      a = ((const uint8_t *) got->data)[i];
    if (want->dtype == CNN_DTYPE_FLOAT32)
      b = ((const float *) want->data)[i];
    else if (want->dtype == CNN_DTYPE_INT64)
      b = (double) ((const int64_t *) want->data)[i];
    else if (want->dtype == CNN_DTYPE_INT32)
      b = ((const int32_t *) want->data)[i];
    else if (want->dtype == CNN_DTYPE_INT8)
      b = ((const int8_t *) want->data)[i];
    else
      b = ((const uint8_t *) want->data)[i];
    if (isnan (a) && isnan (b))
      continue;
    if (isinf (a) && isinf (b) && (a > 0) == (b > 0))
      continue;
    double err = fabs (a - b), rel = err / MAX (fabs (b), 1e-12);
    *max_abs = MAX (*max_abs, err);
    *max_rel = MAX (*max_rel, err > 1e-5 ? rel : 0);
    if (!(err <= 1e-5 + 1e-3 * fabs (b)))
      ok = FALSE;
  }
  if (!ok)
    *why = g_strdup_printf ("values differ: max abs error %.3g, max rel error %.3g", *max_abs, *max_rel);
  return ok;
}

static int
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char **) a, *(char **) b);
}

/* Files called PREFIX_N.pb in dir, in index order. */
static GPtrArray *
list_pb (const char *dir, const char *prefix)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0;; i++) {
    char *name = g_strdup_printf ("%s_%d.pb", prefix, i);
    char *path = g_build_filename (dir, name, NULL);
    g_free (name);
    if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
      g_free (path);
      break;
    }
    g_ptr_array_add (out, path);
  }
  return out;
}

static void
run_test (const char *dir)
{
  char *model_path = g_build_filename (dir, "model.onnx", NULL);
  const char *name = strrchr (dir, '/') ? strrchr (dir, '/') + 1 : dir;
  GError *error = NULL;
  if (opt_verbose)
    fprintf (stderr, "run %s\n", name);  /* the last one shown names a crash */
  cnn_model *m = cnn_model_load (model_path, &error);
  g_free (model_path);
  if (!m) {
    if (error->code == CNN_ERROR_UNSUPPORTED) {
      n_skip++;
      g_string_append_printf (skipped, "  SKIP %s: %s\n", name, error->message);
    } else {
      n_fail++;
      g_string_append_printf (failed, "  FAIL %s: load: %s\n", name, error->message);
    }
    g_error_free (error);
    return;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 2;
  so.reference = opt_reference;
  so.backend = opt_backend;
  so.precision = opt_precision;
  cnn_session *s = NULL;
  GDir *d = g_dir_open (dir, 0, NULL);
  GPtrArray *sets = g_ptr_array_new_with_free_func (g_free);
  const char *e;
  while (d && (e = g_dir_read_name (d)))
    if (g_str_has_prefix (e, "test_data_set_"))
      g_ptr_array_add (sets, g_build_filename (dir, e, NULL));
  if (d)
    g_dir_close (d);
  g_ptr_array_sort (sets, cmp_str);
  gboolean ok = TRUE, skip = FALSE;
  char *why = NULL;
  double worst_abs = 0, worst_rel = 0;
  for (guint si = 0; si < sets->len && ok && !skip; si++) {
    GPtrArray *ins = list_pb (g_ptr_array_index (sets, si), "input");
    GPtrArray *outs = list_pb (g_ptr_array_index (sets, si), "output");
    int n_in = cnn_model_get_n_inputs (m);
    cnn_tensor *tin = g_new0 (cnn_tensor, MAX (n_in, 1));
    for (guint k = 0; k < ins->len && ok; k++) {
      cnn_tensor t;
      char *tname = NULL;
      if (!cnn_tensor_load_pb (g_ptr_array_index (ins, k), &t, &tname, &error)) {
        skip = error->code == CNN_ERROR_UNSUPPORTED;
        ok = skip;
        why = g_strdup_printf ("input %u: %s", k, error->message);
        g_clear_error (&error);
        break;
      }
      int idx = tname && *tname ? cnn_model_find_input (m, tname) : -1;
      if (idx < 0)
        idx = (int) k;
      g_free (tname);
      if (idx >= n_in) {
        cnn_tensor_free_data (&t);
        ok = FALSE;
        why = g_strdup_printf ("input %u has no model input", k);
        break;
      }
      tin[idx] = t;
    }
    if (ok && !skip && !s && !(s = cnn_session_new (m, &so, &error))) {
      skip = error->code == CNN_ERROR_UNSUPPORTED;
      ok = skip;
      why = g_strdup (error->message);
      g_clear_error (&error);
    }
    if (ok && !skip && !cnn_session_run (s, tin, n_in, &error)) {
      skip = error->code == CNN_ERROR_UNSUPPORTED;
      ok = skip;
      why = g_strdup (error->message);
      g_clear_error (&error);
    }
    for (guint k = 0; k < outs->len && ok && !skip; k++) {
      cnn_tensor want;
      if (!cnn_tensor_load_pb (g_ptr_array_index (outs, k), &want, NULL, &error)) {
        skip = error->code == CNN_ERROR_UNSUPPORTED;
        ok = skip;
        why = g_strdup_printf ("output %u: %s", k, error->message);
        g_clear_error (&error);
        break;
      }
      const cnn_tensor *got = cnn_session_get_output (s, (int) k);
      double ma = 0, mr = 0;
      char *w = NULL;
      if (!got) {
        ok = FALSE;
        why = g_strdup_printf ("output %u missing", k);
      } else if (!compare (got, &want, &ma, &mr, &w)) {
        ok = FALSE;
        why = g_strdup_printf ("output %u: %s", k, w);
        g_free (w);
      }
      worst_abs = MAX (worst_abs, ma);
      worst_rel = MAX (worst_rel, mr);
      cnn_tensor_free_data (&want);
    }
    for (int k = 0; k < n_in; k++)
      cnn_tensor_free_data (&tin[k]);
    g_free (tin);
    g_ptr_array_free (ins, TRUE);
    g_ptr_array_free (outs, TRUE);
  }
  if (skip) {
    n_skip++;
    g_string_append_printf (skipped, "  SKIP %s: %s\n", name, why);
  } else if (!ok) {
    n_fail++;
    g_string_append_printf (failed, "  FAIL %s: %s\n", name, why);
  } else {
    n_pass++;
    if (opt_verbose)
      printf ("  ok   %s (max abs %.3g, max rel %.3g)\n", name, worst_abs, worst_rel);
  }
  g_free (why);
  cnn_session_free (s);
  g_ptr_array_free (sets, TRUE);
  cnn_model_unref (m);
}

static void
run_path (const char *path)
{
  char *model = g_build_filename (path, "model.onnx", NULL);
  gboolean single = g_file_test (model, G_FILE_TEST_EXISTS);
  g_free (model);
  if (single) {
    run_test (path);
    return;
  }
  GDir *d = g_dir_open (path, 0, NULL);
  if (!d) {
    g_printerr ("onnx-suite: cannot open %s\n", path);
    n_fail++;
    return;
  }
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *e;
  while ((e = g_dir_read_name (d)))
    g_ptr_array_add (names, g_build_filename (path, e, NULL));
  g_dir_close (d);
  g_ptr_array_sort (names, cmp_str);
  for (guint i = 0; i < names->len; i++) {
    char *mp = g_build_filename (g_ptr_array_index (names, i), "model.onnx", NULL);
    if (g_file_test (mp, G_FILE_TEST_EXISTS))
      run_test (g_ptr_array_index (names, i));
    g_free (mp);
  }
  g_ptr_array_free (names, TRUE);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "reference", 'r', 0, G_OPTION_ARG_NONE, &opt_reference, "Reference kernels only", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "List passing tests and skips", NULL },
    { "backend", 'b', 0, G_OPTION_ARG_STRING, &opt_backend, "cpu (default), cuda, auto", "NAME" },
    { "precision", 'p', 0, G_OPTION_ARG_STRING, &opt_precision, "CUDA arithmetic: fp32, tf32, fp16", "P" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("DIR... - run ONNX conformance tests");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc < 2) {
    g_printerr ("%s\n", error ? error->message : "usage: onnx-suite DIR...");
    return 2;
  }
  g_option_context_free (ctx);
  skipped = g_string_new (NULL);
  failed = g_string_new (NULL);
  for (int i = 1; i < argc; i++)
    run_path (argv[i]);
  if (opt_verbose)
    printf ("%s", skipped->str);
  printf ("%s", failed->str);
  printf ("onnx-suite: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
  g_string_free (skipped, TRUE);
  g_string_free (failed, TRUE);
  return n_fail ? 1 : 0;
}
