/* test-detect - cnn_session_detect() on a backend against the host decoder
 * and NMS (cnn_decoder_decode(), cnn_boxes_nms()) on the same session's
 * outputs, item by item: every decoder (YOLOv2 / v3 grids, YOLOv5 and YOLOX
 * rows, YOLOv8 columns, SSD with and without priors), batches of 1 and 3,
 * per-class and class-agnostic NMS, a class filter, a cap on the boxes,
 * confidences tied exactly (kept in output order), and the errors.
 *
 *   test-detect [--backend cpu|cuda] [--precision fp32|fp16]
 *
 * The models pass random values through a Mul by one, so that the outputs
 * are the inputs, in the backend's memory.  On the GPU the boxes may
 * differ from the host's by the last bits of the exponentials (1e-4 of a
 * pixel here); counts, classes and order must be equal.  Exits 77
 * (skipped) when the backend cannot start, for want of a GPU say. */
#include "cnn.h"
#include "onnx-builder.h"
#include <math.h>
#include <stdio.h>

static char *opt_backend = "cpu", *opt_precision;

typedef struct {
  const char *name;
  cnn_decoder_type type;
  int n;                        /* outputs */
  int64_t dims[3][3];           /* each output's, without the batch */
  int nd;
  int w, h;                     /* the model's input size */
} det_case;

static const det_case cases[] = {
  { "yolov2", CNN_DECODER_YOLOV2, 1, { { 5 * 25, 13, 13 } }, 3, 416, 416 },
  { "yolov3", CNN_DECODER_YOLOV3, 3, { { 3 * 11, 5, 5 }, { 3 * 11, 7, 9 }, { 3 * 11, 10, 10 } }, 3, 320, 320 },
  { "yolov5", CNN_DECODER_YOLOV5, 1, { { 700, 5 + 7 } }, 2, 64, 64 },
  /* 84 grid cells for 64 x 64 at strides 8, 16, 32, and 6 rows past them */
  { "yolox", CNN_DECODER_YOLOX, 1, { { 90, 5 + 3 } }, 2, 64, 64 },
  { "yolov8", CNN_DECODER_YOLOV8, 1, { { 4 + 9, 600 } }, 2, 64, 64 },
  { "ssd", CNN_DECODER_SSD, 2, { { 500, 4 }, { 500, 3 } }, 2, 300, 300 },
  /* UltraFace's 4420 priors for 320 x 240, and 5 rows past them */
  { "ssd-priors", CNN_DECODER_SSD_PRIORS, 2, { { 4425, 2 }, { 4425, 4 } }, 2, 320, 240 },
};

static float
uniform (GRand *r, double lo, double hi)
{
  return (float) g_rand_double_range (r, lo, hi);
}

/* Output @k of item values @v (its dims without the batch), for @c. */
static void
fill (const det_case *c, int k, float *v, GRand *r)
{
  const int64_t *d = c->dims[k];
  int64_t n = d[0] * d[1] * (c->nd == 3 ? d[2] : 1);
  switch (c->type) {
    case CNN_DECODER_YOLOV2:
    case CNN_DECODER_YOLOV3: {
      /* tx, ty, to and classes as logits; tw, th small */
      int64_t plane = d[1] * d[2], per = d[0] / (c->type == CNN_DECODER_YOLOV2 ? 5 : 3);
      for (int64_t i = 0; i < n; i++) {
        int64_t ch = i / plane % per;
        v[i] = ch == 2 || ch == 3 ? uniform (r, -1, 1) : uniform (r, -3, 3);
      }
      break;
    }
    case CNN_DECODER_YOLOV5:
    case CNN_DECODER_YOLOX:
      for (int64_t i = 0; i < d[0]; i++) {
        float *row = v + i * d[1];
        gboolean x = c->type == CNN_DECODER_YOLOX;
        row[0] = x ? uniform (r, -0.5, 1.5) : uniform (r, 0, c->w);
        row[1] = x ? uniform (r, -0.5, 1.5) : uniform (r, 0, c->h);
        row[2] = x ? uniform (r, -1, 1.5) : uniform (r, 4, c->w / 3.0);
        row[3] = x ? uniform (r, -1, 1.5) : uniform (r, 4, c->h / 3.0);
        for (int64_t j = 4; j < d[1]; j++)
          row[j] = uniform (r, 0, 1);
      }
      break;
    case CNN_DECODER_YOLOV8: {
      int64_t N = d[1];
      int C = (int) d[0] - 4;
      for (int64_t i = 0; i < N; i++) {
        v[i] = uniform (r, 0, c->w);
        v[N + i] = uniform (r, 0, c->h);
        v[2 * N + i] = uniform (r, 4, c->w / 3.0);
        v[3 * N + i] = uniform (r, 4, c->h / 3.0);
        /* every 7th column: confidence 0.75 exactly, ties among them */
        for (int j = 0; j < C; j++)
          v[(4 + j) * N + i] = i % 7 ? uniform (r, 0, 1) : j == i % C ? 0.75f : uniform (r, 0, 0.5);
      }
      break;
    }
    default:
      for (int64_t i = 0; i < d[0]; i++) {
        float *row = v + i * d[1];
        if (d[1] != 4)
          for (int64_t j = 0; j < d[1]; j++)
            row[j] = uniform (r, 0, 1);
        else if (c->type == CNN_DECODER_SSD_PRIORS)
          for (int j = 0; j < 4; j++)
            row[j] = uniform (r, -1, 1);
        else {
          row[0] = uniform (r, 0, 0.8);
          row[1] = uniform (r, 0, 0.8);
          row[2] = row[0] + uniform (r, 0.02, 0.2);
          row[3] = row[1] + uniform (r, 0.02, 0.2);
        }
      }
      break;
  }
}

