/* conv2d_implicit.c - 2D convolutions as an implicit GEMM with the AVX-512
 * kernel: no im2col.  Each image's input is copied once into zero-bordered
 * phase planes (cpu/phase_grid.c), on which the input of output column j
 * under tap (c, ky, kx) is at j + c * plane_floats + tap (ky, kx): every row
 * of the GEMM's B matrix is a contiguous slice of the planes, read in place
 * through a table of those offsets.  A 1x1 stride-1 convolution reads its
 * input itself.  Weights are packed once per plan.  Bias, a fused residual
 * and the activation are applied while each block of output is copied out.
 * Small maps (where the grid's padding columns and the last tile's waste
 * outweigh the copy) have their columns packed instead: compact mode.
 * Small maps with many weights (ResNet's 14 x 14 and 7 x 7 stages) turn
 * the GEMM around instead: pixel-major mode, output pixels as the rows of
 * the kernel's tile and output channels as its columns (cnn_sgemm_avx512_
 * pixels). */
#include "../ops/conv.h"

#define MAX_NR 48               /* widest tile of the kernel (sgemm_avx512.c) */
#define TILES_PER_BLOCK 4       /* tiles of columns per task */
#define PANEL_ORDER_FLOATS (1 << 18)    /* outputs from which a task goes panel by panel */
#define PANEL_ORDER_TILES 16    /* tiles of columns per task then */
#define PIXEL_MAX_OUTPUT 256    /* output pixels up to which the pixel-major GEMM runs */
#define PIXEL_MIN_WEIGHTS (1 << 18)     /* weights (floats) from which it does */
#define SPATIAL_MIN_TILES 4     /* tiles of columns a thread from which threads split by pixels */
#define KSPLIT_MIN 1024         /* K from which a lone task's K is split between the threads */
#define KSPLIT_MIN_1X1 384      /* K from which a 1x1's is, where it is 4 times the output channels or more */
/* K of a part at least: each part writes sums for the whole output, which
 * many threads' small parts would outweigh (a bound, not measured: this
 * machine has 2 cores) */
#define KSPLIT_PART_MIN 128

typedef struct {
  cnn_window w;
  cnn_phase_grid p;
  int64_t C, M, G, Cg, Mg, K;
  bool in_place;                /* 1x1, stride 1, no pads: B is the input itself */
  cnn_sgemm_tile tile;
  int64_t mr, block_cols;       /* the tile's rows; grid columns per task */
  int64_t planes_floats;        /* the planes of one group, slack included (0 in place) */
  int64_t mblock;               /* output channels per task at most, a multiple of mr */
  int64_t mpanels;              /* output channels in panels of mr */
  int64_t col_blocks, m_blocks;
  bool compact;                 /* B packed (output pixels only), the kernel stores the output */
  bool direct_grid;             /* the kernel stores the output from the grid, dropping its padding */
  bool panel_order;             /* the kernel stores a large output: a panel of rows at a time */
  bool pixel;                   /* pixel-major GEMM (small outputs): the weights are B */
  int64_t ppanels;              /* pixel panels (7 output pixels each) */
  int64_t wpanels;              /* weight panels (64 output channels each) */
  int64_t pgroups;              /* threads sharing the pixels, or 1: the weight panels */
  int64_t cgroups;              /* threads sharing the channels in runs of 16, or 1: the panels */
  bool pixel_rows;              /* pixel-major: the kernel reads the pixels in place, not packed */
  bool spatial;                 /* the tasks go by column block first (cnn_spatial_split()) */
  int ksplit;                   /* parts of K computed apart, one a thread, then summed (or 1) */
} implicit_geom;

/* CNN_PIXEL_MAJOR: unset, auto (where it pays); 0 never; 1 wherever it
 * can (comparisons, tests) */
static int pixel_mode = -2;

void
cnn_conv2d_pixel_major_enable (int mode)
{
  pixel_mode = mode;
}

