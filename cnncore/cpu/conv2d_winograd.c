/* conv2d_winograd.c - 3x3 stride-1 convolutions with Winograd F(4x4, 3x3)
 * (Lavin & Gray): each 4x4 output tile comes from a 6x6 input tile through
 * 36 GEMMs over transformed tiles, 4x fewer multiplications than im2col.
 *
 * AVX-512 or AVX2.  The transforms run on 16 (8) tiles of a tile row at once: the
 * input's vertical transform over whole rows (contiguous), the horizontal
 * one on the stride-4 phases of those rows taken apart by lane permutes,
 * written straight into the GEMM kernel's packed B panels.  The output
 * transform interleaves the 16 tiles back into rows and adds bias,
 * residual and activation as it stores.
 *
 * Large images: one task per block of tiles (transform in, 36 GEMMs,
 * transform out), sized to stay in L2.  Few tiles and many channels (13 x
 * 13 maps in YOLO): the image is one block and each stage is split across
 * threads instead (by input channels, by element and weight rows, by output
 * channels), with the pool's barrier between stages.  The weight transform
 * is done once per plan and kept with the node's run context. */
#include "../ops/conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"
#include "act_avx2.h"
#define HAVE_WINO_KERNEL 1
#endif

#define TILE 4
#define NE 36                   /* (TILE + 3 - 1)^2 transformed elements */
#define GROUP 16                /* tiles per vector */
#define BLOCK_BUDGET (1536 << 10)       /* bytes of V and O per task (L2) */
#define PHASED_MAX (64 << 20)   /* bytes of V and O of a whole image, at most */
#define FOLD_TILES 64           /* tiles of a phased run, images folded together, up to */
#define MR 12                   /* rows of the GEMM kernel's tile */

typedef struct {
  int64_t C, M, H, W, OH, OW, pt, pl;
  int64_t th, tw, tiles;
  int64_t block, n_blocks;      /* tiles per block (one task, or one phased run) */
  bool phased;                  /* one block per run of images, stages split across threads */
  int64_t nb;                   /* images per run (phased; else 1) */
  size_t vstride;               /* floats of one element's packed V (C x block) */
  /* O, the 36 GEMMs' products, goes by output channel: channel m's rows
   * of the 36 elements one after another (element e at m * NE * ldo + e *
   * ldo), so that the output transform of a channel reads one run of NE *
   * ldo floats; with each element's M x ldo apart, its 36 streams took
   * 40% of a layer (SqueezeNet's 16 -> 64 at 55 x 55: 0.40 -> 0.29 ms) */
  int64_t ldo;                  /* floats of one element's row of O: block, rounded up, plus a vector */
  size_t ostride;               /* floats of one element's O (M x ldo), for sizes */
  int64_t ubuf;                 /* floats of one row of the vertical input transform */
} wino_geom;

/* CNN_WINOGRAD: unset, auto (where it pays); 0 never; 1 every 3x3
 * stride-1 convolution (tests). */
static int winograd_mode = -2;

void
cnn_conv2d_winograd_enable (bool on)
{
  winograd_mode = on;
}

static int
mode (void)
{
  if (winograd_mode == -2) {
    const char *e = g_getenv ("CNN_WINOGRAD");
    winograd_mode = !e ? -1 : g_strcmp0 (e, "1") == 0;
  }
  return winograd_mode;
}

