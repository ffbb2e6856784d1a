/* transpose.c - fast CPU Transpose: dims that move together are merged,
 * then either runs that stay contiguous are copied whole, or the plane of
 * the input's innermost dim and the output's innermost dim is transposed in
 * cache-sized tiles (the reference walks the output and reads the input one
 * strided element at a time: NCHW <-> NHWC of a large map misses the cache
 * on every read).  Threaded over the other dims and tile rows. */
#include "../ops/geometry.h"

#define TILE 32

typedef struct {
  int nd;                       /* after merging */
  int64_t odims[CNN_MAX_DIMS];  /* output dims */
  int64_t ist[CNN_MAX_DIMS];    /* input stride of each output dim */
  int64_t ost[CNN_MAX_DIMS];    /* output strides */
  int p;                        /* output dim that is the input's innermost (stride 1) */
  size_t es;
  int64_t outer, tiles;         /* combinations of the other dims; tiles of dim p */
  const char *in;
  char *out;
} tr_ctx;

/* out[a * ost_p + b] = in[a + b * ist_last] over a tile of the (p, last) plane */
#define TILE_COPY(T) do { \
    const T *s = (const T *) c->in; T *d = (T *) c->out; \
    for (int64_t b0 = 0; b0 < nb; b0 += TILE) \
      for (int64_t a = a0; a < a1; a++) \
        for (int64_t b = b0; b < MIN (b0 + TILE, nb); b++) \
          d[obase + a * ostp + b] = s[ibase + a + b * istl]; \
  } while (0)

static void
tile_rows (int64_t task, int tid, void *data)
{
  const tr_ctx *c = data;
  int64_t outer = task / c->tiles, a0 = task % c->tiles * TILE;
  int last = c->nd - 1, p = c->p;
  int64_t a1 = MIN (a0 + TILE, c->odims[p]), nb = c->odims[last];
  int64_t ostp = c->ost[p], istl = c->ist[last];
  /* the other dims' offsets from the combination index */
  int64_t ibase = 0, obase = 0, r = outer;
  for (int d = last - 1; d >= 0; d--) {
    if (d == p)
      continue;
    int64_t i = r % c->odims[d];
    r /= c->odims[d];
    ibase += i * c->ist[d];
    obase += i * c->ost[d];
  }
  switch (c->es) {
    case 1: TILE_COPY (uint8_t); break;
    case 2: TILE_COPY (uint16_t); break;
    case 4: TILE_COPY (uint32_t); break;
    default: TILE_COPY (uint64_t); break;
  }
}

static void
copy_runs (int64_t task, int tid, void *data)
{
  const tr_ctx *c = data;
  int last = c->nd - 1;
  int64_t ibase = 0, r = task;
  for (int d = last - 1; d >= 0; d--) {
    int64_t i = r % c->odims[d];
    r /= c->odims[d];
    ibase += i * c->ist[d];
  }
  memcpy (c->out + (size_t) task * c->odims[last] * c->es, c->in + (size_t) ibase * c->es,
      (size_t) c->odims[last] * c->es);
}

cnn_status
cnn_transpose_fast (cnn_exec *x)
{
  int perm[CNN_MAX_DIMS];
  cnn_status st = cnn_transpose_perm (x, perm);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0];
  size_t es = cnn_dtype_size (X->dtype);
  int64_t n = cnn_tensor_numel (x->out[0]);
  if (es != 1 && es != 2 && es != 4 && es != 8)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "elements of %zu bytes", es);
  int64_t ist[CNN_MAX_DIMS];
  cnn_strides (X, ist);
  tr_ctx c = { 0 };
  c.es = es;
  c.in = X->data;
  c.out = x->out[0]->data;
  /* output dims in order, size-1 dims dropped, a dim merged into the one
   * before it when the input holds them the same way */
  for (int i = 0; i < X->ndim; i++) {
    int64_t len = X->dims[perm[i]], s = ist[perm[i]];
    if (len == 1)
      continue;
    if (c.nd > 0 && c.ist[c.nd - 1] == s * len) {
      c.odims[c.nd - 1] *= len;
      c.ist[c.nd - 1] = s;
      continue;
    }
    c.odims[c.nd] = len;
    c.ist[c.nd++] = s;
  }
  if (c.nd <= 1 || c.ist[c.nd - 1] == 1) {
    /* contiguous runs (or a plain copy) */
    if (c.nd == 0) {
      c.nd = 1;
      c.odims[0] = 1;
      c.ist[0] = 1;
    }
    int64_t runs = n / c.odims[c.nd - 1];
    cnn_parallel_for (runs > 1 && n > 65536 ? x->pool : NULL, runs, copy_runs, &c);
    return CNN_OK;
  }
  c.ost[c.nd - 1] = 1;
  for (int d = c.nd - 2; d >= 0; d--)
    c.ost[d] = c.ost[d + 1] * c.odims[d + 1];
  c.p = -1;
  for (int d = 0; d < c.nd; d++)
    if (c.ist[d] == 1)
      c.p = d;
  if (c.p < 0)                  /* the innermost dim left has stride 1: cannot happen */
    return cnn_exec_fail (x, CNN_E_BACKEND, "no contiguous input dim");
  c.tiles = (c.odims[c.p] + TILE - 1) / TILE;
  c.outer = n / (c.odims[c.p] * c.odims[c.nd - 1]);
  cnn_parallel_for (n > 65536 ? x->pool : NULL, c.outer * c.tiles, tile_rows, &c);
  return CNN_OK;
}
