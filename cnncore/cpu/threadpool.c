/* threadpool.c - the one thread pool of a CPU session.  OpenBLAS runs single
 * threaded and every parallel loop (GEMM slices included) runs here, so the
 * two never fight over the cores.  Workers spin briefly before sleeping:
 * inference issues many short loops back to back.  Between runs they spin
 * longer where the runs follow one another closely (up to 3 ms, learnt
 * from how soon a sleeping worker was woken), not on a camera's frames,
 * yielding the core past the first half millisecond to any thread that
 * wants it.
 *
 * Each thread starts on its own contiguous share of a loop's items (thread
 * t on the t-th share, every loop), then helps with the others' when done.
 * A thread so writes the same part of a buffer run after run and layer
 * after layer, which stays in its core's cache; handing items out in
 * order of asking, a line last read by the other core cost a transfer on
 * every write (at 2 threads MobileNetV2 4% slower, UltraFace's first layer,
 * whose padded planes both cores read, 20%).
 *
 * The caller waits only for the workers that joined the loop: once it has
 * run out of items it closes the loop, and a worker that wakes up after
 * that (descheduled: a video decoder shares the cores) stays out.  Waiting
 * for every worker to wake took a scheduler latency, up to milliseconds,
 * from loops whose items the caller had long finished alone. */
#include "../cnn-private.h"
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause ()
#else
#define CPU_RELAX() do { } while (0)
#endif

#define SPIN_ITERATIONS 20000   /* the caller's wait for the workers: about 0.5 ms on Zen 4 */
#define SPIN_US 500             /* a worker's spin after a loop */
#define MAX_SPIN_US 3000        /* the longest, between runs back to back */
#define LOOP_CLOSED (1 << 30)   /* in running: no worker joins the loop any more */

typedef struct {
  atomic_llong next;
  int64_t end;
  char pad[64 - sizeof (atomic_llong) - sizeof (int64_t)];     /* a cache line each */
} pool_share;

struct cnn_threadpool {
  int n;                        /* threads, the caller included */
  GThread **workers;
  GMutex lock;
  GCond wake, done;
  atomic_uint generation;
  atomic_bool quit;
  /* the loop in flight */
  void (*fn) (int64_t i, int tid, void *data);
  void *data;
  int64_t chunk;                /* items taken at a time */
  pool_share *shares;           /* per thread: its items [next, end) left */
  atomic_int running;           /* workers in the loop, | LOOP_CLOSED once it takes no more */
  /* who sleeps, so that a wake-up costs a system call only when needed:
   * each side sets its flag before its last look at the other's state */
  atomic_int sleepers;          /* workers waiting on wake */
  atomic_bool waiting;          /* the caller waiting on done */
};

/* Thread @tid's share, then what is left of the others'. */
static void
run_items (cnn_threadpool *p, int tid)
{
  for (int k = 0; k < p->n; k++) {
    pool_share *s = &p->shares[(tid + k) % p->n];
    int64_t i;
    while ((i = atomic_fetch_add (&s->next, p->chunk)) < s->end)
      for (int64_t e = MIN (i + p->chunk, s->end); i < e; i++)
        p->fn (i, tid, p->data);
  }
}

static gpointer
worker_main (gpointer data)
{
  cnn_threadpool *p = ((void **) data)[0];
  int tid = GPOINTER_TO_INT (((void **) data)[1]);
  g_free (data);
#if defined(__x86_64__) || defined(__i386__)
  /* flush-to-zero and denormals-are-zero, as the CPU backend sets them on
   * the calling thread for a run: the same results whichever thread
   * computes an item, and no slow denormal arithmetic */
  _mm_setcsr (_mm_getcsr () | 0x8040);
#endif
  unsigned seen = 0;
  gint64 spin_us = SPIN_US;
  for (;;) {
    /* spin, then sleep until a new generation (a new loop) starts */
    gint64 start = g_get_monotonic_time ();
    for (unsigned i = 1; atomic_load (&p->generation) == seen && !atomic_load (&p->quit); i++) {
      CPU_RELAX ();
      if (i % 256 == 0) {
        gint64 spun = g_get_monotonic_time () - start;
        if (spun >= spin_us)
          break;
        /* past the short default, a thread that wants the core (a video
         * decoder) has it first */
        if (spun >= SPIN_US)
          g_thread_yield ();
      }
    }
    if (atomic_load (&p->generation) == seen && !atomic_load (&p->quit)) {
      gint64 slept = g_get_monotonic_time ();
      g_mutex_lock (&p->lock);
      atomic_fetch_add (&p->sleepers, 1);
      while (atomic_load (&p->generation) == seen && !atomic_load (&p->quit))
        g_cond_wait (&p->wake, &p->lock);
      atomic_fetch_sub (&p->sleepers, 1);
      g_mutex_unlock (&p->lock);
      /* woken soon after falling asleep: the runs come back to back (a
       * file decoded as fast as it goes), and this worker came late to
       * the next run's first loop, waking (UltraFace's pre-processing
       * 0.12 ms a frame against 0.09 with the worker awake); so it spins
       * that long too from now on.  Woken late (a camera's frames), it
       * spins the short default again */
      slept = g_get_monotonic_time () - slept;
      spin_us = slept < MAX_SPIN_US ? MIN (SPIN_US + 2 * slept, MAX_SPIN_US) : SPIN_US;
    }
    if (atomic_load (&p->quit))
      break;
    seen = atomic_load (&p->generation);
    /* join the loop in flight unless the caller closed it: a later one
     * (set up after this generation was read) is as good */
    int r = atomic_load (&p->running);
    do
      if (r & LOOP_CLOSED)
        break;
    while (!atomic_compare_exchange_weak (&p->running, &r, r + 1));
    if (r & LOOP_CLOSED)
      continue;
    run_items (p, tid);
    if (atomic_fetch_sub (&p->running, 1) == (LOOP_CLOSED | 1) && atomic_load (&p->waiting)) {
      g_mutex_lock (&p->lock);
      g_cond_signal (&p->done);
      g_mutex_unlock (&p->lock);
    }
  }
  return NULL;
}