static int64_t
round_up (int64_t n, int64_t m)
{
  return (n + m - 1) / m * m;
}

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
  if (g->C > INT_MAX / 64 || g->M > INT_MAX / 64 || g->OH <= 0 || g->OW <= 0)
    return false;
  g->th = (g->OH + TILE - 1) / TILE;
  g->tw = (g->OW + TILE - 1) / TILE;
  g->tiles = g->th * g->tw;
  int threads = MAX (x->threads, 1);
  int64_t per_tile = NE * (g->C + g->M) * (int64_t) sizeof (float);
  g->block = MIN (CLAMP (BLOCK_BUDGET / per_tile / 32 * 32, 32, 512), g->tiles);
  g->n_blocks = (g->tiles + g->block - 1) / g->block;
  /* blocks of equal size, a whole number per thread: 196 tiles (56 x 56)
   * in blocks of 64 were 64, 64, 64 and 4, of which one thread of two
   * took 68; in 4 of 49 each takes 98 */
  if (g->n_blocks >= threads) {
    g->n_blocks = round_up (g->n_blocks, threads);
    g->block = (g->tiles + g->n_blocks - 1) / g->n_blocks;
    g->n_blocks = (g->tiles + g->block - 1) / g->block;
  }
  /* too few blocks to keep every thread busy: split the stages instead.
   * A block per thread is enough: split, each stage reads what the other
   * cores wrote in the one before (SqueezeNet's 16 -> 64 at 55 x 55, two
   * blocks at 2 threads: 0.168 -> 0.130 ms fused, Xeon) */
  g->phased = g->n_blocks < threads && g->tiles * per_tile <= PHASED_MAX;
  /* still fused, a smaller block a thread, where each thread has a vector
   * of tiles or more and the transformed tiles (V and O, which the stages
   * pass from core to core) outweigh the transformed weights (which each
   * thread then reads whole): SqueezeNet's 32 -> 128 at 27 x 27, 49 tiles
   * in blocks of 32 and 17, 0.149 -> 0.119 ms at 2 threads */
  if (g->phased && g->tiles >= GROUP * threads && g->C * g->M < g->tiles * (g->C + g->M)) {
    g->phased = false;
    g->block = round_up ((g->tiles + threads - 1) / threads, GROUP);
    g->n_blocks = (g->tiles + g->block - 1) / g->block;
  }
  /* phased, a batch's images go through the stages together, up to
   * FOLD_TILES tiles: each transformed weight, read once a run, serves all
   * their tiles (at batch 4, 2 threads, as one-node models: tiny YOLOv2's
   * 1024 -> 1024 on 13 x 13 32.1 -> 20.7 ms, ResNet-50's 256 -> 256 on 14 x
   * 14 1.78 -> 1.50).  Where a batch runs whole, that is: the session runs
   * a large model's batch an item a thread (plan_for()) */
  g->nb = 1;
  if (g->phased) {
    int64_t N = x->in[0]->dims[0];
    g->nb = CLAMP (FOLD_TILES / g->tiles, 1, MAX (N, 1));
    while (g->nb > 1 && g->nb * g->tiles * per_tile > PHASED_MAX)
      g->nb--;
    g->block = g->nb * g->tiles;
    g->n_blocks = 1;
  }
  if (g->block > INT_MAX / 64)
    return false;
  g->vstride = cnn_sgemm_packed_b_size ((int) g->block, (int) g->C);
  g->ldo = round_up (g->block, GROUP) + GROUP;
  g->ostride = (size_t) g->M * g->ldo;
  g->ubuf = round_up (TILE * g->tw + 5 * GROUP, GROUP);
  return true;
}

#ifdef HAVE_WINO_KERNEL

bool
cnn_conv2d_winograd_applies (const cnn_exec *x)
{
  wino_geom g;
  int m = mode ();
  if (!m || !cnn_sgemm_kernels_available () || !geometry (x, &g))
    return false;
  if (m > 0)
    return true;
  /* im2col does as well on 3 input channels (the transforms dominate)
   * and better on maps of fewer than 9 tiles (7 x 7, 4 tiles: each
   * transformed weight, 4x the size of the kernel, streams from memory for
   * 4 tiles); measured on single convolutions, bench/winograd-layers.sh */
  return g.C >= 4 && g.tiles >= 9 && g.C <= 2048 && g.M <= 2048;
}

/* fused: V, O and a row buffer per thread; phased: one V and O, a row
 * buffer per thread */
static size_t
thread_floats (const wino_geom *g)
{
  size_t vo = NE * (g->vstride + g->ostride);
  return (g->phased ? 0 : vo) + 6 * (size_t) g->ubuf;
}

size_t
cnn_conv2d_winograd_scratch (const cnn_exec *x)
{
  wino_geom g;
  if (!geometry (x, &g))
    return 0;
  size_t shared = g.phased ? NE * (g.vstride + g.ostride) : 0;
  return (shared + thread_floats (&g) * MAX (x->threads, 1)) * sizeof (float);
}

/* The transformed weights U[e] = (G g G^T)[e] of every 3x3 kernel g,
 * packed for the GEMM kernel, one matrix of M x C per element. */
typedef struct {
  float *packed;
  size_t stride;
} wino_weights;

static void
free_weights (void *p)
{
  wino_weights *ww = p;
  free (ww->packed);
  g_free (ww);
}

