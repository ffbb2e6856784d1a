/* gemm.c - Gemm (alpha, beta, transposes, broadcast C) and MatMul (numpy
 * semantics with batch broadcasting); OpenBLAS sgemm for the fast paths. */
#include "geometry.h"

typedef cnn_gemm_params gemm_params;

static cnn_status
gemm_parse (const cnn_node *n, void *params, GString *err)
{
  gemm_params *p = params;
  (void) err;
  p->alpha = cnn_attr_float (n, "alpha", 1.f);
  p->beta = cnn_attr_float (n, "beta", 1.f);
  p->trans_a = cnn_attr_int (n, "transA", 0) != 0;
  p->trans_b = cnn_attr_int (n, "transB", 0) != 0;
  return CNN_OK;
}

static cnn_status
gemm_infer (cnn_exec *x)
{
  const gemm_params *p = x->params;
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 3)) || (st = cnn_need_float_inputs (x)))
    return st;
  const cnn_tensor *A = x->in[0], *B = x->in[1], *C = x->n_in > 2 ? x->in[2] : NULL;
  if (A->ndim != 2 || B->ndim != 2)
    return cnn_exec_fail (x, CNN_E_SHAPE, "A and B must be matrices");
  int64_t M = p->trans_a ? A->dims[1] : A->dims[0], K = p->trans_a ? A->dims[0] : A->dims[1];
  int64_t K2 = p->trans_b ? B->dims[1] : B->dims[0], N = p->trans_b ? B->dims[0] : B->dims[1];
  if (K != K2)
    return cnn_exec_fail (x, CNN_E_SHAPE, "inner dimensions differ (%" G_GINT64_FORMAT " vs %"
        G_GINT64_FORMAT ")", K, K2);
  int64_t dims[2] = { M, N };
  cnn_tensor out = { CNN_DTYPE_FLOAT32, 2, { M, N } }, bc;
  if (C && (!cnn_broadcast_shape (C, &out, &bc) || !cnn_shape_equal (&bc, &out)))
    return cnn_exec_fail (x, CNN_E_SHAPE, "C does not broadcast to [%" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT "]", M, N);
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, 2, dims);
  return CNN_OK;
}

/* Writes beta*C (broadcast) into Y, or zeros. */
static void
gemm_init_c (cnn_exec *x, float beta)
{
  const cnn_tensor *C = x->n_in > 2 ? x->in[2] : NULL, *Y = x->out[0];
  float *y = Y->data;
  int64_t M = Y->dims[0], N = Y->dims[1];
  if (!C || beta == 0.f) {
    memset (y, 0, sizeof (float) * M * N);
    return;
  }
  int64_t st[2];
  cnn_bcast_strides (C, Y, st);
  const float *c = C->data;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++)
      y[i * N + j] = beta * c[i * st[0] + j * st[1]];
}

static cnn_status
gemm_ref (cnn_exec *x)
{
  const gemm_params *p = x->params;
  const cnn_tensor *A = x->in[0], *B = x->in[1];
  float *y = x->out[0]->data;
  int64_t M = x->out[0]->dims[0], N = x->out[0]->dims[1];
  int64_t K = p->trans_a ? A->dims[0] : A->dims[1];
  const float *a = A->data, *b = B->data;
  gemm_init_c (x, p->beta);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += (double) (p->trans_a ? a[k * M + i] : a[i * K + k]) *
            (p->trans_b ? b[j * K + k] : b[k * N + j]);
      y[i * N + j] += p->alpha * (float) acc;
    }
  cnn_act_apply (&x->act, y, M * N);
  return CNN_OK;
}

static cnn_status
gemm_fast (cnn_exec *x)
{
  const gemm_params *p = x->params;
  const cnn_tensor *A = x->in[0], *B = x->in[1];
  float *y = x->out[0]->data;
  int64_t M = x->out[0]->dims[0], N = x->out[0]->dims[1];
  int64_t K = p->trans_a ? A->dims[0] : A->dims[1];
  bool has_c = x->n_in > 2 && x->in[2] && p->beta != 0.f;
  if (has_c)
    gemm_init_c (x, 1.f);
  cnn_gemm (x->pool, p->trans_a, p->trans_b, (int) M, (int) N, (int) K, p->alpha, A->data,
      (int) A->dims[1], B->data, (int) B->dims[1], has_c ? p->beta : 0.f, y, (int) N);
  cnn_act_apply (&x->act, y, M * N);
  return CNN_OK;
}

static int64_t
gemm_flops (const cnn_exec *x)
{
  const gemm_params *p = x->params;
  return 2 * cnn_tensor_numel (x->out[0]) * (p->trans_a ? x->in[0]->dims[0] : x->in[0]->dims[1]);
}