static bool
pixel_major (const implicit_geom *g, int64_t osz)
{
  if (pixel_mode == -2) {
    const char *e = g_getenv ("CNN_PIXEL_MAJOR");
    pixel_mode = !e ? -1 : g_strcmp0 (e, "1") == 0;
  }
  int mode = pixel_mode;
  /* its kernel is AVX-512 only */
  if (mode == 0 || g->K < 16 || !cnn_sgemm_avx512_available ())
    return false;
  if (mode > 0)
    return true;
  return osz <= PIXEL_MAX_OUTPUT && g->Mg >= 64 && g->Mg * g->K >= PIXEL_MIN_WEIGHTS;
}

/* Columns the kernel computes for n in tiles of nr (cnn_sgemm_gather),
 * a last tile one vector wide counted as 20 (it takes a broadcast per FMA),
 * the thin kernel's 1 to 4 columns as 2 more each. */
static int64_t
padded_columns (int64_t n, int64_t nr)
{
  int64_t rem = n % nr, thin = cnn_sgemm_thin_columns ((int) rem), wide = rem - thin;
  return n - rem + (wide == 0 ? 0 : wide <= 16 ? 20 : nr) + (thin ? 2 + 2 * thin : 0);
}

static bool
implicit_geometry (const cnn_exec *x, implicit_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window *w = &g->w;
  if (x->in[0]->ndim != 4 || x->in[1]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, w) != CNN_OK ||
      !cnn_phase_grid_init (w, &g->p))
    return false;
  const cnn_phase_grid *pg = &g->p;
  g->C = x->in[0]->dims[1];
  g->M = x->in[1]->dims[0];
  g->G = p->group;
  g->Cg = g->C / g->G;
  g->Mg = g->M / g->G;
  g->K = g->Cg * pg->kh * pg->kw;
  g->in_place = pg->kh * pg->kw == 1 && pg->sh == 1 && pg->sw == 1 && pg->Hq == pg->H && pg->Wq == pg->W;
  /* the GEMM reads whole tiles of columns: up to 47 past the last plane's
   * end (in place, the last tile is copied instead) */
  g->planes_floats = g->in_place ? 0 : g->Cg * pg->plane_floats + MAX_NR;
  /* enough work per column to fill most of the kernel's tile (5 to 7
   * output channels in 8 x 48: UltraFace's 256 -> 6 3x3 head on 4 x 5 took
   * 47 us by im2col and GEMM, 22 here; its 64 -> 6 1x1 on 30 x 40 28 -> 8;
   * 1 to 4 go to the narrow kernel, faster there); offsets fit int32 */
  if (g->K < 16 || g->Mg < 5 || g->Cg * pg->plane_floats >= (int64_t) 1 << 30)
    return false;
  /* the tile that computes the fewest values (padding rows and columns
   * included; a last tile of 16 columns or fewer is one vector wide) */
  int64_t rows12 = (g->Mg + 11) / 12 * 12, rows8 = (g->Mg + 7) / 8 * 8;
  int64_t cells12 = rows12 * padded_columns (pg->ncols, 32), cells8 = rows8 * padded_columns (pg->ncols, 48);
  /* reading its input in place (1x1), 8 x 48 only where it saves rows, 3%
   * or more: MobileNetV2's projections to 32 and 64 channels 10-16% faster
   * with it, its 160 -> 960 at 7 x 7 (no rows saved, a few padding columns)
   * 6-8% slower */
  bool saves_rows = 100 * rows8 <= 97 * rows12;
  g->tile = cells8 < cells12 && (!g->in_place || saves_rows) ? CNN_TILE_8x48 : CNN_TILE_12x32;
  /* pixel-major: pixels as the GEMM's rows, 7 to a tile, channels as its
   * columns, 64 to a tile: small maps lose nothing to tiles of 16 columns
   * (7 x 7: 49 pixels, 64 or 63 grid columns computed), and the weights,
   * read once per 7 pixels, stream with a prefetch */
  int64_t osz = pg->OH * pg->OW;
  int T = MAX (x->threads, 1);
  g->ppanels = (osz + CNN_SGEMM_PIXEL_MR - 1) / CNN_SGEMM_PIXEL_MR;
  g->wpanels = (g->Mg + CNN_SGEMM_PIXEL_NR - 1) / CNN_SGEMM_PIXEL_NR;
  g->pixel = pixel_major (g, osz);
  g->pixel_rows = false;
  if (g->pixel) {
    g->tile = CNN_TILE_PIXELS;
    /* a panel's 7 pixels on consecutive columns of the padded planes
     * wherever 7 divides the rows (7 x 7, 14 x 14): the kernel reads them
     * there rather than from packed panels (ResNet-50's 3x3 512 -> 512 at
     * 7 x 7, 2 threads, in the model: 0.87 -> 0.74 ms).  Read in place
     * from a 1x1's input, strided by whole planes, they were slower in the
     * model (ResNet's 1024 -> 256 at 14 x 14: 0.38 -> 0.43 ms), so those
     * are still packed */
    g->pixel_rows = pg->OW % CNN_SGEMM_PIXEL_MR == 0 && !g->in_place;
    /* threads share the weight panels where they come out even or are
     * many; else the channels in runs of 16 where they outnumber the
     * pixels (each thread reads all the pixels, packed once, and its share
     * of the weights: MobileNetV2's 960 -> 320 at 7 x 7, 5 panels, whose
     * 7 pixel panels had gone 4 and 3 to two threads, each streaming all
     * the weights); else the pixels (each thread then streams all the
     * weights) */
    bool even = (g->wpanels % T == 0 && g->Mg % CNN_SGEMM_PIXEL_NR == 0) || g->wpanels >= 4 * T;
    g->cgroups = !even && g->Mg >= osz ? MIN (T, (g->Mg + 15) / 16) : 1;
    g->pgroups = even || g->cgroups > 1 ? 1 : MIN (T, g->ppanels);
  }
  /* compact: one column per output pixel, in 12 x 32 tiles; worth its copy
   * (K floats a column) where it computes an eighth fewer cells and output
   * channels are many (tiny YOLOv2's 13 x 13 3x3 layers: 193 grid columns,
   * 169 compact) */
  int64_t npad = (osz + 31) / 32 * 32;
  int64_t cells_compact = ((g->Mg + 11) / 12 * 12) * padded_columns (osz, 32);
  g->compact = !g->pixel && !g->in_place && g->Mg >= 64 && 8 * MIN (cells12, cells8) > 9 * cells_compact &&
      g->K * npad < (int64_t) 1 << 28;
  if (g->compact) {
    g->tile = CNN_TILE_12x32;
    g->planes_floats = g->K * npad;
  }
  /* one K block (the kernel's epilogue sees the whole sum), a simple
   * activation, and rows as wide as a vector: no copy of the output */
  g->direct_grid = !g->in_place && !g->compact && g->K <= CNN_SGEMM_KC && pg->Wq >= 16 &&
      cnn_act_is_simple (x->act.type);
  g->mr = g->tile == CNN_TILE_8x48 ? 8 : 12;
  /* an output of a MiB or more that the kernel stores goes out a panel of
   * rows at a time over long blocks of columns: mr rows written one after
   * the other, which the prefetchers follow, rather than all the block's
   * rows a tile at a time (MobileNetV2's 16 -> 96 at 112 x 112, whose output
   * is not in cache, took 0.57 ms that way, 0.50 panel by panel; the first
   * layer of SqueezeNet 0.76 -> 0.68; with AVX2, whose gather packs a
   * call's columns once, in the model, SqueezeNet's first layer 1.05 ->
   * 0.73 ms and MobileNetV2's first 0.58 -> 0.46 at 1 thread on Zen 4) */
  g->panel_order = (g->in_place || g->direct_grid) && (int64_t) pg->OH * pg->OW * g->Mg >= PANEL_ORDER_FLOATS;
  g->block_cols = (g->panel_order ? PANEL_ORDER_TILES : TILES_PER_BLOCK) * (g->tile == CNN_TILE_8x48 ? 48 : 32);
  /* tasks: column blocks times channel blocks, a few per thread */
  g->col_blocks = g->compact ? 1 : (pg->ncols + g->block_cols - 1) / g->block_cols;
  /* by pixels (cnn_spatial_split()) where the input outweighs the weights,
   * which each thread then reads whole, and each thread's columns fill
   * tiles enough that a second last tile costs little: a whole number of
   * column blocks a thread, the tasks column block by column block */
  int64_t nr = g->tile == CNN_TILE_8x48 ? 48 : 32;
  g->spatial = T > 1 && !g->compact && !g->pixel && cnn_spatial_split () && pg->ncols >= SPATIAL_MIN_TILES * T * nr &&
      g->Mg * g->K <= g->Cg * pg->H * pg->W;
  if (g->spatial) {
    g->col_blocks = (g->col_blocks + T - 1) / T * T;
    g->block_cols = 0;
    for (int64_t b = 0; b < g->col_blocks; b++) {
      int64_t j0, j1;
      cnn_spatial_part (pg->ncols, b, g->col_blocks, nr, &j0, &j1);
      g->block_cols = MAX (g->block_cols, j1 - j0);
    }
  }
  int64_t mpanels = (g->Mg + g->mr - 1) / g->mr;
  int64_t parts = CLAMP ((4 * T + g->col_blocks - 1) / g->col_blocks, 1, mpanels);
  /* blocks of equal panels give or take one (27 panels in 8: 4 4 4 3 3 3 3 3
   * rather than 7 of 4 and 3, of which one thread of two takes 4) */
  g->mpanels = mpanels;
  g->m_blocks = parts;
  g->mblock = (mpanels + parts - 1) / parts * g->mr;
  /* K cut into a part a thread (whole input channels), each part's sums
   * for all the output in a block of its own, added up as they are
   * stored: where one task would leave the other threads idle (a
   * detector's head: UltraFace's 256 -> 12 and -> 6 3x3 on 4 x 5, K =
   * 2304, 30 us each on one thread while the other waited), and for a 1x1
   * on a small map whose input outweighs its output (MobileNetV2's 576 ->
   * 96 projections on 14 x 14, SqueezeNet's 512 -> 64 squeeze on 13 x
   * 13): the layer before wrote that input by channels, half on each
   * core, which a split by output channels read whole on each core; by K
   * each reads its own (in the model 0.112 -> 0.087 and 0.084 -> 0.061 ms) */
  bool lone = g->col_blocks * g->m_blocks == 1 && g->K >= KSPLIT_MIN;
  bool wide_input = g->in_place && g->K >= KSPLIT_MIN_1X1 && g->K >= 4 * g->Mg;
  g->ksplit = T > 1 && g->Cg > 1 && g->G == 1 && !g->pixel && !g->compact && !g->spatial && (lone || wide_input) ?
      (int) MIN (T, MIN (g->Cg, g->K / KSPLIT_PART_MIN)) : 1;
  if (g->ksplit > 1) {
    g->mblock = (g->Mg + g->mr - 1) / g->mr * g->mr;
    g->m_blocks = g->col_blocks = 1;
    g->block_cols = (pg->ncols + nr - 1) / nr * nr;
  }
  return true;
}

