/* cnn-run - run a model on an image or a tensor file and print its outputs.
 *
 *   cnn-run model.onnx --input eagle.jpg --labels labels.txt --top 5
 *   cnn-run model.onnx --input input_0.pb --save-outputs /tmp/out
 */
#include "cnn.h"
#include "image.h"
#include <stdio.h>
#include <stdlib.h>

static char *opt_input, *opt_labels, *opt_mean, *opt_std, *opt_save, *opt_save_input, *opt_backend;
static int opt_top = 5, opt_threads = 0, opt_repeat = 1, opt_batch = 1;
static double opt_scale = 0;
static gboolean opt_bgr, opt_nhwc, opt_reference, opt_profile;

static GOptionEntry entries[] = {
  { "input", 'i', 0, G_OPTION_ARG_FILENAME, &opt_input, "Image, TensorProto (.pb) or raw float32 (.bin)", "FILE" },
  { "labels", 'l', 0, G_OPTION_ARG_FILENAME, &opt_labels, "Labels, one per line (\"idx,label\" also read)", "FILE" },
  { "top", 'k', 0, G_OPTION_ARG_INT, &opt_top, "How many classes to print (default 5)", "K" },
  { "threads", 't', 0, G_OPTION_ARG_INT, &opt_threads, "Threads (default: all cores)", "N" },
  { "batch", 0, 0, G_OPTION_ARG_INT, &opt_batch, "Value of symbolic dims for a raw input (default 1)", "N" },
  { "backend", 'b', 0, G_OPTION_ARG_STRING, &opt_backend, "auto, cpu, cuda", "NAME" },
  { "mean", 0, 0, G_OPTION_ARG_STRING, &opt_mean, "Per-channel mean subtracted from 0..255 pixels", "R,G,B" },
  { "std", 0, 0, G_OPTION_ARG_STRING, &opt_std, "Per-channel divisor after the mean", "R,G,B" },
  { "scale", 0, 0, G_OPTION_ARG_DOUBLE, &opt_scale, "Multiply pixels by this (instead of --std)", "S" },
  { "bgr", 0, 0, G_OPTION_ARG_NONE, &opt_bgr, "Feed channels in B,G,R order", NULL },
  { "nhwc", 0, 0, G_OPTION_ARG_NONE, &opt_nhwc, "Model input is N,H,W,C", NULL },
  { "reference", 0, 0, G_OPTION_ARG_NONE, &opt_reference, "Use the plain reference kernels", NULL },
  { "repeat", 'n', 0, G_OPTION_ARG_INT, &opt_repeat, "Run N times and print the mean time", "N" },
  { "profile", 0, 0, G_OPTION_ARG_NONE, &opt_profile, "Print the time of every node", NULL },
  { "save-input", 0, 0, G_OPTION_ARG_FILENAME, &opt_save_input, "Write the input tensor as fed (raw)", "FILE" },
  { "save-outputs", 'o', 0, G_OPTION_ARG_FILENAME, &opt_save, "Write output i as raw float32 to PREFIXi.bin", "PREFIX" },
  { NULL }
};

static gboolean
parse_triplet (const char *s, float *v, GError **error)
{
  gchar **parts = g_strsplit (s, ",", 0);
  guint n = g_strv_length (parts);
  for (guint i = 0; i < 3 && n; i++)
    v[i] = (float) g_ascii_strtod (parts[n == 1 ? 0 : MIN (i, n - 1)], NULL);
  g_strfreev (parts);
  if (n != 1 && n != 3) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "'%s': give 1 or 3 values", s);
    return FALSE;
  }
  return TRUE;
}

