/* backend.c - the backend registry.  The only place that knows which
 * backends are compiled in. */
#include "cnn-private.h"

static const char *const backend_names[] = {
  "cpu",
#ifdef CNN_HAVE_CUDA
  "cuda",
#endif
  NULL
};

const char *const *
cnn_backend_list (void)
{
  return backend_names;
}

cnn_backend *
cnn_backend_new (const cnn_session_options *opts, int threads, GError **error)
{
  const char *name = opts->backend ? opts->backend : "auto";
  bool is_auto = strcmp (name, "auto") == 0;
  if (opts->precision && strcmp (opts->precision, "fp32") != 0 && strcmp (opts->precision, "tf32") != 0 &&
      strcmp (opts->precision, "fp16") != 0) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
        "precision '%s' is not supported (fp32, tf32, fp16)", opts->precision);
    return NULL;
  }
  if (strcmp (name, "cpu") == 0 || (is_auto && opts->reference))
    return cnn_backend_cpu_new (threads, opts->reference);
#ifdef CNN_HAVE_CUDA
  if (strcmp (name, "cuda") == 0 || is_auto) {
    if (opts->reference && !is_auto) {
      g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_ARGUMENT,
          "the reference kernels run on the cpu backend only");
      return NULL;
    }
    GError *cuda_error = NULL;
    cnn_backend *b = cnn_backend_cuda_new (opts, threads, &cuda_error);
    if (b || !is_auto) {
      if (cuda_error)
        g_propagate_error (error, cuda_error);
      return b;
    }
    /* auto: say once per process why the GPU is not used */
    static gsize said = 0;
    if (g_once_init_enter (&said)) {
      g_message ("backend auto: %s; running on the CPU", cuda_error->message);
      g_once_init_leave (&said, 1);
    }
    g_error_free (cuda_error);
    return cnn_backend_cpu_new (threads, false);
  }
#else
  if (is_auto)
    return cnn_backend_cpu_new (threads, false);
#endif
  g_set_error (error, CNN_ERROR, CNN_ERROR_BACKEND,
      "backend '%s' is not available (compiled in: cpu%s)", name,
#ifdef CNN_HAVE_CUDA
      ", cuda"
#else
      ""
#endif
      );
  return NULL;
}

void
cnn_backend_free (cnn_backend *b)
{
  if (b && b->iface->free)
    b->iface->free (b);
}
