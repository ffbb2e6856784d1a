/* conv_transpose.c - ConvTranspose: reference scatter kernel, and a fast
 * path (sgemm into columns, then col2im) in the same file as they share the
 * geometry. */
#include "geometry.h"

typedef struct {
  cnn_window_params win;
  int64_t group;
  int64_t output_padding[3], output_shape[5];
  int n_output_shape;
} convt_params;

static cnn_status
convt_parse (const cnn_node *n, void *params, GString *err)
{
  convt_params *p = params;
  p->group = cnn_attr_int (n, "group", 1);
  if (p->group < 1)
    return cnn_node_fail (n, err, CNN_E_INVALID, "group = %" G_GINT64_FORMAT, p->group);
  cnn_status st = cnn_window_parse (n, &p->win, err);
  if (st)
    return st;
  int c = cnn_attr_ints (n, "output_padding", p->output_padding, 3);
  if (c > 3)
    return cnn_node_fail (n, err, CNN_E_INVALID, "output_padding has %d values", c);
  p->n_output_shape = cnn_attr_ints (n, "output_shape", p->output_shape, 5);
  if (p->n_output_shape > 5)
    return cnn_node_fail (n, err, CNN_E_INVALID, "output_shape has %d values", p->n_output_shape);
  return CNN_OK;
}

/* Geometry as a cnn_window where in/out are the output/input of the
 * equivalent forward conv: w.in = our output size, w.out = our input size. */
static cnn_status
convt_geometry (cnn_exec *x, cnn_window *w)
{
  const convt_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1];
  int nsp = X->ndim - 2;
  if (nsp < 1 || nsp > 3 || W->ndim != X->ndim)
    return cnn_exec_fail (x, CNN_E_SHAPE, "input and weight must have the same rank, 3 to 5");
  if (p->win.nsp && p->win.nsp != nsp)
    return cnn_exec_fail (x, CNN_E_SHAPE, "attributes do not match the spatial rank");
  /* output_shape lists the spatial dims, possibly after N and C */
  if (p->n_output_shape > 0 && p->n_output_shape < nsp)
    return cnn_exec_fail (x, CNN_E_SHAPE, "output_shape has %d values for %d spatial dims",
        p->n_output_shape, nsp);
  memset (w, 0, sizeof *w);
  w->nsp = nsp;
  int off = 3 - nsp;
  for (int i = 0; i < 3; i++)
    w->kernel[i] = w->stride[i] = w->dil[i] = w->in[i] = w->out[i] = 1;
  for (int i = 0; i < nsp; i++) {
    int j = off + i;
    int64_t k = W->dims[2 + i], s = p->win.stride[i], d = p->win.dil[i];
    if (p->win.has_kernel && p->win.kernel[i] != k)
      return cnn_exec_fail (x, CNN_E_SHAPE, "kernel_shape does not match the weight");
    int64_t in = X->dims[2 + i], eff = (k - 1) * d + 1, op = p->output_padding[i];
    int64_t full = s * (in - 1) + op + eff, out, p0, p1;
    if (p->n_output_shape > 0 || p->win.auto_pad == CNN_AUTO_PAD_SAME_UPPER ||
        p->win.auto_pad == CNN_AUTO_PAD_SAME_LOWER) {
      out = p->n_output_shape > 0 ? p->output_shape[p->n_output_shape - nsp + i] : in * s;
      int64_t total = full - out;
      if (total < 0)
        total = 0;
      if (p->win.auto_pad == CNN_AUTO_PAD_SAME_UPPER) {
        p0 = total / 2;
        p1 = total - p0;
      } else {
        p1 = total / 2;
        p0 = total - p1;
      }
    } else {
      p0 = p->win.auto_pad == CNN_AUTO_PAD_VALID ? 0 : p->win.pads[i];
      p1 = p->win.auto_pad == CNN_AUTO_PAD_VALID ? 0 : p->win.pads[nsp + i];
      out = full - p0 - p1;
    }
    if (out < 1)
      return cnn_exec_fail (x, CNN_E_SHAPE, "output size %" G_GINT64_FORMAT " along spatial dim %d", out, i);
    w->kernel[j] = k;
    w->stride[j] = s;
    w->dil[j] = d;
    w->pad0[j] = p0;
    w->pad1[j] = p1;
    w->in[j] = out;
    w->out[j] = in;
  }
  return CNN_OK;
}

