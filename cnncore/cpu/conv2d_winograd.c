/* conv2d_winograd.c - 3x3 stride-1 convolutions with Winograd F(4x4, 3x3)
 * (Lavin & Gray): 36 GEMMs over 6x6 tile transforms instead of one im2col
 * GEMM, 4x fewer multiplications.  Opt-in (CNN_WINOGRAD=1) until its
 * transforms are vectorized.  Work is split into blocks of tiles, one
 * task each (input transform, 36 GEMMs, output transform with bias, residual
 * and activation), so a block stays in cache.  The weight transform is done
 * once per plan and kept with the node's run context. */
#include "../ops/conv.h"

#define TILE 4
#define ALPHA 6                 /* TILE + 3 - 1 */
#define NE (ALPHA * ALPHA)
#define BLOCK_BUDGET (8 << 20)  /* bytes of transformed data per task */

typedef struct {
  int64_t C, M, H, W, OH, OW, pt, pl;
  int64_t th, tw, tiles, block, n_blocks;
} wino_geom;

static bool
geometry (const cnn_exec *x, wino_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window w;
  if (p->group != 1 || x->in[0]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK)
    return false;
  for (int i = 1; i < 3; i++)
    if (w.kernel[i] != 3 || w.stride[i] != 1 || w.dil[i] != 1)
      return false;
  g->C = x->in[0]->dims[1];
  g->M = x->in[1]->dims[0];
  g->H = w.in[1];
  g->W = w.in[2];
  g->OH = w.out[1];
  g->OW = w.out[2];
  g->pt = w.pad0[1];
  g->pl = w.pad0[2];
  g->th = (g->OH + TILE - 1) / TILE;
  g->tw = (g->OW + TILE - 1) / TILE;
  g->tiles = g->th * g->tw;
  int64_t per_tile = NE * (g->C + g->M) * (int64_t) sizeof (float);
  g->block = CLAMP (BLOCK_BUDGET / per_tile, 32, 512);
  g->block = MIN (g->block, g->tiles);
  /* at least two blocks per thread where the image allows */
  int64_t want = (g->tiles + 2 * MAX (x->threads, 1) - 1) / (2 * MAX (x->threads, 1));
  if (want >= 32)
    g->block = MIN (g->block, want);
  g->n_blocks = (g->tiles + g->block - 1) / g->block;
  return true;
}

/* Off unless CNN_WINOGRAD=1: the scalar tile transforms still cost more
 * than the multiplications they save on this CPU (see bench/compare.py);
 * the tests turn it on to keep it correct. */
static int winograd_enabled = -1;

void
cnn_conv2d_winograd_enable (bool on)
{
  winograd_enabled = on;
}

bool
cnn_conv2d_winograd_applies (const cnn_exec *x)
{
  wino_geom g;
  if (winograd_enabled < 0)
    winograd_enabled = g_strcmp0 (g_getenv ("CNN_WINOGRAD"), "1") == 0;
  /* small images (few tiles to amortize the transformed weights over) and
   * tiny channel counts do better with im2col */
  return winograd_enabled && geometry (x, &g) && g.tiles >= 64 && g.C >= 8 && g.M >= 8 && g.C <= 512 && g.M <= 512;
}

size_t
cnn_conv2d_winograd_scratch (const cnn_exec *x)
{
  wino_geom g;
  if (!geometry (x, &g))
    return 0;
  return (size_t) NE * (g.C + g.M) * g.block * sizeof (float) * MAX (x->threads, 1);
}

/* U[e][m][c] = (G g G^T)[e] for every 3x3 kernel g of W; with the AVX-512
 * GEMM, each U[e] is then packed for it (stride packed_stride). */
typedef struct {
  float *U;
  float *packed;
  size_t packed_stride;
} wino_weights;

static float *transform_u (const float *w, int64_t M, int64_t C);

static void
free_weights (void *p)
{
  wino_weights *ww = p;
  free (ww->U);
  free (ww->packed);
  g_free (ww);
}

