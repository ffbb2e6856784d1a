/* conv2d_implicit.c - 2D convolutions as an implicit GEMM with the AVX-512
 * kernel: no im2col.  Each image's input is copied once into zero-bordered
 * planes; with stride s, as s x s phase planes (phase (py, px) holds padded
 * rows py, py + s, ... and columns px, px + s, ...), so that every stride
 * reads like stride 1.  On a plane of width Wq the output pixel (y, x) is
 * column j = y * Wq + x, and its input for kernel tap (c, ky, kx) sits at
 * j + (the plane of c and of the tap's phase) + (ky * dil / s) * Wq +
 * kx * dil / s: every row of the GEMM's B matrix is a contiguous slice of
 * the planes, read in place through a table of those offsets.  Columns with
 * x >= OW are computed and dropped.  Weights are packed once per plan.
 * Bias, a fused residual and the activation are applied while each block of
 * output is copied out. */
#include "../ops/conv.h"

#define MR 12                   /* rows of the kernel's tile (sgemm_avx512.c) */
#define NR CNN_SGEMM_NR
#define BLOCK_COLS (NR * 4)     /* columns per task */

typedef struct {
  int64_t C, H, W, M, G, Cg, Mg, K;
  int64_t kh, kw, dh, dw, sh, sw, pt, pl;
  int64_t Hp, Wp, OH, OW;       /* padded input, output */
  int64_t Hq, Wq;               /* one phase plane */
  int64_t ncols;                /* grid columns holding outputs: (OH - 1) * Wq + OW */
  bool in_place;                /* 1x1, stride 1, no pads: B is the input itself */
  int64_t plane_floats;         /* the padded input of one group (0 in place) */
  int64_t mblock;               /* output channels per task, a multiple of MR */
  int64_t col_blocks, m_blocks;
} implicit_geom;

/* Where row (c, ky, kx) of B starts, relative to output column 0. */
static int64_t
tap_offset (const implicit_geom *g, int64_t c, int64_t ky, int64_t kx)
{
  int64_t ty = ky * g->dh, tx = kx * g->dw;
  int64_t plane = (c * g->sh + ty % g->sh) * g->sw + tx % g->sw;
  return plane * g->Hq * g->Wq + ty / g->sh * g->Wq + tx / g->sw;
}

static bool
implicit_geometry (const cnn_exec *x, implicit_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window w;
  if (x->in[0]->ndim != 4 || x->in[1]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK)
    return false;
  g->C = x->in[0]->dims[1];
  g->M = x->in[1]->dims[0];
  g->G = p->group;
  g->Cg = g->C / g->G;
  g->Mg = g->M / g->G;
  g->kh = w.kernel[1];
  g->kw = w.kernel[2];
  g->dh = w.dil[1];
  g->dw = w.dil[2];
  g->pt = w.pad0[1];
  g->pl = w.pad0[2];
  g->H = w.in[1];
  g->W = w.in[2];
  g->OH = w.out[1];
  g->OW = w.out[2];
  g->K = g->Cg * g->kh * g->kw;
  g->sh = w.stride[1];
  g->sw = w.stride[2];
  if (g->OH < 1 || g->OW < 1)
    return false;
  g->in_place = g->kh * g->kw == 1 && g->sh == 1 && g->sw == 1 && !g->pt && !g->pl && !w.pad1[1] &&
      !w.pad1[2];
  g->Hp = g->H + g->pt + w.pad1[1];
  g->Wp = g->W + g->pl + w.pad1[2];
  g->Hq = (g->Hp + g->sh - 1) / g->sh;
  g->Wq = (g->Wp + g->sw - 1) / g->sw;
  g->ncols = (g->OH - 1) * g->Wq + g->OW;
  /* the GEMM reads whole tiles of NR columns: up to NR - 1 past the last
   * plane's end (in place, the last tile is copied instead) */
  int64_t planes = g->Cg * g->sh * g->sw * g->Hq * g->Wq;
  g->plane_floats = g->in_place ? 0 : planes + NR;
  /* enough work per column to fill the kernel's tile; offsets fit int32 */
  if (g->K < 16 || g->Mg < 8 || planes >= (int64_t) 1 << 30)
    return false;
  /* tasks: column blocks times channel blocks, a few per thread */
  int T = MAX (x->threads, 1);
  g->col_blocks = (g->ncols + BLOCK_COLS - 1) / BLOCK_COLS;
  int64_t mpanels = (g->Mg + MR - 1) / MR;
  int64_t parts = CLAMP ((4 * T + g->col_blocks - 1) / g->col_blocks, 1, mpanels);
  g->mblock = (mpanels + parts - 1) / parts * MR;
  g->m_blocks = (g->Mg + g->mblock - 1) / g->mblock;
  return true;
}