static cnn_status
convt_infer (cnn_exec *x)
{
  const convt_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 3)) || (st = cnn_need_float_inputs (x)))
    return st;
  const cnn_tensor *X = x->in[0], *W = x->in[1], *B = x->n_in > 2 ? x->in[2] : NULL;
  cnn_window w;
  if ((st = convt_geometry (x, &w)))
    return st;
  if (X->dims[1] != W->dims[0] || X->dims[1] % p->group)
    return cnn_exec_fail (x, CNN_E_SHAPE, "input channels must equal the weight's first dim");
  int64_t M = W->dims[1] * p->group;
  if (B && (B->ndim != 1 || B->dims[0] != M))
    return cnn_exec_fail (x, CNN_E_SHAPE, "bias must be [%" G_GINT64_FORMAT "]", M);
  int64_t dims[5] = { X->dims[0], M };
  for (int i = 0; i < w.nsp; i++)
    dims[2 + i] = w.in[3 - w.nsp + i];
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, X->ndim, dims);
  return CNN_OK;
}

static void
fill_bias (cnn_exec *x, int64_t osz)
{
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  const cnn_tensor *O = x->out[0];
  float *o = O->data;
  for (int64_t n = 0; n < O->dims[0]; n++)
    for (int64_t m = 0; m < O->dims[1]; m++) {
      float b = B ? ((const float *) B->data)[m] : 0.f;
      float *op = o + (n * O->dims[1] + m) * osz;
      for (int64_t i = 0; i < osz; i++)
        op[i] = b;
    }
}

/* Sizes both kernels use: isz/osz are our input/output plane sizes. */
typedef cnn_convt_sizes convt_sizes;

cnn_status
cnn_conv_transpose_sizes (cnn_exec *x, convt_sizes *s)
{
  const convt_params *p = x->params;
  cnn_status st = convt_geometry (x, &s->w);
  if (st)
    return st;
  s->group = p->group;
  s->N = x->in[0]->dims[0];
  s->C = x->in[0]->dims[1];
  s->Cg = s->C / p->group;
  s->Mg = x->in[1]->dims[1];
  s->M = s->Mg * p->group;
  s->isz = s->w.out[0] * s->w.out[1] * s->w.out[2];
  s->osz = s->w.in[0] * s->w.in[1] * s->w.in[2];
  s->ksz = s->w.kernel[0] * s->w.kernel[1] * s->w.kernel[2];
  return CNN_OK;
}

static cnn_status
convt_ref (cnn_exec *x)
{
  convt_sizes z;
  cnn_status st = cnn_conv_transpose_sizes (x, &z);
  if (st)
    return st;
  const cnn_window w = z.w;
  int64_t N = z.N, C = z.C, Cg = z.Cg, Mg = z.Mg, M = z.M, isz = z.isz, osz = z.osz, ksz = z.ksz;
  const float *xd = x->in[0]->data, *wd = x->in[1]->data;
  float *od = x->out[0]->data;
  fill_bias (x, osz);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      int64_t g = c / Cg;
      const float *xi = xd + (n * C + c) * isz;
      for (int64_t mg = 0; mg < Mg; mg++) {
        const float *wk = wd + (c * Mg + mg) * ksz;
        float *o = od + (n * M + g * Mg + mg) * osz;
        for (int64_t z = 0; z < w.out[0]; z++)
          for (int64_t y = 0; y < w.out[1]; y++)
            for (int64_t xx = 0; xx < w.out[2]; xx++) {
              float v = xi[(z * w.out[1] + y) * w.out[2] + xx];
              for (int64_t kz = 0; kz < w.kernel[0]; kz++) {
                int64_t oz = z * w.stride[0] - w.pad0[0] + kz * w.dil[0];
                if (oz < 0 || oz >= w.in[0])
                  continue;
                for (int64_t ky = 0; ky < w.kernel[1]; ky++) {
                  int64_t oy = y * w.stride[1] - w.pad0[1] + ky * w.dil[1];
                  if (oy < 0 || oy >= w.in[1])
                    continue;
                  for (int64_t kx = 0; kx < w.kernel[2]; kx++) {
                    int64_t ox = xx * w.stride[2] - w.pad0[2] + kx * w.dil[2];
                    if (ox < 0 || ox >= w.in[2])
                      continue;
                    o[(oz * w.in[1] + oy) * w.in[2] + ox] +=
                        v * wk[(kz * w.kernel[1] + ky) * w.kernel[2] + kx];
                  }
                }
              }
            }
      }
    }
  for (int64_t i = 0; i < N * M; i++)
    cnn_act_apply (&x->act, od + i * osz, osz);
  return CNN_OK;
}

/* One output row split into its stride's phases (columns px, px + s, ...),
 * each as long as the longest, per thread (col2im_rows). */
static int64_t
phase_row_floats (const cnn_window *w)
{
  return w->stride[2] * ((w->in[2] + w->stride[2] - 1) / w->stride[2]) + 16;
}