bool
cnn_conv2d_implicit_applies (const cnn_exec *x)
{
  static int off = -1;          /* CNN_NO_IMPLICIT=1: im2col + GEMM, for comparisons */
  implicit_geom g;
  if (off < 0)
    off = g_strcmp0 (g_getenv ("CNN_NO_IMPLICIT"), "1") == 0;
  return cnn_sgemm_kernels_available () && !off && implicit_geometry (x, &g);
}

static size_t
pixel_floats (const implicit_geom *g)
{
  return g->pixel && !g->pixel_rows ? (size_t) g->ppanels * CNN_SGEMM_PIXEL_MR * g->K : 0;
}

/* padded planes, the offset table, the pixel panels, and each thread's
 * output block (pixel-major: its pixels x 64 channels) */
static size_t
scratch_floats (const cnn_exec *x, const implicit_geom *g, size_t *per_thread)
{
  *per_thread = g->pixel ? (size_t) (g->ppanels + g->pgroups - 1) / g->pgroups * CNN_SGEMM_PIXEL_MR *
      CNN_SGEMM_PIXEL_NR : (size_t) g->mblock * g->block_cols;
  return (size_t) g->planes_floats + (size_t) g->K + pixel_floats (g) + *per_thread * MAX (x->threads, 1);
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
  float *pixels;                /* pixel-major: the pixel panels */
  int32_t cols[PIXEL_MAX_OUTPUT];       /* pixel-major: each output pixel's column on the planes */
} implicit_ctx;