bool
cnn_conv2d_implicit_applies (const cnn_exec *x)
{
  implicit_geom g;
  return cnn_sgemm_avx512_available () && !g_getenv ("CNN_NO_IMPLICIT") && implicit_geometry (x, &g);
}

/* padded planes, the offset table, and each thread's output block */
static size_t
scratch_floats (const cnn_exec *x, const implicit_geom *g, size_t *per_thread)
{
  *per_thread = (size_t) g->mblock * BLOCK_COLS;
  return (size_t) g->plane_floats + (size_t) g->K + *per_thread * MAX (x->threads, 1);
}

size_t
cnn_conv2d_implicit_scratch (const cnn_exec *x)
{
  implicit_geom g;
  size_t per_thread;
  if (!implicit_geometry (x, &g))
    return 0;
  return scratch_floats (x, &g, &per_thread) * sizeof (float);
}

typedef struct {
  const cnn_exec *x;
  const implicit_geom *g;
  const float *in;              /* one image's group: Cg planes H x W */
  float *padded;                /* its phase planes */
  const float *b;               /* what the GEMM reads: the planes, or the input in place */
  const int32_t *koff;
  const float *wpacked;         /* the group's weights, packed */
  const float *bias, *residual; /* the group's, or NULL */
  float *out;                   /* the group's output planes */
  float *blocks;                /* per-thread output blocks */
  size_t per_thread;
} implicit_ctx;

/* Does a kernel tap read phase (py, px)? */
static bool
phase_used (const implicit_geom *g, int64_t py, int64_t px)
{
  bool y = false, x = false;
  for (int64_t ky = 0; ky < g->kh; ky++)
    y |= ky * g->dh % g->sh == py;
  for (int64_t kx = 0; kx < g->kw; kx++)
    x |= kx * g->dw % g->sw == px;
  return y && x;
}

/* Rows of phase py of one channel into its zero-bordered planes (those a
 * tap reads).  Task c * sh + py. */
CNN_MULTIVERSION static void
pad_plane (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  int64_t c = task / g->sh, py = task % g->sh, psz = g->Hq * g->Wq;
  const float *src = t->in + c * g->H * g->W;
  for (int64_t px = 0; px < g->sw; px++) {
    if (!phase_used (g, py, px))
      continue;
    float *d = t->padded + ((c * g->sh + py) * g->sw + px) * psz;
    /* plane columns [lo, hi) fall inside the input row */
    int64_t lo = MIN ((MAX (g->pl - px, 0) + g->sw - 1) / g->sw, g->Wq);
    int64_t hi = MAX (MIN ((g->pl + g->W - px + g->sw - 1) / g->sw, g->Wq), lo);
    for (int64_t i = 0; i < g->Hq; i++, d += g->Wq) {
      int64_t y = i * g->sh + py - g->pt;       /* input row */
      if (y < 0 || y >= g->H) {
        memset (d, 0, sizeof (float) * g->Wq);
        continue;
      }
      const float *row = src + y * g->W + px - g->pl;
      memset (d, 0, sizeof (float) * lo);
      if (g->sw == 1)
        memcpy (d + lo, row + lo, sizeof (float) * (hi - lo));
      else if (g->sw == 2)
        for (int64_t q = lo; q < hi; q++)
          d[q] = row[2 * q];
      else
        for (int64_t q = lo; q < hi; q++)
          d[q] = row[q * g->sw];
      memset (d + hi, 0, sizeof (float) * (g->Wq - hi));
    }
  }
}

