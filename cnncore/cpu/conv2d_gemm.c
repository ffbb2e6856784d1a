/* conv2d_gemm.c - fast CPU Conv: im2col + OpenBLAS sgemm (1x1 stride-1
 * convolutions skip im2col), and a direct kernel for depthwise convolutions
 * and for few output channels.  Bias and the fused activation are applied
 * while the output is hot. */
#include "../ops/conv.h"

static bool use_direct (const cnn_exec *x);

static bool
is_pointwise (const cnn_window *w)
{
  for (int i = 0; i < 3; i++)
    if (w->kernel[i] != 1 || w->stride[i] != 1 || w->pad0[i] || w->pad1[i])
      return false;
  return true;
}

/* Large outputs are cut into bands of output rows, one task each: a task
 * builds its band's columns in its own scratch (about BAND_BUDGET bytes) and
 * multiplies them with single-threaded SGEMM, so the band stays in cache and
 * the threads never wait on each other.  Small outputs (deep layers) build
 * all columns at once and split the GEMM over output channels instead. */
#define BAND_BUDGET (1 << 20)
#define BANDS_MIN_OUTPUT 1024

typedef struct {
  bool bands;
  bool packed;                  /* bands build packed GEMM panels directly (AVX-512) */
  int64_t band;                 /* output rows per band */
  size_t per_thread;            /* scratch floats per thread */
} conv_plan;

static void
plan_conv (const cnn_exec *x, const cnn_window *w, int64_t K, conv_plan *cp)
{
  int64_t rows = w->out[0] * w->out[1], osz = rows * w->out[2];
  int T = MAX (x->threads, 1);
  cp->bands = osz >= BANDS_MIN_OUTPUT && rows >= 2;
  cp->packed = cp->bands && cnn_sgemm_kernels_available () && K <= 1 << 20;
  if (cp->bands) {
    int64_t by_budget = BAND_BUDGET / (int64_t) sizeof (float) / MAX (K * w->out[2], 1);
    int64_t by_balance = (rows + 4 * T - 1) / (4 * T);
    cp->band = CLAMP (MIN (by_budget, by_balance), 1, rows);
    cp->per_thread = cp->packed ? cnn_sgemm_packed_b_size ((int) (cp->band * w->out[2]), (int) K) :
        (size_t) K * cp->band * w->out[2];
  } else {
    cp->band = rows;
    cp->per_thread = 0;
  }
}

size_t
cnn_conv2d_gemm_scratch (const cnn_exec *x)
{
  cnn_window w;
  if (cnn_conv2d_depthwise_applies (x))
    return cnn_conv2d_depthwise_scratch (x);
  if (cnn_conv2d_winograd_applies (x))
    return cnn_conv2d_winograd_scratch (x);
  if (cnn_conv2d_implicit_applies (x))
    return cnn_conv2d_implicit_scratch (x);
  if (cnn_conv2d_narrow_applies (x))
    return cnn_conv2d_narrow_scratch (x);
  const cnn_conv_params *p = x->params;
  if (cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK)
    return 0;
  if (use_direct (x))
    return 0;
  int64_t Cg = x->in[0]->dims[1] / p->group;
  int64_t K = Cg * w.kernel[0] * w.kernel[1] * w.kernel[2];
  conv_plan cp;
  plan_conv (x, &w, K, &cp);
  if (cp.bands)
    return cp.per_thread * MAX (x->threads, 1) * sizeof (float);
  if (is_pointwise (&w))
    return 0;
  return (size_t) K * w.out[0] * w.out[1] * w.out[2] * sizeof (float);
}

typedef struct {
  const cnn_window *w;
  const float *x;               /* one image's group: Cg planes */
  float *col;                   /* K x (n_rows * out[2]) */
  int64_t row0, n_rows;         /* band of output rows (z * out[1] + y) */
} im2col_ctx;