static wino_weights *
transform_weights (const float *w, int64_t M, int64_t C)
{
  wino_weights *ww = g_new0 (wino_weights, 1);
  if (!(ww->U = transform_u (w, M, C))) {
    g_free (ww);
    return NULL;
  }
  if (cnn_sgemm_avx512_available ()) {
    ww->packed_stride = cnn_sgemm_packed_a_size ((int) M, (int) C);
    if (posix_memalign ((void **) &ww->packed, 64, sizeof (float) * NE * ww->packed_stride) == 0)
      for (int e = 0; e < NE; e++)
        cnn_sgemm_pack_a (false, (int) M, (int) C, ww->U + (size_t) e * M * C, (int) C,
            ww->packed + (size_t) e * ww->packed_stride);
    else
      ww->packed = NULL;
  }
  return ww;
}

static float *
transform_u (const float *w, int64_t M, int64_t C)
{
  static const float G[6][3] = {
    { 1.f / 4, 0, 0 }, { -1.f / 6, -1.f / 6, -1.f / 6 }, { -1.f / 6, 1.f / 6, -1.f / 6 },
    { 1.f / 24, 1.f / 12, 1.f / 6 }, { 1.f / 24, -1.f / 12, 1.f / 6 }, { 0, 0, 1 } };
  float *U = NULL;
  if (posix_memalign ((void **) &U, 64, sizeof (float) * NE * M * C))
    return NULL;
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const float *k = w + (m * C + c) * 9;
      float t[6][3];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
          t[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
          U[((int64_t) (i * 6 + j) * M + m) * C + c] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
    }
  return U;
}

typedef struct {
  cnn_exec *x;
  const wino_geom *g;
  const wino_weights *w;
  int64_t n;                    /* image */
} wino_ctx;

