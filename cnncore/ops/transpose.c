/* transpose.c - Transpose by a permutation (default: reversed dims). */
#include "geometry.h"

typedef struct {
  int64_t perm[CNN_MAX_DIMS];
  int n_perm;
} transpose_params;

static cnn_status
transpose_parse (const cnn_node *n, void *params, GString *err)
{
  transpose_params *p = params;
  p->n_perm = cnn_attr_ints (n, "perm", p->perm, CNN_MAX_DIMS);
  if (p->n_perm > CNN_MAX_DIMS)
    return cnn_node_fail (n, err, CNN_E_UNSUPPORTED, "perm has %d entries", p->n_perm);
  return CNN_OK;
}

cnn_status
cnn_transpose_perm (cnn_exec *x, int *perm)
{
  const transpose_params *p = x->params;
  int nd = x->in[0]->ndim;
  bool seen[CNN_MAX_DIMS] = { false };
  if (p->n_perm < 0) {
    for (int i = 0; i < nd; i++)
      perm[i] = nd - 1 - i;
    return CNN_OK;
  }
  if (p->n_perm != nd)
    return cnn_exec_fail (x, CNN_E_SHAPE, "perm has %d entries for rank %d", p->n_perm, nd);
  for (int i = 0; i < nd; i++) {
    int a = cnn_axis (p->perm[i], nd);
    if (a < 0 || seen[a])
      return cnn_exec_fail (x, CNN_E_SHAPE, "perm is not a permutation");
    seen[a] = true;
    perm[i] = a;
  }
  return CNN_OK;
}

static cnn_status
transpose_infer (cnn_exec *x)
{
  cnn_status st;
  int perm[CNN_MAX_DIMS];
  if ((st = cnn_need_inputs (x, 1, 1)) || (st = cnn_transpose_perm (x, perm)))
    return st;
  int64_t dims[CNN_MAX_DIMS];
  for (int i = 0; i < x->in[0]->ndim; i++)
    dims[i] = x->in[0]->dims[perm[i]];
  cnn_set_out (x, 0, x->in[0]->dtype, x->in[0]->ndim, dims);
  return CNN_OK;
}

static cnn_status
transpose_compute (cnn_exec *x)
{
  int perm[CNN_MAX_DIMS];
  cnn_status st = cnn_transpose_perm (x, perm);
  if (st)
    return st;
  const cnn_tensor *X = x->in[0], *O = x->out[0];
  int nd = X->ndim;
  size_t es = cnn_dtype_size (X->dtype);
  int64_t ist[CNN_MAX_DIMS], pst[CNN_MAX_DIMS], n = cnn_tensor_numel (O);
  cnn_strides (X, ist);
  for (int i = 0; i < nd; i++)
    pst[i] = ist[perm[i]];
  /* walk the output in order with an odometer over its dims */
  int64_t idx[CNN_MAX_DIMS] = { 0 }, src = 0;
  const char *in = X->data;
  char *out = O->data;
  for (int64_t i = 0; i < n; i++) {
    memcpy (out + i * es, in + src * es, es);
    for (int d = nd - 1; d >= 0; d--) {
      src += pst[d];
      if (++idx[d] < O->dims[d])
        break;
      src -= pst[d] * O->dims[d];
      idx[d] = 0;
    }
  }
  return CNN_OK;
}

CNN_OP_DEF (transpose) = { "Transpose", sizeof (transpose_params), transpose_parse, transpose_infer,
  transpose_compute, cnn_transpose_fast, NULL, NULL, 0 };