/* One input channel: its kernel-size rows of the column matrix. */
CNN_MULTIVERSION static void
im2col_channel (int64_t c, int tid, void *data)
{
  im2col_ctx *ctx = data;
  const cnn_window *w = ctx->w;
  int64_t isz = w->in[0] * w->in[1] * w->in[2], ow = w->out[2], n = ctx->n_rows * ow;
  const float *xi = ctx->x + c * isz;
  float *col = ctx->col + c * w->kernel[0] * w->kernel[1] * w->kernel[2] * n;
  for (int64_t kz = 0; kz < w->kernel[0]; kz++)
    for (int64_t ky = 0; ky < w->kernel[1]; ky++)
      for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
        for (int64_t r = 0; r < ctx->n_rows; r++) {
          int64_t z = (ctx->row0 + r) / w->out[1], y = (ctx->row0 + r) % w->out[1];
          int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
          int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
          float *dst = col + r * ow;
          if (iz < 0 || iz >= w->in[0] || iy < 0 || iy >= w->in[1]) {
            memset (dst, 0, sizeof (float) * ow);
            continue;
          }
          const float *row = xi + (iz * w->in[1] + iy) * w->in[2];
          int64_t ix0 = -w->pad0[2] + kx * w->dil[2], sx = w->stride[2];
          if (sx == 1) {
            /* contiguous middle, zero edges */
            int64_t lo = MIN (MAX (0, -ix0), ow);
            int64_t hi = MAX (MIN (ow, w->in[2] - ix0), lo);
            for (int64_t xx = 0; xx < lo; xx++)
              dst[xx] = 0.f;
            memcpy (dst + lo, row + ix0 + lo, sizeof (float) * (hi - lo));
            for (int64_t xx = hi; xx < ow; xx++)
              dst[xx] = 0.f;
          } else {
            for (int64_t xx = 0; xx < ow; xx++) {
              int64_t ix = ix0 + xx * sx;
              dst[xx] = (ix >= 0 && ix < w->in[2]) ? row[ix] : 0.f;
            }
          }
        }
        col += n;
      }
}

typedef struct {
  cnn_exec *x;
  const cnn_window *w;
  int64_t osz;
  float *out;
  const float *bias;
  const float *residual;        /* same layout as out, or NULL */
} epilogue_ctx;

CNN_MULTIVERSION static void
epilogue_row (int64_t m, int tid, void *data)
{
  epilogue_ctx *c = data;
  float *o = c->out + m * c->osz;
  if (c->bias) {
    float b = c->bias[m];
    for (int64_t i = 0; i < c->osz; i++)
      o[i] += b;
  }
  if (c->residual) {
    const float *r = c->residual + m * c->osz;
    for (int64_t i = 0; i < c->osz; i++)
      o[i] += r[i];
  }
  cnn_act_apply_fast (&c->x->act, o, c->osz);
}

/* Direct convolution, for depthwise layers and for layers with few output
 * channels per group (a style network's last 9x9 conv to RGB), where
 * im2col + GEMM moves far more memory than it computes.  A task is a chunk
 * of output rows of one output channel (about DIRECT_CHUNK outputs, so the
 * task overhead stays small); each row accumulates in place. */
#define DIRECT_MAX_M 4
#define DIRECT_CHUNK 4096

typedef struct {
  cnn_exec *x;
  const cnn_window *w;
  int64_t rows;                 /* output rows per plane: out[0] * out[1] */
  int64_t chunk;                /* rows per task */
  int64_t chunks;               /* tasks per plane */
} direct_ctx;

