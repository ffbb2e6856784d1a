/* conv.c - Conv: the reference kernel (direct loops over any 1D/2D/3D
 * window, groups, dilation, pads) and shape inference.  The fast CPU path is
 * cpu/conv2d_gemm.c. */
#include "ops.h"
#include "conv.h"

static cnn_status
conv_parse (const cnn_node *n, void *params, GString *err)
{
  cnn_conv_params *p = params;
  p->group = cnn_attr_int (n, "group", 1);
  if (p->group < 1)
    return cnn_node_fail (n, err, CNN_E_INVALID, "group = %" G_GINT64_FORMAT, p->group);
  return cnn_window_parse (n, &p->win, err);
}

cnn_status
cnn_conv_geometry (cnn_exec *x, cnn_window *w)
{
  const cnn_conv_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1];
  if (W->ndim != X->ndim)
    return cnn_exec_fail (x, CNN_E_SHAPE, "weight rank %d does not match input rank %d",
        W->ndim, X->ndim);
  int64_t kernel[3];
  for (int i = 0; i < X->ndim - 2 && i < 3; i++) {
    kernel[i] = W->dims[2 + i];
    if (p->win.has_kernel && p->win.kernel[i] != kernel[i])
      return cnn_exec_fail (x, CNN_E_SHAPE, "kernel_shape does not match the weight");
  }
  return cnn_window_resolve (x, &p->win, kernel, X, w);
}

static cnn_status
conv_infer (cnn_exec *x)
{
  const cnn_conv_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 3)) || (st = cnn_need_float_inputs (x)))
    return st;
  const cnn_tensor *X = x->in[0], *W = x->in[1], *B = x->n_in > 2 ? x->in[2] : NULL;
  cnn_window w;
  if ((st = cnn_conv_geometry (x, &w)))
    return st;
  int64_t C = X->dims[1], M = W->dims[0];
  if (C != W->dims[1] * p->group || M % p->group)
    return cnn_exec_fail (x, CNN_E_SHAPE, "input has %" G_GINT64_FORMAT " channels, weight "
        "expects %" G_GINT64_FORMAT " x group %" G_GINT64_FORMAT, C, W->dims[1], p->group);
  if (B && (B->ndim != 1 || B->dims[0] != M))
    return cnn_exec_fail (x, CNN_E_SHAPE, "bias must be [%" G_GINT64_FORMAT "]", M);
  int64_t dims[5] = { X->dims[0], M };
  for (int i = 0; i < w.nsp; i++)
    dims[2 + i] = w.out[3 - w.nsp + i];
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, X->ndim, dims);
  return CNN_OK;
}

typedef struct
{
  cnn_exec *x;
  const cnn_window *w;
} conv_ref_ctx;

/* One output plane (image n, channel m = i % M): planes are independent, so
 * the plain loop below gives the same bits on any number of threads. */
static void
conv_ref_plane (int64_t i, int tid, void *data)
{
  (void) tid;
  const conv_ref_ctx *c = data;
  cnn_exec *x = c->x;
  const cnn_window *w = c->w;
  const cnn_conv_params *p = x->params;
  const cnn_tensor *X = x->in[0], *W = x->in[1], *B = x->n_in > 2 ? x->in[2] : NULL;
  int64_t C = X->dims[1], M = W->dims[0], G = p->group;
  int64_t Cg = C / G, Mg = M / G, n = i / M, m = i % M, g = m / Mg;
  int64_t isz = w->in[0] * w->in[1] * w->in[2], osz = w->out[0] * w->out[1] * w->out[2];
  int64_t ksz = w->kernel[0] * w->kernel[1] * w->kernel[2];
  const float *xd = X->data, *wd = W->data, *bd = B ? B->data : NULL;
  float *o = (float *) x->out[0]->data + i * osz;
  for (int64_t z = 0; z < w->out[0]; z++)
    for (int64_t y = 0; y < w->out[1]; y++)
      for (int64_t xx = 0; xx < w->out[2]; xx++) {
        double acc = bd ? bd[m] : 0.0;
        for (int64_t c = 0; c < Cg; c++) {
          const float *xi = xd + (n * C + g * Cg + c) * isz;
          const float *wk = wd + (m * Cg + c) * ksz;
          for (int64_t kz = 0; kz < w->kernel[0]; kz++) {
            int64_t iz = z * w->stride[0] - w->pad0[0] + kz * w->dil[0];
            if (iz < 0 || iz >= w->in[0])
              continue;
            for (int64_t ky = 0; ky < w->kernel[1]; ky++) {
              int64_t iy = y * w->stride[1] - w->pad0[1] + ky * w->dil[1];
              if (iy < 0 || iy >= w->in[1])
                continue;
              for (int64_t kx = 0; kx < w->kernel[2]; kx++) {
                int64_t ix = xx * w->stride[2] - w->pad0[2] + kx * w->dil[2];
                if (ix < 0 || ix >= w->in[2])
                  continue;
                acc += (double) xi[(iz * w->in[1] + iy) * w->in[2] + ix] *
                    wk[(kz * w->kernel[1] + ky) * w->kernel[2] + kx];
              }
            }
          }
        }
        o[(z * w->out[1] + y) * w->out[2] + xx] = (float) acc;
      }
  if (x->residual) {
    const float *r = (const float *) x->residual->data + i * osz;
    for (int64_t k = 0; k < osz; k++)
      o[k] += r[k];
  }
  cnn_act_apply (&x->act, o, osz);
}

static cnn_status
conv_ref (cnn_exec *x)
{
  cnn_window w;
  cnn_status st = cnn_conv_geometry (x, &w);
  if (st)
    return st;
  conv_ref_ctx c = { x, &w };
  /* threads only cut the wait for references (whole models on the
   * reference backend, test-backends' and test-ops' checks) */
  cnn_parallel_for (x->pool, x->in[0]->dims[0] * x->in[1]->dims[0], conv_ref_plane, &c);
  return CNN_OK;
}

static int64_t
conv_flops (const cnn_exec *x)
{
  const cnn_tensor *W = x->in[1];
  return 2 * cnn_tensor_numel (x->out[0]) * cnn_dims_prod (W, 1, W->ndim);
}

CNN_OP_DEF (conv) = { "Conv", sizeof (cnn_conv_params), conv_parse, conv_infer, conv_ref,
  cnn_conv2d_gemm, cnn_conv2d_gemm_scratch, conv_flops, CNN_OPF_FUSE_ACT };
