/* conv2d_narrow.c - stride-1 2D convolutions to 1 to 4 output channels per
 * group (the 9x9 convolution back to RGB that ends a style network) with
 * AVX-512.  A GEMM tile of 8 or 12 rows would compute mostly padding for 3
 * output channels, and the direct loop (conv2d_gemm.c) loads and stores
 * the output row for every tap, a quarter of the FMA peak.  Here 64
 * output pixels of every output channel of the group stay in registers
 * over all the taps: per tap, four loads of input, one broadcast per
 * output channel and four FMAs per output channel.  Pads are a zero
 * bordered copy of the input, made once per image; without pads the input
 * is read in place. */
#include "../ops/conv.h"

/* Not in the fuzzers' build (tests/fuzz/run-fuzz.sh), as the depthwise
 * kernels: clang with the sanitizers takes a minute on the unrolled
 * kernels; test-ops checks them natively and under ASan. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CNN_FUZZ_BUILD)
#include <immintrin.h>
#include "act_avx512.h"
#define HAVE_NARROW_KERNEL 1
#endif

#define VEC 16
#define ACCS 24                 /* accumulators: output channels x vectors of output pixels */
#define MAX_NV 24
#define MAX_M 4                 /* output channels per group */
#define TASK_OUTPUTS 8192       /* output pixels per task, about */

/* Vectors of output pixels a block of MM output channels holds. */
#define NV_OF(MM) (ACCS / (MM))

typedef struct {
  cnn_window w;
  int64_t N, C, M, G, Cg, Mg, taps;
  int64_t H, W, OH, OW, Hp, Wp; /* input, output, and the (padded) input read */
  bool padded;                  /* read from a zero-bordered copy */
  int64_t rows;                 /* output rows per task */
  int64_t span;                 /* output columns of a register block */
  int64_t cols, chunks;         /* output columns per task, tasks across a row */
} narrow_geom;

static bool
narrow_geometry (const cnn_exec *x, narrow_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window *w = &g->w;
  if (x->in[0]->ndim != 4 || x->in[1]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, w) != CNN_OK)
    return false;
  g->N = x->in[0]->dims[0];
  g->C = x->in[0]->dims[1];
  g->M = x->in[1]->dims[0];
  g->G = p->group;
  g->Cg = g->C / g->G;
  g->Mg = g->M / g->G;
  g->taps = w->kernel[1] * w->kernel[2];
  g->H = w->in[1];
  g->W = w->in[2];
  g->OH = w->out[1];
  g->OW = w->out[2];
  g->padded = w->pad0[1] || w->pad0[2] || w->pad1[1] || w->pad1[2];
  g->Hp = g->H + w->pad0[1] + w->pad1[1];
  g->Wp = g->W + w->pad0[2] + w->pad1[2];
  /* a 1x1 without pads at stride 1 maps each output pixel to the input
   * pixel at the same place: its planes are one row each, in vectors of
   * 16 pixels whole (a row of UltraFace's 20-pixel head planes was a
   * block of six vectors, four of them padding) */
  if (g->taps == 1 && !g->padded && w->stride[1] == 1 && w->stride[2] == 1) {
    g->W = g->Wp = g->OW = g->H * g->W;
    g->H = g->Hp = g->OH = 1;
  }
  g->rows = CLAMP (TASK_OUTPUTS / MAX (g->OW, 1), 1, MAX (g->OH, 1));
  /* rows longer than a task's share (one-row planes) go in chunks of
   * whole blocks */
  g->span = g->Mg >= 1 && g->Mg <= MAX_M ? NV_OF (g->Mg) * VEC : VEC;
  g->cols = g->OW > TASK_OUTPUTS ? MAX (TASK_OUTPUTS / g->span, 1) * g->span : MAX (g->OW, 1);
  g->chunks = (g->OW + g->cols - 1) / g->cols;
  /* enough taps per output for the registers to pay; depthwise layers
   * have a path of their own */
  return w->stride[1] == 1 && w->stride[2] == 1 && g->Mg >= 1 && g->Mg <= MAX_M && g->Cg * g->taps >= 16 &&
      g->Cg > 1 && g->Cg * g->Hp * g->Wp < (int64_t) 1 << 31;
}

#ifdef HAVE_NARROW_KERNEL

bool
cnn_conv2d_narrow_applies (const cnn_exec *x)
{
  narrow_geom g;
  return cnn_sgemm_avx512_available () && narrow_geometry (x, &g);
}

