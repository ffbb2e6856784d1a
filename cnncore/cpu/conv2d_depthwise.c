/* conv2d_depthwise.c - depthwise 2D convolutions (MobileNet, DeepLab,
 * UltraFace: one filter per channel) with AVX-512, any kernel size, stride,
 * dilation and pads.  Each channel is copied into zero-bordered phase planes
 * (cpu/phase_grid.c), where every tap reads a contiguous run: the whole
 * output plane, rows and their dropped border columns together, is then
 * kh * kw fused multiply-adds per 16 outputs, four vectors in flight to
 * cover the FMA latency, with no bounds checks and no short rows.  Small
 * planes (deep layers) go several channels to a task. */
#include "../ops/conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_DW_KERNEL 1
#endif

#define VEC 16
#define STEP (4 * VEC)          /* grid columns per iteration */
#define MAX_TAPS 64
#define TASK_OUTPUTS 8192       /* outputs per task at least, several channels for small planes */

typedef struct {
  cnn_phase_grid p;
  int64_t cols;                 /* grid columns computed: ncols rounded up to STEP */
  int64_t planes;               /* floats of one channel's planes, slack for the last STEP included */
  int64_t per_task;             /* channels per task */
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
  int32_t koff[MAX_TAPS];
} dw_ctx;

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