CNN_MULTIVERSION static void
direct_rows (int64_t task, int tid, void *data)
{
  direct_ctx *c = data;
  const cnn_window *w = c->w;
  const cnn_conv_params *p = c->x->params;
  const cnn_tensor *X = c->x->in[0], *W = c->x->in[1];
  const cnn_tensor *B = c->x->n_in > 2 ? c->x->in[2] : NULL;
  int64_t C = X->dims[1], M = W->dims[0], Cg = C / p->group, Mg = M / p->group;
  int64_t nm = task / c->chunks, m = nm % M, n = nm / M, g = m / Mg;
  int64_t r0 = (task % c->chunks) * c->chunk, r1 = MIN (r0 + c->chunk, c->rows), ow = w->out[2];
  int64_t isz = w->in[0] * w->in[1] * w->in[2], ksz = w->kernel[0] * w->kernel[1] * w->kernel[2];
  float b = B ? ((const float *) B->data)[m] : 0.f;
  int64_t sx = w->stride[2];
  for (int64_t r = r0; r < r1; r++) {
    int64_t z = r / w->out[1], y = r % w->out[1];
    int64_t off = (n * M + m) * c->rows * ow + r * ow;
    float *restrict o = (float *) c->x->out[0]->data + off;
    for (int64_t xx = 0; xx < ow; xx++)
      o[xx] = b;
    for (int64_t ci = 0; ci < Cg; ci++) {
      const float *xi = (const float *) X->data + (n * C + g * Cg + ci) * isz;
      const float *wk = (const float *) W->data + (m * Cg + ci) * ksz;
      for (int64_t kz = 0; kz < w->kernel[0]; kz++) {
        int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
        if (iz < 0 || iz >= w->in[0])
          continue;
        for (int64_t ky = 0; ky < w->kernel[1]; ky++) {
          int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
          if (iy < 0 || iy >= w->in[1])
            continue;
          const float *row = xi + (iz * w->in[1] + iy) * w->in[2];
          const float *wr = wk + (kz * w->kernel[1] + ky) * w->kernel[2];
          for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
            float wv = wr[kx];
            int64_t ix0 = -w->pad0[2] + kx * w->dil[2];
            /* output columns whose input column is inside the row */
            int64_t lo = ix0 >= 0 ? 0 : (-ix0 + sx - 1) / sx;
            int64_t hi = w->in[2] - ix0 > 0 ? MIN (ow, (w->in[2] - ix0 + sx - 1) / sx) : 0;
            const float *restrict src = row + ix0;
            if (sx == 1)
              for (int64_t xx = lo; xx < hi; xx++)
                o[xx] += wv * src[xx];
            else
              for (int64_t xx = lo; xx < hi; xx++)
                o[xx] += wv * src[xx * sx];
          }
        }
      }
    }
    if (c->x->residual) {
      const float *res = (const float *) c->x->residual->data + off;
      for (int64_t xx = 0; xx < ow; xx++)
        o[xx] += res[xx];
    }
    cnn_act_apply_fast (&c->x->act, o, ow);
  }
}

typedef struct {
  cnn_exec *x;
  const cnn_window *w;
  const conv_plan *cp;
  const float *xg, *wg, *bias, *residual;
  const float *wpacked;         /* the group's weights packed for the kernel, or NULL */
  float *og;
  int64_t Mg, K;
} band_ctx;

/* im2col written straight into the SGEMM kernel's packed B layout
 * (cnn_sgemm_packed_b_offset), padding columns zeroed: saves the copy that
 * packing a plain column matrix would make. */
CNN_MULTIVERSION void
cnn_conv_im2col_packed (const cnn_window *w, const float *xg, float *bp, int64_t r0, int64_t nr, int64_t K,
    int64_t c0, int64_t c1)
{
  int64_t isz = w->in[0] * w->in[1] * w->in[2], ow = w->out[2], ncol = nr * ow;
  int64_t npad = (ncol + CNN_SGEMM_NR - 1) / CNN_SGEMM_NR * CNN_SGEMM_NR;
  for (int64_t c = c0; c < c1; c++) {
    const float *xi = xg + c * isz;
    for (int64_t kz = 0; kz < w->kernel[0]; kz++)
      for (int64_t ky = 0; ky < w->kernel[1]; ky++)
        for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
          int64_t k = ((c * w->kernel[0] + kz) * w->kernel[1] + ky) * w->kernel[2] + kx;
          size_t base = cnn_sgemm_packed_b_offset ((int) k, 0, (int) K, (int) ncol);
          size_t pstride = npad > CNN_SGEMM_NR ?
              cnn_sgemm_packed_b_offset ((int) k, CNN_SGEMM_NR, (int) K, (int) ncol) - base : 0;
          float *dst = bp + base;
          int64_t ix0 = -w->pad0[2] + kx * w->dil[2], sx = w->stride[2];
          for (int64_t r = 0; r < nr; r++) {
            int64_t z = (r0 + r) / w->out[1], y = (r0 + r) % w->out[1];
            int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
            int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
            bool row_ok = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1];
            const float *row = row_ok ? xi + (iz * w->in[1] + iy) * w->in[2] : NULL;
            /* output columns [lo, hi) read inside the input row */
            int64_t lo = 0, hi = 0;
            if (row_ok) {
              lo = ix0 >= 0 ? 0 : (-ix0 + sx - 1) / sx;
              hi = w->in[2] - ix0 > 0 ? MIN (ow, (w->in[2] - ix0 + sx - 1) / sx) : 0;
              lo = MIN (lo, hi);
            }
            int64_t jr = r * ow;
            for (int64_t xx = 0; xx < ow;) {
              int64_t j = jr + xx, in_panel = CNN_SGEMM_NR - j % CNN_SGEMM_NR;
              float *d = dst + (j / CNN_SGEMM_NR) * pstride + j % CNN_SGEMM_NR;
              if (xx < lo || xx >= hi) {
                int64_t end = MIN (xx < lo ? lo : ow, xx + in_panel);
                memset (d, 0, sizeof (float) * (end - xx));
                xx = end;
              } else {
                int64_t end = MIN (hi, xx + in_panel);
                if (sx == 1)
                  memcpy (d, row + ix0 + xx, sizeof (float) * (end - xx));
                else
                  for (int64_t t = xx; t < end; t++)
                    d[t - xx] = row[ix0 + t * sx];
                xx = end;
              }
            }
          }
          for (int64_t j = ncol; j < npad; j++)
            dst[(j / CNN_SGEMM_NR) * pstride + j % CNN_SGEMM_NR] = 0.f;
        }
  }
}