/* the padded input of one image (all channels) */
size_t
cnn_conv2d_narrow_scratch (const cnn_exec *x)
{
  narrow_geom g;
  if (!narrow_geometry (x, &g))
    return 0;
  return (g.padded ? (size_t) g.C * g.Hp * g.Wp + VEC : 0) * sizeof (float);
}

typedef struct {
  cnn_exec *x;
  const narrow_geom *g;
  const float *in;              /* the image's input, padded or in place */
  const float *wt;              /* [group][ci][tap][MAX_M] */
  int64_t n;
} narrow_ctx;

/* Output row @y of the group's MM channels (the first at @out, OH * OW
 * apart), columns [x0, x0 + 16 * nv) of which @last lanes of the last
 * vector are kept (@full: all NV vectors whole, loads unmasked): every tap
 * of every input channel accumulated in registers, then bias, residual and
 * a simple activation as they are stored. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
narrow_block (const narrow_ctx *c, const float *in, const float *wt, const float *bias, const float *res,
    float *out, int64_t y, int64_t x0, int nv, __mmask16 last, const int MM, const int NV, const bool full)
{
  const narrow_geom *g = c->g;
  const cnn_window *w = &g->w;
  const cnn_exec *x = c->x;
  const int64_t kh = w->kernel[1], kw = w->kernel[2], dy = w->dil[1], dx = w->dil[2], osz = g->OH * g->OW;
  const int64_t Wp = g->Wp, plane = g->Hp * g->Wp;
  __m512 acc[ACCS];
#pragma GCC unroll 24
  for (int i = 0; i < MM * NV; i++)
    acc[i] = _mm512_set1_ps (bias ? bias[i / NV] : 0.f);
  __mmask16 lm[MAX_NV];
#pragma GCC unroll 24
  for (int v = 0; v < NV; v++)
    lm[v] = v < nv - 1 ? 0xffff : v == nv - 1 ? last : 0;
  for (int64_t ci = 0; ci < g->Cg; ci++)
    for (int64_t ky = 0; ky < kh; ky++) {
      const float *r = in + ci * plane + (y + ky * dy) * Wp + x0;
      for (int64_t kx = 0; kx < kw; kx++, r += dx, wt += MAX_M) {
        __m512 wm[MAX_M];
#pragma GCC unroll 4
        for (int m = 0; m < MM; m++)
          wm[m] = _mm512_set1_ps (wt[m]);
#pragma GCC unroll 24
        for (int v = 0; v < NV; v++) {
          __m512 iv = full ? _mm512_loadu_ps (r + v * VEC) : _mm512_maskz_loadu_ps (lm[v], r + v * VEC);
          /* one load for the MM FMAs: GCC folds it into each of them */
          __asm__ ("" : "+v" (iv));
#pragma GCC unroll 4
          for (int m = 0; m < MM; m++)
            acc[m * NV + v] = _mm512_fmadd_ps (wm[m], iv, acc[m * NV + v]);
        }
      }
    }
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  cnn_act_type at = cnn_act_is_simple (x->act.type) ? x->act.type : CNN_ACT_NONE;
#pragma GCC unroll 4
  for (int m = 0; m < MM; m++)
#pragma GCC unroll 24
    for (int v = 0; v < NV; v++) {
      if (v >= nv)
        break;
      int64_t o = m * osz + y * g->OW + x0 + v * VEC;
      __m512 r = acc[m * NV + v];
      if (res)
        r = _mm512_add_ps (r, _mm512_maskz_loadu_ps (lm[v], res + o));
      _mm512_mask_storeu_ps (out + o, lm[v], cnn_act_simple16 (at, r, lo, hi));
    }
}

#define NARROW_CASES(full) \
  switch (g->Mg) { \
    case 1: narrow_block (c, in, wt, bias, res, out, y, x0, nv, last, 1, NV_OF (1), full); break; \
    case 2: narrow_block (c, in, wt, bias, res, out, y, x0, nv, last, 2, NV_OF (2), full); break; \
    case 3: narrow_block (c, in, wt, bias, res, out, y, x0, nv, last, 3, NV_OF (3), full); break; \
    default: narrow_block (c, in, wt, bias, res, out, y, x0, nv, last, 4, NV_OF (4), full); break; \
  }

