/* conv2d_depthwise.c - depthwise 2D convolutions (MobileNet, DeepLab,
 * UltraFace: one filter per channel) with AVX-512, any kernel size, stride,
 * dilation and pads.  Each channel is copied into zero-bordered phase planes
 * (cpu/phase_grid.c), where every tap reads a contiguous run: the whole
 * output plane, rows and their dropped border columns together, is then
 * kh * kw fused multiply-adds per 16 outputs, four vectors in flight to
 * cover the FMA latency, with no bounds checks and no short rows.  Small
 * planes (deep layers) go several channels to a task, and small planes of
 * the same size in and out (stride 1) skip the planes: each tap is a masked
 * load of the input itself at a fixed offset (dw_flat_channel), the mask
 * dropping what falls outside. */
#include "../ops/conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "act_avx512.h"
#define HAVE_DW_KERNEL 1
#endif

#define VEC 16
#define STEP (4 * VEC)          /* grid columns per iteration */
#define MAX_TAPS 64
#define TASK_OUTPUTS 8192       /* outputs per task at least, several channels for small planes */
#define FLAT_MAX_VECS 16        /* flat path: planes of up to 16 vectors (16 x 16) */

typedef struct {
  cnn_phase_grid p;
  int64_t cols;                 /* grid columns computed: ncols rounded up to STEP */
  int64_t planes;               /* floats of one channel's planes, slack for the last STEP included */
  int64_t per_task;             /* channels per task */
  bool flat;                    /* stride 1, output as large as the input, small: dw_flat_channel */
  int64_t flat_vecs;            /* vectors of one plane on the flat path */
} dw_geom;

static bool
dw_geometry (const cnn_exec *x, dw_geom *g)
{
  const cnn_conv_params *p = x->params;
  cnn_window w;
  if (x->in[0]->ndim != 4 || cnn_conv_geometry ((cnn_exec *) x, &w) != CNN_OK || !cnn_phase_grid_init (&w, &g->p))
    return false;
  int64_t C = x->in[0]->dims[1], M = x->in[1]->dims[0];
  const cnn_phase_grid *pg = &g->p;
  if (p->group != C || M != C || pg->kh * pg->kw > MAX_TAPS || pg->kh * pg->kw == 1)
    return false;
  g->cols = (pg->ncols + STEP - 1) / STEP * STEP;
  g->planes = pg->plane_floats + STEP;
  g->per_task = CLAMP (TASK_OUTPUTS / (pg->OH * pg->OW), 1, C);
  g->flat_vecs = (pg->OH * pg->OW + VEC - 1) / VEC;
  g->flat = pg->sh == 1 && pg->sw == 1 && pg->OH == pg->H && pg->OW == pg->W && g->flat_vecs <= FLAT_MAX_VECS;
  return true;
}

#ifdef HAVE_DW_KERNEL

bool
cnn_conv2d_depthwise_applies (const cnn_exec *x)
{
  dw_geom g;
  return cnn_sgemm_avx512_available () && dw_geometry (x, &g);
}

/* per thread: the channel's planes, then its output grid */
size_t
cnn_conv2d_depthwise_scratch (const cnn_exec *x)
{
  dw_geom g;
  if (!dw_geometry (x, &g))
    return 0;
  return (size_t) (g.planes + g.cols) * sizeof (float) * MAX (x->threads, 1);
}

typedef struct {
  cnn_exec *x;
  dw_geom g;
  int32_t koff[MAX_TAPS];       /* per tap: its offset on the planes (flat: in the input plane) */
  __mmask16 mask[MAX_TAPS][FLAT_MAX_VECS];      /* flat: the output lanes a tap reaches the input for */
} dw_ctx;

/* Flat path: the taps' offsets in the input plane and, per output vector,
 * which of its pixels each tap finds inside the input. */
static void
dw_flat_masks (dw_ctx *c)
{
  const cnn_phase_grid *pg = &c->g.p;
  int64_t hw = pg->H * pg->W;
  for (int64_t ky = 0, t = 0; ky < pg->kh; ky++)
    for (int64_t kx = 0; kx < pg->kw; kx++, t++) {
      int64_t dy = ky * pg->dh - pg->pt, dx = kx * pg->dw - pg->pl;
      c->koff[t] = (int32_t) (dy * pg->W + dx);
      for (int64_t v = 0; v < c->g.flat_vecs; v++) {
        __mmask16 m = 0;
        for (int64_t l = 0; l < VEC; l++) {
          int64_t p = v * VEC + l, y = p / pg->W + dy, x = p % pg->W + dx;
          if (p < hw && y >= 0 && y < pg->H && x >= 0 && x < pg->W)
            m |= (__mmask16) (1u << l);
        }
        c->mask[t][v] = m;
      }
    }
}

/* Flat path, one channel: four output vectors at a time, each tap a masked
 * load at its offset (the masked-off lanes read nothing, so offsets before
 * the plane or past it are safe), then bias, residual and activation. */