/* Output channels [*m0, *m1) of channel block @b. */
static void
channel_block (const implicit_geom *g, int64_t b, int64_t *m0, int64_t *m1)
{
  *m0 = b * g->mpanels / g->m_blocks * g->mr;
  *m1 = MIN ((b + 1) * g->mpanels / g->m_blocks * g->mr, g->Mg);
}

/* Task @task's grid columns [*j0, *j0 + *n) and output channels [*m0, *m1). */
static void
block_of_task (const implicit_geom *g, int64_t task, int64_t *j0, int64_t *n, int64_t *m0, int64_t *m1)
{
  int64_t cb = g->spatial ? task / g->m_blocks : task % g->col_blocks;
  channel_block (g, g->spatial ? task % g->m_blocks : task / g->col_blocks, m0, m1);
  if (g->spatial) {
    int64_t j1;
    cnn_spatial_part (g->p.ncols, cb, g->col_blocks, g->tile == CNN_TILE_8x48 ? 48 : 32, j0, &j1);
    *n = j1 - *j0;
  } else {
    *j0 = cb * g->block_cols;
    *n = MIN (g->block_cols, g->p.ncols - *j0);
  }
}

/* Task c * sh + py: channel c's rows of phase py. */
static void
fill_planes (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const cnn_phase_grid *pg = &t->g->p;
  int64_t c = task / pg->sh;
  cnn_phase_grid_fill (pg, t->in + c * pg->H * pg->W, task % pg->sh, true, t->padded + c * pg->plane_floats);
}

