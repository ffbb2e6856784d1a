/* depth_to_space.c - DepthToSpace (DCR and CRD modes) and SpaceToDepth on
 * NCHW tensors. */
#include "ops.h"

typedef struct {
  int64_t bs;
  bool crd;
} d2s_params;

static cnn_status
d2s_parse (const cnn_node *n, void *params, GString *err)
{
  d2s_params *p = params;
  p->bs = cnn_attr_int (n, "blocksize", 0);
  if (p->bs < 1 || p->bs > 1024)
    return cnn_node_fail (n, err, CNN_E_INVALID, "blocksize %" G_GINT64_FORMAT, p->bs);
  const char *mode = cnn_attr_string (n, "mode", "DCR");
  p->crd = strcmp (mode, "CRD") == 0;
  if (!p->crd && strcmp (mode, "DCR") != 0)
    return cnn_node_fail (n, err, CNN_E_INVALID, "mode '%s'", mode);
  return CNN_OK;
}

static cnn_status
d2s_infer (cnn_exec *x)
{
  const d2s_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 1, 1)))
    return st;
  const cnn_tensor *X = x->in[0];
  if (X->ndim != 4)
    return cnn_exec_fail (x, CNN_E_SHAPE, "input must be 4D");
  int64_t b = p->bs, dims[4] = { X->dims[0], 0, 0, 0 };
  if (x->node->op == CNN_OP_DEPTH_TO_SPACE) {
    if (X->dims[1] % (b * b))
      return cnn_exec_fail (x, CNN_E_SHAPE, "channels must divide by blocksize^2");
    dims[1] = X->dims[1] / (b * b);
    dims[2] = X->dims[2] * b;
    dims[3] = X->dims[3] * b;
  } else {
    if (X->dims[2] % b || X->dims[3] % b)
      return cnn_exec_fail (x, CNN_E_SHAPE, "height and width must divide by blocksize");
    dims[1] = X->dims[1] * b * b;
    dims[2] = X->dims[2] / b;
    dims[3] = X->dims[3] / b;
  }
  cnn_set_out (x, 0, X->dtype, 4, dims);
  return CNN_OK;
}

static cnn_status
d2s_compute (cnn_exec *x)
{
  const d2s_params *p = x->params;
  bool d2s = x->node->op == CNN_OP_DEPTH_TO_SPACE;
  /* Work in the space-side shape [N, C, H*b, W*b] and the depth side [N, C*b*b, H, W]. */
  const cnn_tensor *S = d2s ? x->out[0] : x->in[0], *D = d2s ? x->in[0] : x->out[0];
  size_t es = cnn_dtype_size (S->dtype);
  int64_t b = p->bs, N = S->dims[0], C = S->dims[1], H = D->dims[2], W = D->dims[3];
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < b; i++)
          for (int64_t w = 0; w < W; w++)
            for (int64_t j = 0; j < b; j++) {
              int64_t dc = (d2s && p->crd) ? c * b * b + i * b + j : (i * b + j) * C + c;
              int64_t di = ((n * C * b * b + dc) * H + h) * W + w;
              int64_t si = ((n * C + c) * H * b + h * b + i) * W * b + w * b + j;
              if (d2s)
                memcpy ((char *) S->data + si * es, (const char *) D->data + di * es, es);
              else
                memcpy ((char *) D->data + di * es, (const char *) S->data + si * es, es);
            }
  return CNN_OK;
}

CNN_OP_DEF (depth_to_space) = { "DepthToSpace", sizeof (d2s_params), d2s_parse, d2s_infer,
  d2s_compute, NULL, NULL, NULL, 0 };
CNN_OP_DEF (space_to_depth) = { "SpaceToDepth", sizeof (d2s_params), d2s_parse, d2s_infer,
  d2s_compute, NULL, NULL, NULL, 0 };