/* Task: a band of output rows of one group of one image. */
__attribute__ ((target ("avx512f")))
static void
narrow_rows (int64_t task, int tid, void *data)
{
  const narrow_ctx *c = data;
  const narrow_geom *g = c->g;
  cnn_exec *x = c->x;
  int64_t bands = (g->OH + g->rows - 1) / g->rows, per = bands * g->chunks, gr = task / per;
  int64_t y0 = task % per / g->chunks * g->rows, xs = task % g->chunks * g->cols, xe = MIN (xs + g->cols, g->OW);
  int64_t y1 = MIN (y0 + g->rows, g->OH), osz = g->OH * g->OW;
  const float *in = c->in + gr * g->Cg * g->Hp * g->Wp;
  const float *wt = c->wt + gr * g->Cg * g->taps * MAX_M;
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  const float *bias = B ? (const float *) B->data + gr * g->Mg : NULL;
  int64_t at = (c->n * g->M + gr * g->Mg) * osz;
  float *out = (float *) x->out[0]->data + at;
  const float *res = x->residual ? (const float *) x->residual->data + at : NULL;
  for (int64_t y = y0; y < y1; y++) {
    const int64_t span = g->span;
    for (int64_t x0 = xs; x0 < xe; x0 += span) {
      int64_t left = MIN (span, xe - x0);
      int nv = (int) ((left + VEC - 1) / VEC);
      __mmask16 last = cnn_lanes16 (0, left - (nv - 1) * VEC);
      if (left == span)
        NARROW_CASES (true)
      else
        NARROW_CASES (false)
    }
    if (!cnn_act_is_simple (x->act.type))
      for (int64_t m = 0; m < g->Mg; m++)
        cnn_act_apply_fast (&x->act, out + m * osz + y * g->OW + xs, xe - xs);
  }
}

/* Task c: input channel c of the image into its zero-bordered plane. */
static void
pad_plane (int64_t ch, int tid, void *data)
{
  const narrow_ctx *c = data;
  const narrow_geom *g = c->g;
  const float *src = (const float *) c->x->in[0]->data + (c->n * g->C + ch) * g->H * g->W;
  float *dst = (float *) c->in + ch * g->Hp * g->Wp;
  int64_t pt = g->w.pad0[1], pl = g->w.pad0[2];
  memset (dst, 0, sizeof (float) * pt * g->Wp);
  for (int64_t y = 0; y < g->H; y++) {
    float *d = dst + (pt + y) * g->Wp;
    memset (d, 0, sizeof (float) * pl);
    memcpy (d + pl, src + y * g->W, sizeof (float) * g->W);
    memset (d + pl + g->W, 0, sizeof (float) * (g->Wp - pl - g->W));
  }
  memset (dst + (pt + g->H) * g->Wp, 0, sizeof (float) * (g->Hp - pt - g->H) * g->Wp);
}

cnn_status
cnn_conv2d_narrow (cnn_exec *x)
{
  narrow_geom g;
  if (!narrow_geometry (x, &g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "narrow convolution does not apply");
  if (x->scratch_size < cnn_conv2d_narrow_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  float *padded = x->scratch;
  /* weights [group][ci][tap][m], a tap's output channels side by side:
   * once per plan (x->cache), not every run */
  if (!x->cache) {
    float *wt = g_try_new (float, g.G * g.Cg * g.taps * MAX_M);
    if (!wt)
      return cnn_exec_fail (x, CNN_E_NOMEM, "out of memory for rearranged weights");
    const float *W = x->in[1]->data;
    for (int64_t gr = 0; gr < g.G; gr++)
      for (int64_t ci = 0; ci < g.Cg; ci++)
        for (int64_t t = 0; t < g.taps; t++)
          for (int64_t m = 0; m < MAX_M; m++)
            wt[((gr * g.Cg + ci) * g.taps + t) * MAX_M + m] =
                m < g.Mg ? W[((gr * g.Mg + m) * g.Cg + ci) * g.taps + t] : 0.f;
    x->cache = wt;
    x->cache_free = g_free;
  }
  const float *wt = x->cache;
  int64_t bands = (g.OH + g.rows - 1) / g.rows;
  for (int64_t n = 0; n < g.N; n++) {
    narrow_ctx c = { x, &g, g.padded ? padded : (const float *) x->in[0]->data + n * g.C * g.H * g.W, wt, n };
    if (g.padded)
      cnn_parallel_for (x->pool, g.C, pad_plane, &c);
    cnn_parallel_for (x->pool, g.G * bands * g.chunks, narrow_rows, &c);
  }
  return CNN_OK;
}

#else

bool
cnn_conv2d_narrow_applies (const cnn_exec *x)
{
  return false;
}

size_t
cnn_conv2d_narrow_scratch (const cnn_exec *x)
{
  return 0;
}

cnn_status
cnn_conv2d_narrow (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_BACKEND, "no narrow convolution kernel on this CPU");
}

#endif