/* Spatial split, task (b * Cg + c) * sh + py: channel c's plane rows of
 * phase py from the first output row of thread b's share of the columns
 * to the next thread's.  Thread b (the pool starts each thread on its own
 * share) so fills the rows its own GEMM tasks read, all but a halo, from
 * the input rows a split by rows before it (the pre-processing of a frame,
 * a spatial layer) wrote: both stay in its core's cache.  Filled channel by
 * channel, each core read and wrote half of every other's rows, and a line
 * last held by the other core took about four times as long to write
 * (UltraFace in cnndetect at 2 threads: inference 5% faster a frame, the
 * median of 15 alternating pipeline runs). */
static void
fill_plane_bands (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  const cnn_phase_grid *pg = &g->p;
  int64_t per_band = g->Cg * pg->sh, b = task / per_band, c = task % per_band / pg->sh;
  int64_t T = MAX (t->x->threads, 1), nr = g->tile == CNN_TILE_8x48 ? 48 : 32, q[2];
  for (int e = 0; e < 2; e++) {
    int64_t j0, j1;
    cnn_spatial_part (pg->ncols, (b + e) * g->col_blocks / T, g->col_blocks, nr, &j0, &j1);
    q[e] = b + e == 0 ? 0 : b + e == T ? pg->Hq : j0 / pg->Wq;
  }
  cnn_phase_grid_fill_rows (pg, t->in + c * pg->H * pg->W, task % pg->sh, true, t->padded + c * pg->plane_floats,
      q[0], q[1]);
}

/* One block of grid columns for one block of output channels: the GEMM into
 * the thread's block, then out to the output planes with the epilogue. */
static void
implicit_block (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  const cnn_phase_grid *pg = &g->p;
  int64_t j0, n, m0, m1;
  block_of_task (g, task, &j0, &n, &m0, &m1);
  int64_t osz = pg->OH * pg->OW;
  const cnn_act *act = &t->x->act;
  bool plain = g->in_place && cnn_act_is_simple (act->type);
  if (plain || g->direct_grid) {
    /* the kernel stores the output, bias, residual and activation
     * included: in place the grid is the output's own layout, else the
     * kernel maps grid columns to output pixels as it stores */
    int64_t off = plain ? j0 : 0;
    cnn_sgemm_epilogue ep = { t->bias ? t->bias + m0 : NULL, t->residual ? t->residual + m0 * osz + off : NULL,
      act->type, act->alpha, act->beta, plain ? 0 : (int) pg->Wq, (int) pg->OW, (int) j0 };
    cnn_sgemm_gather (g->tile, (int) g->Mg, (int) m0, (int) m1, (int) n, (int) g->K, t->wpacked, t->b + j0,
        t->koff, plain, g->panel_order, t->out + m0 * osz + off, (int) osz, &ep);
    return;
  }
  float *blk = t->blocks + (size_t) tid * t->per_thread;
  cnn_sgemm_gather (g->tile, (int) g->Mg, (int) m0, (int) m1, (int) n, (int) g->K, t->wpacked,
      t->b + j0, t->koff, g->in_place, false, blk, (int) g->block_cols, NULL);
  for (int64_t m = m0; m < m1; m++) {
    float *out = t->out + m * osz;
    cnn_phase_grid_store (pg, blk + (m - m0) * g->block_cols, j0, n, t->bias ? t->bias[m] : 0.f,
        t->residual ? t->residual + m * osz : NULL, &t->x->act, out);
  }
}