static char **
load_labels (const char *path, int *n, GError **error)
{
  gchar *text;
  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  gchar **lines = g_strsplit (text, "\n", -1);
  g_free (text);
  GPtrArray *out = g_ptr_array_new ();
  for (gchar **l = lines; *l; l++) {
    g_strchomp (*l);
    if (!**l && !l[1])
      break;
    const char *s = *l;
    const char *p = s;
    while (g_ascii_isdigit (*p))
      p++;
    if (p != s && *p == ',')    /* "idx,label" */
      s = p + 1;
    g_ptr_array_add (out, g_strdup (s));
  }
  g_strfreev (lines);
  *n = (int) out->len;
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static gboolean
load_input (const cnn_model *model, const char *path, cnn_tensor *t, GError **error)
{
  const cnn_tensor_info *info = cnn_model_get_input (model, 0);
  if (opt_batch < 1) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "--batch %d: 1 or more", opt_batch);
    return FALSE;
  }
  if (g_str_has_suffix (path, ".pb"))
    return cnn_tensor_load_pb (path, t, NULL, error);
  t->dtype = info->dtype;
  t->ndim = info->ndim;
  for (int i = 0; i < info->ndim; i++)
    t->dims[i] = info->dims[i] < 0 ? opt_batch : info->dims[i];
  int64_t n = cnn_tensor_numel (t);
  if (g_str_has_suffix (path, ".bin") || g_str_has_suffix (path, ".raw")) {
    gchar *data;
    gsize len;
    if (!g_file_get_contents (path, &data, &len, error))
      return FALSE;
    if (len != (gsize) n * cnn_dtype_size (t->dtype)) {
      g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "%s holds %zu bytes, input '%s' "
          "needs %" G_GINT64_FORMAT, path, len, info->name, n * (int64_t) cnn_dtype_size (t->dtype));
      g_free (data);
      return FALSE;
    }
    t->data = data;
    return TRUE;
  }
  /* an image */
  if (opt_batch != 1) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "--batch takes a raw input (.bin), not an image");
    return FALSE;
  }
  if (t->ndim != 4 || t->dtype != CNN_DTYPE_FLOAT32) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "input '%s' is not a float image "
        "tensor [N,C,H,W] or [N,H,W,C]", info->name);
    return FALSE;
  }
  gboolean nhwc = opt_nhwc || ((t->dims[3] == 3 || t->dims[3] == 1) && t->dims[1] != 3 && t->dims[1] != 1);
  int h = (int) (nhwc ? t->dims[1] : t->dims[2]), w = (int) (nhwc ? t->dims[2] : t->dims[3]);
  int c = (int) (nhwc ? t->dims[3] : t->dims[1]);
  if (c != 3 && c != 1) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "input '%s' has %d channels; "
        "images give 1 (gray) or 3", info->name, c);
    return FALSE;
  }
  cnn_image_options o = { opt_bgr, nhwc, { 0, 0, 0 }, { 1, 1, 1 } };
  if (opt_mean && !parse_triplet (opt_mean, o.mean, error))
    return FALSE;
  if (opt_std && !parse_triplet (opt_std, o.std, error))
    return FALSE;
  if (opt_scale > 0)
    o.std[0] = o.std[1] = o.std[2] = (float) (1.0 / opt_scale);
  t->dims[0] = 1;
  t->data = g_new (float, c * (int64_t) h * w);
  return cnn_image_load (path, w, h, c, &o, t->data, error);
}

static gint
compare_scores (gconstpointer a, gconstpointer b, gpointer data)
{
  const float *v = data;
  float x = v[*(const int64_t *) a], y = v[*(const int64_t *) b];
  return x < y ? 1 : x > y ? -1 : 0;
}