static size_t
convt_scratch (const cnn_exec *x)
{
  cnn_window w;
  if (convt_geometry ((cnn_exec *) x, &w) != CNN_OK)
    return 0;
  int64_t Mg = x->in[1]->dims[1];
  return ((size_t) Mg * w.kernel[0] * w.kernel[1] * w.kernel[2] * w.out[0] * w.out[1] * w.out[2] +
      phase_row_floats (&w) * MAX (x->threads, 1)) * sizeof (float);
}

typedef struct {
  const cnn_window *w;
  const float *col;
  float *out;
  const float *bias;            /* the group's, or NULL */
  const cnn_act *act;
  float *rows;                  /* per thread: phase_row_floats () (col2im_rows_channel) */
} col2im_ctx;

/* Phases of @n output columns at stride 2 into @dst with the simple
 * activation T (alpha @lo, beta @hi): columns 2j from @e, 2j + 1 from @od. */
#define INTERLEAVE2(T) do { \
    int64_t j = 0; \
    for (; 2 * j + 1 < n; j++) { \
      dst[2 * j] = cnn_act_one (T, lo, hi, e[j]); \
      dst[2 * j + 1] = cnn_act_one (T, lo, hi, od[j]); \
    } \
    if (2 * j < n) \
      dst[2 * j] = cnn_act_one (T, lo, hi, e[j]); \
  } while (0)

/* Output channel m, an output row at a time: the row split into its
 * stride's phases (columns px, px + s, ...), each the bias plus, for every
 * tap that reaches the row, that tap's input row shifted into place (a
 * contiguous add), then the phases interleaved into the row with the
 * activation.  col2im had added value by value at stride s into an output
 * filled with the bias first, then applied the activation in a pass of its
 * own (the candy model's two 80 ms of its 470 at 1 thread). */
CNN_MULTIVERSION static void
col2im_rows_channel (int64_t m, int tid, void *data)
{
  col2im_ctx *c = data;
  const cnn_window *w = c->w;
  int64_t D = w->out[0], H = w->out[1], Wi = w->out[2], isz = D * H * Wi;
  int64_t OD = w->in[0], OH = w->in[1], OW = w->in[2];
  int64_t kz = w->kernel[0], kh = w->kernel[1], kw = w->kernel[2], s = w->stride[2];
  int64_t cnt = (OW + s - 1) / s;
  const float b = c->bias ? c->bias[m] : 0.f, lo = c->act->alpha, hi = c->act->beta;
  const cnn_act_type at = c->act->type;
  float *restrict ph = c->rows + tid * phase_row_floats (w);
  float *o = c->out + m * OD * OH * OW;
  const float *col = c->col + m * kz * kh * kw * isz;
  for (int64_t oz = 0; oz < OD; oz++)
    for (int64_t oy = 0; oy < OH; oy++) {
      for (int64_t i = 0; i < s * cnt; i++)
        ph[i] = b;
      for (int64_t tz = 0; tz < kz; tz++) {
        int64_t zn = oz + w->pad0[0] - tz * w->dil[0];
        if (zn < 0 || zn % w->stride[0] || zn / w->stride[0] >= D)
          continue;
        for (int64_t ky = 0; ky < kh; ky++) {
          int64_t yn = oy + w->pad0[1] - ky * w->dil[1];
          if (yn < 0 || yn % w->stride[1] || yn / w->stride[1] >= H)
            continue;
          const float *row = col + (tz * kh + ky) * kw * isz + (zn / w->stride[0] * H + yn / w->stride[1]) * Wi;
          for (int64_t kx = 0; kx < kw; kx++) {
            /* input column x lands on output column x s + q: phase px, x + off */
            int64_t q = kx * w->dil[2] - w->pad0[2], px = ((q % s) + s) % s, off = (q - px) / s;
            int64_t x0 = MAX (0, -off), x1 = MIN (Wi, (OW - px + s - 1) / s - off);
            const float *restrict src = row + kx * isz;
            float *restrict acc = ph + px * cnt;
            for (int64_t x = x0; x < x1; x++)
              acc[x + off] += src[x];
          }
        }
      }
      float *restrict dst = o + (oz * OH + oy) * OW;
      int64_t n = OW;
      if (s == 2) {
        const float *restrict e = ph, *restrict od = ph + cnt;
        CNN_ACT_SIMPLE_CASES (at, INTERLEAVE2);
      } else
        for (int64_t ox = 0; ox < n; ox++)
          dst[ox] = cnn_act_one (cnn_act_is_simple (at) ? at : CNN_ACT_NONE, lo, hi, ph[ox % s * cnt + ox / s]);
    }
  if (!cnn_act_is_simple (at))
    cnn_act_apply_fast (c->act, o, OD * OH * OW);
}

/* Whether every output pixel gets exactly one tap, in order: kernel ==
 * stride, no dilation or pads, the output the input times the stride
 * (UNet's 2x2 stride-2 upsampling). */