/* y_k = x_k * 1 for each output, batch symbolic. */
static cnn_model *
build (const det_case *c)
{
  ob_model *b = ob_new (13);
  float one = 1;
  ob_init_float (b, "one", 0, NULL, &one, NULL);
  for (int k = 0; k < c->n; k++) {
    int64_t dims[4] = { -1, c->dims[k][0], c->dims[k][1], c->dims[k][2] };
    char x[8], y[8], io[20];
    g_snprintf (x, sizeof x, "x%d", k);
    g_snprintf (y, sizeof y, "y%d", k);
    g_snprintf (io, sizeof io, "%s,one", x);
    ob_input (b, x, c->nd + 1, dims);
    ob_node (b, "Mul", io, y);
    ob_output (b, y);
  }
  GError *err = NULL;
  cnn_model *m = ob_load (b, &err);
  g_assert_no_error (err);
  ob_free (b);
  return m;
}

/* The boxes must agree: count, classes and order exactly, confidences and
 * corners within @tol. */
static int
compare (const char *what, GArray *got, GArray *want, double tol, double *worst)
{
  if (got->len != want->len) {
    printf ("FAIL %s: %u boxes, the host decoder %u\n", what, got->len, want->len);
    return 1;
  }
  for (guint i = 0; i < got->len; i++) {
    const cnn_box *a = &g_array_index (got, cnn_box, i), *b = &g_array_index (want, cnn_box, i);
    double e = MAX (MAX (fabs (a->x1 - b->x1), fabs (a->y1 - b->y1)), MAX (fabs (a->x2 - b->x2),
            fabs (a->y2 - b->y2)));
    e = MAX (e, fabs (a->confidence - b->confidence) * 1000);
    *worst = MAX (*worst, e);
    if (a->class_id != b->class_id || !(e <= tol)) {
      printf ("FAIL %s: box %u: class %d conf %.7g (%g, %g, %g, %g), the host's class %d conf %.7g "
          "(%g, %g, %g, %g)\n", what, i, a->class_id, a->confidence, a->x1, a->y1, a->x2, a->y2, b->class_id,
          b->confidence, b->x1, b->y1, b->x2, b->y2);
      return 1;
    }
  }
  return 0;
}

/* Item @item of output @k of @s's last run, as a batch of one. */
static cnn_tensor
item_of (cnn_session *s, int k, int64_t batch, int item)
{
  cnn_tensor t = *cnn_session_get_output (s, k);
  t.dims[0] = 1;
  t.data = (float *) t.data + (size_t) item * cnn_tensor_numel (&t);
  g_assert (t.dims[0] * batch == cnn_session_get_output (s, k)->dims[0]);
  return t;
}