/* One block of grid columns for one block of output channels: the GEMM into
 * the thread's block, then out to the output planes with the epilogue. */
static void
implicit_block (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  int64_t j0 = (task % g->col_blocks) * BLOCK_COLS, m0 = (task / g->col_blocks) * g->mblock;
  int64_t n = MIN (BLOCK_COLS, g->ncols - j0), m1 = MIN (m0 + g->mblock, g->Mg);
  float *blk = t->blocks + (size_t) tid * t->per_thread;
  cnn_sgemm_avx512_gather ((int) g->Mg, (int) m0, (int) m1, (int) n, (int) g->K, t->wpacked, t->b + j0,
      t->koff, g->in_place, blk, BLOCK_COLS);
  int64_t osz = g->OH * g->OW;
  for (int64_t y = j0 / g->Wq; y * g->Wq < j0 + n; y++) {
    /* the row's output columns inside this block */
    int64_t x0 = MAX (j0 - y * g->Wq, 0), x1 = MIN (j0 + n - y * g->Wq, g->OW);
    if (x0 >= x1)
      continue;
    for (int64_t m = m0; m < m1; m++) {
      const float *src = blk + (m - m0) * BLOCK_COLS + (y * g->Wq + x0 - j0);
      float *dst = t->out + m * osz + y * g->OW + x0;
      float b = t->bias ? t->bias[m] : 0.f;
      if (t->residual) {
        const float *r = t->residual + m * osz + y * g->OW + x0;
        for (int64_t i = 0; i < x1 - x0; i++)
          dst[i] = src[i] + b + r[i];
      } else {
        for (int64_t i = 0; i < x1 - x0; i++)
          dst[i] = src[i] + b;
      }
      cnn_act_apply (&t->x->act, dst, x1 - x0);
    }
  }
}

cnn_status
cnn_conv2d_implicit (cnn_exec *x)
{
  implicit_geom g;
  if (!implicit_geometry (x, &g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "implicit GEMM convolution does not apply");
  size_t per_thread, need = scratch_floats (x, &g, &per_thread);
  if (x->scratch_size < need * sizeof (float))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  const float *wp = cnn_conv_packed_weights (x, g.Mg, g.K);
  if (!wp)
    return cnn_exec_fail (x, CNN_E_NOMEM, "out of memory for packed weights");
  float *padded = x->scratch;
  int32_t *koff = (int32_t *) (padded + g.plane_floats);
  float *blocks = (float *) (koff + g.K);
  for (int64_t c = 0, k = 0; c < g.Cg; c++)
    for (int64_t ky = 0; ky < g.kh; ky++)
      for (int64_t kx = 0; kx < g.kw; kx++)
        koff[k++] = (int32_t) tap_offset (&g, c, ky, kx);
  /* the slack past the planes feeds only dropped columns */
  memset (padded + g.plane_floats - (g.in_place ? 0 : NR), 0, sizeof (float) * (g.in_place ? 0 : NR));
  const cnn_tensor *X = x->in[0], *B = x->n_in > 2 ? x->in[2] : NULL;
  int64_t N = X->dims[0], isz = g.H * g.W, osz = g.OH * g.OW;
  size_t per_group = cnn_sgemm_packed_a_size ((int) g.Mg, (int) g.K);
  for (int64_t n = 0; n < N; n++)
    for (int64_t gr = 0; gr < g.G; gr++) {
      implicit_ctx t = {
        x, &g, (const float *) X->data + (n * g.C + gr * g.Cg) * isz, padded, padded, koff, wp + gr * per_group,
        B ? (const float *) B->data + gr * g.Mg : NULL,
        x->residual ? (const float *) x->residual->data + (n * g.M + gr * g.Mg) * osz : NULL,
        (float *) x->out[0]->data + (n * g.M + gr * g.Mg) * osz, blocks, per_thread
      };
      if (g.in_place)
        t.b = t.in;
      else
        cnn_parallel_for (g.Cg * isz > 16384 ? x->pool : NULL, g.Cg * g.sh, pad_plane, &t);
      cnn_parallel_for (x->pool, g.col_blocks * g.m_blocks, implicit_block, &t);
    }
  return CNN_OK;
}