CNN_OP_DEF (gemm) = { "Gemm", sizeof (gemm_params), gemm_parse, gemm_infer, gemm_ref, gemm_fast,
  NULL, gemm_flops, CNN_OPF_FUSE_ACT };

/* ---- MatMul ---- */

typedef cnn_matmul_geom mm_geom;

cnn_status
cnn_matmul_geometry (cnn_exec *x, mm_geom *g)
{
  const cnn_tensor *A = x->in[0], *B = x->in[1];
  if (A->ndim < 1 || B->ndim < 1)
    return cnn_exec_fail (x, CNN_E_SHAPE, "scalars cannot be multiplied as matrices");
  cnn_tensor a = *A, b = *B;
  if (a.ndim == 1) {
    a.ndim = 2; a.dims[1] = a.dims[0]; a.dims[0] = 1;
  }
  if (b.ndim == 1) {
    b.ndim = 2; b.dims[1] = 1;
  }
  g->M = a.dims[a.ndim - 2];
  g->K = a.dims[a.ndim - 1];
  g->N = b.dims[b.ndim - 1];
  if (b.dims[b.ndim - 2] != g->K)
    return cnn_exec_fail (x, CNN_E_SHAPE, "inner dimensions differ");
  cnn_tensor ab = a, bb = b, ob;
  ab.ndim -= 2;
  bb.ndim -= 2;
  if (!cnn_broadcast_shape (&ab, &bb, &ob))
    return cnn_exec_fail (x, CNN_E_SHAPE, "batch dimensions do not broadcast");
  g->nbatch_dims = ob.ndim;
  g->batch = cnn_tensor_numel (&ob);
  cnn_bcast_strides (&ab, &ob, g->sa);
  cnn_bcast_strides (&bb, &ob, g->sb);
  cnn_strides (&ob, g->so);
  g->out = ob;
  g->out.dtype = CNN_DTYPE_FLOAT32;
  if (A->ndim > 1)
    g->out.dims[g->out.ndim++] = g->M;
  if (B->ndim > 1)
    g->out.dims[g->out.ndim++] = g->N;
  return CNN_OK;
}

static cnn_status
matmul_infer (cnn_exec *x)
{
  cnn_status st;
  if ((st = cnn_need_inputs (x, 2, 2)) || (st = cnn_need_float_inputs (x)))
    return st;
  mm_geom g;
  if ((st = cnn_matmul_geometry (x, &g)))
    return st;
  cnn_set_out (x, 0, CNN_DTYPE_FLOAT32, g.out.ndim, g.out.dims);
  return CNN_OK;
}

void
cnn_matmul_batch_offsets (const mm_geom *g, int64_t bi, int64_t *oa, int64_t *ob)
{
  *oa = *ob = 0;
  for (int d = 0; d < g->nbatch_dims; d++) {
    int64_t id = bi / g->so[d];
    bi %= g->so[d];
    *oa += id * g->sa[d];
    *ob += id * g->sb[d];
  }
}

static cnn_status
matmul_run (cnn_exec *x, bool fast)
{
  mm_geom g;
  cnn_status st = cnn_matmul_geometry (x, &g);
  if (st)
    return st;
  const float *a = x->in[0]->data, *b = x->in[1]->data;
  float *y = x->out[0]->data;
  for (int64_t bi = 0; bi < g.batch; bi++) {
    int64_t oa, ob;
    cnn_matmul_batch_offsets (&g, bi, &oa, &ob);
    const float *A = a + oa * g.M * g.K, *B = b + ob * g.K * g.N;
    float *Y = y + bi * g.M * g.N;
    if (fast) {
      cnn_gemm (x->pool, false, false, (int) g.M, (int) g.N, (int) g.K, 1.f, A, (int) g.K, B,
          (int) g.N, 0.f, Y, (int) g.N);
    } else {
      for (int64_t i = 0; i < g.M; i++)
        for (int64_t j = 0; j < g.N; j++) {
          double acc = 0;
          for (int64_t k = 0; k < g.K; k++)
            acc += (double) A[i * g.K + k] * B[k * g.N + j];
          Y[i * g.N + j] = (float) acc;
        }
    }
    cnn_act_apply (&x->act, Y, g.M * g.N);
  }
  return CNN_OK;
}

static cnn_status matmul_ref (cnn_exec *x) { return matmul_run (x, false); }
static cnn_status matmul_fast (cnn_exec *x) { return matmul_run (x, true); }

static int64_t
matmul_flops (const cnn_exec *x)
{
  const cnn_tensor *A = x->in[0];
  return 2 * cnn_tensor_numel (x->out[0]) * A->dims[A->ndim - 1];
}

CNN_OP_DEF (matmul) = { "MatMul", 0, NULL, matmul_infer, matmul_ref, matmul_fast, NULL,
  matmul_flops, CNN_OPF_FUSE_ACT };
