/* test-ops - every fast CPU kernel against the reference kernel, on random
 * shapes (odd sizes, strides, pads, dilations, groups, broadcasting).
 * Prints the max abs / rel error per case; fails above 1e-4 (relative to
 * the output's magnitude).
 *
 *   test-ops [SEED] [--backend cuda [--precision tf32|fp16]]
 *
 * Pictures as inputs (cnn_session_set_input_image) are checked against
 * cnn_image_to_tensor, on the CPU with and without staged memory.
 *
 * With --backend the same graphs run on that backend against the CPU
 * reference (tolerance 1e-2 of the magnitude for tf32 and fp16); exit status 77
 * (skipped) when the backend cannot start, for want of a GPU say. */
#include "cnn.h"
#include "cnn-private.h"
#include "ops/conv.h"
#include "onnx-builder.h"
#include <math.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <stdio.h>

static int n_pass, n_fail;
static GRand *rng;
static const char *opt_backend = "cpu", *opt_precision;
static double tolerance = 1e-4;
static int fast_threads = 2;    /* the fast session's */

static int64_t
rnd (int64_t lo, int64_t hi)
{
  return g_rand_int_range (rng, (gint32) lo, (gint32) hi + 1);
}

/* Runs the model built in b on random inputs, reference vs fast. */
static void
check (ob_model *b, const char *what)
{
  GError *err = NULL;
  cnn_model *m = ob_load (b, &err);
  if (!m) {
    printf ("FAIL %s: load: %s\n", what, err->message);
    g_error_free (err);
    n_fail++;
    return;
  }
  int nin = cnn_model_get_n_inputs (m);
  cnn_tensor in[4];
  for (int i = 0; i < nin; i++) {
    const cnn_tensor_info *info = cnn_model_get_input (m, i);
    in[i].dtype = CNN_DTYPE_FLOAT32;
    in[i].ndim = info->ndim;
    memcpy (in[i].dims, info->dims, sizeof in[i].dims);
    int64_t n = cnn_tensor_numel (&in[i]);
    float *d = g_new (float, MAX (n, 1));
    for (int64_t k = 0; k < n; k++)
      d[k] = (float) g_rand_double_range (rng, -2, 2);
    in[i].data = d;
  }
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 2;
  so.reference = TRUE;
  cnn_session *ref = cnn_session_new (m, &so, &err);
  so.reference = FALSE;
  so.threads = fast_threads;
  so.backend = opt_backend;
  so.precision = opt_precision;
  cnn_session *fast = ref ? cnn_session_new (m, &so, &err) : NULL;
  if (!ref || !fast || !cnn_session_run (ref, in, nin, &err) || !cnn_session_run (fast, in, nin, &err)) {
    printf ("FAIL %s: %s\n", what, err->message);
    g_clear_error (&err);
    n_fail++;
  } else {
    const cnn_tensor *a = cnn_session_get_output (ref, 0), *f = cnn_session_get_output (fast, 0);
    int64_t n = cnn_tensor_numel (a);
    double max_abs = 0, max_rel = 0, mag = 1e-6;
    for (int64_t k = 0; k < n; k++)
      mag = MAX (mag, fabs (((float *) a->data)[k]));
    gboolean same_shape = cnn_tensor_numel (f) == n && a->ndim == f->ndim;
    for (int64_t k = 0; k < n && same_shape; k++) {
      double x = ((float *) a->data)[k], y = ((float *) f->data)[k];
      double e = fabs (x - y);
      max_abs = MAX (max_abs, e);
      max_rel = MAX (max_rel, e / MAX (fabs (x), 1e-3));
    }
    gboolean ok = same_shape && max_abs <= tolerance * mag;
    printf ("%s %s -> %" G_GINT64_FORMAT " values: max abs %.3g, max rel %.3g\n", ok ? "ok  " : "FAIL",
        what, n, max_abs, max_rel);
    ok ? n_pass++ : n_fail++;
  }
  cnn_session_free (ref);
  cnn_session_free (fast);
  for (int i = 0; i < nin; i++)
    g_free (in[i].data);
  cnn_model_unref (m);
}