static wino_weights *
transform_weights (const float *w, int64_t M, int64_t C)
{
  static const double G[6][3] = {
    { 1. / 4, 0, 0 }, { -1. / 6, -1. / 6, -1. / 6 }, { -1. / 6, 1. / 6, -1. / 6 },
    { 1. / 24, 1. / 12, 1. / 6 }, { 1. / 24, -1. / 12, 1. / 6 }, { 0, 0, 1 } };
  wino_weights *ww = g_new0 (wino_weights, 1);
  /* one row i of elements (6 of the 36) at a time: a sixth of U in memory */
  float *U = malloc (sizeof (float) * 6 * M * C);
  ww->stride = cnn_sgemm_packed_a_size ((int) M, (int) C);
  if (!U || posix_memalign ((void **) &ww->packed, 64, sizeof (float) * NE * ww->stride)) {
    free (U);
    g_free (ww);
    return NULL;
  }
  for (int i = 0; i < 6; i++) {
    for (int64_t m = 0; m < M; m++)
      for (int64_t c = 0; c < C; c++) {
        const float *k = w + (m * C + c) * 9;
        double t[3];
        for (int j = 0; j < 3; j++)
          t[j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
        for (int j = 0; j < 6; j++)
          U[((int64_t) j * M + m) * C + c] = (float) (t[0] * G[j][0] + t[1] * G[j][1] + t[2] * G[j][2]);
      }
    for (int j = 0; j < 6; j++)
      cnn_sgemm_pack_a (false, (int) M, (int) C, U + (size_t) j * M * C, (int) C,
          ww->packed + (i * 6 + j) * ww->stride);
  }
  free (U);
  return ww;
}

/* r = B^T d for the six rows (or columns) d of a tile. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
bt6 (const __m512 d[6], __m512 r[6])
{
  const __m512 four = _mm512_set1_ps (4.f), mfour = _mm512_set1_ps (-4.f), mfive = _mm512_set1_ps (-5.f);
  __m512 t1 = _mm512_fmadd_ps (mfour, d[2], d[4]), t2 = _mm512_fmadd_ps (mfour, d[1], d[3]);
  __m512 t3 = _mm512_sub_ps (d[4], d[2]), t4 = _mm512_add_ps (_mm512_sub_ps (d[3], d[1]), _mm512_sub_ps (d[3], d[1]));
  r[0] = _mm512_fmadd_ps (four, d[0], _mm512_fmadd_ps (mfive, d[2], d[4]));
  r[1] = _mm512_add_ps (t1, t2);
  r[2] = _mm512_sub_ps (t1, t2);
  r[3] = _mm512_add_ps (t3, t4);
  r[4] = _mm512_sub_ps (t3, t4);
  r[5] = _mm512_fmadd_ps (four, d[1], _mm512_fmadd_ps (mfive, d[3], d[5]));
}

/* s = A^T o for the six rows (or columns) o of a transformed tile. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
at6 (const __m512 o[6], __m512 s[4])
{
  __m512 t1 = _mm512_add_ps (o[1], o[2]), t2 = _mm512_sub_ps (o[1], o[2]);
  __m512 t3 = _mm512_add_ps (o[3], o[4]), t4 = _mm512_sub_ps (o[3], o[4]);
  s[0] = _mm512_add_ps (_mm512_add_ps (o[0], t1), t3);
  s[1] = _mm512_fmadd_ps (_mm512_set1_ps (2.f), t4, t2);
  s[2] = _mm512_fmadd_ps (_mm512_set1_ps (4.f), t3, t1);
  s[3] = _mm512_add_ps (_mm512_fmadd_ps (_mm512_set1_ps (8.f), t4, t2), o[5]);
}

/* Vertical input transform of the six input rows from y0 (zero outside
 * the image) into u (6 rows, ubuf apart), padded columns [xa, xb). */
__attribute__ ((target ("avx512f")))
static void
vertical_in (const wino_geom *g, const float *xc, int64_t y0, int64_t xa, int64_t xb, float *u)
{
  const float *rows[6];
  for (int k = 0; k < 6; k++)
    rows[k] = y0 + k >= 0 && y0 + k < g->H ? xc + (y0 + k) * g->W - g->pl : NULL;
  for (int64_t xp = xa; xp < xb; xp += GROUP) {
    /* lanes inside the image: pl <= xp + lane < W + pl */
    __mmask16 mk = cnn_lanes16 (g->pl - xp, g->W + g->pl - xp);
    __m512 d[6], r[6];
    for (int k = 0; k < 6; k++)
      d[k] = !rows[k] ? _mm512_setzero_ps () : mk == 0xffff ? _mm512_loadu_ps (rows[k] + xp) :
          _mm512_maskz_loadu_ps (mk, rows[k] + xp);
    bt6 (d, r);
    for (int i = 0; i < 6; i++)
      _mm512_storeu_ps (u + i * g->ubuf + xp, r[i]);
  }
}

/* Rows c0..c1 of the packed V (ncol columns) for tiles [t0, t0 + nt) of
 * image X, tile t0 at column col0. */
__attribute__ ((target ("avx512f")))
static void
input_tiles16 (const wino_geom *g, const float *X, int64_t c0, int64_t c1, int64_t t0, int64_t nt, int64_t col0,
    int64_t ncol, float *V, float *u)
{
  const __m512i ph[4] = {
    _mm512_set_epi32 (31, 27, 23, 19, 15, 11, 7, 3, 28, 24, 20, 16, 12, 8, 4, 0) ,
    _mm512_set_epi32 (29, 25, 21, 17, 13, 9, 5, 1, 29, 25, 21, 17, 13, 9, 5, 1),
    _mm512_set_epi32 (30, 26, 22, 18, 14, 10, 6, 2, 30, 26, 22, 18, 14, 10, 6, 2),
    _mm512_set_epi32 (31, 27, 23, 19, 15, 11, 7, 3, 31, 27, 23, 19, 15, 11, 7, 3),
  };
  const __m512i next0 = _mm512_set_epi32 (16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  const __m512i next1 = _mm512_set_epi32 (17, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  memset (u, 0, sizeof (float) * 6 * g->ubuf);
  for (int64_t c = c0; c < c1; c++) {
    const float *xc = X + c * g->H * g->W;
    for (int64_t ty = t0 / g->tw; ty * g->tw < t0 + nt; ty++) {
      int64_t tx_a = MAX (t0 - ty * g->tw, 0), tx_b = MIN (g->tw, t0 + nt - ty * g->tw);
      vertical_in (g, xc, ty * TILE - g->pt, TILE * tx_a, TILE * tx_b + 2, u);
      for (int64_t tx = tx_a; tx < tx_b; tx += GROUP) {
        int n = (int) MIN (GROUP, tx_b - tx);
        /* the 16 tiles' columns of V: in one 32-column panel, or split
         * over two (the second store shifted back by the lanes stored) */
        int t = (int) (ty * g->tw + tx - t0 + col0), first = MIN (n, CNN_SGEMM_NR - t % CNN_SGEMM_NR);
        size_t off0 = cnn_sgemm_packed_b_offset ((int) c, t, (int) g->C, (int) ncol);
        size_t off1 = n > first ? cnn_sgemm_packed_b_offset ((int) c, t + first, (int) g->C, (int) ncol) - first : 0;
        __mmask16 m0 = cnn_lanes16 (0, first), m1 = cnn_lanes16 (first, n);
        for (int i = 0; i < 6; i++) {
          const float *ui = u + i * g->ubuf + TILE * tx;
          __m512 a = _mm512_loadu_ps (ui), b = _mm512_loadu_ps (ui + 16), cc = _mm512_loadu_ps (ui + 32);
          __m512 d = _mm512_loadu_ps (ui + 48), e = _mm512_loadu_ps (ui + 64), p[6], r[6];
          for (int k = 0; k < 4; k++)
            p[k] = _mm512_shuffle_f32x4 (_mm512_permutex2var_ps (a, ph[k], b),
                _mm512_permutex2var_ps (cc, ph[k], d), 0x44);
          p[4] = _mm512_permutex2var_ps (p[0], next0, e);
          p[5] = _mm512_permutex2var_ps (p[1], next1, e);
          bt6 (p, r);
          for (int j = 0; j < 6; j++) {
            float *ve = V + (size_t) (i * 6 + j) * g->vstride;
            _mm512_mask_storeu_ps (ve + off0, m0, r[j]);
            if (m1)
              _mm512_mask_storeu_ps (ve + off1, m1, r[j]);
          }
        }
      }
    }
  }
}

/* Rows m0..m1 (m0 a multiple of MR) of O[e] = U[e] V[e], nt tiles. */
static void
gemm_rows (const wino_geom *g, const wino_weights *w, int e, int64_t m0, int64_t m1, int64_t nt, const float *V,
    float *O)
{
  cnn_sgemm_packed_rows ((int) g->M, (int) m0, (int) m1, (int) nt, (int) g->C, w->packed + e * w->stride,
      V + e * g->vstride, O + e * g->ldo + m0 * NE * g->ldo, (int) (NE * g->ldo), NULL);
}

/* Output channels m0..m1 of tiles [t0, t0 + nt) of image n, tile t0 at
 * column col0 of O: y = A^T o A, plus bias, residual and activation. */
__attribute__ ((target ("avx512f")))
static void
output_tiles16 (const cnn_exec *x, const wino_geom *g, int64_t n, int64_t m0, int64_t m1, int64_t t0, int64_t nt,
    int64_t col0, const float *O)
{
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  int64_t osz = g->OH * g->OW;
  float *Y = (float *) x->out[0]->data + n * g->M * osz;
  const float *R = x->residual ? (const float *) x->residual->data + n * g->M * osz : NULL;
  const bool simple = cnn_act_is_simple (x->act.type);
  const cnn_act_type act = simple ? x->act.type : CNN_ACT_NONE;
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  for (int64_t m = m0; m < m1; m++) {
    const __m512 bias = _mm512_set1_ps (B ? ((const float *) B->data)[m] : 0.f);
    const float *om = O + m * NE * g->ldo;
    for (int64_t ty = t0 / g->tw; ty * g->tw < t0 + nt; ty++) {
      int64_t tx_a = MAX (t0 - ty * g->tw, 0), tx_b = MIN (g->tw, t0 + nt - ty * g->tw);
      int64_t rows = MIN (TILE, g->OH - ty * TILE);
      for (int64_t tx = tx_a; tx < tx_b; tx += GROUP) {
        int64_t t = ty * g->tw + tx - t0 + col0, cols = MIN (TILE * MIN (GROUP, tx_b - tx), g->OW - TILE * tx);
        __m512 s[4][6];
        for (int j = 0; j < 6; j++) {
          __m512 o[6], sj[4];
          for (int i = 0; i < 6; i++)
            o[i] = _mm512_loadu_ps (om + (i * 6 + j) * g->ldo + t);
          at6 (o, sj);
          for (int r = 0; r < 4; r++)
            s[r][j] = sj[r];
        }
        __mmask16 mk[4];
        for (int v = 0; v < 4; v++)
          mk[v] = cnn_lanes16 (0, cols - 16 * v);
        for (int r = 0; r < rows; r++) {
          __m512 y[4];
          at6 (s[r], y);
          /* y[j] holds column j of the 16 tiles: interleave to 64 pixels */
          __m512 lo01 = _mm512_unpacklo_ps (y[0], y[1]), hi01 = _mm512_unpackhi_ps (y[0], y[1]);
          __m512 lo23 = _mm512_unpacklo_ps (y[2], y[3]), hi23 = _mm512_unpackhi_ps (y[2], y[3]);
          __m512 q0 = _mm512_castpd_ps (_mm512_unpacklo_pd (_mm512_castps_pd (lo01), _mm512_castps_pd (lo23)));
          __m512 q1 = _mm512_castpd_ps (_mm512_unpackhi_pd (_mm512_castps_pd (lo01), _mm512_castps_pd (lo23)));
          __m512 q2 = _mm512_castpd_ps (_mm512_unpacklo_pd (_mm512_castps_pd (hi01), _mm512_castps_pd (hi23)));
          __m512 q3 = _mm512_castpd_ps (_mm512_unpackhi_pd (_mm512_castps_pd (hi01), _mm512_castps_pd (hi23)));
          __m512 e0 = _mm512_shuffle_f32x4 (q0, q1, 0x44), e1 = _mm512_shuffle_f32x4 (q2, q3, 0x44);
          __m512 e2 = _mm512_shuffle_f32x4 (q0, q1, 0xee), e3 = _mm512_shuffle_f32x4 (q2, q3, 0xee);
          __m512 out[4] = { _mm512_shuffle_f32x4 (e0, e1, 0x88), _mm512_shuffle_f32x4 (e0, e1, 0xdd),
            _mm512_shuffle_f32x4 (e2, e3, 0x88), _mm512_shuffle_f32x4 (e2, e3, 0xdd) };
          int64_t at = m * osz + (ty * TILE + r) * g->OW + tx * TILE;
          for (int v = 0; v < 4 && mk[v]; v++) {
            __m512 z = _mm512_add_ps (out[v], bias);
            if (R)
              z = _mm512_add_ps (z, _mm512_maskz_loadu_ps (mk[v], R + at + 16 * v));
            _mm512_mask_storeu_ps (Y + at + 16 * v, mk[v], cnn_act_simple16 (act, z, lo, hi));
          }
          if (!simple)
            cnn_act_apply_fast (&x->act, Y + at, cols);
        }
      }
    }
  }
}

/* ---- the transforms with AVX2: 8 tiles a vector ---- */

#define AVX2 CNN_AVX2

AVX2 static inline bool
lanes8_all (__m256i m)
{
  return _mm256_movemask_ps (_mm256_castsi256_ps (m)) == 0xff;
}

AVX2 __attribute__ ((always_inline))
static inline void
bt6_8 (const __m256 d[6], __m256 r[6])
{
  const __m256 four = _mm256_set1_ps (4.f), mfour = _mm256_set1_ps (-4.f), mfive = _mm256_set1_ps (-5.f);
  __m256 t1 = _mm256_fmadd_ps (mfour, d[2], d[4]), t2 = _mm256_fmadd_ps (mfour, d[1], d[3]);
  __m256 t3 = _mm256_sub_ps (d[4], d[2]), t4 = _mm256_add_ps (_mm256_sub_ps (d[3], d[1]), _mm256_sub_ps (d[3], d[1]));
  r[0] = _mm256_fmadd_ps (four, d[0], _mm256_fmadd_ps (mfive, d[2], d[4]));
  r[1] = _mm256_add_ps (t1, t2);
  r[2] = _mm256_sub_ps (t1, t2);
  r[3] = _mm256_add_ps (t3, t4);
  r[4] = _mm256_sub_ps (t3, t4);
  r[5] = _mm256_fmadd_ps (four, d[1], _mm256_fmadd_ps (mfive, d[3], d[5]));
}

AVX2 __attribute__ ((always_inline))
static inline void
at6_8 (const __m256 o[6], __m256 s[4])
{
  __m256 t1 = _mm256_add_ps (o[1], o[2]), t2 = _mm256_sub_ps (o[1], o[2]);
  __m256 t3 = _mm256_add_ps (o[3], o[4]), t4 = _mm256_sub_ps (o[3], o[4]);
  s[0] = _mm256_add_ps (_mm256_add_ps (o[0], t1), t3);
  s[1] = _mm256_fmadd_ps (_mm256_set1_ps (2.f), t4, t2);
  s[2] = _mm256_fmadd_ps (_mm256_set1_ps (4.f), t3, t1);
  s[3] = _mm256_add_ps (_mm256_fmadd_ps (_mm256_set1_ps (8.f), t4, t2), o[5]);
}

/* vertical_in() 8 columns at a time */
AVX2 static void
vertical_in8 (const wino_geom *g, const float *xc, int64_t y0, int64_t xa, int64_t xb, float *u)
{
  const float *rows[6];
  for (int k = 0; k < 6; k++)
    rows[k] = y0 + k >= 0 && y0 + k < g->H ? xc + (y0 + k) * g->W - g->pl : NULL;
  for (int64_t xp = xa; xp < xb; xp += 8) {
    __m256i mk = cnn_lanes8 (g->pl - xp, g->W + g->pl - xp);
    bool all = lanes8_all (mk);
    __m256 d[6], r[6];
    for (int k = 0; k < 6; k++)
      d[k] = !rows[k] ? _mm256_setzero_ps () : all ? _mm256_loadu_ps (rows[k] + xp) :
          _mm256_maskload_ps (rows[k] + xp, mk);
    bt6_8 (d, r);
    for (int i = 0; i < 6; i++)
      _mm256_storeu_ps (u + i * g->ubuf + xp, r[i]);
  }
}

/* input_tiles16() 8 tiles at a time: a tile row's 8 x 4 + 2 columns taken
 * apart into the 6 phases by a 4 x 8 transpose and two lane rotations. */
AVX2 static void
input_tiles8 (const wino_geom *g, const float *X, int64_t c0, int64_t c1, int64_t t0, int64_t nt, int64_t col0,
    int64_t ncol, float *V, float *u)
{
  const __m256i order = _mm256_setr_epi32 (0, 4, 1, 5, 2, 6, 3, 7), rot = _mm256_setr_epi32 (1, 2, 3, 4, 5, 6, 7, 0);
  memset (u, 0, sizeof (float) * 6 * g->ubuf);
  for (int64_t c = c0; c < c1; c++) {
    const float *xc = X + c * g->H * g->W;
    for (int64_t ty = t0 / g->tw; ty * g->tw < t0 + nt; ty++) {
      int64_t tx_a = MAX (t0 - ty * g->tw, 0), tx_b = MIN (g->tw, t0 + nt - ty * g->tw);
      vertical_in8 (g, xc, ty * TILE - g->pt, TILE * tx_a, TILE * tx_b + 2, u);
      for (int64_t tx = tx_a; tx < tx_b; tx += 8) {
        int n = (int) MIN (8, tx_b - tx);
        /* the 8 tiles' columns of V: in one 32-column panel, or split
         * over two (the second store shifted back by the lanes stored) */
        int t = (int) (ty * g->tw + tx - t0 + col0), first = MIN (n, CNN_SGEMM_NR - t % CNN_SGEMM_NR);
        size_t off0 = cnn_sgemm_packed_b_offset ((int) c, t, (int) g->C, (int) ncol);
        size_t off1 = n > first ? cnn_sgemm_packed_b_offset ((int) c, t + first, (int) g->C, (int) ncol) - first : 0;
        for (int i = 0; i < 6; i++) {
          const float *ui = u + i * g->ubuf + TILE * tx;
          /* rows of two tiles each: columns 4t + k of tiles t = 0..7 */
          __m256 a = _mm256_loadu_ps (ui), b = _mm256_loadu_ps (ui + 8), cc = _mm256_loadu_ps (ui + 16);
          __m256 d = _mm256_loadu_ps (ui + 24);
          __m256 lab = _mm256_unpacklo_ps (a, b), hab = _mm256_unpackhi_ps (a, b);
          __m256 lcd = _mm256_unpacklo_ps (cc, d), hcd = _mm256_unpackhi_ps (cc, d);
#define PHASE(lo_or_hi, x, y) \
  _mm256_permutevar8x32_ps (_mm256_castpd_ps (lo_or_hi (_mm256_castps_pd (x), _mm256_castps_pd (y))), order)
          __m256 p[6], r[6];
          p[0] = PHASE (_mm256_unpacklo_pd, lab, lcd);
          p[1] = PHASE (_mm256_unpackhi_pd, lab, lcd);
          p[2] = PHASE (_mm256_unpacklo_pd, hab, hcd);
          p[3] = PHASE (_mm256_unpackhi_pd, hab, hcd);
#undef PHASE
          /* columns 4t + 4 and 4t + 5: the next tile's first two */
          p[4] = _mm256_blend_ps (_mm256_permutevar8x32_ps (p[0], rot), _mm256_broadcast_ss (ui + 32), 0x80);
          p[5] = _mm256_blend_ps (_mm256_permutevar8x32_ps (p[1], rot), _mm256_broadcast_ss (ui + 33), 0x80);
          bt6_8 (p, r);
          for (int j = 0; j < 6; j++) {
            float *ve = V + (size_t) (i * 6 + j) * g->vstride;
            cnn_store_lanes8 (ve + off0, r[j], 0, first);
            if (n > first)
              cnn_store_lanes8 (ve + off1, r[j], first, n);
          }
        }
      }
    }
  }
}

/* output_tiles16() 8 tiles at a time: their 4 columns interleaved back
 * into 32 pixels of an output row by a 4 x 8 transpose. */
AVX2 static void
output_tiles8 (const cnn_exec *x, const wino_geom *g, int64_t n, int64_t m0, int64_t m1, int64_t t0, int64_t nt,
    int64_t col0, const float *O)
{
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  int64_t osz = g->OH * g->OW;
  float *Y = (float *) x->out[0]->data + n * g->M * osz;
  const float *R = x->residual ? (const float *) x->residual->data + n * g->M * osz : NULL;
  const bool simple = cnn_act_is_simple (x->act.type);
  const cnn_act_type act = simple ? x->act.type : CNN_ACT_NONE;
  const __m256 lo = _mm256_set1_ps (x->act.alpha), hi = _mm256_set1_ps (x->act.beta);
  for (int64_t m = m0; m < m1; m++) {
    const __m256 bias = _mm256_set1_ps (B ? ((const float *) B->data)[m] : 0.f);
    const float *om = O + m * NE * g->ldo;
    for (int64_t ty = t0 / g->tw; ty * g->tw < t0 + nt; ty++) {
      int64_t tx_a = MAX (t0 - ty * g->tw, 0), tx_b = MIN (g->tw, t0 + nt - ty * g->tw);
      int64_t rows = MIN (TILE, g->OH - ty * TILE);
      for (int64_t tx = tx_a; tx < tx_b; tx += 8) {
        int64_t t = ty * g->tw + tx - t0 + col0, cols = MIN (TILE * MIN (8, tx_b - tx), g->OW - TILE * tx);
        __m256 s[4][6];
        for (int j = 0; j < 6; j++) {
          __m256 o[6], sj[4];
          for (int i = 0; i < 6; i++)
            o[i] = _mm256_loadu_ps (om + (i * 6 + j) * g->ldo + t);
          at6_8 (o, sj);
          for (int r = 0; r < 4; r++)
            s[r][j] = sj[r];
        }
        for (int r = 0; r < rows; r++) {
          __m256 y[4];
          at6_8 (s[r], y);
          /* y[j] holds column j of the 8 tiles */
          __m256 l01 = _mm256_unpacklo_ps (y[0], y[1]), h01 = _mm256_unpackhi_ps (y[0], y[1]);
          __m256 l23 = _mm256_unpacklo_ps (y[2], y[3]), h23 = _mm256_unpackhi_ps (y[2], y[3]);
          __m256 q0 = _mm256_castpd_ps (_mm256_unpacklo_pd (_mm256_castps_pd (l01), _mm256_castps_pd (l23)));
          __m256 q1 = _mm256_castpd_ps (_mm256_unpackhi_pd (_mm256_castps_pd (l01), _mm256_castps_pd (l23)));
          __m256 q2 = _mm256_castpd_ps (_mm256_unpacklo_pd (_mm256_castps_pd (h01), _mm256_castps_pd (h23)));
          __m256 q3 = _mm256_castpd_ps (_mm256_unpackhi_pd (_mm256_castps_pd (h01), _mm256_castps_pd (h23)));
          __m256 out[4] = { _mm256_permute2f128_ps (q0, q1, 0x20), _mm256_permute2f128_ps (q2, q3, 0x20),
            _mm256_permute2f128_ps (q0, q1, 0x31), _mm256_permute2f128_ps (q2, q3, 0x31) };
          int64_t at = m * osz + (ty * TILE + r) * g->OW + tx * TILE;
          for (int v = 0; v < 4 && cols > 8 * v; v++) {
            __m256 z = _mm256_add_ps (out[v], bias);
            float *yv = Y + at + 8 * v;
            if (cols >= 8 * (v + 1)) {
              if (R)
                z = _mm256_add_ps (z, _mm256_loadu_ps (R + at + 8 * v));
              _mm256_storeu_ps (yv, cnn_act_simple8 (act, z, lo, hi));
            } else {
              if (R)
                z = _mm256_add_ps (z, _mm256_maskload_ps (R + at + 8 * v, cnn_lanes8 (0, cols - 8 * v)));
              cnn_store_lanes8 (yv, cnn_act_simple8 (act, z, lo, hi), 0, (int) (cols - 8 * v));
            }
          }
          if (!simple)
            cnn_act_apply_fast (&x->act, Y + at, cols);
        }
      }
    }
  }
}

/* The transforms for the kernels in use: AVX-512's 16 tiles a vector, or
 * AVX2's 8. */
static void
input_tiles (const wino_geom *g, const float *X, int64_t c0, int64_t c1, int64_t t0, int64_t nt, int64_t col0,
    int64_t ncol, float *V, float *u)
{
  if (cnn_sgemm_avx512_available ())
    input_tiles16 (g, X, c0, c1, t0, nt, col0, ncol, V, u);
  else
    input_tiles8 (g, X, c0, c1, t0, nt, col0, ncol, V, u);
}

static void
output_tiles (const cnn_exec *x, const wino_geom *g, int64_t n, int64_t m0, int64_t m1, int64_t t0, int64_t nt,
    int64_t col0, const float *O)
{
  if (cnn_sgemm_avx512_available ())
    output_tiles16 (x, g, n, m0, m1, t0, nt, col0, O);
  else
    output_tiles8 (x, g, n, m0, m1, t0, nt, col0, O);
}

typedef struct {
  cnn_exec *x;
  const wino_geom *g;
  const wino_weights *w;
  int64_t n;                    /* image (phased: the run's first) */
  int64_t nbr;                  /* phased: images in the run */
  int64_t chunk;                /* phased: channels (rows) per task */
  int64_t m_tasks;              /* phased GEMM: tasks per element */
} wino_ctx;

static float *
thread_scratch (const wino_ctx *c, int tid)
{
  const wino_geom *g = c->g;
  size_t shared = g->phased ? NE * (g->vstride + g->ostride) : 0;
  return (float *) c->x->scratch + shared + (size_t) tid * thread_floats (g);
}

/* fused: one task per block of tiles */
static void
wino_block (int64_t b, int tid, void *data)
{
  wino_ctx *c = data;
  const wino_geom *g = c->g;
  int64_t t0 = b * g->block, nt = MIN (g->block, g->tiles - t0);
  float *V = thread_scratch (c, tid), *O = V + NE * g->vstride, *u = O + NE * g->ostride;
  input_tiles (g, (const float *) c->x->in[0]->data + c->n * g->C * g->H * g->W, 0, g->C, t0, nt, 0, nt, V, u);
  for (int e = 0; e < NE; e++)
    gemm_rows (g, c->w, e, 0, g->M, nt, V, O);
  output_tiles (c->x, g, c->n, 0, g->M, t0, nt, 0, O);
}

/* phased: the stages, each split across threads */
static void
phase_in (int64_t i, int tid, void *data)
{
  wino_ctx *c = data;
  const wino_geom *g = c->g;
  int64_t c0 = i * c->chunk, c1 = MIN (g->C, c0 + c->chunk);
  for (int64_t im = 0; im < c->nbr; im++)
    input_tiles (g, (const float *) c->x->in[0]->data + (c->n + im) * g->C * g->H * g->W, c0, c1, 0, g->tiles,
        im * g->tiles, c->nbr * g->tiles, c->x->scratch, thread_scratch (c, tid));
}

static void
phase_gemm (int64_t i, int tid, void *data)
{
  wino_ctx *c = data;
  const wino_geom *g = c->g;
  int64_t rows = round_up ((g->M + c->m_tasks - 1) / c->m_tasks, MR), m0 = i % c->m_tasks * rows;
  const float *V = c->x->scratch;
  if (m0 < g->M)
    gemm_rows (g, c->w, (int) (i / c->m_tasks), m0, MIN (g->M, m0 + rows), c->nbr * g->tiles, V,
        (float *) V + NE * g->vstride);
}

static void
phase_out (int64_t i, int tid, void *data)
{
  wino_ctx *c = data;
  const wino_geom *g = c->g;
  int64_t m0 = i * c->chunk, m1 = MIN (g->M, m0 + c->chunk);
  for (int64_t im = 0; im < c->nbr; im++)
    output_tiles (c->x, g, c->n + im, m0, m1, 0, g->tiles, im * g->tiles,
        (const float *) c->x->scratch + NE * g->vstride);
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
  int threads = MAX (x->threads, 1);
  int64_t N = x->in[0]->dims[0];
  for (int64_t n = 0; n < N; n += g.nb) {
    wino_ctx c = { x, &g, x->cache, n, MIN (g.nb, N - n), 0, 1 };
    if (!g.phased) {
      cnn_parallel_for (x->pool, g.n_blocks, wino_block, &c);
      continue;
    }
    int64_t tasks = 4 * threads;
    c.chunk = (g.C + tasks - 1) / tasks;
    cnn_parallel_for (x->pool, (g.C + c.chunk - 1) / c.chunk, phase_in, &c);
    c.m_tasks = MIN ((tasks + NE - 1) / NE, (g.M + MR - 1) / MR);
    cnn_parallel_for (x->pool, NE * c.m_tasks, phase_gemm, &c);
    c.chunk = (g.M + tasks - 1) / tasks;
    cnn_parallel_for (x->pool, (g.M + c.chunk - 1) / c.chunk, phase_out, &c);
  }
  return CNN_OK;
}

#else

bool
cnn_conv2d_winograd_applies (const cnn_exec *x)
{
  return false;
}

size_t
cnn_conv2d_winograd_scratch (const cnn_exec *x)
{
  return 0;
}

cnn_status
cnn_conv2d_winograd (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_BACKEND, "no Winograd kernel on this CPU");
}

#endif