/* K split, task p: part p of K (whole input channels) for all the output
 * channels and columns, into block p; the part's phase planes filled
 * first, by the thread that reads them (filled by the caller alone, 256
 * small planes took 22 us, most of it writing lines the other core held) */
static void
k_part (int64_t p, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  const cnn_phase_grid *pg = &g->p;
  int64_t k0, k1, taps = pg->kh * pg->kw;
  size_t off = cnn_conv_k_part (g->Mg, g->K, taps, g->tile, g->ksplit, (int) p, &k0, &k1);
  for (int64_t i = k0 / taps * pg->sh; !g->in_place && i < k1 / taps * pg->sh; i++)
    fill_planes (i, tid, data);
  cnn_sgemm_gather (g->tile, (int) g->Mg, 0, (int) g->Mg, (int) pg->ncols, (int) (k1 - k0), t->wpacked + off,
      t->b, t->koff + k0, g->in_place, false, t->blocks + (size_t) p * t->per_thread, (int) g->block_cols, NULL);
}

/* K split, task i: output channels [Mg i / parts, Mg (i + 1) / parts), the
 * parts' sums added up, then stored with the epilogue. */
static void
k_parts_store (int64_t i, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  const cnn_phase_grid *pg = &g->p;
  int64_t osz = pg->OH * pg->OW, n = pg->ncols;
  for (int64_t m = g->Mg * i / g->ksplit; m < g->Mg * (i + 1) / g->ksplit; m++) {
    float *sum = t->blocks + m * g->block_cols;
    for (int p = 1; p < g->ksplit; p++) {
      const float *part = t->blocks + (size_t) p * t->per_thread + m * g->block_cols;
      for (int64_t j = 0; j < n; j++)
        sum[j] += part[j];
    }
    cnn_phase_grid_store (pg, sum, 0, n, t->bias ? t->bias[m] : 0.f, t->residual ? t->residual + m * osz : NULL,
        &t->x->act, t->out + m * osz);
  }
}

/* Compact mode, task c: input channel c's columns, packed. */
static void
pack_columns (int64_t c, int tid, void *data)
{
  implicit_ctx *t = data;
  cnn_conv_im2col_packed (&t->g->w, t->in, t->padded, 0, t->g->p.OH, t->g->K, c, c + 1);
}

/* Compact mode, one block of output channels: the kernel stores the output,
 * epilogue included (a complex activation follows in a pass). */
static void
compact_block (int64_t task, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  int64_t osz = g->p.OH * g->p.OW, m0, m1;
  channel_block (g, task, &m0, &m1);
  const cnn_act *act = &t->x->act;
  bool simple = cnn_act_is_simple (act->type);
  cnn_sgemm_epilogue ep = { t->bias ? t->bias + m0 : NULL, t->residual ? t->residual + m0 * osz : NULL,
    simple ? act->type : CNN_ACT_NONE, act->alpha, act->beta };
  cnn_sgemm_packed_rows ((int) g->Mg, (int) m0, (int) m1, (int) osz, (int) g->K, t->wpacked, t->padded,
      t->out + m0 * osz, (int) osz, &ep);
  if (!simple)
    cnn_act_apply_fast (act, t->out + m0 * osz, (m1 - m0) * osz);
}