__attribute__ ((target ("avx512f")))
static void
dw_flat_channel (const dw_ctx *c, int64_t nc)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t C = x->in[0]->dims[1], ch = nc % C, taps = pg->kh * pg->kw, hw = pg->H * pg->W;
  const float *k = (const float *) x->in[1]->data + ch * taps;
  const float *in = (const float *) x->in[0]->data + nc * hw;
  float *out = (float *) x->out[0]->data + nc * hw;
  const float *res = x->residual ? (const float *) x->residual->data + nc * hw : NULL;
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  __m512 bias = _mm512_set1_ps (B ? ((const float *) B->data)[ch] : 0.f);
  const cnn_act_type at = x->act.type;
  const __m512 lo = _mm512_set1_ps (x->act.alpha), hi = _mm512_set1_ps (x->act.beta);
  for (int64_t v0 = 0; v0 < g->flat_vecs; v0 += 4) {
    int64_t nv = MIN (4, g->flat_vecs - v0);
    __m512 acc[4] = { bias, bias, bias, bias };
    for (int64_t t = 0; t < taps; t++) {
      __m512 wt = _mm512_set1_ps (k[t]);
      const float *r = in + c->koff[t] + v0 * VEC;
      for (int64_t v = 0; v < nv; v++)
        acc[v] = _mm512_fmadd_ps (wt, _mm512_maskz_loadu_ps (c->mask[t][v0 + v], r + v * VEC), acc[v]);
    }
    for (int64_t v = 0; v < nv; v++) {
      int64_t p = (v0 + v) * VEC;
      __mmask16 m = hw - p >= VEC ? 0xffff : (__mmask16) ((1u << (hw - p)) - 1);
      __m512 r = acc[v];
      if (res)
        r = _mm512_add_ps (r, _mm512_maskz_loadu_ps (m, res + p));
      _mm512_mask_storeu_ps (out + p, m, cnn_act_simple16 (at, r, lo, hi));
    }
  }
  if (!cnn_act_is_simple (at))
    cnn_act_apply (&x->act, out, hw);
}

__attribute__ ((target ("avx512f")))
static void
dw_channel (const dw_ctx *c, int64_t nc, float *planes, float *grid)
{
  const dw_geom *g = &c->g;
  const cnn_phase_grid *pg = &g->p;
  cnn_exec *x = c->x;
  int64_t C = x->in[0]->dims[1], ch = nc % C, taps = pg->kh * pg->kw, osz = pg->OH * pg->OW;
  const float *k = (const float *) x->in[1]->data + ch * taps;
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  float *out = (float *) x->out[0]->data + nc * osz;
  const float *res = x->residual ? (const float *) x->residual->data + nc * osz : NULL;
  const float *in = (const float *) x->in[0]->data + nc * pg->H * pg->W;
  for (int64_t py = 0; py < pg->sh; py++)
    cnn_phase_grid_fill (pg, in, py, false, planes);
  for (int64_t j = 0; j < g->cols; j += STEP) {
    __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < taps; t++) {
      const float *r = planes + c->koff[t] + j;
      __m512 wt = _mm512_set1_ps (k[t]);
      a0 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r), a0);
      a1 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + VEC), a1);
      a2 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + 2 * VEC), a2);
      a3 = _mm512_fmadd_ps (wt, _mm512_loadu_ps (r + 3 * VEC), a3);
    }
    _mm512_storeu_ps (grid + j, a0);
    _mm512_storeu_ps (grid + j + VEC, a1);
    _mm512_storeu_ps (grid + j + 2 * VEC, a2);
    _mm512_storeu_ps (grid + j + 3 * VEC, a3);
  }
  cnn_phase_grid_store (pg, grid, 0, pg->ncols, B ? ((const float *) B->data)[ch] : 0.f, res, &x->act, out);
}

static void
dw_task (int64_t task, int tid, void *data)
{
  dw_ctx *c = data;
  const dw_geom *g = &c->g;
  float *planes = (float *) c->x->scratch + (size_t) tid * (g->planes + g->cols);
  int64_t total = c->x->in[0]->dims[0] * c->x->in[0]->dims[1];
  if (g->flat) {
    for (int64_t nc = task * g->per_task; nc < MIN ((task + 1) * g->per_task, total); nc++)
      dw_flat_channel (c, nc);
    return;
  }
  /* borders and slack once: the channels fill the same pixels */
  memset (planes, 0, sizeof (float) * g->planes);
  for (int64_t nc = task * g->per_task; nc < MIN ((task + 1) * g->per_task, total); nc++)
    dw_channel (c, nc, planes, planes + g->planes);
}

cnn_status
cnn_conv2d_depthwise (cnn_exec *x)
{
  dw_ctx c = { x };
  if (!dw_geometry (x, &c.g))
    return cnn_exec_fail (x, CNN_E_BACKEND, "not a depthwise convolution");
  if (x->scratch_size < cnn_conv2d_depthwise_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  const cnn_phase_grid *pg = &c.g.p;
  if (c.g.flat)
    dw_flat_masks (&c);
  else
    for (int64_t ky = 0, t = 0; ky < pg->kh; ky++)
      for (int64_t kx = 0; kx < pg->kw; kx++)
        c.koff[t++] = (int32_t) cnn_phase_grid_tap (pg, ky, kx);
  int64_t total = x->in[0]->dims[0] * x->in[0]->dims[1];
  cnn_parallel_for (x->pool, (total + c.g.per_task - 1) / c.g.per_task, dw_task, &c);
  return CNN_OK;
}

#else

bool
cnn_conv2d_depthwise_applies (const cnn_exec *x)
{
  return false;
}

size_t
cnn_conv2d_depthwise_scratch (const cnn_exec *x)
{
  return 0;
}

cnn_status
cnn_conv2d_depthwise (cnn_exec *x)
{
  return cnn_exec_fail (x, CNN_E_BACKEND, "no depthwise kernel on this CPU");
}

#endif
