/* cnn_decoder_decode(): its vectorized scans against its plain loops, on random
 * outputs of every decoder with rows, columns or scores at, above and
 * below the threshold (the box lists must be equal, in order, to the bit);
 * and SSD priors against their generation order, step by step. */
#include <gst/check/gstcheck.h>
#include "cnn.h"

static void
set_dims (cnn_tensor * t, gint64 a, gint64 b, gfloat * data)
{
  memset (t, 0, sizeof *t);
  t->dtype = CNN_DTYPE_FLOAT32;
  t->ndim = 3;
  t->dims[0] = 1;
  t->dims[1] = a;
  t->dims[2] = b;
  t->data = data;
}

/* A score: mostly below @thr, some at it exactly, some above. */
static gfloat
score (GRand * rng, gfloat thr)
{
  gint k = g_rand_int_range (rng, 0, 200);
  return k == 0 ? thr : k == 1 ? thr + (gfloat) g_rand_double (rng) : (gfloat) g_rand_double_range (rng, -0.5, thr);
}

/* Decodes @out both ways; the boxes must be equal. */
static guint
check_same (const cnn_decoder_options * o, const cnn_tensor * const *out, gint n, const gchar * what)
{
  GArray *fast = g_array_new (FALSE, FALSE, sizeof (cnn_box)), *plain = g_array_new (FALSE, FALSE,
      sizeof (cnn_box));
  fail_unless (cnn_decoder_decode (o, out, n, fast, NULL));
  cnn_decoder_set_vector (FALSE);
  fail_unless (cnn_decoder_decode (o, out, n, plain, NULL));
  cnn_decoder_set_vector (TRUE);
  fail_unless_equals_int (fast->len, plain->len);
  fail_unless (!plain->len || memcmp (fast->data, plain->data, plain->len * sizeof (cnn_box)) == 0,
      "%s: boxes differ", what);
  guint len = plain->len;
  g_array_free (fast, TRUE);
  g_array_free (plain, TRUE);
  return len;
}

GST_START_TEST (test_scans_match_plain)
{
  GRand *rng = g_rand_new_with_seed (11);
  static const gint classes[] = { 1, 2, 3, 15, 16, 17, 31, 80, 91 };
  guint found = 0;
  for (gint c = 0; c < 60; c++) {
    gint C = classes[c % G_N_ELEMENTS (classes)];
    gint64 N = g_rand_int_range (rng, 1, 700);
    cnn_decoder_options o;
    cnn_tensor t[2];
    const cnn_tensor *out[2] = { &t[0], &t[1] };
    gfloat *a, *b = NULL;
    gchar *what;
    switch (c % 4) {
      case 0:                  /* YOLOv5 rows: objectness of either sign times the best class */
        cnn_decoder_options_init (&o, CNN_DECODER_YOLOV5);
        o.threshold = 0.3f;
        a = g_new (gfloat, N * (5 + C));
        for (gint64 i = 0; i < N * (5 + C); i++)
          a[i] = i % (5 + C) == 4 ? (gfloat) g_rand_double_range (rng, -1, 1) : score (rng, o.threshold);
        set_dims (&t[0], N, 5 + C, a);
        break;
      case 1:                  /* YOLOX: as many rows as its three grids hold */
        cnn_decoder_options_init (&o, CNN_DECODER_YOLOX);
        o.input_width = 32 * g_rand_int_range (rng, 1, 5);
        o.input_height = 32 * g_rand_int_range (rng, 1, 5);
        N = (o.input_width / 8) * (o.input_height / 8) + (o.input_width / 16) * (o.input_height / 16) +
            (o.input_width / 32) * (o.input_height / 32);
        o.threshold = 0.25f;
        a = g_new (gfloat, N * (5 + C));
        for (gint64 i = 0; i < N * (5 + C); i++)
          a[i] = i % (5 + C) == 4 ? (gfloat) g_rand_double (rng) : score (rng, o.threshold);
        set_dims (&t[0], N, 5 + C, a);
        break;
      case 2:                  /* YOLOv8 columns */
        cnn_decoder_options_init (&o, CNN_DECODER_YOLOV8);
        o.threshold = 0.4f;
        a = g_new (gfloat, (4 + C) * N);
        for (gint64 i = 0; i < (4 + C) * N; i++)
          a[i] = i < 4 * N ? (gfloat) g_rand_double_range (rng, 0, 300) : score (rng, o.threshold);
        set_dims (&t[0], 4 + C, N, a);
        break;
      default:                 /* SSD: background first, last, or none */
        cnn_decoder_options_init (&o, CNN_DECODER_SSD);
        o.input_width = 320;
        o.input_height = 240;
        o.threshold = 0.6f;
        o.background_class = (c / 4) % 3 == 0 ? 0 : (c / 4) % 3 == 1 ? C - 1 : -1;
        a = g_new (gfloat, N * C);
        for (gint64 i = 0; i < N * C; i++)
          a[i] = i % C == o.background_class ? (gfloat) g_rand_double_range (rng, 0.5, 1) : score (rng,
              o.threshold);
        b = g_new (gfloat, N * 4);
        for (gint64 i = 0; i < N * 4; i++)
          b[i] = (gfloat) g_rand_double (rng);
        set_dims (&t[c % 8 == 3 ? 1 : 0], N, C, a);     /* scores first or second */
        set_dims (&t[c % 8 == 3 ? 0 : 1], N, 4, b);
        break;
    }
    what = g_strdup_printf ("case %d: %s, %" G_GINT64_FORMAT " x %d", c, cnn_decoder_type_name (o.type), N, C);
    found += check_same (&o, out, c % 4 == 3 ? 2 : 1, what);
    g_free (what);
    g_free (a);
    g_free (b);
  }
  g_print ("decode: %u boxes, the same both ways\n", found);
  fail_unless (found > 100);    /* the cases found boxes to compare */
  g_rand_free (rng);
}
GST_END_TEST;