static void
print_node_time (const char *name, const char *op, const cnn_tensor *out, double s, gpointer u)
{
  (void) u; (void) out;
  printf ("  %-40s %-22s %8.3f ms\n", name, op, s * 1e3);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("MODEL - run an ONNX model with cnncore");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || !opt_input) {
    g_printerr ("%s\n", error ? error->message : "usage: cnn-run MODEL --input FILE [options]; see --help");
    return 2;
  }
  g_option_context_free (ctx);
  int rc = 1, n_labels = 0;
  char **labels = NULL;
  cnn_tensor in = { 0 };
  cnn_session *sess = NULL;
  cnn_model *model = cnn_model_load (argv[1], &error);
  if (!model)
    goto error;
  if (cnn_model_get_n_inputs (model) != 1) {
    g_set_error (&error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT, "cnn-run feeds models of one input; "
        "this one has %d", cnn_model_get_n_inputs (model));
    goto error;
  }
  if (opt_labels && !(labels = load_labels (opt_labels, &n_labels, &error)))
    goto error;
  if (!load_input (model, opt_input, &in, &error))
    goto error;
  if (opt_save_input && !g_file_set_contents (opt_save_input, in.data,
          cnn_tensor_numel (&in) * cnn_dtype_size (in.dtype), &error))
    goto error;
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = opt_threads;
  so.reference = opt_reference;
  so.backend = opt_backend;
  so.default_dim = opt_batch;
  if (!(sess = cnn_session_new (model, &so, &error)))
    goto error;
  cnn_session_set_profiling (sess, opt_profile);
  gint64 t0 = g_get_monotonic_time ();
  for (int r = 0; r < MAX (opt_repeat, 1); r++)
    if (!cnn_session_run (sess, &in, 1, &error))
      goto error;
  double ms = (g_get_monotonic_time () - t0) / 1e3 / MAX (opt_repeat, 1);
  printf ("model %s, backend %s, %.2f ms per run\n", argv[1], cnn_session_get_backend (sess), ms);
  if (opt_profile)
    cnn_session_foreach_node_time (sess, print_node_time, NULL);
  for (int i = 0; i < cnn_model_get_n_outputs (model); i++) {
    const cnn_tensor *o = cnn_session_get_output (sess, i);
    const cnn_tensor_info *info = cnn_model_get_output (model, i);
    int64_t n = cnn_tensor_numel (o);
    printf ("output %d '%s' %s [", i, info->name, cnn_dtype_name (o->dtype));
    for (int d = 0; d < o->ndim; d++)
      printf ("%s%" G_GINT64_FORMAT, d ? "," : "", o->dims[d]);
    printf ("]");
    if (o->dtype == CNN_DTYPE_FLOAT32 && n > 0) {
      const float *v = o->data;
      double mn = v[0], mx = v[0], sum = 0;
      for (int64_t j = 0; j < n; j++) {
        mn = MIN (mn, v[j]);
        mx = MAX (mx, v[j]);
        sum += v[j];
      }
      printf (" min %g max %g mean %g\n", mn, mx, sum / n);
      /* class scores: top-k */
      if ((labels && n == n_labels) || (!labels && n <= 1000 && n == o->dims[o->ndim > 1 ? 1 : 0])) {
        int64_t *idx = g_new (int64_t, n);
        for (int64_t j = 0; j < n; j++)
          idx[j] = j;
        g_qsort_with_data (idx, (gint) n, sizeof (int64_t), compare_scores, (gpointer) v);
        for (int k = 0; k < MIN (opt_top, n); k++)
          printf ("  %d: %" G_GINT64_FORMAT " %s %.6f\n", k + 1, idx[k],
              labels && idx[k] < n_labels ? labels[idx[k]] : "", v[idx[k]]);
        g_free (idx);
      }
    } else {
      printf ("\n");
    }
    if (opt_save) {
      char *p = g_strdup_printf ("%s%d.bin", opt_save, i);
      if (!g_file_set_contents (p, o->data, n * cnn_dtype_size (o->dtype), &error)) {
        g_free (p);
        goto error;
      }
      g_free (p);
    }
  }
  rc = 0;
  goto out;
error:
  g_printerr ("cnn-run: %s\n", error->message);
  g_clear_error (&error);
out:
  cnn_session_free (sess);
  cnn_tensor_free_data (&in);
  g_strfreev (labels);
  if (model)
    cnn_model_unref (model);
  return rc;
}