static bool
taps_tile (const cnn_window *w)
{
  for (int d = 0; d < 3; d++)
    if (w->kernel[d] != w->stride[d] || (w->kernel[d] > 1 && w->dil[d] != 1) || w->pad0[d] != 0 ||
        w->in[d] != w->out[d] * w->stride[d])
      return false;
  return true;
}

/* Output row @dst from the tap rows at @src (kx's isz further on), kw
 * values apart, with bias @b and the simple activation T (alpha @lo, beta
 * @hi) on the way. */
#define PLACE_ROW(T) do { \
    if (kw == 2) \
      for (int64_t x = 0; x < W; x++) { \
        dst[2 * x] = cnn_act_one (T, lo, hi, src[x] + b); \
        dst[2 * x + 1] = cnn_act_one (T, lo, hi, src[isz + x] + b); \
      } \
    else \
      for (int64_t x = 0; x < W; x++) \
        for (int64_t kx = 0; kx < kw; kx++) \
          dst[x * kw + kx] = cnn_act_one (T, lo, hi, src[kx * isz + x] + b); \
  } while (0)

/* Output channel m where the taps tile the output: each tap's row of
 * columns placed at its offset in each k x k block, bias and a simple
 * activation added on the way: one pass, where col2im added into an output
 * filled with the bias first, then applied the activation in a third. */
CNN_MULTIVERSION static void
place_channel (int64_t m, int tid, void *data)
{
  col2im_ctx *c = data;
  const cnn_window *w = c->w;
  int64_t kz = w->kernel[0], kh = w->kernel[1], kw = w->kernel[2];
  int64_t D = w->out[0], H = w->out[1], W = w->out[2], isz = D * H * W, OW = w->in[2];
  const float b = c->bias ? c->bias[m] : 0.f, lo = c->act->alpha, hi = c->act->beta;
  const cnn_act_type at = c->act->type;
  float *o = c->out + m * isz * kz * kh * kw;
  const float *col = c->col + m * kz * kh * kw * isz;
  for (int64_t tz = 0; tz < kz; tz++)
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++) {
          float *restrict dst = o + ((z * kz + tz) * H * kh + y * kh + ky) * OW;
          const float *restrict src = col + ((tz * kh + ky) * kw * D + z) * H * W + y * W;
          CNN_ACT_SIMPLE_CASES (at, PLACE_ROW);
        }
  if (!cnn_act_is_simple (at))
    cnn_act_apply_fast (c->act, o, isz * kz * kh * kw);
}

static cnn_status
convt_fast (cnn_exec *x)
{
  const cnn_tensor *X = x->in[0], *W = x->in[1];
  convt_sizes z;
  cnn_status st = cnn_conv_transpose_sizes (x, &z);
  if (st)
    return st;
  const cnn_window w = z.w;
  int64_t N = z.N, C = z.C, G = ((const convt_params *) x->params)->group, Cg = z.Cg, Mg = z.Mg, M = z.M;
  int64_t isz = z.isz, osz = z.osz, ksz = z.ksz;
  if (x->scratch_size < convt_scratch (x))
    return cnn_exec_fail (x, CNN_E_BACKEND, "scratch too small");
  const cnn_tensor *B = x->n_in > 2 ? x->in[2] : NULL;
  bool tile = taps_tile (&w);
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      /* col[Mg*ksz, isz] = W_g^T [Cg, Mg*ksz]^T x X_g [Cg, isz] */
      cnn_gemm (x->pool, true, false, (int) (Mg * ksz), (int) isz, (int) Cg,
          1.0f, (const float *) W->data + g * Cg * Mg * ksz, (int) (Mg * ksz),
          (const float *) X->data + (n * C + g * Cg) * isz, (int) isz, 0.0f, x->scratch, (int) isz);
      col2im_ctx c = { &w, x->scratch, (float *) x->out[0]->data + (n * M + g * Mg) * osz,
        B ? (const float *) B->data + g * Mg : NULL, &x->act, (float *) x->scratch + Mg * ksz * isz };
      cnn_parallel_for (x->pool, Mg, tile ? place_channel : col2im_rows_channel, &c);
    }
  return CNN_OK;
}

static int64_t
convt_flops (const cnn_exec *x)
{
  const cnn_tensor *W = x->in[1];
  return 2 * cnn_tensor_numel (x->in[0]) * cnn_dims_prod (W, 1, W->ndim);
}

CNN_OP_DEF (conv_transpose) = { "ConvTranspose", sizeof (convt_params), convt_parse, convt_infer,
  convt_ref, convt_fast, convt_scratch, convt_flops, CNN_OPF_FUSE_ACT };