/* Priors of several steps and sizes, as UltraFace generates them: per step,
 * per cell (rows of cells), per size.  Zero offsets decode to the priors
 * themselves; every row passes, so every prior is checked. */
GST_START_TEST (test_ssd_priors_order)
{
  cnn_decoder_options o;
  cnn_decoder_options_init (&o, CNN_DECODER_SSD_PRIORS);
  o.input_width = 320;
  o.input_height = 240;
  o.threshold = 0.5f;
  gint64 total = 0;
  for (gint k = 0; k < o.n_steps; k++)
    total += (gint64) ((320 + o.steps[k] - 1) / o.steps[k]) * ((240 + o.steps[k] - 1) / o.steps[k]) *
        o.n_min_sizes[k];
  fail_unless_equals_int (total, 4420); /* UltraFace-RFB-320's rows */
  gint64 N = total + 5;         /* rows past the priors are not boxes */
  gfloat *s = g_new (gfloat, N * 2), *b = g_new0 (gfloat, N * 4);
  for (gint64 i = 0; i < N; i++) {
    s[2 * i] = 0.1f;
    s[2 * i + 1] = 0.9f;
  }
  cnn_tensor t[2];
  set_dims (&t[0], N, 2, s);
  set_dims (&t[1], N, 4, b);
  const cnn_tensor *out[2] = { &t[0], &t[1] };
  for (gint pass = 0; pass < 2; pass++) {
    cnn_decoder_set_vector (pass == 0);
    GArray *boxes = g_array_new (FALSE, FALSE, sizeof (cnn_box));
    fail_unless (cnn_decoder_decode (&o, out, 2, boxes, NULL));
    fail_unless_equals_int (boxes->len, total);
    guint i = 0;
    for (gint k = 0; k < o.n_steps; k++) {
      gint gw = (320 + o.steps[k] - 1) / o.steps[k], gh = (240 + o.steps[k] - 1) / o.steps[k];
      for (gint fy = 0; fy < gh; fy++)
        for (gint fx = 0; fx < gw; fx++)
          for (gint m = 0; m < o.n_min_sizes[k]; m++, i++) {
            const cnn_box *x = &g_array_index (boxes, cnn_box, i);
            gdouble cx = (fx + 0.5) / gw * 320, cy = (fy + 0.5) / gh * 240, half = o.min_sizes[k][m] / 2;
            fail_unless (fabs (x->x1 - (cx - half)) < 1e-3 && fabs (x->x2 - (cx + half)) < 1e-3 &&
                fabs (x->y1 - (cy - half)) < 1e-3 && fabs (x->y2 - (cy + half)) < 1e-3,
                "prior %u (step %d, cell %d,%d, size %d): %g,%g-%g,%g", i, o.steps[k], fx, fy, m,
                x->x1, x->y1, x->x2, x->y2);
            fail_unless_equals_int (x->class_id, 1);
          }
    }
    g_array_free (boxes, TRUE);
  }
  cnn_decoder_set_vector (TRUE);
  g_free (s);
  g_free (b);
}
GST_END_TEST;

/* Scores without a column: an error, not a division by zero. */
GST_START_TEST (test_ssd_without_classes)
{
  cnn_decoder_options o;
  cnn_decoder_options_init (&o, CNN_DECODER_SSD);
  gfloat b[4 * 5] = { 0 };
  cnn_tensor t[2];
  set_dims (&t[0], 5, 0, b);
  set_dims (&t[1], 5, 4, b);
  const cnn_tensor *out[2] = { &t[0], &t[1] };
  GArray *boxes = g_array_new (FALSE, FALSE, sizeof (cnn_box));
  GError *error = NULL;
  fail_if (cnn_decoder_decode (&o, out, 2, boxes, &error));
  fail_unless (error != NULL);
  g_print ("no score columns: %s\n", error->message);
  g_error_free (error);
  g_array_free (boxes, TRUE);
}
GST_END_TEST;

static Suite *
decode_suite (void)
{
  Suite *s = suite_create ("decode");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_scans_match_plain);
  tcase_add_test (tc, test_ssd_priors_order);
  tcase_add_test (tc, test_ssd_without_classes);
  return s;
}

GST_CHECK_MAIN (decode);