static void
test_conv (gboolean transpose)
{
  for (int c = 0; c < 40; c++) {
    ob_model *b = ob_new (13);
    int nsp = c % 10 == 9 ? 3 : c % 10 == 8 ? 1 : 2;
    int64_t N = rnd (1, 2), C = rnd (1, 8), G = 1;
    if (c % 4 == 1)
      G = C;                    /* depthwise */
    else if (c % 4 == 2 && C % 2 == 0)
      G = 2;
    int64_t M = G * rnd (1, 4);
    if (c % 4 == 1 && c % 8 == 1)
      M = C;                    /* true depthwise: multiplier 1 */
    int64_t xd[5] = { N, C }, wd[5], k[3], s[3], d[3], p[6], op[3];
    for (int i = 0; i < nsp; i++) {
      xd[2 + i] = rnd (nsp == 3 ? 3 : 4, nsp == 3 ? 7 : 19);
      k[i] = c % 5 == 0 ? 1 : rnd (1, 5);
      s[i] = rnd (1, 3);
      d[i] = transpose ? rnd (1, 2) : (c % 3 == 0 ? 2 : 1);
      p[i] = rnd (0, 2);
      p[nsp + i] = rnd (0, 2);
      op[i] = s[i] > 1 ? rnd (0, s[i] - 1) : 0;
      if (k[i] * d[i] > xd[2 + i] + p[i] + p[nsp + i])
        k[i] = 1;
      /* a transposed conv's pads crop its output: keep some of it */
      if (transpose && s[i] * (xd[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 <= p[i] + p[nsp + i])
        p[i] = p[nsp + i] = 0;
    }
    if (transpose) {
      wd[0] = C;
      wd[1] = M / G;
    } else {
      wd[0] = M;
      wd[1] = C / G;
    }
    for (int i = 0; i < nsp; i++)
      wd[2 + i] = k[i];
    ob_input (b, "x", 2 + nsp, xd);
    ob_init_float (b, "w", 2 + nsp, wd, NULL, rng);
    gboolean bias = c % 3 != 1;
    ob_init_float (b, "b", 1, &M, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, transpose ? "ConvTranspose" : "Conv", bias ? "x,w,b" : "x,w",
        c % 6 == 5 ? "y0" : "y");
    ob_attr_ints (b, n, "strides", nsp, s);
    ob_attr_ints (b, n, "dilations", nsp, d);
    ob_attr_int (b, n, "group", G);
    if (c % 7 == 3)
      ob_attr_string (b, n, "auto_pad", "SAME_UPPER");
    else
      ob_attr_ints (b, n, "pads", 2 * nsp, p);
    if (transpose)
      ob_attr_ints (b, n, "output_padding", nsp, op);
    if (c % 6 == 5) {           /* a fused activation */
      Onnx__NodeProto *a = ob_node (b, c % 12 == 5 ? "LeakyRelu" : "Relu", "y0", "y");
      if (c % 12 == 5)
        ob_attr_float (b, a, "alpha", 0.1f);
    }
    ob_output (b, "y");
    char *what = g_strdup_printf ("%s%dd N%" G_GINT64_FORMAT " C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT
        " g%" G_GINT64_FORMAT " in%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT " s%" G_GINT64_FORMAT
        " d%" G_GINT64_FORMAT, transpose ? "ConvTranspose" : "Conv", nsp, N, C, M, G, xd[2], k[0], s[0], d[0]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* A Resize whose output only a Transpose to NHWC reads (DeepLab's end)
 * writes NHWC itself (session.c, ops/resize.c): bilinear and nearest,
 * upscaling and down, channels below, at and past a vector (21: DeepLab),
 * batches, tf_crop_and_resize extrapolating outside; then the pairs that
 * stay apart: the Resize's output also a graph output, another perm. */
static void
test_resize_nhwc (void)
{
  const int64_t chans[] = { 1, 3, 16, 21, 33 };
  for (int c = 0; c < 14; c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { rnd (1, 2), chans[c % 5], rnd (2, 20), rnd (2, 24) }, four = 4, eight = 8;
    float scales[4] = { 1, 1, c % 4 == 3 ? 0.5f : (float) rnd (2, 16) / 2.f, c % 4 == 3 ? 0.75f : (float) rnd (2, 16) / 2.f };
    float roi[8] = { 0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.3f };
    gboolean crop = c % 7 == 6, linear = c % 2 == 0;
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "roi", 1, crop ? &eight : (int64_t[]) { 0 }, crop ? roi : NULL, rng);
    ob_init_float (b, "scales", 1, &four, scales, rng);
    Onnx__NodeProto *n = ob_node (b, "Resize", "x,roi,scales", "r");
    ob_attr_string (b, n, "mode", linear ? "linear" : "nearest");
    ob_attr_string (b, n, "coordinate_transformation_mode", crop ? "tf_crop_and_resize" : c % 3 ? "half_pixel" : "asymmetric");
    int64_t perm[4] = { 0, 2, 3, 1 };
    if (c == 13) {              /* channels not last: stays apart */
      perm[1] = 3;
      perm[2] = 1;
      perm[3] = 2;
    }
    n = ob_node (b, "Transpose", "r", "y");
    ob_attr_ints (b, n, "perm", 4, perm);
    if (c == 12)                /* the Resize's output read outside (and checked): stays apart */
      ob_output (b, "r");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Resize %s %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%"
        G_GINT64_FORMAT " x%.1f,%.1f%s -> Transpose %d%d%d%d%s", linear ? "linear" : "nearest", xd[0], xd[1], xd[2],
        xd[3], scales[2], scales[3], crop ? " crop" : "", (int) perm[0], (int) perm[1], (int) perm[2], (int) perm[3],
        c == 12 ? " (both outputs)" : "");
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* Stride-1 convolutions to 1 to 4 output channels per group
 * (cpu/conv2d_narrow.c): the style networks' last 9x9 with pads of 4 and
 * without, other kernels, dilation, asymmetric pads, groups, batches,
 * rows narrower than a vector and past a block of vectors, a fused residual
 * Add, fused activations (Tanh after the store); then 1x1 ones without pads
 * (a detector's heads), whose planes go as one row: small ones, and large
 * ones that span several tasks, the last block partial. */
static void
test_conv_narrow (void)
{
  const char *acts[] = { NULL, "Relu", "Tanh", "LeakyRelu" };
  for (int c = 0; c < 24; c++) {
    ob_model *b = ob_new (13);
    int64_t G = c % 5 == 4 ? 2 : 1, Mg = 1 + c % 4, Cg = c >= 16 ? rnd (16, 80) : rnd (2, 9), M = G * Mg, C = G * Cg;
    int64_t k = c < 4 ? 9 : c >= 16 ? 1 : rnd (1, 5), d = c % 6 == 5 && c < 16 ? 2 : 1;
    int64_t H = c % 8 == 3 ? rnd (2, 6) : rnd (10, 40), W = c % 8 == 3 ? rnd (3, 15) : rnd (90, 260);
    if (c >= 16) {
      H = c % 2 ? rnd (1, 20) : rnd (60, 110);
      W = c % 2 ? rnd (1, 30) : rnd (90, 160);
    }
    int64_t pads[4] = { c < 2 ? 4 : rnd (0, 2), rnd (0, 2), c < 2 ? 4 : rnd (0, 2), rnd (0, 3) };
    if ((c >= 2 && c < 4) || c >= 16)
      pads[0] = pads[1] = pads[2] = pads[3] = 0;
    if ((k - 1) * d + 1 > MIN (H + pads[0] + pads[2], W + pads[1] + pads[3]))
      k = 1;
    int64_t xd[4] = { rnd (1, 2), C, H, W }, wd[4] = { M, Cg, k, k }, dil[2] = { d, d };
    int64_t OH = H + pads[0] + pads[2] - (k - 1) * d, OW = W + pads[1] + pads[3] - (k - 1) * d;
    int64_t rd[4] = { xd[0], M, OH, OW };
    ob_input (b, "x", 4, xd);
    gboolean residual = c % 3 == 2;
    if (residual)
      ob_input (b, "r", 4, rd);
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &M, NULL, rng);
    const char *act = acts[c % 4];
    Onnx__NodeProto *n = ob_node (b, "Conv", c % 7 == 6 ? "x,w" : "x,w,b", residual || act ? "c0" : "y");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_attr_ints (b, n, "dilations", 2, dil);
    ob_attr_int (b, n, "group", G);
    const char *last = "c0";
    if (residual) {
      ob_node (b, "Add", "c0,r", act ? "s" : "y");
      last = "s";
    }
    if (act)
      ob_node (b, act, last, "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Conv narrow N%" G_GINT64_FORMAT " C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT
        " g%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT " d%" G_GINT64_FORMAT
        " pads %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "%s%s%s",
        xd[0], C, M, G, H, W, k, d, pads[0], pads[1], pads[2], pads[3], residual ? " + residual" : "",
        act ? " + " : "", act ? act : "");
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* ConvTranspose whose taps tile the output (kernel == stride, no pads:
 * UNet's 2x2 stride-2 upsampling), which places each tap's columns instead
 * of adding them (ops/conv_transpose.c): 1 to 3 spatial dims, square and
 * not, groups, batches, with and without bias, a fused Relu or Sigmoid. */
static void
test_conv_transpose_tiled (void)
{
  for (int c = 0; c < 12; c++) {
    ob_model *b = ob_new (13);
    int nsp = c % 6 == 5 ? 3 : c % 6 == 4 ? 1 : 2;
    int64_t N = rnd (1, 2), G = c % 3 == 2 ? 2 : 1, C = G * rnd (1, 8), M = G * rnd (1, 6);
    int64_t xd[5] = { N, C }, wd[5] = { C, M / G }, k[3];
    for (int i = 0; i < nsp; i++) {
      k[i] = c % 4 == 1 && i == nsp - 1 ? 3 : c % 4 == 3 ? rnd (1, 4) : 2;
      xd[2 + i] = rnd (nsp == 3 ? 2 : 3, nsp == 3 ? 6 : c % 4 == 0 ? 60 : 20);
      wd[2 + i] = k[i];
    }
    ob_input (b, "x", 2 + nsp, xd);
    ob_init_float (b, "w", 2 + nsp, wd, NULL, rng);
    ob_init_float (b, "b", 1, &M, NULL, rng);
    gboolean bias = c % 5 != 2;
    const char *act = c % 3 == 0 ? "Relu" : c % 3 == 1 && c > 6 ? "Sigmoid" : NULL;
    Onnx__NodeProto *n = ob_node (b, "ConvTranspose", bias ? "x,w,b" : "x,w", act ? "y0" : "y");
    ob_attr_ints (b, n, "strides", nsp, k);
    ob_attr_int (b, n, "group", G);
    if (act)
      ob_node (b, act, "y0", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("ConvTranspose%dd tiled N%" G_GINT64_FORMAT " C%" G_GINT64_FORMAT " M%"
        G_GINT64_FORMAT " g%" G_GINT64_FORMAT " in%" G_GINT64_FORMAT " k=s%" G_GINT64_FORMAT "%s%s%s", nsp, N, C,
        M, G, xd[2], k[nsp - 1], bias ? " bias" : "", act ? " + " : "", act ? act : "");
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

static void
test_pool (void)
{
  const char *ops[] = { "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool" };
  for (int c = 0; c < 24; c++) {
    ob_model *b = ob_new (13);
    const char *op = ops[c % 4];
    int64_t xd[4] = { rnd (1, 2), rnd (1, 5), rnd (3, 17), rnd (3, 17) }, k[2], s[2], p[4];
    for (int i = 0; i < 2; i++) {
      k[i] = rnd (1, 3);
      s[i] = rnd (1, 3);
      p[i] = rnd (0, k[i] - 1);
      p[2 + i] = rnd (0, k[i] - 1);
    }
    ob_input (b, "x", 4, xd);
    Onnx__NodeProto *n = ob_node (b, op, "x", "y");
    if (c % 4 < 2) {
      ob_attr_ints (b, n, "kernel_shape", 2, k);
      ob_attr_ints (b, n, "strides", 2, s);
      ob_attr_ints (b, n, "pads", 4, p);
      ob_attr_int (b, n, "ceil_mode", c % 3 == 0);
      if (c % 4 == 1)
        ob_attr_int (b, n, "count_include_pad", c % 8 == 1);
    }
    ob_output (b, "y");
    char *what = g_strdup_printf ("%s %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT
        " s%" G_GINT64_FORMAT, op, xd[2], xd[3], k[0], s[0]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* 2D MaxPool on the AVX-512 path (cpu/maxpool2d.c) and beside it: widths
 * of one to several vectors with a partial last one, kernels 1 to 5,
 * horizontal strides 1 and 2 (3 falls back), uneven pads, ceil_mode
 * (windows clipped at the end), windows wholly in the padding; planes
 * large enough that 2 and 3 threads take them in bands of rows. */
static void
test_maxpool (void)
{
  for (int c = 0; c < 20; c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { rnd (1, 2), rnd (1, 12), rnd (1, 40), c % 4 == 0 ? rnd (1, 15) : rnd (16, 120) };
    int64_t k[2] = { rnd (1, 5), rnd (1, 5) }, s[2] = { rnd (1, 3), c % 8 == 7 ? 3 : 1 + c % 2 };
    if (c >= 16) {              /* 3x3 at stride 2 (SqueezeNet's 111 wide), its own path */
      k[0] = k[1] = 3;
      s[0] = s[1] = 2;
      xd[3] = c == 16 ? 111 : rnd (3, 70);
    }
    if (c == 16 || c == 18) {   /* large planes: threads take bands of rows */
      xd[1] = c == 16 ? 16 : 12;
      xd[2] = c == 16 ? 111 : 80;
      xd[3] = c == 16 ? 111 : 80;
    }
    int64_t p[4] = { rnd (0, k[0] - 1), rnd (0, k[1] - 1), rnd (0, k[0] - 1), rnd (0, k[1] - 1) };
    xd[2] = MAX (xd[2], k[0] - p[0] - p[2]);
    xd[3] = MAX (xd[3], k[1] - p[1] - p[3]);
    ob_input (b, "x", 4, xd);
    Onnx__NodeProto *n = ob_node (b, "MaxPool", "x", "y");
    ob_attr_ints (b, n, "kernel_shape", 2, k);
    ob_attr_ints (b, n, "strides", 2, s);
    ob_attr_ints (b, n, "pads", 4, p);
    ob_attr_int (b, n, "ceil_mode", c % 3 == 0);
    ob_output (b, "y");
    char *what = g_strdup_printf ("MaxPool %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT "x%"
        G_GINT64_FORMAT " s%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " pads %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "%s", xd[2], xd[3], k[0], k[1], s[0], s[1], p[0], p[1], p[2],
        p[3], c % 3 == 0 ? " ceil" : "");
    fast_threads = c == 18 ? 3 : 2;
    check (b, what);
    fast_threads = 2;
    g_free (what);
    ob_free (b);
  }
}

static void
test_gemm (void)
{
  for (int c = 0; c < 24; c++) {
    ob_model *b = ob_new (13);
    /* one row (cases 0-3, every transpose): the matrix-vector path; 8 to
     * 28 rows against a wide B last (cases 16-23, every transpose; most
     * split between threads): runs of rows against blocks of B */
    int64_t M = c < 4 ? 1 : rnd (1, 33), K = rnd (1, 40), N = rnd (1, 33);
    if (c >= 16) {
      M = rnd (8, 28);
      K = rnd (200, 1500);
      N = rnd (40, 300);
    }
    gboolean ta = c & 1, tb = (c >> 1) & 1;
    int64_t ad[2] = { ta ? K : M, ta ? M : K }, bd[2] = { tb ? N : K, tb ? K : N };
    int64_t cd[2] = { c % 3 == 0 ? 1 : M, N };
    ob_input (b, "a", 2, ad);
    ob_init_float (b, "b", 2, bd, NULL, rng);
    ob_init_float (b, "c", c % 4 == 3 ? 1 : 2, c % 4 == 3 ? &cd[1] : cd, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Gemm", "a,b,c", "y");
    ob_attr_int (b, n, "transA", ta);
    ob_attr_int (b, n, "transB", tb);
    ob_attr_float (b, n, "alpha", 0.5f + c * 0.1f);
    ob_attr_float (b, n, "beta", c % 5 == 0 ? 0.f : 1.5f);
    ob_output (b, "y");
    char *what = g_strdup_printf ("Gemm %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
        " tA%d tB%d", M, K, N, ta, tb);
    check (b, what);
    g_free (what);
    ob_free (b);

    b = ob_new (13);
    int64_t a3[4] = { rnd (1, 3), 1, M, K }, b3[3] = { a3[0], K, N };
    a3[1] = rnd (1, 3);
    int64_t b4[4] = { 1, a3[1], K, N };
    ob_input (b, "a", 4, a3);
    ob_input (b, "b", c % 2 ? 3 : 4, c % 2 ? (b3[0] = a3[1], b3) : b4);
    ob_node (b, "MatMul", "a,b", "y");
    ob_output (b, "y");
    what = g_strdup_printf ("MatMul batch %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " %" G_GINT64_FORMAT
        "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT, a3[0], a3[1], M, K, N);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* Slice's fast path (runs of the innermost dim) against the reference:
 * random starts, ends and steps on some axes, negative ones included, runs
 * of 1 to 8 values (an SSD's boxes) and longer, steps on the last axis. */
static void
test_slice (void)
{
  for (int c = 0; c < 16; c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { rnd (1, 3), rnd (1, 7), rnd (1, 60), c < 4 ? 4 : rnd (1, 40) };
    int64_t starts[4], ends[4], axes[4], steps[4];
    int na = 0;
    for (int a = 0; a < 4; a++) {
      if (rnd (0, 2) == 0 && !(a == 3 && c < 4))
        continue;
      int64_t step = c % 4 == 1 ? -rnd (1, 2) : rnd (1, 2);
      if (a == 3 && (c % 5 == 4 || c % 3 == 2))
        step = c % 5 == 4 ? -1 : 2;
      int64_t lo = rnd (0, xd[a] - 1), hi = rnd (lo + 1, xd[a]);
      if (c < 4 && a == 3) {    /* boxes: [0:2] or [2:4] */
        lo = c % 2 ? 2 : 0;
        hi = lo + 2;
        step = 1;
      }
      axes[na] = a - (c % 2 ? 4 : 0);   /* negative axes too */
      starts[na] = step > 0 ? lo : hi - 1;
      ends[na] = step > 0 ? hi : (lo == 0 ? -xd[a] - 1 : lo - 1);
      steps[na] = step;
      na++;
    }
    if (na == 0) {
      axes[0] = 2;
      starts[0] = 0;
      ends[0] = xd[2];
      steps[0] = 1;
      na = 1;
    }
    ob_input (b, "x", 4, xd);
    ob_init_int64 (b, "starts", na, starts);
    ob_init_int64 (b, "ends", na, ends);
    ob_init_int64 (b, "axes", na, axes);
    ob_init_int64 (b, "steps", na, steps);
    ob_node (b, "Slice", "x,starts,ends,axes,steps", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Slice [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT "] on %d axes, the last one's step %" G_GINT64_FORMAT, xd[0], xd[1], xd[2], xd[3], na,
        steps[na - 1]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* Softmax and LogSoftmax in blocks of rows: thousands of rows of two (an
 * SSD's scores), an inner axis (strided rows), threaded, opset 11's 2D
 * coercion. */
static void
test_softmax (void)
{
  static const struct { int64_t dims[4]; int nd; int64_t axis; int opset; } cases[] = {
    { { 1, 4420, 2 }, 3, -1, 13 }, { { 2, 5, 30, 300 }, 4, 1, 13 }, { { 3, 7, 11 }, 3, 0, 13 },
    { { 1, 4420, 2 }, 3, 2, 11 }, { { 2, 3, 4, 5 }, 4, 1, 11 }, { { 1, 17000, 5 }, 3, -1, 13 },
  };
  for (unsigned c = 0; c < 2 * G_N_ELEMENTS (cases); c++) {
    unsigned k = c % G_N_ELEMENTS (cases);
    const char *op = c < G_N_ELEMENTS (cases) ? "Softmax" : "LogSoftmax";
    ob_model *b = ob_new (cases[k].opset);
    ob_input (b, "x", cases[k].nd, cases[k].dims);
    Onnx__NodeProto *n = ob_node (b, op, "x", "y");
    ob_attr_int (b, n, "axis", cases[k].axis);
    ob_output (b, "y");
    GString *dims = g_string_new (NULL);
    for (int d = 0; d < cases[k].nd; d++)
      g_string_append_printf (dims, "%s%" G_GINT64_FORMAT, d ? "," : "", cases[k].dims[d]);
    char *what = g_strdup_printf ("%s [%s] axis %" G_GINT64_FORMAT " opset %d", op, dims->str, cases[k].axis,
        cases[k].opset);
    g_string_free (dims, TRUE);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* cnn_parallel_copy: every byte copied, none around the destination
 * touched, from nothing to several chunks per thread, odd sizes and
 * offsets, on 1 and 3 threads. */
static void
test_parallel_copy (void)
{
  static const size_t sizes[] = { 0, 1, 1000, 512 * 1024 - 1, 512 * 1024 + 3, 3 * 1024 * 1024 + 77 };
  for (int threads = 1; threads <= 3; threads += 2) {
    cnn_threadpool *pool = cnn_threadpool_new (threads);
    gboolean ok = TRUE;
    for (unsigned k = 0; k < G_N_ELEMENTS (sizes); k++) {
      size_t n = sizes[k], off = k % 3;
      guint8 *src = g_malloc (n + 8), *dst = g_malloc (n + 16);
      for (size_t i = 0; i < n + 8; i++)
        src[i] = (guint8) g_rand_int (rng);
      memset (dst, 0xa5, n + 16);
      cnn_parallel_copy (pool, dst + 8, src + off, n);
      ok &= memcmp (dst + 8, src + off, n) == 0;
      for (size_t i = 0; i < 8; i++)
        ok &= dst[i] == 0xa5 && dst[n + 8 + i] == 0xa5;
      g_free (src);
      g_free (dst);
    }
    cnn_threadpool_free (pool);
    printf ("%s cnn_parallel_copy on %d thread(s): 0 B to 3 MB, every byte, nothing around\n",
        ok ? "ok  " : "FAIL", threads);
    ok ? n_pass++ : n_fail++;
  }
}

/* Distance in units in the last place between two finite floats. */
static int64_t
ulps (float a, float b)
{
  int32_t ia, ib;
  memcpy (&ia, &a, 4);
  memcpy (&ib, &b, 4);
  int64_t la = ia < 0 ? (int64_t) INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t) INT32_MIN - ib : ib;
  return la > lb ? la - lb : lb - la;
}

/* The AVX-512 e^x, sigmoid and tanh (cpu/activation_avx512.c) against libm over
 * the whole float range that matters, -110 to 95 in small steps, and at
 * the edges: infinities, NaN, zeros, where e^x overflows or goes below
 * the normal range (flushed to zero, as in a run), where tanh changes
 * formula.  e^x within 2 ulp of expf, the sigmoid, which divides by
 * 1 + e^-x, within 5 ulp of libm's, tanh within 4; the same infinities,
 * zeros and NaN. */
static void
test_exp_sigmoid_values (void)
{
  float probe[1] = { 0.f };
  if (!cnn_exp_fast (probe, probe, 0)) {
    printf ("skip e^x and sigmoid values: no AVX-512 here\n");
    return;
  }
  GArray *xs = g_array_new (FALSE, FALSE, sizeof (float));
  for (double v = -110; v <= 95; v += 0.0137)
    g_array_append_val (xs, (float) { (float) v });
  const float special[] = { INFINITY, -INFINITY, NAN, 0.f, -0.f, 88.72f, 88.73f, -87.3f, -87.4f, -103.9f,
    1e-30f, -1e-30f, 1e30f, -1e30f, 0.6249f, 0.625f, -0.625f, 1e-4f, -3e-3f };
  g_array_append_vals (xs, special, G_N_ELEMENTS (special));
  guint n = xs->len;
  float *x = (float *) xs->data, *e = g_new (float, n), *sg = g_new (float, n), *th = g_new (float, n);
#if defined(__x86_64__)
  unsigned csr = _mm_getcsr ();
  _mm_setcsr (csr | 0x8040);    /* flush-to-zero, denormals-are-zero: as in a run */
#endif
  cnn_exp_fast (x, e, n);
  cnn_act_map_fast (CNN_ACT_SIGMOID, x, sg, n);
  cnn_act_map_fast (CNN_ACT_TANH, x, th, n);
  int64_t worst_e = 0, worst_s = 0, worst_t = 0;
  gboolean ok = TRUE;
  for (guint i = 0; i < n; i++) {
    float want = expf (x[i]), want_s = 1.f / (1.f + expf (-x[i]));
    if (isnan (want) || isinf (want) || want == 0.f)
      ok &= (isnan (want) && isnan (e[i])) || want == e[i];
    else
      worst_e = MAX (worst_e, ulps (e[i], want));
    if (isnan (want_s) || want_s == 0.f || want_s == 1.f)
      ok &= (isnan (want_s) && isnan (sg[i])) || want_s == sg[i];
    else
      worst_s = MAX (worst_s, ulps (sg[i], want_s));
    float want_t = tanhf (x[i]);
    if (isnan (want_t) || fabsf (want_t) == 1.f || want_t == 0.f)
      ok &= (isnan (want_t) && isnan (th[i])) || want_t == th[i];
    else
      worst_t = MAX (worst_t, ulps (th[i], want_t));
  }
#if defined(__x86_64__)
  _mm_setcsr (csr);
#endif
  ok &= worst_e <= 2 && worst_s <= 5 && worst_t <= 4;
  printf ("%s e^x, sigmoid and tanh of %u values from -110 to 95 and the edges: worst %" G_GINT64_FORMAT
      ", %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT " ulp from libm\n", ok ? "ok  " : "FAIL", n, worst_e,
      worst_s, worst_t);
  ok ? n_pass++ : n_fail++;
  g_free (e);
  g_free (sg);
  g_free (th);
  g_array_free (xs, TRUE);
}

/* Conv + Sigmoid + Mul (SiLU, YOLOv5/v8's activation), fused into the
 * convolution, through each fast convolution path: 1x1, Winograd 3x3,
 * strided (implicit GEMM), depthwise, few output channels (direct). */
static void
test_silu_fusion (void)
{
  static const int64_t cfg[5][5] = {    /* C, M, k, stride, group */
    { 16, 24, 1, 1, 1 }, { 12, 20, 3, 1, 1 }, { 8, 32, 3, 2, 1 }, { 24, 24, 3, 1, 24 }, { 16, 3, 3, 1, 1 },
  };
  for (int c = 0; c < 5; c++) {
    ob_model *b = ob_new (13);
    int64_t C = cfg[c][0], M = cfg[c][1], k = cfg[c][2], s = cfg[c][3], G = cfg[c][4];
    int64_t xd[4] = { 1, C, rnd (20, 60), rnd (20, 70) }, wd[4] = { M, C / G, k, k }, p = k / 2;
    int64_t pads[4] = { p, p, p, p }, st[2] = { s, s };
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &M, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", "x,w,b", "c");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_attr_ints (b, n, "strides", 2, st);
    ob_attr_int (b, n, "group", G);
    ob_node (b, "Sigmoid", "c", "sg");
    ob_node (b, "Mul", c % 2 ? "c,sg" : "sg,c", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Conv C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT
        " s%" G_GINT64_FORMAT " g%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " + SiLU",
        C, M, k, s, G, xd[2], xd[3]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

static void
test_elementwise (void)
{
  const char *bin[] = { "Add", "Sub", "Mul", "Div", "PRelu" };
  for (int c = 0; c < 30; c++) {
    ob_model *b = ob_new (13);
    int64_t ad[4] = { rnd (1, 3), rnd (1, 6), rnd (1, 9), rnd (1, 40) }, bd[4];
    int nb = (int) rnd (1, 4);
    for (int i = 0; i < nb; i++)
      bd[i] = rnd (0, 1) ? ad[4 - nb + i] : 1;
    const char *op = bin[c % 5];
    ob_input (b, "a", 4, ad);
    if (c % 2)
      ob_input (b, "b", nb, bd);
    else
      ob_init_float (b, "b", nb, bd, NULL, rng);
    ob_node (b, op, "a,b", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT "] with rank-%d operand", op, ad[0], ad[1], ad[2], ad[3], nb);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  /* both operands broadcast, in different dims, and tensors of several
   * tasks of rows (blocks starting inside a dim) and threaded: an SSD's
   * 1 x 4420 x 2 boxes times 4420 x 2 priors or a [2] scale */
  for (int c = 0; c < 12; c++) {
    ob_model *b = ob_new (13);
    int64_t full[4] = { rnd (1, 3), rnd (2, 9), rnd (20, 300), rnd (1, 9) }, ad[4], bd[4];
    if (c % 4 == 3) {
      full[0] = 1;
      full[1] = 4420;
      full[2] = c % 8 == 3 ? 2 : 4;
      full[3] = 1;
    } else if (c % 4 == 0) {    /* threaded */
      full[0] = 2;
      full[1] = 8;
      full[2] = rnd (250, 300);
      full[3] = 9;
    }
    const char *op = bin[c % 5];
    for (int i = 0; i < 4; i++) {
      int pick = (int) rnd (0, 2);      /* 0: both full, 1: a broadcast, 2: b broadcast */
      pick = pick == 1 && strcmp (op, "PRelu") == 0 ? 2 : pick; /* PRelu's slope broadcasts, X not */
      ad[i] = pick == 1 ? 1 : full[i];
      bd[i] = pick == 2 ? 1 : full[i];
    }
    ob_input (b, "a", 4, ad);
    ob_input (b, "b", 4, bd);
    ob_node (b, op, "a,b", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT "] by [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]",
        op, ad[0], ad[1], ad[2], ad[3], bd[0], bd[1], bd[2], bd[3]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  const char *un[] = { "Relu", "Sigmoid", "Tanh", "HardSwish", "Softmax", "InstanceNormalization",
    "BatchNormalization", "LeakyRelu", "Exp" };
  for (unsigned c = 0; c < G_N_ELEMENTS (un); c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { 2, 5, rnd (3, 30), rnd (3, 300) }, C = 5;
    ob_input (b, "x", 4, xd);
    if (strcmp (un[c], "InstanceNormalization") == 0) {
      ob_init_float (b, "s", 1, &C, NULL, rng);
      ob_init_float (b, "bb", 1, &C, NULL, rng);
      ob_node (b, un[c], "x,s,bb", "y");
    } else if (strcmp (un[c], "BatchNormalization") == 0) {
      float var[5] = { 0.5f, 1, 1.5f, 2, 0.25f };
      ob_init_float (b, "s", 1, &C, NULL, rng);
      ob_init_float (b, "bb", 1, &C, NULL, rng);
      ob_init_float (b, "mean", 1, &C, NULL, rng);
      ob_init_float (b, "var", 1, &C, var, rng);
      ob_node (b, un[c], "x,s,bb,mean,var", "y");
    } else {
      Onnx__NodeProto *n = ob_node (b, un[c], "x", "y");
      if (strcmp (un[c], "Softmax") == 0)
        ob_attr_int (b, n, "axis", 1);
    }
    ob_output (b, "y");
    check (b, un[c]);
    ob_free (b);
  }
}

/* Chains of ops, not single ones: on a GPU in tf32 and fp16 the tensors
 * between them are NHWC (convolutions, pools, Relu, residual Adds, channel
 * Concats), converted at the ends; on the CPU the residual fusion runs. */
static void
test_chains (void)
{
  for (int c = 0; c < 12; c++) {
    ob_model *b = ob_new (13);
    int64_t N = rnd (1, 2), C = rnd (1, 8), M = rnd (1, 9), H = rnd (4, 19), W = rnd (4, 19);
    int64_t xd[4] = { N, C, H, W }, w1[4] = { M, C, 3, 3 }, w2[4] = { M, M, 1, 1 }, w3[4] = { M, M, 3, 3 };
    int64_t pads[4] = { 1, 1, 1, 1 }, k2[2] = { 2, 2 }, mb[1] = { M };
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w1", 4, w1, NULL, rng);
    ob_init_float (b, "b1", 1, mb, NULL, rng);
    ob_init_float (b, "w2", 4, w2, NULL, rng);
    ob_init_float (b, "w3", 4, w3, NULL, rng);
    ob_init_float (b, "b3", 1, mb, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", "x,w1,b1", "a");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_node (b, c % 3 == 2 ? "LeakyRelu" : "Relu", "a", "r");
    n = ob_node (b, c % 2 ? "MaxPool" : "AveragePool", "r", "p");
    ob_attr_ints (b, n, "kernel_shape", 2, k2);
    ob_attr_ints (b, n, "strides", 2, k2);
    ob_node (b, "Conv", "p,w2", "q");
    n = ob_node (b, "Conv", "p,w3,b3", "t");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_node (b, "Add", "q,t", "sum");
    ob_node (b, "Relu", "sum", "r2");
    n = ob_node (b, "Concat", "r2,p", "cat");
    ob_attr_int (b, n, "axis", 1);
    ob_node (b, "Sigmoid", "cat", "sg");
    if (c % 2)
      ob_node (b, "GlobalAveragePool", "sg", "y");
    else
      ob_node (b, "Mul", "sg,cat", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("chain C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " %" G_GINT64_FORMAT
        "x%" G_GINT64_FORMAT, C, M, H, W);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

static void
test_pad_resize (void)
{
  const char *modes[] = { "constant", "reflect", "edge" };
  for (int c = 0; c < 18; c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { rnd (1, 2), rnd (1, 4), rnd (3, 12), rnd (3, 30) }, pads[8];
    for (int i = 0; i < 8; i++)
      pads[i] = (i % 4) < 2 ? 0 : rnd (0, 2);
    ob_input (b, "x", 4, xd);
    ob_init_int64 (b, "pads", 8, pads);
    Onnx__NodeProto *n = ob_node (b, "Pad", "x,pads", "y");
    ob_attr_string (b, n, "mode", modes[c % 3]);
    ob_output (b, "y");
    char *what = g_strdup_printf ("Pad %s %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " pads %" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT, modes[c % 3], xd[2], xd[3], pads[2], pads[3]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  const char *coords[] = { "half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel" };
  /* then downscaling and large factors (DeepLab: 33 -> 257), then nearest
   * at whole factors (each value repeated, style models' 2x) on images
   * large enough for threads */
  static const float big[] = { 0.5f, 0.75f, 7.8f, 3.3f, 0.4f };
  for (int c = 0; c < 28; c++) {
    ob_model *b = ob_new (13);
    int64_t xd[4] = { 1, rnd (1, 3), rnd (2, 11), rnd (2, 17) }, four = 4;
    float scales[4] = { 1, 1, (float) rnd (1, 4) / 2.f + 0.5f, (float) rnd (1, 4) / 2.f + 0.5f };
    if (c >= 16 && c < 24) {
      xd[2] = rnd (5, 40);
      xd[3] = rnd (5, 40);
      scales[2] = big[c % 5];
      scales[3] = big[(c + 2) % 5];
    } else if (c >= 24) {
      xd[1] = 3;
      xd[2] = rnd (40, 70);
      xd[3] = rnd (40, 70);
      scales[2] = (float) (2 + c % 3);
      scales[3] = (float) (2 + (c + 1) % 3);
    }
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "roi", 1, (int64_t[]) { 0 }, NULL, rng);
    ob_init_float (b, "scales", 1, &four, scales, rng);
    Onnx__NodeProto *n = ob_node (b, "Resize", "x,roi,scales", "y");
    bool linear = c % 2 && c < 24;
    const char *coord = c < 24 ? coords[c % 4] : "asymmetric";
    ob_attr_string (b, n, "mode", linear ? "linear" : "nearest");
    ob_attr_string (b, n, "coordinate_transformation_mode", coord);
    if (c >= 24)
      ob_attr_string (b, n, "nearest_mode", "floor");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Resize %s %s %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " x%.1f,%.1f",
        linear ? "linear" : c >= 24 ? "nearest floor" : "nearest", coord, xd[2], xd[3], scales[2], scales[3]);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* 3x3 stride-1 convolutions on the Winograd path (forced on): odd sizes
 * (partial edge tiles, rows of tiles that are not whole vectors of 16),
 * asymmetric pads, batches (up to 6 images: those of one block go through
 * the stages together, up to 64 tiles, the last run of a batch shorter),
 * with and without bias, a fused activation
 * (Sigmoid applied after the store) or residual Add + Relu.  The smallest
 * images run as one block whose stages are split across threads (12
 * threads: the GEMMs split by weight rows too); those with a vector of
 * tiles a thread as a block a thread; the larger ones as one task per
 * block of tiles, blocks starting inside rows of tiles. */
static void
test_winograd (void)
{
  static const int threads[] = { 2, 1, 3, 12 };
  for (int c = 0; c < 20; c++) {
    ob_model *b = ob_new (13);
    bool large = c >= 14;
    int64_t N = large ? rnd (1, 2) : rnd (1, 6), C = large ? rnd (40, 72) : rnd (4, 40);
    int64_t M = large ? rnd (40, 72) : rnd (1, 40);
    int64_t xd[4] = { N, C, large ? rnd (40, 70) : rnd (3, 41), large ? rnd (64, 90) : rnd (3, 47) };
    if (c == 3 || c == 6) {     /* runs of 4 images and 1; one run of 6 */
      xd[0] = N = c == 3 ? 5 : 6;
      xd[2] = xd[3] = c == 3 ? 13 : 10;
    }
    int64_t wd[4] = { M, C, 3, 3 }, M1 = M;
    int64_t p[4] = { rnd (0, 1), rnd (0, 1), rnd (0, 1), rnd (0, 1) };
    if (c == 3)                 /* 13 x 13 out: 16 tiles an image */
      p[0] = p[1] = p[2] = p[3] = 1;
    int kind = c % 4;           /* 0 plain, 1 Relu, 2 Sigmoid, 3 residual Add + Relu */
    /* weights scaled as a trained network's are (sums of about unit
     * size): on [-1, 1) weights the sums grow with sqrt (9 C) and with them
     * the transforms' rounding, which a Sigmoid's output of at most 1 then
     * holds to a tolerance relative to itself */
    float *wv = g_new (float, M * C * 9);
    for (int64_t i = 0; i < M * C * 9; i++)
      wv[i] = (float) (g_rand_double_range (rng, -1, 1) * 1.7 / sqrt (9. * C));
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, wv, rng);
    g_free (wv);
    ob_init_float (b, "b", 1, &M1, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", c % 2 ? "x,w,b" : "x,w", kind ? "c" : "y");
    ob_attr_ints (b, n, "pads", 4, p);
    if (kind == 1 || kind == 2)
      ob_node (b, kind == 1 ? "Relu" : "Sigmoid", "c", "y");
    if (kind == 3) {
      int64_t rd[4] = { N, M, xd[2] + p[0] + p[2] - 2, xd[3] + p[1] + p[3] - 2 };
      ob_input (b, "r", 4, rd);
      ob_node (b, "Add", "c,r", "s");
      ob_node (b, "Relu", "s", "y");
    }
    ob_output (b, "y");
    fast_threads = threads[c % 4];
    char *what = g_strdup_printf ("Conv3x3 (Winograd) N%" G_GINT64_FORMAT " C%" G_GINT64_FORMAT " M%"
        G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " pads %" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT " %s, %d threads", N, C, M, xd[2], xd[3],
        p[0], p[1], p[2], p[3], (const char *[]) { "plain", "Relu", "Sigmoid", "residual" }[kind], fast_threads);
    check (b, what);
    fast_threads = 2;
    g_free (what);
    ob_free (b);
  }
}

/* 2D convolutions with enough channels for the implicit GEMM
 * (cpu/conv2d_implicit.c): kernel sizes 1 (plain, padded or strided) to 5, strides
 * 1 to 3, dilations, uneven pads, groups, widths from 1 up, output channels
 * not a multiple of the tile (5 to 7 a group: most of one 8-row tile),
 * bias, a fused activation or a fused residual Add + Relu; on 2 threads and some on 3, the larger maps split between
 * them by columns (cnn_spatial_split()); last, convolutions whose K the
 * threads split: heads of one tile with K of 1024 or more, 1x1 ones on
 * small maps with K of 4 M or more (some on 3 threads, one on 8: fewer
 * parts than threads).  Winograd is off here so that the 3x3 cases reach
 * this path. */
static void
test_implicit (void)
{
  cnn_conv2d_winograd_enable (false);
  cnn_conv2d_pixel_major_enable (0);
  for (int c = 0; c < 45; c++) {
    ob_model *b = ob_new (13);
    int64_t G = c % 5 == 4 ? 2 : 1, C = G * rnd (2, 24), M = G * (c % 6 == 4 ? rnd (5, 7) : rnd (8, 40)), mm = M;
    int64_t kh = c < 12 ? 3 : rnd (1, 5), kw = c < 12 ? 3 : rnd (1, 5), d = c % 4 == 3 && c % 8 != 3 ? 2 : 1;
    int64_t H = rnd (1, 40), W = c % 6 == 0 ? rnd (1, 4) : rnd (5, 70);
    int64_t p[4] = { rnd (0, 2), rnd (0, 2), rnd (0, 2), rnd (0, 2) };
    if (c == 1) {               /* stride 2, phase rows of more than 8 vectors */
      H = rnd (2, 6);
      W = rnd (260, 300);
    }
    if (c % 8 == 7) {           /* a ResNet downsample: 1x1, stride 2, no pads */
      kh = kw = 1;
      p[0] = p[1] = p[2] = p[3] = 0;
    }
    if (c >= 39) {              /* K split between the threads: one tile, K >= 1024 (a detector's head),
                                 * or a 1x1 on a small map whose K is 4 M or more (a projection) */
      static const int64_t heads[6][5] = { { 256, 12, 4, 5, 3 }, { 120, 6, 3, 7, 3 }, { 1100, 9, 5, 6, 1 },
        { 200, 8, 2, 9, 3 }, { 600, 40, 14, 14, 1 }, { 450, 96, 13, 11, 1 } };       /* C, M, H, W, kernel */
      G = 1;
      C = heads[c - 39][0];
      M = mm = heads[c - 39][1];
      H = heads[c - 39][2];
      W = heads[c - 39][3];
      kh = kw = heads[c - 39][4];
      d = 1;
      p[0] = p[1] = p[2] = p[3] = kh / 2;
    } else if (c == 38) {       /* 2.6 MB of weights on 7 x 7 (AVX2: row panels outer) */
      G = 1;
      M = mm = 2200;
      C = 300;
      kh = kw = 1;
      d = 1;
      H = W = 7;
      p[0] = p[1] = p[2] = p[3] = 0;
    } else if (c >= 32) {       /* many channels on a small map: compact mode */
      M = mm = G * rnd (64, 100);
      C = G * rnd (20, 60);
      kh = kw = 3;
      d = 1;
      H = W = c % 2 ? 13 : 9;
      p[0] = p[1] = p[2] = p[3] = 1;
    } else if (c % 8 == 3 || c >= 24) { /* a plain 1x1: read in place, the last tile copied */
      kh = kw = 1;
      C = G * (c >= 30 ? rnd (260, 300) : rnd (16, 40));   /* K blocks of 256 */
      if (c == 11) {            /* the 8 x 48 tile, a last tile of one column (8 x 16) */
        M = mm = G * 16;
        H = 13;
        W = 37;
      }
      p[0] = p[1] = p[2] = p[3] = 0;
    } else if (kh * kw == 1 && c % 8 != 7)
      p[1] = 1;                 /* a padded 1x1 */
    /* the dilated kernel fits the padded input */
    H = MAX (H, (kh - 1) * d + 1 - p[0] - p[2]);
    W = MAX (W, (kw - 1) * d + 1 - p[1] - p[3]);
    int64_t st[2] = { c % 3 == 1 || c % 8 == 7 ? 2 : c % 7 == 6 ? 3 : 1, c % 3 == 1 || c % 8 == 7 ? 2 : 1 };
    if (c >= 24)
      st[0] = st[1] = 1;
    int64_t xd[4] = { rnd (1, 2), C, H, W }, wd[4] = { M, C / G, kh, kw }, dil[2] = { d, d };
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &mm, NULL, rng);
    /* 0 plain, 1 a fused activation, 2 residual Add + Relu; the activation
     * applied as the output is stored, or (Sigmoid) in a pass of its own;
     * the last cases 1x1 ones, whose kernel stores the output itself */
    int kind = c >= 24 && c < 32 ? 1 + c % 2 : c % 3;
    static const char *const acts[] = { "Relu", "LeakyRelu", "Sigmoid", "Clip" };
    const char *act = acts[c >= 24 && c < 32 ? c / 2 % 4 : c / 3 % 3];
    Onnx__NodeProto *n = ob_node (b, "Conv", c % 2 ? "x,w,b" : "x,w", kind ? "c" : "y");
    ob_attr_ints (b, n, "pads", 4, p);
    ob_attr_ints (b, n, "dilations", 2, dil);
    ob_attr_ints (b, n, "strides", 2, st);
    ob_attr_int (b, n, "group", G);
    if (kind == 1) {
      Onnx__NodeProto *a = ob_node (b, act, "c", "y");
      if (g_str_equal (act, "LeakyRelu"))
        ob_attr_float (b, a, "alpha", 0.1f);
      if (g_str_equal (act, "Clip")) {
        ob_attr_float (b, a, "min", -0.5f);
        ob_attr_float (b, a, "max", 0.5f);
      }
    } else if (kind == 2) {
      /* the residual: another input of the output's shape */
      int64_t rd[4] = { xd[0], M, (H + p[0] + p[2] - (kh - 1) * d - 1) / st[0] + 1,
        (W + p[1] + p[3] - (kw - 1) * d - 1) / st[1] + 1 };
      ob_input (b, "r", 4, rd);
      ob_node (b, "Add", "c,r", "s");
      ob_node (b, "Relu", "s", "y");
    }
    ob_output (b, "y");
    /* some on 3 threads: blocks of columns a whole number a thread */
    fast_threads = c == 43 ? 8 : c % 5 == 2 ? 3 : 2;     /* 8: fewer parts of K than threads */
    char *what = g_strdup_printf ("Conv (implicit GEMM) C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " g%"
        G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
        " s%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " d%" G_GINT64_FORMAT " pads %" G_GINT64_FORMAT ",%"
        G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "%s%s", C, M, G, H, W, kh, kw, st[0], st[1],
        d, p[0], p[1], p[2], p[3], kind == 2 ? " + residual + Relu" : kind ? " + " : "", kind == 1 ? act : "");
    char *full = g_strdup_printf ("%s, %d threads", what, fast_threads);
    g_free (what);
    what = full;
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  fast_threads = 2;
  cnn_conv2d_pixel_major_enable (-1);
  cnn_conv2d_winograd_enable (true);
}

/* The implicit GEMM's pixel-major mode (pixels x channels, 7 x 64 tiles):
 * 3x3 on the padded grid (each panel of 7 pixels one row of a 7 x 7 map,
 * or across rows of 13 x 13: gathered), 1x1 read in place with K over
 * blocks of 128 and a last one shorter, strided, dilated with uneven pads,
 * groups, fewer than 7 pixels, channel panels of 64 and a last one of 16, 32 or 48 columns (a
 * few used), bias or none, Relu, LeakyRelu and Sigmoid (a pass of its
 * own), a fused residual; one thread and two, two threads sharing the
 * channel panels (256 channels), the channels in runs of 16 across a
 * panel's (70, 90, 130 and 17 channels, more than pixels) or the pixels
 * (64 channels at 13 x 13); batch 2.  Last, with
 * the mode on where it pays, a 7 x 7 layer with 1.2 MB of weights. */
static void
test_pixel_major (void)
{
  /* C, M, H, W, k, stride, pad, dilation, group, batch, kind (0 plain,
   * 1 Relu, 2 LeakyRelu, 3 Sigmoid, 4 residual + Relu), mode */
  static const int64_t cases[][12] = {
    { 40, 70, 7, 7, 3, 1, 1, 1, 1, 1, 4, 1 }, { 300, 64, 13, 13, 1, 1, 0, 1, 1, 1, 3, 1 },
    { 33, 130, 14, 14, 1, 2, 0, 1, 1, 2, 2, 1 }, { 20, 100, 13, 13, 3, 2, 1, 1, 2, 1, 1, 1 },
    { 24, 48, 9, 11, 3, 1, 2, 2, 1, 2, 0, 1 }, { 40, 17, 1, 5, 1, 1, 0, 1, 1, 1, 4, 1 },
    { 64, 256, 7, 7, 3, 1, 1, 1, 1, 1, 4, 1 }, { 36, 90, 6, 9, 1, 1, 0, 1, 1, 1, 1, 1 },
    { 256, 128, 7, 7, 3, 1, 1, 1, 1, 1, 4, -1 },
  };
  cnn_conv2d_winograd_enable (false);
  for (guint c = 0; c < G_N_ELEMENTS (cases) * 2; c++) {
    const int64_t *k = cases[c / 2];
    cnn_conv2d_pixel_major_enable ((int) k[11]);
    int64_t C = k[0], M = k[1], ks = k[4], s = k[5], p = k[6], d = k[7], G = k[8], kind = k[10];
    ob_model *b = ob_new (13);
    int64_t xd[4] = { k[9], C, k[2], k[3] }, wd[4] = { M, C / G, ks, ks };
    /* uneven pads where the case has any: one more at the bottom right */
    int64_t pads[4] = { p, p, p ? p + 1 : 0, p ? p + 1 : 0 }, st[2] = { s, s }, dil[2] = { d, d };
    int64_t OH = (xd[2] + pads[0] + pads[2] - (ks - 1) * d - 1) / s + 1;
    int64_t OW = (xd[3] + pads[1] + pads[3] - (ks - 1) * d - 1) / s + 1;
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &M, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", c % 4 == 1 ? "x,w" : "x,w,b", kind ? "c" : "y");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_attr_ints (b, n, "strides", 2, st);
    ob_attr_ints (b, n, "dilations", 2, dil);
    ob_attr_int (b, n, "group", G);
    static const char *const acts[] = { NULL, "Relu", "LeakyRelu", "Sigmoid" };
    if (kind == 4) {
      ob_input (b, "r", 4, (int64_t[4]) { xd[0], M, OH, OW });
      ob_node (b, "Add", "c,r", "s");
      ob_node (b, "Relu", "s", "y");
    } else if (kind) {
      Onnx__NodeProto *a = ob_node (b, acts[kind], "c", "y");
      if (kind == 2)
        ob_attr_float (b, a, "alpha", 0.1f);
    }
    ob_output (b, "y");
    fast_threads = c % 2 ? 2 : 1;
    char *what = g_strdup_printf ("Conv (pixel-major) C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " g%"
        G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT " s%" G_GINT64_FORMAT
        " d%" G_GINT64_FORMAT " batch %" G_GINT64_FORMAT " %s, %d thread(s)", C, M, G, xd[2], xd[3], ks, s, d,
        xd[0], kind == 4 ? "residual + Relu" : kind ? acts[kind] : "plain", fast_threads);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  fast_threads = 2;
  cnn_conv2d_pixel_major_enable (-1);
  cnn_conv2d_winograd_enable (true);
}

/* Transpose (cpu/transpose.c): ranks 1 to 5, dims of 1 (dropped) and dims
 * that move together (merged), contiguous runs and tiled planes (4-byte
 * elements in 16 x 16 register blocks, masked at every edge), tensors
 * big enough to thread, DeepLab's NCHW -> NHWC of a 21-class map. */
static void
test_transpose (void)
{
  for (int c = 0; c < 20; c++) {
    ob_model *b = ob_new (13);
    int nd = c == 0 ? 4 : c == 1 ? 1 : (int) rnd (2, 5);
    int64_t xd[5], perm[5];
    for (int i = 0; i < nd; i++) {
      xd[i] = c % 4 == 1 && i == 0 ? 1 : rnd (1, nd <= 2 ? 300 : nd == 3 ? 60 : 17);
      perm[i] = i;
    }
    if (c == 0) {
      int64_t d0[4] = { 1, 21, 257, 257 }, p0[4] = { 0, 2, 3, 1 };
      memcpy (xd, d0, sizeof d0);
      memcpy (perm, p0, sizeof p0);
    } else
      for (int i = nd - 1; i > 0; i--) {
        int j = (int) rnd (0, i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
      }
    ob_input (b, "x", nd, xd);
    Onnx__NodeProto *n = ob_node (b, "Transpose", "x", "y");
    if (c % 5 != 4)
      ob_attr_ints (b, n, "perm", nd, perm);  /* else the default: reversed */
    ob_output (b, "y");
    GString *what = g_string_new ("Transpose");
    for (int i = 0; i < nd; i++)
      g_string_append_printf (what, "%s%" G_GINT64_FORMAT, i ? "x" : " ", xd[i]);
    g_string_append (what, " perm");
    for (int i = 0; i < nd; i++)
      g_string_append_printf (what, " %" G_GINT64_FORMAT, c % 5 == 4 ? nd - 1 - i : perm[i]);
    check (b, what->str);
    g_string_free (what, TRUE);
    ob_free (b);
  }
}

/* InstanceNormalization's fast path (ops/norm.c: moments chunk by chunk,
 * merged): planes of one value, less than a chunk, chunks and a ragged
 * end; values far from 0 with a small spread (mean 100, std 0.001) and a
 * ramp whose chunks have means of their own; the fused activations. */
static void
test_instance_norm (void)
{
  const char *acts[] = { NULL, "Relu", "LeakyRelu", "Sigmoid" };
  for (int c = 0; c < 12; c++) {
    ob_model *b = ob_new (13);
    int64_t H = c == 0 ? 1 : c < 3 ? rnd (1, 9) : rnd (20, 70), W = c == 0 ? 1 : rnd (1, 90);
    int64_t xd[4] = { rnd (1, 2), 3, H, W }, C = 3, hw[2] = { H, W }, one = 1;
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "s", 1, &C, NULL, rng);
    ob_init_float (b, "bb", 1, &C, NULL, rng);
    const char *src = "x";
    if (c % 3 == 1) {           /* 100 + x / 1000 */
      float k[2] = { 1e-3f, 100 };
      ob_init_float (b, "k0", 1, &one, &k[0], rng);
      ob_init_float (b, "k1", 1, &one, &k[1], rng);
      ob_node (b, "Mul", "x,k0", "m");
      ob_node (b, "Add", "m,k1", "o");
      src = "o";
    } else if (c % 3 == 2) {    /* x + a ramp over the plane, 0 to 50 */
      float *ramp = g_new (float, H * W);
      for (int64_t i = 0; i < H * W; i++)
        ramp[i] = 50.f * (float) i / (float) (H * W);
      ob_init_float (b, "ramp", 2, hw, ramp, rng);
      g_free (ramp);
      ob_node (b, "Add", "x,ramp", "o");
      src = "o";
    }
    char *ins = g_strdup_printf ("%s,s,bb", src);
    const char *act = acts[c % G_N_ELEMENTS (acts)];
    ob_node (b, "InstanceNormalization", ins, act ? "n" : "y");
    g_free (ins);
    if (act)
      ob_node (b, act, "n", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("InstanceNormalization %" G_GINT64_FORMAT "x3x%" G_GINT64_FORMAT "x%"
        G_GINT64_FORMAT "%s%s%s", xd[0], H, W, c % 3 == 1 ? " 100+x/1000" : c % 3 == 2 ? " x+ramp" : "",
        act ? " + " : "", act ? act : "");
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

/* The opset-1 ops of older style models (ops/legacy.c): ImageScaler with
 * and without its per-channel bias, Crop by border and by size, Affine of
 * any rank; some large enough for threads. */
static void
test_legacy (void)
{
  for (int c = 0; c < 12; c++) {
    ob_model *b = ob_new (13);
    int big = c % 4 == 3;
    int64_t xd[4] = { rnd (1, 2), rnd (1, 5), big ? rnd (150, 300) : rnd (1, 30), big ? rnd (150, 300) : rnd (1, 40) };
    const char *op = c % 3 == 0 ? "ImageScaler" : c % 3 == 1 ? "Crop" : "Affine";
    int nd = c % 3 == 2 && !big ? (int) rnd (1, 4) : 4;
    ob_input (b, "x", nd, xd);
    Onnx__NodeProto *n = ob_node (b, op, "x", "y");
    GString *what = g_string_new (op);
    for (int i = 0; i < nd; i++)
      g_string_append_printf (what, "%s%" G_GINT64_FORMAT, i ? "x" : " ", xd[i]);
    if (c % 3 == 0) {
      ob_attr_float (b, n, "scale", (float) g_rand_double_range (rng, -2, 2));
      if (c % 2) {
        float bias[5];
        for (int i = 0; i < xd[1]; i++)
          bias[i] = (float) g_rand_double_range (rng, -1, 1);
        ob_attr_floats (b, n, "bias", (int) xd[1], bias);
        g_string_append (what, " bias");
      }
    } else if (c % 3 == 1) {
      int64_t border[4] = { rnd (0, xd[3] / 3), rnd (0, xd[2] / 3), 0, 0 };
      border[2] = rnd (0, (xd[3] - 1 - border[0]) / 2);
      border[3] = rnd (0, (xd[2] - 1 - border[1]) / 2);
      ob_attr_ints (b, n, "border", 4, border);
      if (c % 2) {
        int64_t size[2] = { rnd ((xd[2] - border[1] + 1) / 2, xd[2] - border[1]),
          rnd ((xd[3] - border[0] + 1) / 2, xd[3] - border[0]) };
        ob_attr_ints (b, n, "scale", 2, size);
        g_string_append_printf (what, " at %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT " size %" G_GINT64_FORMAT
            "x%" G_GINT64_FORMAT, border[1], border[0], size[0], size[1]);
      } else
        g_string_append_printf (what, " border %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
            ",%" G_GINT64_FORMAT, border[0], border[1], border[2], border[3]);
    } else {
      ob_attr_float (b, n, "alpha", (float) g_rand_double_range (rng, -2, 2));
      ob_attr_float (b, n, "beta", (float) g_rand_double_range (rng, -1, 1));
    }
    ob_output (b, "y");
    check (b, what->str);
    g_string_free (what, TRUE);
    ob_free (b);
  }
}

/* Rows of output pixels whose last 1 to 4 columns go to the GEMM's thin
 * kernel (alone, or after a 16-wide tile): 1x1 convolutions read in place
 * and 3x3 ones on the padded grid or packed (compact), in 12 x 32 and 8 x 48
 * tiles (16 output channels), K past one block of 256, with bias,
 * residual and a fused Relu. */
static void
test_thin_columns (void)
{
  /* C, M, H, W, kernel: columns 49 = 32 + 16 + 1, 196 = 6 * 32 + 4, 34 =
   * 32 + 2, 35, 51 = 32 + 16 + 3; 50 = 48 + 2 and 66 = 48 + 16 + 2 at 8 x 48;
   * 7 x 7 3x3 with 96 channels packed (49 columns), 4 x 5 grid (rows of 7);
   * last, outputs large enough to go panel by panel (1x1: 2915 = 91 * 32 +
   * 3 columns, and 60 * 61 = 114 * 32 + 12, the last panel of rows short;
   * 3x3: stored from the grid) */
  static const int64_t cases[][5] = {
    { 300, 40, 7, 7, 1 }, { 24, 30, 14, 14, 1 }, { 20, 13, 2, 17, 1 }, { 33, 25, 5, 7, 1 },
    { 17, 27, 3, 17, 1 }, { 20, 16, 5, 10, 1 }, { 40, 16, 6, 11, 1 }, { 48, 96, 7, 7, 3 },
    { 12, 20, 4, 5, 3 }, { 70, 16, 1, 2, 1 }, { 24, 90, 53, 55, 1 }, { 16, 100, 60, 61, 1 },
    { 12, 70, 60, 63, 3 },
  };
  cnn_conv2d_winograd_enable (false);
  cnn_conv2d_pixel_major_enable (0);
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    ob_model *b = ob_new (13);
    int64_t C = cases[c][0], M = cases[c][1], k = cases[c][4], p = k / 2;
    int64_t xd[4] = { 1, C, cases[c][2], cases[c][3] }, wd[4] = { M, C, k, k }, pads[4] = { p, p, p, p };
    ob_input (b, "x", 4, xd);
    ob_input (b, "r", 4, (int64_t[4]) { 1, M, xd[2], xd[3] });
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &M, NULL, rng);
    Onnx__NodeProto *n = ob_node (b, "Conv", "x,w,b", "c");
    ob_attr_ints (b, n, "pads", 4, pads);
    ob_node (b, "Add", "c,r", "s");
    ob_node (b, "Relu", "s", "y");
    ob_output (b, "y");
    char *what = g_strdup_printf ("Conv (thin columns) C%" G_GINT64_FORMAT " M%" G_GINT64_FORMAT " %"
        G_GINT64_FORMAT "x%" G_GINT64_FORMAT " k%" G_GINT64_FORMAT " + residual + Relu", C, M, xd[2], xd[3], k);
    check (b, what);
    g_free (what);
    ob_free (b);
  }
  cnn_conv2d_pixel_major_enable (-1);
  cnn_conv2d_winograd_enable (true);
}

/* Depthwise convolutions (cpu/conv2d_depthwise.c): MobileNet's 3x3 at
 * stride 1 and 2, and kernels 2 to 7, strides to 3, dilations, pads up to
 * 3, planes from 1x1 up (several channels to a task), bias, a fused
 * ReLU6-style Clip or a fused residual Add; then small planes of unchanged
 * size (the flat path: MobileNet's 14x14 and 7x7, 16x16, odd sizes, 5x5
 * kernels, dilation 2); then planes of several bands of rows (MobileNet's
 * 112x112 at stride 2, a tall narrow one whose last band is short, with
 * pads past the kernel so that bands read nothing but padding); last,
 * DeepLab's dilated 3x3 at stride 1 (dilation 2 and 4: 33x33, odd sizes,
 * uneven pads, planes narrower or shorter than the dilated kernel; rows
 * and flat paths both); pads that leave a row's first or last vector
 * one column short of its unmasked reads; rows wider than 4096, which the
 * rows path reads with masks throughout; last, 3x3 at stride 2 on rows of
 * 16 or fewer (MobileNet's 14x14, odd sizes and pads, planes of one row or
 * one pixel), two output rows to a vector. */
static void
test_depthwise (void)
{
  for (int c = 0; c < 58; c++) {
    ob_model *b = ob_new (13);
    bool mobilenet = c < 12 || c >= 50;
    int64_t C = c % 7 == 6 ? rnd (100, 300) : rnd (1, 20);
    int64_t kh = mobilenet ? 3 : rnd (2, 7), kw = mobilenet ? 3 : rnd (1, 7);
    int64_t s = mobilenet ? c % 2 + 1 : rnd (1, 3), d = mobilenet || c % 3 ? 1 : 2;
    int64_t st[2] = { s, mobilenet ? s : rnd (1, 3) }, dl[2] = { d, d };
    int64_t p[4] = { c % 3 ? 1 : 0, c % 4 ? 1 : 0, c % 5 ? 1 : 0, c % 3 ? 1 : 0 };
    if (!mobilenet)
      for (int i = 0; i < 4; i++)
        p[i] = rnd (0, 3);
    int64_t H = c % 7 == 6 ? rnd (1, 9) : rnd (3, 40), W = c % 7 == 6 ? rnd (1, 9) : rnd (3, 70);
    if (c >= 28 && c < 36) {
      static const int64_t sizes[8][2] = { { 7, 7 }, { 14, 14 }, { 16, 16 }, { 1, 1 }, { 3, 5 }, { 13, 11 },
        { 7, 7 }, { 9, 12 } };
      H = sizes[c - 28][0];
      W = sizes[c - 28][1];
      C = rnd (20, 200);
      kh = kw = c % 2 ? 5 : 3;
      d = c == 34 || c == 35 ? 2 : 1;
      st[0] = st[1] = 1;
      dl[0] = dl[1] = d;
      p[0] = p[1] = p[2] = p[3] = (kh - 1) / 2 * d;
    }
    if (c >= 50) {
      /* inputs rows of 16 or fewer at stride 2: two output rows to a vector */
      static const int64_t small[8][6] = {      /* H, W, pads top, left, bottom, right */
        { 14, 14, 1, 1, 1, 1 }, { 16, 16, 0, 0, 1, 1 }, { 15, 9, 1, 1, 1, 1 }, { 3, 5, 0, 1, 1, 0 },
        { 1, 1, 1, 1, 1, 1 }, { 2, 16, 1, 0, 0, 1 }, { 9, 13, 1, 1, 1, 1 }, { 16, 3, 0, 0, 0, 0 },
      };
      H = small[c - 50][0];
      W = small[c - 50][1];
      for (int i = 0; i < 4; i++)
        p[i] = small[c - 50][2 + i];
      st[0] = st[1] = 2;
      C = rnd (3, 200);
    }
    if (c >= 36 && c < 50) {
      static const int64_t big[14][7] = {       /* H, W, k, stride, dilation, pads top/left, bottom/right */
        { 112, 112, 3, 2, 1, 1, 1 }, { 203, 9, 5, 3, 2, 3, 2 }, { 61, 47, 3, 1, 1, 5, 6 },
        { 33, 33, 3, 1, 2, 2, 2 }, { 33, 33, 3, 1, 4, 4, 4 }, { 17, 23, 3, 1, 2, 1, 3 },
        { 45, 37, 3, 1, 4, 4, 4 }, { 5, 40, 3, 1, 4, 3, 5 }, { 40, 19, 3, 1, 2, 0, 0 },
        { 4, 4133, 3, 1, 1, 1, 1 }, { 5, 4301, 3, 2, 1, 1, 1 },    /* rows wider than the row of zeros */
        /* a vector whose middle tap reaches one column into the padding */
        { 20, 37, 3, 1, 1, 2, 2 }, { 19, 45, 3, 1, 1, 1, 2 }, { 21, 40, 3, 1, 2, 3, 3 },
      };
      H = big[c - 36][0];
      W = big[c - 36][1];
      kh = kw = big[c - 36][2];
      st[0] = st[1] = big[c - 36][3];
      d = dl[0] = dl[1] = big[c - 36][4];
      p[0] = p[1] = big[c - 36][5];
      p[2] = p[3] = big[c - 36][6];
      C = c >= 39 ? rnd (3, 60) : rnd (3, 20);
    }
    H = MAX (H, (kh - 1) * d + 1 - p[0] - p[2]);
    W = MAX (W, (kw - 1) * d + 1 - p[1] - p[3]);
    int64_t xd[4] = { rnd (1, 2), C, H, W }, wd[4] = { C, 1, kh, kw };
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "w", 4, wd, NULL, rng);
    ob_init_float (b, "b", 1, &C, NULL, rng);
    int kind = c % 3;           /* 0 plain, 1 fused Clip, 2 residual Add */
    Onnx__NodeProto *n = ob_node (b, "Conv", c % 2 ? "x,w,b" : "x,w", kind ? "c" : "y");
    ob_attr_int (b, n, "group", C);
    ob_attr_ints (b, n, "strides", 2, st);
    ob_attr_ints (b, n, "dilations", 2, dl);
    ob_attr_ints (b, n, "pads", 4, p);
    if (kind == 1) {
      Onnx__NodeProto *a = ob_node (b, "Clip", "c", "y");
      ob_attr_float (b, a, "min", 0.f);
      ob_attr_float (b, a, "max", 6.f);
    } else if (kind == 2) {
      int64_t rd[4] = { xd[0], C, (H + p[0] + p[2] - (kh - 1) * d - 1) / st[0] + 1,
        (W + p[1] + p[3] - (kw - 1) * d - 1) / st[1] + 1 };
      ob_input (b, "r", 4, rd);
      ob_node (b, "Add", "c,r", "y");
    }
    ob_output (b, "y");
    char *what = g_strdup_printf ("Depthwise C%" G_GINT64_FORMAT " %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
        " k%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " s%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " d%" G_GINT64_FORMAT
        " pads %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "%s",
        C, H, W, kh, kw, st[0], st[1], d, p[0], p[1], p[2], p[3],
        kind == 2 ? " + residual" : kind ? " + Clip" : "");
    check (b, what);
    g_free (what);
    ob_free (b);
  }
}

typedef void (*sgemm_fn) (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc);

/* @fn against a plain triple loop on one size and transpose, with @pad
 * floats past each row of A, B and C (leading dimensions over the width). */
static void
check_sgemm (const char *name, sgemm_fn fn, int M, int N, int K, bool ta, bool tb, int pad, float beta)
{
  int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  float *A = g_new (float, (size_t) (ta ? K : M) * lda), *B = g_new (float, (size_t) (tb ? N : K) * ldb);
  float *C = g_new (float, (size_t) M * ldc), *R = g_new (float, (size_t) M * ldc);
  for (int i = 0; i < (ta ? K : M) * lda; i++)
    A[i] = (float) g_rand_double_range (rng, -1, 1);
  for (int i = 0; i < (tb ? N : K) * ldb; i++)
    B[i] = (float) g_rand_double_range (rng, -1, 1);
  for (int i = 0; i < M * ldc; i++)
    C[i] = R[i] = (float) g_rand_double_range (rng, -1, 1);
  float alpha = 0.75f;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++)
        acc += (double) (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      R[i * ldc + j] = (float) (alpha * acc + (beta != 0.f ? beta * R[i * ldc + j] : 0.0));
    }
  fn (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  double worst = 0;
  for (int i = 0; i < M * ldc; i++)   /* the padding too: nothing written past a row */
    worst = MAX (worst, fabs (C[i] - R[i]));
  gboolean ok = worst < 1e-4 * MAX (1, sqrt (K));
  printf ("%s %s %dx%dx%d tA%d tB%d beta %g: max abs %.3g\n", ok ? "ok  " : "FAIL", name, M, N, K, ta, tb, beta,
      worst);
  ok ? n_pass++ : n_fail++;
  g_free (A);
  g_free (B);
  g_free (C);
  g_free (R);
}

/* cnn_sgemm_small_avx512 with a void signature, failing the test where it
 * declines a size it should take */
static void
sgemm_small (bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc)
{
  if (!cnn_sgemm_small_avx512 (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    memset (C, 0xff, sizeof (float) * ldc);   /* NaN: the check fails */
}

/* The AVX-512 SGEMM kernels (when this CPU has them) against a plain triple
 * loop: the tiled one on odd sizes around its 12 x 32 tile and 256-deep K
 * blocks, the one for 1 to 7 rows around its 16-wide steps and 8-row
 * blocks, all transposes. */
static void
test_sgemm_kernel (void)
{
  if (!cnn_sgemm_avx512_available ()) {
    printf ("skip SGEMM kernel: no AVX-512 on this CPU (OpenBLAS is used)\n");
    return;
  }
  int sizes[][3] = { { 1, 1, 1 }, { 12, 32, 7 }, { 13, 33, 257 }, { 11, 31, 255 }, { 25, 70, 513 },
    { 200, 65, 300 }, { 37, 2100, 20 }, { 64, 17, 1000 } };
  for (unsigned c = 0; c < G_N_ELEMENTS (sizes); c++)
    for (int t = 0; t < 4; t++)
      check_sgemm ("SGEMM kernel", cnn_sgemm_avx512, sizes[c][0], sizes[c][1], sizes[c][2], t & 1, t & 2, 0,
          t == 3 ? 0.f : 0.5f);
  int small[][2] = { { 1, 1 }, { 7, 16 }, { 9, 17 }, { 130, 33 }, { 1000, 300 }, { 31, 1280 } };
  for (int M = 1; M <= 7; M++)
    for (unsigned c = 0; c < G_N_ELEMENTS (small); c++)
      for (int t = 0; t < 4; t++)
        check_sgemm ("SGEMM few rows", sgemm_small, M, small[c][0], small[c][1], t & 1, t & 2, (M + c) % 3,
            (M + t) % 2 ? 0.f : 0.5f);
}

/* ---- pictures as inputs (cnn_session_set_input_image) ---- */

/* A random picture: packed RGB of 3 or 4 bytes a pixel in any byte order
 * (kind 0, 1), I420 (2) or NV12 (3); rows padded. */
static guint8 *
picture_new (cnn_image *im, int kind, int w, int h)
{
  memset (im, 0, sizeof *im);
  im->width = w;
  im->height = h;
  gsize size;
  guint8 *mem;
  if (kind < 2) {
    int ps = 3 + kind, order[4] = { 0, 1, 2, 3 };
    for (int i = ps - 1; i > 0; i--) {
      int j = (int) rnd (0, i), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    im->stride[0] = w * ps + (int) rnd (0, 7);
    size = (gsize) im->stride[0] * h;
    mem = g_malloc (size);
    im->plane[0] = mem;
    for (int k = 0; k < 3; k++) {
      im->comp_pstride[k] = ps;
      im->comp_offset[k] = order[k];
    }
  } else {
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    im->yuv = TRUE;
    im->stride[0] = w + (int) rnd (0, 7);
    im->stride[1] = (kind == 2 ? cw : 2 * cw) + (int) rnd (0, 7);
    im->stride[2] = kind == 2 ? cw + (int) rnd (0, 7) : 0;
    size = (gsize) im->stride[0] * h + (gsize) (im->stride[1] + im->stride[2]) * ch;
    mem = g_malloc (size);
    im->plane[0] = mem;
    im->plane[1] = mem + (gsize) im->stride[0] * h;
    im->plane[2] = kind == 2 ? im->plane[1] + (gsize) im->stride[1] * ch : NULL;
    for (int k = 0; k < 3; k++) {
      im->comp_plane[k] = kind == 2 ? k : MIN (k, 1);
      im->comp_pstride[k] = kind == 3 && k > 0 ? 2 : 1;
      im->comp_offset[k] = kind == 3 && k == 2 ? 1 : 0;
    }
    /* BT.601 or BT.709, limited or full range */
    gboolean full = rnd (0, 1);
    double Kr = rnd (0, 1) ? 0.299 : 0.2126, Kb = Kr == 0.299 ? 0.114 : 0.0722, Kg = 1 - Kr - Kb;
    im->yoff = full ? 0 : 16;
    im->ymul = full ? 1 : 255.0 / 219.0;
    im->coff = 128;
    im->cmul = full ? 1 : 255.0 / 224.0;
    im->rv = 2 * (1 - Kr);
    im->bu = 2 * (1 - Kb);
    im->gu = -2 * (1 - Kb) * Kb / Kg;
    im->gv = -2 * (1 - Kr) * Kr / Kg;
  }
  for (gsize i = 0; i < size; i++)
    mem[i] = (guint8) g_rand_int (rng);
  return mem;
}

/* A random region of @im into an H x W tensor: stretched, or letterboxed
 * as the elements place it. */
static void
picture_map (const cnn_image *im, int64_t H, int64_t W, gboolean nhwc, cnn_image_map *map)
{
  memset (map, 0, sizeof *map);
  map->x = (int) rnd (0, im->width - 1);
  map->y = (int) rnd (0, im->height - 1);
  map->w = (int) rnd (1, im->width - map->x);
  map->h = (int) rnd (1, im->height - map->y);
  map->scale_x = (double) W / map->w;
  map->scale_y = (double) H / map->h;
  if (rnd (0, 1)) {
    map->scale_x = map->scale_y = MIN (map->scale_x, map->scale_y);
    map->off_x = (W - map->w * map->scale_x) / 2;
    map->off_y = (H - map->h * map->scale_y) / 2;
  }
  map->nhwc = nhwc;
  map->bgr = rnd (0, 1);
  for (int k = 0; k < 3; k++) {
    map->mean[k] = (float) g_rand_double_range (rng, 0, 128);
    map->std[k] = (float) g_rand_double_range (rng, 1, 80);
  }
  map->pad_value = (float) rnd (0, 255);
}

static cnn_session *
image_session (cnn_model *m, gboolean staged, GError **err)
{
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.backend = opt_backend;
  so.precision = opt_precision;
  gchar *was = g_strdup (g_getenv ("CNN_CPU_STAGED"));
  if (staged)
    g_setenv ("CNN_CPU_STAGED", "1", TRUE);
  else
    g_unsetenv ("CNN_CPU_STAGED");
  cnn_session *s = cnn_session_new (m, &so, err);
  if (was)
    g_setenv ("CNN_CPU_STAGED", was, TRUE);
  else
    g_unsetenv ("CNN_CPU_STAGED");
  g_free (was);
  return s;
}

/* Some items of a batch set from pictures (the others must read zeros), in
 * two runs of one session: against cnn_image_to_tensor, times 2 (a Mul
 * after the input).  On the CPU both the host conversion and, with staged
 * memory, the backend's own (set_image) run. */
static void
test_images (void)
{
  static const char *kinds[] = { "RGB", "RGBx", "I420", "NV12" };
  for (int c = 0; c < 24; c++) {
    int64_t N = rnd (1, 3), C = c % 5 == 4 ? 1 : 3, H = rnd (3, 40), W = rnd (3, 40);
    gboolean nhwc = C == 3 && c % 3 == 1;
    int64_t xd[4] = { N, nhwc ? H : C, nhwc ? W : H, nhwc ? C : W }, one[1] = { 1 };
    float two = 2;
    ob_model *b = ob_new (13);
    ob_input (b, "x", 4, xd);
    ob_init_float (b, "two", 1, one, &two, rng);
    ob_node (b, "Mul", "x,two", "y");
    ob_output (b, "y");
    GError *err = NULL;
    cnn_model *m = ob_load (b, &err);
    ob_free (b);
    g_assert_no_error (err);
    cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { xd[0], xd[1], xd[2], xd[3] }, NULL };
    int64_t per = cnn_tensor_numel (&in) / N;
    float *want = g_new (float, N * per);
    for (int staged = 0; staged <= (strcmp (opt_backend, "cpu") == 0); staged++) {
      cnn_session *s = image_session (m, staged, &err);
      g_assert_no_error (err);
      for (int round = 0; round < 2; round++) {
        int kind = (int) rnd (0, 3);
        double max_abs = 0, mag = 1e-6;
        gboolean ok = TRUE;
        memset (want, 0, N * per * sizeof (float));
        for (int64_t k = 0; k < N && ok; k++) {
          if (k > 0 && rnd (0, 2) == 0)
            continue;
          cnn_image im;
          cnn_image_map map;
          guint8 *mem = picture_new (&im, kind, (int) rnd (1, 70), (int) rnd (1, 50));
          picture_map (&im, H, W, nhwc, &map);
          cnn_image_to_tensor (&im, &map, (int) C, (int) H, (int) W, want + k * per);
          ok = cnn_session_set_input_image (s, &in, 1, 0, (int) k, &im, &map, &err);
          g_free (mem);         /* read before the call returned */
        }
        ok = ok && cnn_session_run (s, &in, 1, &err);
        if (ok) {
          const float *y = cnn_session_get_output (s, 0)->data;
          for (int64_t i = 0; i < N * per; i++) {
            mag = MAX (mag, fabs (2 * want[i]));
            max_abs = MAX (max_abs, fabs (y[i] - 2 * want[i]));
          }
          ok = max_abs <= tolerance * mag;
        }
        char *what = g_strdup_printf ("picture %s N%" G_GINT64_FORMAT " C%" G_GINT64_FORMAT " %" G_GINT64_FORMAT
            "x%" G_GINT64_FORMAT " %s%s%s", kinds[kind], N, C, H, W, nhwc ? "NHWC" : "NCHW",
            staged ? " staged" : "", round ? " again" : "");
        if (err)
          printf ("FAIL %s: %s\n", what, err->message);
        else
          printf ("%s %s -> %" G_GINT64_FORMAT " values: max abs %.3g\n", ok ? "ok  " : "FAIL", what,
              N * per, max_abs);
        ok ? n_pass++ : n_fail++;
        g_clear_error (&err);
        g_free (what);
      }
      cnn_session_free (s);
    }
    g_free (want);
    cnn_model_unref (m);
  }
}

/* What set_input_image refuses, and a run of an input without data or
 * pictures. */
static void
test_image_errors (void)
{
  int64_t xd[4] = { 2, 3, 8, 8 };
  ob_model *b = ob_new (13);
  ob_input (b, "x", 4, xd);
  ob_node (b, "Relu", "x", "y");
  ob_output (b, "y");
  GError *err = NULL;
  cnn_model *m = ob_load (b, &err);
  ob_free (b);
  cnn_session *s = image_session (m, FALSE, &err);
  g_assert_no_error (err);
  cnn_image im;
  cnn_image_map map;
  guint8 *mem = picture_new (&im, 0, 16, 16);
  picture_map (&im, 8, 8, FALSE, &map);
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 2, 3, 8, 8 }, NULL };
  struct { const char *what, *expect; int item; int x; float std; int64_t c; } cases[] = {
    { "item outside the batch", "outside the batch", 2, 0, 1, 3 },
    { "region outside the picture", "not inside the image", 0, 16, 1, 3 },
    { "std 0", "std not zero", 0, 0, 0, 3 },
    { "two channels", "1 or 3 channels", 0, 0, 1, 2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    cnn_image_map bad = map;
    cnn_tensor t = in;
    bad.x = cases[i].x ? cases[i].x : bad.x;
    bad.std[1] = cases[i].std;
    t.dims[1] = cases[i].c;
    gboolean ok = !cnn_session_set_input_image (s, &t, 1, 0, cases[i].item, &im, &bad, &err) &&
        err && strstr (err->message, cases[i].expect);
    printf ("%s refused: %s: %s\n", ok ? "ok  " : "FAIL", cases[i].what, err ? err->message : "accepted");
    ok ? n_pass++ : n_fail++;
    g_clear_error (&err);
  }
  gboolean ok = !cnn_session_run (s, &in, 1, &err) && err && strstr (err->message, "has no data");
  printf ("%s refused: a run without data or pictures: %s\n", ok ? "ok  " : "FAIL", err ? err->message : "ran");
  ok ? n_pass++ : n_fail++;
  g_clear_error (&err);
  g_free (mem);
  cnn_session_free (s);
  cnn_model_unref (m);
}

int
main (int argc, char **argv)
{
  guint32 seed = 1234;
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--backend") == 0 && i + 1 < argc)
      opt_backend = argv[++i];
    else if (strcmp (argv[i], "--precision") == 0 && i + 1 < argc)
      opt_precision = argv[++i];
    else
      seed = (guint32) atoi (argv[i]);
  }
  rng = g_rand_new_with_seed (seed);
  if (strcmp (opt_backend, "cpu") != 0) {
    /* can the backend start at all? */
    ob_model *b = ob_new (13);
    int64_t d[1] = { 4 };
    ob_input (b, "x", 1, d);
    ob_node (b, "Relu", "x", "y");
    ob_output (b, "y");
    GError *err = NULL;
    cnn_model *m = ob_load (b, &err);
    ob_free (b);
    cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
    so.backend = opt_backend;
    so.precision = opt_precision;
    cnn_session *s = m ? cnn_session_new (m, &so, &err) : NULL;
    if (!s) {
      printf ("SKIP: backend %s: %s\n", opt_backend, err->message);
      return 77;
    }
    cnn_session_free (s);
    cnn_model_unref (m);
    if (opt_precision && strcmp (opt_precision, "fp32") != 0)
      tolerance = 1e-2;
  }
  /* every 3x3 stride-1 convolution on the Winograd path where it exists,
   * not only those it is picked for */
  cnn_conv2d_winograd_enable (true);
  test_conv (FALSE);
  test_conv (TRUE);
  test_pool ();
  test_maxpool ();
  test_gemm ();
  test_elementwise ();
  test_slice ();
  test_softmax ();
  test_parallel_copy ();
  test_exp_sigmoid_values ();
  test_silu_fusion ();
  test_pad_resize ();
  test_transpose ();
  test_instance_norm ();
  test_conv_transpose_tiled ();
  test_conv_narrow ();
  test_resize_nhwc ();
  test_legacy ();
  test_chains ();
  if (strcmp (opt_backend, "cpu") == 0)
    test_sgemm_kernel ();       /* calls the CPU kernel directly */
  test_winograd ();
  test_implicit ();
  test_pixel_major ();
  test_thin_columns ();
  test_depthwise ();
  test_images ();
  test_image_errors ();
  printf ("test-ops: %d passed, %d failed\n", n_pass, n_fail);
  g_rand_free (rng);
  return n_fail ? 1 : 0;
}
