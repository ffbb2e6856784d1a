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
cnn_backend_new (const char *name, int threads, bool reference, GError **error)
{
  if (!name || strcmp (name, "auto") == 0 || strcmp (name, "cpu") == 0)
    return cnn_backend_cpu_new (threads, reference);
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
