/* fuzz-model - libFuzzer harness for the ONNX loader and planner: any bytes
 * must give a model or a GError, never a crash, a leak or undefined
 * behaviour.  A model that loads is also planned and, if its inputs are
 * small, run once on zeros.  Built and run by run-fuzz.sh. */
#include "cnn.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *err = NULL;
  cnn_model *m = cnn_model_load_from_memory (data, size, NULL, &err);
  if (!m) {
    g_error_free (err);
    return 0;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 1;
  cnn_session *s = cnn_session_new (m, &so, &err);
  if (!s) {
    g_error_free (err);
    cnn_model_unref (m);
    return 0;
  }
  int n = cnn_model_get_n_inputs (m);
  cnn_tensor *in = g_new0 (cnn_tensor, n ? n : 1);
  gboolean small = n <= 8;
  for (int i = 0; i < n && small; i++) {
    const cnn_tensor_info *info = cnn_model_get_input (m, i);
    in[i].dtype = info->dtype;
    in[i].ndim = info->ndim;
    int64_t count = 1;
    for (int d = 0; d < info->ndim; d++) {
      in[i].dims[d] = info->dims[d] < 0 ? 1 : info->dims[d];
      count *= in[i].dims[d];
      small &= count <= (1 << 20);
    }
    if (small)
      in[i].data = g_malloc0 (MAX (count, 1) * 8);
  }
  if (small && !cnn_session_run (s, in, n, &err))
    g_error_free (err);
  for (int i = 0; i < n; i++)
    g_free (in[i].data);
  g_free (in);
  cnn_session_free (s);
  cnn_model_unref (m);
  return 0;
}