cnn_threadpool *
cnn_threadpool_new (int n_threads)
{
  cnn_threadpool *p = g_new0 (cnn_threadpool, 1);
  p->n = MAX (n_threads, 1);
  g_mutex_init (&p->lock);
  g_cond_init (&p->wake);
  g_cond_init (&p->done);
  p->workers = g_new0 (GThread *, p->n);
  p->shares = g_aligned_alloc0 (p->n, sizeof (pool_share), 64);
  for (int i = 1; i < p->n; i++) {
    void **arg = g_new (void *, 2);
    arg[0] = p;
    arg[1] = GINT_TO_POINTER (i);
    p->workers[i] = g_thread_new ("cnn-worker", worker_main, arg);
  }
  return p;
}

void
cnn_threadpool_free (cnn_threadpool *p)
{
  if (!p)
    return;
  g_mutex_lock (&p->lock);
  atomic_store (&p->quit, true);
  g_cond_broadcast (&p->wake);
  g_mutex_unlock (&p->lock);
  for (int i = 1; i < p->n; i++)
    g_thread_join (p->workers[i]);
  g_free (p->workers);
  g_aligned_free (p->shares);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->wake);
  g_cond_clear (&p->done);
  g_free (p);
}

int
cnn_threadpool_size (const cnn_threadpool *p)
{
  return p ? p->n : 1;
}

void
cnn_parallel_for (cnn_threadpool *p, int64_t n, void (*fn) (int64_t i, int tid, void *data), void *data)
{
  if (!p || p->n <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; i++)
      fn (i, 0, data);
    return;
  }
  p->fn = fn;
  p->data = data;
  /* loops of many small items (rows of a Pad) take them in chunks, about
   * 16 per thread: one atomic per item costs as much as the item */
  p->chunk = MAX (1, n / (16 * p->n));
  for (int t = 0; t < p->n; t++) {
    atomic_store (&p->shares[t].next, n * t / p->n);
    p->shares[t].end = n * (t + 1) / p->n;
  }
  atomic_store (&p->running, 0);        /* open: workers may join */
  atomic_fetch_add (&p->generation, 1);
  if (atomic_load (&p->sleepers) > 0) {
    g_mutex_lock (&p->lock);
    g_cond_broadcast (&p->wake);
    g_mutex_unlock (&p->lock);
  }
  run_items (p, 0);
  /* every item is taken: close the loop, then wait for the workers in it,
   * spinning first (they finish at about the same time) */
  atomic_fetch_or (&p->running, LOOP_CLOSED);
  int spins = 0;
  while (atomic_load (&p->running) != LOOP_CLOSED && spins++ < SPIN_ITERATIONS)
    CPU_RELAX ();
  if (atomic_load (&p->running) != LOOP_CLOSED) {
    g_mutex_lock (&p->lock);
    atomic_store (&p->waiting, true);
    while (atomic_load (&p->running) != LOOP_CLOSED)
      g_cond_wait (&p->done, &p->lock);
    atomic_store (&p->waiting, false);
    g_mutex_unlock (&p->lock);
  }
}

bool
cnn_spatial_split (void)
{
  static int on = -1;
  if (on < 0)
    on = g_strcmp0 (g_getenv ("CNN_SPATIAL"), "0") != 0;
  return on;
}

void
cnn_spatial_part (int64_t rows, int64_t b, int64_t parts, int64_t align, int64_t *r0, int64_t *r1)
{
  *r0 = MIN (rows * b / parts / align * align, rows);
  *r1 = b + 1 == parts ? rows : MIN (rows * (b + 1) / parts / align * align, rows);
}

#define COPY_CHUNK (256 * 1024)  /* bytes a task copies at least: below, waking a thread costs more */

typedef struct {
  char *dst;
  const char *src;
  size_t bytes, chunk;
} copy_job;

static void
copy_chunk (int64_t i, int tid, void *data)
{
  copy_job *j = data;
  size_t at = (size_t) i * j->chunk;
  memcpy (j->dst + at, j->src + at, MIN (j->chunk, j->bytes - at));
}

void
cnn_parallel_copy (cnn_threadpool *p, void *dst, const void *src, size_t bytes)
{
  int n = cnn_threadpool_size (p);
  if (n <= 1 || bytes < 2 * COPY_CHUNK) {
    if (bytes)
      memcpy (dst, src, bytes);
    return;
  }
  /* a chunk per thread, or smaller ones of COPY_CHUNK, in whole cache lines */
  size_t chunk = MAX ((size_t) COPY_CHUNK, bytes / n);
  chunk = (chunk + 63) & ~(size_t) 63;
  copy_job j = { dst, src, bytes, chunk };
  cnn_parallel_for (p, (int64_t) ((bytes + chunk - 1) / chunk), copy_chunk, &j);
}