static int
run_case (const det_case *c, int64_t batch, GRand *r, int *checked, int *boxes)
{
  cnn_model *m = build (c);
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.backend = opt_backend;
  so.precision = opt_precision;
  so.default_dim = batch;
  GError *err = NULL;
  cnn_session *s = cnn_session_new (m, &so, &err);
  if (!s) {
    printf ("skip: backend %s: %s\n", opt_backend, err->message);
    exit (77);
  }
  cnn_tensor in[3];
  for (int k = 0; k < c->n; k++) {
    memset (&in[k], 0, sizeof in[k]);
    in[k].dtype = CNN_DTYPE_FLOAT32;
    in[k].ndim = c->nd + 1;
    in[k].dims[0] = batch;
    for (int j = 0; j < c->nd; j++)
      in[k].dims[j + 1] = c->dims[k][j];
    int64_t per = cnn_tensor_numel (&in[k]) / batch;
    in[k].data = g_new (float, cnn_tensor_numel (&in[k]));
    for (int64_t i = 0; i < batch; i++)
      fill (c, k, (float *) in[k].data + i * per, r);
  }
  g_assert_true (cnn_session_run (s, in, c->n, &err));
  int failed = 0;
  double worst = 0;
  cnn_decoder_options o;
  cnn_decoder_options_init (&o, c->type);
  o.input_width = c->w;
  o.input_height = c->h;
  o.threshold = 0.3f;
  uint8_t keep[100] = { 0 };
  keep[1] = keep[3] = 1;
  const cnn_nms_options variants[] = {
    { 0.45f, FALSE, 100, NULL, 0 },
    { 0.3f, TRUE, 7, NULL, 0 },
    { 0.6f, FALSE, 0, keep, 100 },
  };
  GArray *got = g_array_new (FALSE, FALSE, sizeof (cnn_box)), *want = g_array_new (FALSE, FALSE, sizeof (cnn_box));
  for (int item = 0; item < batch; item++)
    for (guint v = 0; v < G_N_ELEMENTS (variants); v++) {
      char what[96];
      g_snprintf (what, sizeof what, "%s batch %" G_GINT64_FORMAT " item %d nms %u", c->name, batch, item, v);
      cnn_tensor views[3];
      const cnn_tensor *pv[3];
      for (int k = 0; k < c->n; k++) {
        views[k] = item_of (s, k, batch, item);
        pv[k] = &views[k];
      }
      g_array_set_size (got, 3);        /* emptied by the call */
      if (!cnn_session_detect (s, &o, &variants[v], item, got, &err)) {
        printf ("FAIL %s: %s\n", what, err->message);
        g_clear_error (&err);
        failed = 1;
        continue;
      }
      g_array_set_size (want, 0);
      g_assert_true (cnn_decoder_decode (&o, pv, c->n, want, NULL));
      cnn_boxes_nms (want, &variants[v]);
      failed |= compare (what, got, want, 1e-3, &worst);
      *checked += 1;
      *boxes += want->len;
      /* a case that finds nothing checks nothing */
      if (v == 0 && want->len < 3) {
        printf ("FAIL %s: only %u boxes: the random outputs miss the threshold\n", what, want->len);
        failed = 1;
      }
    }
  /* errors: an item past the batch; a decoder the outputs do not fit */
  cnn_nms_options plain = { 0.45f, FALSE, 0, NULL, 0 };
  if (cnn_session_detect (s, &o, &plain, (int) batch, got, &err)) {
    printf ("FAIL %s: item %" G_GINT64_FORMAT " of a batch of %" G_GINT64_FORMAT " accepted\n", c->name, batch,
        batch);
    failed = 1;
  }
  g_clear_error (&err);
  cnn_decoder_options wrong;
  gboolean ssd = c->type == CNN_DECODER_SSD || c->type == CNN_DECODER_SSD_PRIORS;
  cnn_decoder_options_init (&wrong, ssd ? CNN_DECODER_YOLOV8 : CNN_DECODER_SSD);
  if (cnn_session_detect (s, &wrong, &plain, 0, got, &err) || !g_error_matches (err, CNN_ERROR, CNN_ERROR_SHAPE)) {
    printf ("FAIL %s: outputs that do not fit the decoder accepted\n", c->name);
    failed = 1;
  }
  g_clear_error (&err);
  printf ("%s %s batch %" G_GINT64_FORMAT ": max difference %.3g (pixels; confidence x 1000)\n",
      failed ? "FAIL" : "ok  ", c->name, batch, worst);
  g_array_free (got, TRUE);
  g_array_free (want, TRUE);
  for (int k = 0; k < c->n; k++)
    g_free (in[k].data);
  cnn_session_free (s);
  cnn_model_unref (m);
  return failed;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend, "cpu (default) or cuda", "NAME" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &opt_precision, "CUDA: fp32, tf32, fp16", "P" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("- cnn_session_detect() against the host decoder");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL))
    return 2;
  g_option_context_free (ctx);
  GRand *r = g_rand_new_with_seed (5);
  int failed = 0, checked = 0, boxes = 0;
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    for (int64_t batch = 1; batch <= 3; batch += 2)
      failed += run_case (&cases[c], batch, r, &checked, &boxes);
  g_rand_free (r);
  printf ("test-detect (%s): %d detections checked, %d boxes, %d case(s) failed\n", opt_backend, checked, boxes,
      failed);
  return failed ? 1 : 0;
}
