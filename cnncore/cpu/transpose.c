/* transpose.c - fast CPU Transpose: dims that move together are merged,
 * then either runs that stay contiguous are copied whole, or the plane of
 * the input's innermost dim and the output's innermost dim is transposed in
 * cache-sized tiles (the reference walks the output and reads the input one
 * strided element at a time: NCHW <-> NHWC of a large map misses the cache
 * on every read).  Threaded over the other dims and tile rows.  4-byte
 * elements go through 16 x 16 blocks transposed in registers (AVX-512):
 * sixteen 64-byte reads and sixteen row writes a block, where the scalar
 * loop moved an element at a time (one thread, alone: 64 x 56 x 56 to NHWC
 * 0.068 -> 0.031 ms; DeepLab's 21 x 257 x 257 class map 0.48 -> 0.33 ms,
 * in the model little faster, its 5.5 MB coming from and going to memory). */
#include "../ops/geometry.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"
#define HAVE_TRANSPOSE16 1
#endif

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

#ifdef HAVE_TRANSPOSE16
/* r[j] = column j of the 16 x 16 block whose row i is r[i]. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
transpose16 (__m512 *r)
{
  __m512 t[16], u[16];
  for (int k = 0; k < 8; k++) {
    t[2 * k] = _mm512_unpacklo_ps (r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps (r[2 * k], r[2 * k + 1]);
  }
  /* u[4k + c], 128-bit lane L: column 4L + c of rows 4k .. 4k + 3 */
  for (int k = 0; k < 4; k++) {
    __m512d a = _mm512_castps_pd (t[4 * k]), b = _mm512_castps_pd (t[4 * k + 1]);
    __m512d c = _mm512_castps_pd (t[4 * k + 2]), d = _mm512_castps_pd (t[4 * k + 3]);
    u[4 * k] = _mm512_castpd_ps (_mm512_unpacklo_pd (a, c));
    u[4 * k + 1] = _mm512_castpd_ps (_mm512_unpackhi_pd (a, c));
    u[4 * k + 2] = _mm512_castpd_ps (_mm512_unpacklo_pd (b, d));
    u[4 * k + 3] = _mm512_castpd_ps (_mm512_unpackhi_pd (b, d));
  }
  /* a 4 x 4 transpose of 128-bit lanes for each c */
  for (int c = 0; c < 4; c++) {
    __m512 v0 = _mm512_shuffle_f32x4 (u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4 (u[c], u[4 + c], 0xee);
    __m512 v2 = _mm512_shuffle_f32x4 (u[8 + c], u[12 + c], 0x44);
    __m512 v3 = _mm512_shuffle_f32x4 (u[8 + c], u[12 + c], 0xee);
    r[c] = _mm512_shuffle_f32x4 (v0, v2, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4 (v0, v2, 0xdd);
    r[8 + c] = _mm512_shuffle_f32x4 (v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4 (v1, v3, 0xdd);
  }
}

/* TILE_COPY for 4-byte elements, 16 x 16 blocks at a time (masked at the
 * edges: rows past nb read as zeros, columns past a1 are not written). */
__attribute__ ((target ("avx512f")))
static void
tile_copy16 (const float *s, float *d, int64_t a0, int64_t a1, int64_t nb, int64_t ostp, int64_t istl)
{
  for (int64_t a = a0; a < a1; a += 16) {
    __mmask16 ma = cnn_lanes16 (0, a1 - a);
    int na = (int) MIN (16, a1 - a);
    for (int64_t b = 0; b < nb; b += 16) {
      int nr = (int) MIN (16, nb - b);
      __mmask16 mb = cnn_lanes16 (0, nr);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = _mm512_maskz_loadu_ps (i < nr ? ma : 0, s + a + (b + i) * istl);
      transpose16 (r);
      for (int j = 0; j < na; j++)
        _mm512_mask_storeu_ps (d + (a + j) * ostp + b, mb, r[j]);
    }
  }
}
#endif

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
#ifdef HAVE_TRANSPOSE16
  if (c->es == 4 && cnn_sgemm_avx512_available ()) {
    tile_copy16 ((const float *) c->in + ibase, (float *) c->out + obase, a0, a1, nb, ostp, istl);
    return;
  }
#endif
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

void
cnn_transpose_block32 (const float *in, int64_t rows, int64_t cols, int64_t in_stride, float *out,
    int64_t out_stride)
{
#ifdef HAVE_TRANSPOSE16
  if (cnn_sgemm_avx512_available ()) {
    tile_copy16 (in, out, 0, cols, rows, out_stride, in_stride);
    return;
  }
#endif
  for (int64_t j = 0; j < cols; j++)
    for (int64_t i = 0; i < rows; i++)
      out[j * out_stride + i] = in[i * in_stride + j];
}

cnn_status
cnn_transpose_fast (cnn_exec *x)
{
  if (x->pre)                   /* a Resize fused in: it writes NHWC */
    return cnn_resize_nhwc (x);
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
