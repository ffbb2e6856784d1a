/* cnn-inspect - what is in a model: inputs, outputs, ops, parameters,
 * FLOPs and the peak activation memory of the plan.
 *
 *   cnn-inspect model.onnx
 */
#include "cnn.h"
#include <stdio.h>

static void
print_info (const char *what, int i, const cnn_tensor_info *t)
{
  printf ("  %s %d: '%s' %s [", what, i, t->name, cnn_dtype_name (t->file_dtype));
  for (int d = 0; d < t->ndim; d++) {
    if (t->dims[d] >= 0)
      printf ("%s%" G_GINT64_FORMAT, d ? "," : "", t->dims[d]);
    else
      printf ("%s%s", d ? "," : "", t->dim_names[d] ? t->dim_names[d] : "?");
  }
  printf ("]%s\n", t->file_dtype != t->dtype ? " (computed as float)" : "");
}

static void
print_op (const char *op, int count, gpointer user_data)
{
  (void) user_data;
  printf ("  %-24s %d\n", op, count);
}

int
main (int argc, char **argv)
{
  static int threads = 1;
  static gint64 batch = 1;
  GOptionEntry entries[] = {
    { "batch", 'b', 0, G_OPTION_ARG_INT64, &batch, "Value for symbolic dims (default 1)", "N" },
    { NULL }
  };
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("MODEL - describe an ONNX model");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2) {
    g_printerr ("%s\n", error ? error->message : "usage: cnn-inspect MODEL");
    return 2;
  }
  g_option_context_free (ctx);
  cnn_model *m = cnn_model_load (argv[1], &error);
  if (!m) {
    g_printerr ("cnn-inspect: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  cnn_model_stats ms;
  cnn_model_get_stats (m, &ms);
  printf ("model: %s\n  ir_version %" G_GINT64_FORMAT ", opset %" G_GINT64_FORMAT ", producer '%s'\n",
      argv[1], ms.ir_version, ms.opset, ms.producer);
  for (int i = 0; i < cnn_model_get_n_inputs (m); i++)
    print_info ("input", i, cnn_model_get_input (m, i));
  for (int i = 0; i < cnn_model_get_n_outputs (m); i++)
    print_info ("output", i, cnn_model_get_output (m, i));
  printf ("ops (%d nodes in the file):\n", ms.n_nodes_file);
  cnn_model_foreach_op_type (m, print_op, NULL);
  printf ("parameters: %" G_GINT64_FORMAT "\n", ms.n_params);
  printf ("load-time optimization: %d nodes left, %d BatchNormalization folded, %d activations fused\n",
      ms.n_nodes, ms.n_folded_batchnorms, ms.n_fused_activations);
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = threads;
  so.default_dim = batch;
  cnn_session *s = cnn_session_new (m, &so, &error);
  int rc = 0;
  if (!s) {
    g_printerr ("cnn-inspect: cannot plan the model: %s\n", error->message);
    g_error_free (error);
    rc = 1;
  } else {
    cnn_session_stats ss;
    cnn_session_get_stats (s, &ss);
    printf ("plan (symbolic dims = %" G_GINT64_FORMAT "): %d nodes to run\n", batch, ss.n_exec_nodes);
    printf ("  FLOPs: %.3f G\n", ss.flops / 1e9);
    printf ("  peak activation memory: %.2f MiB (%.2f MiB without buffer reuse)\n",
        ss.peak_activation_bytes / 1048576.0, ss.naive_activation_bytes / 1048576.0);
    printf ("  weights and constants: %.2f MiB\n", ss.constant_bytes / 1048576.0);
    cnn_session_free (s);
  }
  cnn_model_unref (m);
  return rc;
}