/* Pixel-major, task q: pixel panel q (its grid columns, or its pixels in
 * place). */
static void
pack_pixel_panel (int64_t q, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  const cnn_phase_grid *pg = &g->p;
  int64_t p0 = q * CNN_SGEMM_PIXEL_MR, n = MIN (CNN_SGEMM_PIXEL_MR, pg->OH * pg->OW - p0);
  cnn_sgemm_pack_pixels ((int) g->K, t->b, t->koff, t->cols + p0, (int) n, t->pixels + p0 * g->K);
}

/* Pixel-major: output channels [c0, c1) (c0 a multiple of 16) times pixel
 * panels [q0, q1), a weight panel or the part of one in the range at a
 * time; the kernel stores the output, epilogue included (a complex
 * activation follows in a pass). */
static void
pixel_panels (implicit_ctx *t, int tid, int64_t c0, int64_t c1, int64_t q0, int64_t q1)
{
  const implicit_geom *g = t->g;
  int64_t osz = g->p.OH * g->p.OW, p0 = q0 * CNN_SGEMM_PIXEL_MR, p1 = MIN (q1 * CNN_SGEMM_PIXEL_MR, osz);
  if (p1 <= p0)
    return;
  const cnn_act *act = &t->x->act;
  bool simple = cnn_act_is_simple (act->type);
  for (int64_t c = c0, e; c < c1; c = e) {
    /* the panel holding channel c */
    int64_t m0 = c / CNN_SGEMM_PIXEL_NR * CNN_SGEMM_PIXEL_NR;
    int pw = cnn_sgemm_pixel_panel_width ((int) g->Mg, (int) m0);
    e = MIN (c1, m0 + CNN_SGEMM_PIXEL_NR);
    cnn_sgemm_epilogue ep = { t->bias ? t->bias + c : NULL, t->residual ? t->residual + c * osz + p0 : NULL,
      simple ? act->type : CNN_ACT_NONE, act->alpha, act->beta };
    float *out = t->out + c * osz + p0;
    cnn_sgemm_avx512_pixels ((int) g->K, g->pixel_rows ? t->b : t->pixels + p0 * g->K, g->pixel_rows ? t->koff : NULL,
        t->cols + p0, (int) (p1 - p0), t->wpacked + m0 * g->K + (c - m0), (int) (e - c), pw, t->blocks + (size_t) tid * t->per_thread, out, (int) osz, &ep);
    if (!simple)
      for (int64_t i = 0; i < e - c; i++)
        cnn_act_apply_fast (act, out + i * osz, p1 - p0);
  }
}

/* Pixel-major, task m: weight panel m for all pixels (packed before). */
static void
pixel_channels (int64_t m, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  pixel_panels (t, tid, m * CNN_SGEMM_PIXEL_NR, MIN ((m + 1) * CNN_SGEMM_PIXEL_NR, g->Mg), 0, g->ppanels);
}

/* Pixel-major, task i: run i of channels (in runs of 16, cgroups of them
 * as even as they come) for all pixels (packed before). */
static void
pixel_channel_group (int64_t i, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  int64_t runs = (g->Mg + 15) / 16;
  pixel_panels (t, tid, runs * i / g->cgroups * 16, MIN (runs * (i + 1) / g->cgroups * 16, g->Mg), 0, g->ppanels);
}

/* Pixel-major, task i: group i of the pixel panels, packed here, for all
 * weight panels. */
static void
pixel_group (int64_t i, int tid, void *data)
{
  implicit_ctx *t = data;
  const implicit_geom *g = t->g;
  int64_t q0 = i * g->ppanels / g->pgroups, q1 = (i + 1) * g->ppanels / g->pgroups;
  for (int64_t q = q0; q < q1 && !g->pixel_rows; q++)
    pack_pixel_panel (q, tid, data);
  pixel_panels (t, tid, 0, g->Mg, q0, q1);
}