/* One band of output rows: its columns, its GEMM, its bias and activation. */
static void
conv_band (int64_t b, int tid, void *data)
{
  band_ctx *c = data;
  const cnn_window *w = c->w;
  int64_t rows = w->out[0] * w->out[1], r0 = b * c->cp->band, nr = MIN (c->cp->band, rows - r0);
  int64_t ow = w->out[2], ncol = nr * ow, osz = rows * ow;
  int64_t Cg = c->K / (w->kernel[0] * w->kernel[1] * w->kernel[2]);
  float *col = (float *) c->x->scratch + (size_t) tid * c->cp->per_thread;
  float *out = c->og + r0 * ow;
  if (c->wpacked) {
    cnn_conv_im2col_packed (w, c->xg, col, r0, nr, c->K, 0, Cg);
    cnn_sgemm_packed_ab ((int) c->Mg, (int) ncol, (int) c->K, c->wpacked, col, out, (int) osz);
  } else {
    im2col_ctx ic = { w, c->xg, col, r0, nr };
    for (int64_t ch = 0; ch < Cg; ch++)
      im2col_channel (ch, tid, &ic);
    cnn_sgemm_serial (false, false, (int) c->Mg, (int) ncol, (int) c->K, 1.0f, c->wg, (int) c->K, col,
        (int) ncol, 0.0f, out, (int) osz);
  }
  for (int64_t m = 0; m < c->Mg; m++) {
    float *o = out + m * osz;
    if (c->bias) {
      float bv = c->bias[m];
      for (int64_t i = 0; i < ncol; i++)
        o[i] += bv;
    }
    if (c->residual) {
      const float *r = c->residual + m * osz + r0 * ow;
      for (int64_t i = 0; i < ncol; i++)
        o[i] += r[i];
    }
    cnn_act_apply_fast (&c->x->act, o, ncol);
  }
}

size_t
cnn_conv_k_part (int64_t Mg, int64_t K, int64_t taps, cnn_sgemm_tile tile, int parts, int p, int64_t *k0,
    int64_t *k1)
{
  int64_t C = K / taps;
  size_t off = 0;
  for (int q = 0; q < p; q++)
    off += cnn_sgemm_tile_packed_a_size (tile, (int) Mg, (int) ((C * (q + 1) / parts - C * q / parts) * taps));
  *k0 = C * p / parts * taps;
  *k1 = C * (p + 1) / parts * taps;
  return off;
}

const float *
cnn_conv_packed_weights (cnn_exec *x, int64_t Mg, int64_t K, int64_t taps, cnn_sgemm_tile tile, int parts)
{
  if (!x->cache) {
    int64_t G = x->in[1]->dims[0] / Mg, k0, k1;
    /* the offset past the last part: a group's size */
    size_t per_group = cnn_conv_k_part (Mg, K, taps, tile, parts, parts, &k0, &k1);
    float *pk = NULL;
    if (posix_memalign ((void **) &pk, 64, sizeof (float) * per_group * G) != 0)
      return NULL;
    for (int64_t g = 0; g < G; g++)
      for (int p = 0; p < parts; p++) {
        size_t off = cnn_conv_k_part (Mg, K, taps, tile, parts, p, &k0, &k1);
        cnn_sgemm_tile_pack_a (tile, false, (int) Mg, (int) (k1 - k0),
            (const float *) x->in[1]->data + g * Mg * K + k0, (int) K, pk + g * per_group + off);
      }
    x->cache = pk;
    x->cache_free = free;
  }
  return x->cache;
}

