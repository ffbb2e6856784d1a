/* backend-cpu.c - the CPU backend: reference kernels plus the fast paths
 * (OpenBLAS and our own), with flush-to-zero for denormals. */
#include "cnn-private.h"
#include <cblas.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#include <pmmintrin.h>
#endif

static bool
cpu_supports_op (cnn_backend *b, const cnn_exec *x)
{
  (void) b; (void) x;
  return true;
}

static void *
cpu_alloc_buffer (cnn_backend *b, size_t size)
{
  (void) b;
  void *p = NULL;
  if (posix_memalign (&p, 64, size) != 0)
    return NULL;
  return p;
}

static void
cpu_free_buffer (cnn_backend *b, void *buf)
{
  (void) b;
  free (buf);
}

static cnn_status
cpu_graph_compute (cnn_backend *b, cnn_exec *const *execs, int n, double *times)
{
#if defined(__x86_64__) || defined(__i386__)
  /* Denormals are slow and never matter for inference. */
  unsigned csr = _mm_getcsr ();
  _mm_setcsr (csr | 0x8040);
#endif
  /* our pool does the parallel work: OpenBLAS must not start threads too */
  openblas_set_num_threads (1);
  cnn_status st = CNN_OK;
  for (int i = 0; i < n && st == CNN_OK; i++) {
    cnn_exec *x = execs[i];
    const cnn_op_def *def = cnn_op_defs[x->node->op];
    gint64 t0 = times ? g_get_monotonic_time () : 0;
    st = (!b->reference && def->compute_fast) ? def->compute_fast (x) : def->compute_ref (x);
    if (times)
      times[i] = (g_get_monotonic_time () - t0) * 1e-6;
  }
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr (csr);
#endif
  return st;
}

static void
cpu_free (cnn_backend *b)
{
  cnn_threadpool_free (b->pool);
  g_free (b);
}

static const cnn_backend_i cpu_backend_i = {
  /* .name          = */ "cpu",
  /* .device_memory = */ false,
  /* .host_kernels  = */ true,
  /* .supports_op   = */ cpu_supports_op,
  /* .alloc_buffer  = */ cpu_alloc_buffer,
  /* .free_buffer   = */ cpu_free_buffer,
  /* .graph_compute = */ cpu_graph_compute,
  /* .free          = */ cpu_free,
};

/* CNN_CPU_STAGED=1: the CPU backend poses as one with its own memory, so
 * that the tests run the session's device-memory path (inputs copied into
 * the arena, outputs copied out) on machines without a GPU. */
static cnn_status
cpu_copy (cnn_backend *b, void *dst, const void *src, cnn_dtype dtype, int64_t numel, GString *err)
{
  (void) b; (void) err;
  memcpy (dst, src, (size_t) numel * cnn_dtype_size (dtype));
  return CNN_OK;
}

/* Pre-processing into the staged "device" memory: the reference conversion. */
static cnn_status
cpu_set_image (cnn_backend *b, const cnn_tensor *t, int item, const cnn_image *img, const cnn_image_map *map,
    GString *err)
{
  int64_t per = cnn_tensor_numel (t) / t->dims[0];
  float *dst = (float *) t->data + item * per;
  if (!img) {
    memset (dst, 0, per * sizeof (float));
    return CNN_OK;
  }
  int c = (int) t->dims[map->nhwc ? 3 : 1], h = (int) t->dims[map->nhwc ? 1 : 2], w = (int) t->dims[map->nhwc ? 2 : 3];
  cnn_image_to_tensor (img, map, c, h, w, dst);
  return CNN_OK;
}

static const cnn_backend_i cpu_staged_backend_i = {
  /* .name          = */ "cpu",
  /* .device_memory = */ true,
  /* .host_kernels  = */ true,
  /* .supports_op   = */ cpu_supports_op,
  /* .alloc_buffer  = */ cpu_alloc_buffer,
  /* .free_buffer   = */ cpu_free_buffer,
  /* .graph_compute = */ cpu_graph_compute,
  /* .free          = */ cpu_free,
  /* .set_tensor    = */ cpu_copy,
  /* .get_tensor    = */ cpu_copy,
  /* .plan_reset    = */ NULL,
  /* .alloc_host    = */ NULL,
  /* .free_host     = */ NULL,
  /* .set_image     = */ cpu_set_image,
};

cnn_backend *
cnn_backend_cpu_new (int threads, bool reference)
{
  cnn_backend *b = g_new0 (cnn_backend, 1);
  b->iface = g_strcmp0 (g_getenv ("CNN_CPU_STAGED"), "1") == 0 ? &cpu_staged_backend_i : &cpu_backend_i;
  b->reference = reference;
  b->pool = threads > 1 ? cnn_threadpool_new (threads) : NULL;
  return b;
}
