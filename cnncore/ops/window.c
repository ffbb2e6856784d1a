/* window.c - kernel/stride/pad/dilation geometry shared by Conv,
 * ConvTranspose and the pooling ops. */
#include "ops.h"

cnn_status
cnn_window_parse (const cnn_node *n, cnn_window_params *p, GString *err)
{
  int64_t v[6];
  int c;
  for (int i = 0; i < 3; i++)
    p->kernel[i] = p->stride[i] = p->dil[i] = 1;
  memset (p->pads, 0, sizeof p->pads);
  p->nsp = 0;
  if ((c = cnn_attr_ints (n, "kernel_shape", v, 3)) >= 0) {
    if (c < 1 || c > 3)
      return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "kernel_shape has %d dims; 1 to 3 "
          "spatial dims are supported", c);
    p->nsp = c;
    p->has_kernel = true;
    for (int i = 0; i < c; i++) {
      if (v[i] < 1 || v[i] > 1 << 16)
        return cnn_node_fail (n, err, CNN_E_INVALID, "kernel_shape[%d] = %" G_GINT64_FORMAT, i, v[i]);
      p->kernel[i] = v[i];
    }
  }
  struct { const char *name; int64_t *dst; int64_t min; } lists[] = {
    { "strides", p->stride, 1 }, { "dilations", p->dil, 1 } };
  for (unsigned l = 0; l < G_N_ELEMENTS (lists); l++) {
    if ((c = cnn_attr_ints (n, lists[l].name, v, 3)) < 0)
      continue;
    if (c > 3 || (p->nsp && c != p->nsp))
      return cnn_node_fail (n, err, CNN_E_INVALID, "%s has %d values", lists[l].name, c);
    for (int i = 0; i < c; i++) {
      if (v[i] < lists[l].min || v[i] > 1 << 16)
        return cnn_node_fail (n, err, CNN_E_INVALID, "%s[%d] = %" G_GINT64_FORMAT, lists[l].name, i, v[i]);
      lists[l].dst[i] = v[i];
    }
    if (!p->nsp)
      p->nsp = c;
  }
  if ((c = cnn_attr_ints (n, "pads", v, 6)) >= 0) {
    if (c > 6 || c % 2 || (p->nsp && c != 2 * p->nsp))
      return cnn_node_fail (n, err, CNN_E_INVALID, "pads has %d values", c);
    for (int i = 0; i < c; i++) {
      if (v[i] < 0 || v[i] > 1 << 16)
        return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "pads[%d] = %" G_GINT64_FORMAT, i, v[i]);
      p->pads[i] = v[i];
    }
    if (!p->nsp)
      p->nsp = c / 2;
  }
  const char *ap = cnn_attr_string (n, "auto_pad", "NOTSET");
  if (strcmp (ap, "NOTSET") == 0 || !*ap)
    p->auto_pad = CNN_AUTO_PAD_NOTSET;
  else if (strcmp (ap, "VALID") == 0)
    p->auto_pad = CNN_AUTO_PAD_VALID;
  else if (strcmp (ap, "SAME_UPPER") == 0)
    p->auto_pad = CNN_AUTO_PAD_SAME_UPPER;
  else if (strcmp (ap, "SAME_LOWER") == 0)
    p->auto_pad = CNN_AUTO_PAD_SAME_LOWER;
  else
    return cnn_node_fail (n, err, CNN_E_INVALID, "unknown auto_pad '%s'", ap);
  p->ceil_mode = cnn_attr_int (n, "ceil_mode", 0) != 0;
  return CNN_OK;
}

cnn_status
cnn_window_resolve (cnn_exec *x, const cnn_window_params *p, const int64_t *kernel,
    const cnn_tensor *input, cnn_window *w)
{
  int nsp = input->ndim - 2;
  if (nsp < 1 || nsp > 3)
    return cnn_exec_fail (x, CNN_E_UNSUPPORTED, "input must have 1 to 3 spatial dims");
  if (p->nsp && p->nsp != nsp)
    return cnn_exec_fail (x, CNN_E_SHAPE, "attributes have %d spatial dims, the input %d",
        p->nsp, nsp);
  memset (w, 0, sizeof *w);
  w->nsp = nsp;
  int off = 3 - nsp;            /* leading unit dims */
  for (int i = 0; i < 3; i++) {
    w->kernel[i] = w->stride[i] = w->dil[i] = w->in[i] = w->out[i] = 1;
  }
  for (int i = 0; i < nsp; i++) {
    int j = off + i;
    w->kernel[j] = kernel[i];
    w->stride[j] = p->stride[i];
    w->dil[j] = p->dil[i];
    w->in[j] = input->dims[2 + i];
    int64_t eff = (kernel[i] - 1) * p->dil[i] + 1;
    if (p->auto_pad == CNN_AUTO_PAD_SAME_UPPER || p->auto_pad == CNN_AUTO_PAD_SAME_LOWER) {
      w->out[j] = (w->in[j] + p->stride[i] - 1) / p->stride[i];
      int64_t total = MAX (0, (w->out[j] - 1) * p->stride[i] + eff - w->in[j]);
      w->pad0[j] = p->auto_pad == CNN_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
      w->pad1[j] = total - w->pad0[j];
      continue;
    }
    if (p->auto_pad == CNN_AUTO_PAD_NOTSET) {
      w->pad0[j] = p->pads[i];
      w->pad1[j] = p->pads[nsp + i];
    }
    int64_t span = w->in[j] + w->pad0[j] + w->pad1[j] - eff;
    if (span < 0)
      return cnn_exec_fail (x, CNN_E_SHAPE, "kernel %" G_GINT64_FORMAT " (dilated %" G_GINT64_FORMAT
          ") is larger than the padded input along spatial dim %d", kernel[i], eff, i);
    if (p->ceil_mode) {
      w->out[j] = (span + p->stride[i] - 1) / p->stride[i] + 1;
      /* the last window must start inside the input or its left padding */
      if ((w->out[j] - 1) * p->stride[i] >= w->in[j] + w->pad0[j])
        w->out[j]--;
    } else {
      w->out[j] = span / p->stride[i] + 1;
    }
  }
  return CNN_OK;
}