static bool
use_direct (const cnn_exec *x)
{
  const cnn_conv_params *p = x->params;
  int64_t Cg = x->in[0]->dims[1] / p->group, Mg = x->in[1]->dims[0] / p->group;
  int nd = x->in[0]->ndim;
  return (Cg == 1 || Mg <= DIRECT_MAX_M) && x->in[0]->dims[nd - 1] <= 65536;
}

cnn_status
cnn_conv2d_gemm (cnn_exec *x)
{
  const cnn_conv_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1], *B = x->n_in > 2 ? x->in[2] : NULL;
  cnn_window w;
  cnn_status st = cnn_conv_geometry (x, &w);
  if (st)
    return st;
  int64_t N = X->dims[0], C = X->dims[1], M = W->dims[0], G = p->group;
  int64_t Cg = C / G, Mg = M / G;
  int64_t isz = w.in[0] * w.in[1] * w.in[2], osz = w.out[0] * w.out[1] * w.out[2];
  int64_t K = Cg * w.kernel[0] * w.kernel[1] * w.kernel[2];
  /* what the kernels derive from the weights (packed, transformed) is
   * kept for the plan only where the weights are constant: weights that
   * the graph computes or takes as an input change from run to run */
  if (!x->in_const[1] && x->cache) {
    if (x->cache_free)
      x->cache_free (x->cache);
    x->cache = NULL;
    x->cache_free = NULL;
  }
  if (cnn_conv2d_depthwise_applies (x))
    return cnn_conv2d_depthwise (x);
  if (cnn_conv2d_winograd_applies (x))
    return cnn_conv2d_winograd (x);
  if (cnn_conv2d_implicit_applies (x))
    return cnn_conv2d_implicit (x);
  if (cnn_conv2d_narrow_applies (x))
    return cnn_conv2d_narrow (x);
  if (use_direct (x)) {
    direct_ctx c = { x, &w, w.out[0] * w.out[1] };
    c.chunk = CLAMP (DIRECT_CHUNK / MAX (w.out[2], 1), 1, c.rows);
    c.chunks = (c.rows + c.chunk - 1) / c.chunk;
    cnn_parallel_for (x->pool, N * M * c.chunks, direct_rows, &c);
    return CNN_OK;
  }
  bool pointwise = is_pointwise (&w);
  conv_plan cp;
  plan_conv (x, &w, K, &cp);
  if ((cp.bands || !pointwise) && x->scratch_size < (cp.bands ? cp.per_thread * MAX (x->threads, 1) :
          (size_t) (K * osz)) * sizeof (float))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      const float *xg = (const float *) X->data + (n * C + g * Cg) * isz;
      float *og = (float *) x->out[0]->data + (n * M + g * Mg) * osz;
      const float *wg = (const float *) W->data + g * Mg * K;
      const float *bg = B ? (const float *) B->data + g * Mg : NULL;
      const float *rg = x->residual ? (const float *) x->residual->data + (n * M + g * Mg) * osz : NULL;
      if (cp.bands) {
        const float *wp = NULL;
        if (cp.packed) {
          wp = cnn_conv_packed_weights (x, Mg, K, 1, CNN_TILE_12x32, 1);
          if (!wp)
            return cnn_exec_fail (x, CNN_E_NOMEM, "out of memory for packed weights");
          wp += g * cnn_sgemm_packed_a_size ((int) Mg, (int) K);
        }
        band_ctx bc = { x, &w, &cp, xg, wg, bg, rg, wp, og, Mg, K };
        int64_t rows = w.out[0] * w.out[1];
        cnn_parallel_for (x->pool, (rows + cp.band - 1) / cp.band, conv_band, &bc);
        continue;
      }
      const float *col = xg;
      if (!pointwise) {
        im2col_ctx ic = { &w, xg, x->scratch, 0, w.out[0] * w.out[1] };
        cnn_parallel_for (Cg * osz > 4096 ? x->pool : NULL, Cg, im2col_channel, &ic);
        col = x->scratch;
      }
      cnn_gemm (x->pool, false, false, (int) Mg, (int) osz, (int) K, 1.0f, wg, (int) K, col,
          (int) osz, 0.0f, og, (int) osz);
      epilogue_ctx ec = { x, &w, osz, og, bg, rg };
      if (ec.bias || ec.residual || x->act.type != CNN_ACT_NONE)
        cnn_parallel_for (Mg * osz > 16384 ? x->pool : NULL, Mg, epilogue_row, &ec);
    }
  return CNN_OK;
}