cnn_status
cnn_conv2d_implicit (cnn_exec *x)
{
  implicit_geom g;
  if (!implicit_geometry (x, &g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "implicit GEMM convolution does not apply");
  const cnn_phase_grid *pg = &g.p;
  size_t per_thread, need = scratch_floats (x, &g, &per_thread);
  if (x->scratch_size < need * sizeof (float))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  const float *wp = cnn_conv_packed_weights (x, g.Mg, g.K, pg->kh * pg->kw, g.tile, g.ksplit);
  if (!wp)
    return cnn_exec_fail (x, CNN_E_NOMEM, "out of memory for packed weights");
  float *padded = x->scratch;
  int32_t *koff = (int32_t *) (padded + g.planes_floats);
  float *pixels = (float *) (koff + g.K);
  float *blocks = pixels + pixel_floats (&g);
  /* the taps' offsets once, then channel by channel a plane on (a tap's
   * offset takes divisions: worked out for each of K = Cg * taps, UltraFace's
   * 2304 took most of a small layer's time) */
  int64_t taps = pg->kh * pg->kw;
  for (int64_t ky = 0, k = 0; ky < pg->kh; ky++)
    for (int64_t kx = 0; kx < pg->kw; kx++)
      koff[k++] = (int32_t) cnn_phase_grid_tap (pg, ky, kx);
  for (int64_t k = taps; k < g.K; k++)
    koff[k] = koff[k - taps] + (int32_t) pg->plane_floats;
  /* the slack past the planes feeds only dropped columns */
  if (!g.in_place)
    memset (padded + g.planes_floats - MAX_NR, 0, sizeof (float) * MAX_NR);
  const cnn_tensor *X = x->in[0], *B = x->n_in > 2 ? x->in[2] : NULL;
  int64_t N = X->dims[0], isz = pg->H * pg->W, osz = pg->OH * pg->OW;
  size_t per_group = cnn_sgemm_tile_packed_a_size (g.tile, (int) g.Mg, (int) g.K);
  for (int64_t n = 0; n < N; n++)
    for (int64_t gr = 0; gr < g.G; gr++) {
      implicit_ctx t = {
        x, &g, (const float *) X->data + (n * g.C + gr * g.Cg) * isz, padded, padded, koff,
        wp + gr * per_group, B ? (const float *) B->data + gr * g.Mg : NULL,
        x->residual ? (const float *) x->residual->data + (n * g.M + gr * g.Mg) * osz : NULL,
        (float *) x->out[0]->data + (n * g.M + gr * g.Mg) * osz, blocks, per_thread, pixels
      };
      for (int64_t i = 0; g.pixel && i < osz; i++)
        t.cols[i] = (int32_t) (i / pg->OW * pg->Wq + i % pg->OW);
      if (g.compact) {
        cnn_parallel_for (g.K * osz > 16384 ? x->pool : NULL, g.Cg, pack_columns, &t);
        cnn_parallel_for (x->pool, g.m_blocks, compact_block, &t);
        continue;
      }
      /* a K split's parts fill the planes of their own channels (k_part) */
      if (g.in_place)
        t.b = t.in;
      else if (g.spatial)
        cnn_parallel_for (x->pool, MAX (x->threads, 1) * g.Cg * pg->sh, fill_plane_bands, &t);
      else if (g.ksplit == 1)
        cnn_parallel_for (g.Cg * isz > 16384 ? x->pool : NULL, g.Cg * pg->sh, fill_planes, &t);
      if (g.ksplit > 1) {
        cnn_parallel_for (x->pool, g.ksplit, k_part, &t);
        cnn_parallel_for (g.Mg * pg->ncols >= 4096 ? x->pool : NULL, g.ksplit, k_parts_store, &t);
        continue;
      }
      if (g.pixel && g.pgroups > 1) {
        cnn_parallel_for (x->pool, g.pgroups, pixel_group, &t);
        continue;
      }
      if (g.pixel) {
        if (!g.pixel_rows)
          cnn_parallel_for (g.K * osz > 16384 ? x->pool : NULL, g.ppanels, pack_pixel_panel, &t);
        if (g.cgroups > 1)
          cnn_parallel_for (x->pool, g.cgroups, pixel_channel_group, &t);
        else
          cnn_parallel_for (x->pool, g.wpanels, pixel_channels, &t);
        continue;
      }
      cnn_parallel_for (x->pool, g.col_blocks * g.m_blocks, implicit_block, &t);
    }
  return CNN_OK;
}