CNN_MULTIVERSION static void
wino_block (int64_t b, int tid, void *data)
{
  wino_ctx *c = data;
  const wino_geom *g = c->g;
  cnn_exec *x = c->x;
  int64_t t0 = b * g->block, nt = MIN (g->block, g->tiles - t0), C = g->C, M = g->M;
  float *V = (float *) x->scratch + (size_t) tid * NE * (C + M) * g->block;
  float *O = V + (size_t) NE * C * g->block;
  const float *X = (const float *) x->in[0]->data + c->n * C * g->H * g->W;
  /* input transform: V[e][c][t] = (B^T d B)[e] */
  for (int64_t ci = 0; ci < C; ci++) {
    const float *xc = X + ci * g->H * g->W;
    for (int64_t t = 0; t < nt; t++) {
      int64_t tile = t0 + t, y0 = (tile / g->tw) * TILE - g->pt, x0 = (tile % g->tw) * TILE - g->pl;
      float d[6][6], u[6][6];
      for (int i = 0; i < 6; i++) {
        int64_t yy = y0 + i;
        for (int j = 0; j < 6; j++) {
          int64_t xx = x0 + j;
          d[i][j] = (yy >= 0 && yy < g->H && xx >= 0 && xx < g->W) ? xc[yy * g->W + xx] : 0.f;
        }
      }
      for (int j = 0; j < 6; j++) {   /* columns: B^T d */
        float d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j], d4 = d[4][j], d5 = d[5][j];
        u[0][j] = 4 * d0 - 5 * d2 + d4;
        u[1][j] = -4 * d1 - 4 * d2 + d3 + d4;
        u[2][j] = 4 * d1 - 4 * d2 - d3 + d4;
        u[3][j] = -2 * d1 - d2 + 2 * d3 + d4;
        u[4][j] = 2 * d1 - d2 - 2 * d3 + d4;
        u[5][j] = 4 * d1 - 5 * d3 + d5;
      }
      for (int i = 0; i < 6; i++) {   /* rows: (B^T d) B */
        float d0 = u[i][0], d1 = u[i][1], d2 = u[i][2], d3 = u[i][3], d4 = u[i][4], d5 = u[i][5];
        float r[6] = { 4 * d0 - 5 * d2 + d4, -4 * d1 - 4 * d2 + d3 + d4, 4 * d1 - 4 * d2 - d3 + d4,
          -2 * d1 - d2 + 2 * d3 + d4, 2 * d1 - d2 - 2 * d3 + d4, 4 * d1 - 5 * d3 + d5 };
        for (int j = 0; j < 6; j++)
          V[((size_t) (i * 6 + j) * C + ci) * g->block + t] = r[j];
      }
    }
  }
  /* 36 GEMMs: O[e] = U[e] V[e] */
  for (int e = 0; e < NE; e++) {
    if (c->w->packed)
      cnn_sgemm_avx512_packed ((int) M, (int) nt, (int) C, 1.f, c->w->packed + (size_t) e * c->w->packed_stride,
          V + (size_t) e * C * g->block, (int) g->block, 0.f, O + (size_t) e * M * g->block, (int) g->block);
    else
      cnn_sgemm_serial (false, false, (int) M, (int) nt, (int) C, 1.f, c->w->U + (size_t) e * M * C, (int) C,
          V + (size_t) e * C * g->block, (int) g->block, 0.f, O + (size_t) e * M * g->block, (int) g->block);
  }
  /* output transform: y = A^T o A, plus bias, residual, activation */
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  float *Y = (float *) x->out[0]->data + c->n * M * g->OH * g->OW;
  const float *R = x->residual ? (const float *) x->residual->data + c->n * M * g->OH * g->OW : NULL;
  for (int64_t m = 0; m < M; m++) {
    float bias = B ? ((const float *) B->data)[m] : 0.f;
    float *ym = Y + m * g->OH * g->OW;
    for (int64_t t = 0; t < nt; t++) {
      int64_t tile = t0 + t, oy = (tile / g->tw) * TILE, ox = (tile % g->tw) * TILE;
      float o[6][6], s[4][6], y[4][4];
      for (int e = 0; e < NE; e++)
        o[e / 6][e % 6] = O[((size_t) e * M + m) * g->block + t];
      for (int j = 0; j < 6; j++) {
        float a0 = o[0][j], a1 = o[1][j], a2 = o[2][j], a3 = o[3][j], a4 = o[4][j], a5 = o[5][j];
        s[0][j] = a0 + a1 + a2 + a3 + a4;
        s[1][j] = a1 - a2 + 2 * a3 - 2 * a4;
        s[2][j] = a1 + a2 + 4 * a3 + 4 * a4;
        s[3][j] = a1 - a2 + 8 * a3 - 8 * a4 + a5;
      }
      for (int i = 0; i < 4; i++) {
        float a0 = s[i][0], a1 = s[i][1], a2 = s[i][2], a3 = s[i][3], a4 = s[i][4], a5 = s[i][5];
        y[i][0] = a0 + a1 + a2 + a3 + a4 + bias;
        y[i][1] = a1 - a2 + 2 * a3 - 2 * a4 + bias;
        y[i][2] = a1 + a2 + 4 * a3 + 4 * a4 + bias;
        y[i][3] = a1 - a2 + 8 * a3 - 8 * a4 + a5 + bias;
      }
      int64_t rows = MIN (TILE, g->OH - oy), cols = MIN (TILE, g->OW - ox);
      for (int64_t i = 0; i < rows; i++) {
        float *dst = ym + (oy + i) * g->OW + ox;
        const float *res = R ? R + m * g->OH * g->OW + (oy + i) * g->OW + ox : NULL;
        for (int64_t j = 0; j < cols; j++)
          dst[j] = y[i][j] + (res ? res[j] : 0.f);
        cnn_act_apply (&x->act, dst, cols);
      }
    }
  }
}

cnn_status
cnn_conv2d_winograd (cnn_exec *x)
{
  wino_geom g;
  if (!geometry (x, &g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "not a Winograd convolution");
  if (x->scratch_size < cnn_conv2d_winograd_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  if (!x->cache) {
    x->cache = transform_weights (x->in[1]->data, g.M, g.C);
    x->cache_free = free_weights;
    if (!x->cache)
      return cnn_exec_fail (x, CNN_E_NOMEM, "out of memory for transformed weights");
  }
  for (int64_t n = 0; n < x->in[0]->dims[0]; n++) {
    wino_ctx c = { x, &g, x->cache, n };
    cnn_parallel_for (x->pool, g.n_blocks, wino_block, &c);
  }
  return CNN_OK;
}
