/* gst_cnn_preprocess() against its plain reference, gst_cnn_preprocess_ref():
 * random frames of every format the elements take, random sizes, regions,
 * tensor sizes (up- and downscaling), layouts, channel orders, gray, and
 * letterboxing, split across threads or not.  The two must agree to the
 * bit. */
#include <gst/check/gstcheck.h>
#include "gstcnnutil.h"

static const GstVideoFormat formats[] = { GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_BGR,
  GST_VIDEO_FORMAT_RGBx, GST_VIDEO_FORMAT_BGRx, GST_VIDEO_FORMAT_xRGB, GST_VIDEO_FORMAT_xBGR,
  GST_VIDEO_FORMAT_RGBA, GST_VIDEO_FORMAT_BGRA, GST_VIDEO_FORMAT_ARGB, GST_VIDEO_FORMAT_ABGR,
  GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420 };

/* Runs the items last to first, on three pretend threads in turn: each
 * item must compute its rows on its own, in its thread's scratch. */
static void
reversed_for (gpointer pool, gint n, void (*func) (gint i, gint thread, gpointer data), gpointer data)
{
  for (gint i = n - 1; i >= 0; i--)
    func (i, i % 3, data);
}

/* Case @c: a random frame @fmt @fw x @fh, pre-processed to @p (region
 * @r or the whole frame) both ways; they must agree to the bit. */
static void
check_case (GRand * rng, gint c, GstVideoFormat fmt, gint fw, gint fh, const GstCnnPreprocess * p,
    const GstCnnRect * r, GstCnnScratch * scratch, gboolean threaded)
{
  GstVideoInfo info;
  fail_unless (gst_video_info_set_format (&info, fmt, fw, fh));
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) g_rand_int (rng);
  gst_buffer_unmap (buf, &map);
  GstVideoFrame frame;
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_READ));
  gsize n = (gsize) p->width * p->height * p->channels;
  gfloat *fast = g_new (gfloat, n), *ref = g_new (gfloat, n);
  GstCnnLetterbox lf, lr;
  gst_cnn_preprocess (&frame, r, p, fast, &lf, scratch);
  gst_cnn_preprocess_ref (&frame, r, p, ref, &lr);
  fail_unless (memcmp (&lf, &lr, sizeof lf) == 0, "case %d: letterbox differs", c);
  gsize i = 0;                  /* one check per case: per value, checks took 100 s under ASan */
  while (i < n && fast[i] == ref[i])
    i++;
  if (i < n)
    fail ("case %d (%s %dx%d -> %dx%dx%d%s%s%s%s%s): value %zu: %g, reference %g", c,
        gst_video_format_to_string (fmt), fw, fh, p->width, p->height, p->channels, p->nhwc ? " nhwc" : "",
        p->bgr ? " bgr" : "", p->keep_aspect ? " letterbox" : "", r ? " rect" : "", threaded ? " threaded" : "",
        i, fast[i], ref[i]);
  g_free (fast);
  g_free (ref);
  gst_video_frame_unmap (&frame);
  gst_buffer_unref (buf);
}

GST_START_TEST (test_matches_reference)
{
  GRand *rng = g_rand_new_with_seed (7);
  GstCnnScratch scratch = { NULL, 0 }, threaded = { NULL, 0, reversed_for, NULL, 3 };
  for (gint c = 0; c < 240; c++) {
    GstVideoFormat fmt = formats[c % G_N_ELEMENTS (formats)];
    /* every fourth frame wide (downscaling by up to 20: the vector pass
     * gathers where a window is too narrow), every third of odd size */
    gint fw = c % 4 == 0 ? g_rand_int_range (rng, 200, 2400) : g_rand_int_range (rng, 2, 200),
        fh = g_rand_int_range (rng, 2, c % 4 == 0 ? 40 : 150);
    if (c % 3 != 2) {
      fw = MAX (fw & ~1, 2);
      fh = MAX (fh & ~1, 2);
    }
    /* every 24th tensor large enough to be split across threads */
    GstCnnPreprocess p = { c % 24 == 5 ? g_rand_int_range (rng, 160, 240) : g_rand_int_range (rng, 1, 120),
      c % 24 == 5 ? g_rand_int_range (rng, 160, 240) : g_rand_int_range (rng, 1, 120),
      c % 7 == 3 ? 1 : 3, c % 3 == 1, c % 2 == 1, { 123.7f, 116.3f, 103.5f }, { 58.4f, 57.1f, 57.4f },
      c % 4 >= 2, (gfloat) g_rand_int_range (rng, 0, 256) };
    GstCnnRect rect = { g_rand_int_range (rng, -5, fw), g_rand_int_range (rng, -5, fh),
      g_rand_int_range (rng, 1, fw + 5), g_rand_int_range (rng, 1, fh + 5) };
    check_case (rng, c, fmt, fw, fh, &p, c % 5 == 4 ? &rect : NULL, c % 6 < 3 ? &scratch : &threaded, c % 6 >= 3);
  }
  gst_cnn_scratch_clear (&scratch);
  gst_cnn_scratch_clear (&threaded);
  g_rand_free (rng);
}
GST_END_TEST;

/* 4:2:0 frames that the tensor halves both ways (640x480 into 320x240)
 * take a path of their own where it applies: tensor widths of 16 columns
 * and not, regions at even and odd places, letterbox bars, threads; gray
 * and NHWC tensors, and odd places, go the general way. */
GST_START_TEST (test_halving_matches_reference)
{
  static const gint widths[] = { 16, 32, 320, 24, 40, 17, 224, 48 };
  GRand *rng = g_rand_new_with_seed (11);
  GstCnnScratch scratch = { NULL, 0 }, threaded = { NULL, 0, reversed_for, NULL, 3 };
  for (gint c = 0; c < 96; c++) {
    GstVideoFormat fmt = c % 2 ? GST_VIDEO_FORMAT_I420 : GST_VIDEO_FORMAT_NV12;
    gint tw = widths[(c / 2) % G_N_ELEMENTS (widths)], th = g_rand_int_range (rng, 1, 60);
    gint fw = 2 * tw, fh = 2 * th;
    /* every 8th tensor large enough to be split across threads */
    if (c % 8 == 5)
      th = 180, fh = 360;
    GstCnnPreprocess p = { tw, th, c % 11 == 7 ? 1 : 3, c % 13 == 6, c % 3 == 1,
      { 127.5f, 116.3f, 0.f }, { 127.5f, 57.1f, 1.f }, FALSE, 0.f };
    if (c % 17 == 9)            /* 1 / std / 4 below the normal floats: the general way */
      p.std[2] = 2e38f;
    GstCnnRect rect = { 0, 0, 2 * tw, 2 * th };
    const GstCnnRect *r = NULL;
    switch (c % 6) {
      case 1:                  /* a region halved, in a larger frame */
        fw += 8;
        fh += 6;
        rect.x = 2 * g_rand_int_range (rng, 0, 5);
        rect.y = 2 * g_rand_int_range (rng, 0, 4);
        r = &rect;
        break;
      case 2:                  /* odd places: a block's pixels not sharing one chroma sample */
      case 4:
        fw += 8;
        fh += 6;
        rect.x = 2 * g_rand_int_range (rng, 0, 4) + (c % 6 == 2);
        rect.y = 2 * g_rand_int_range (rng, 0, 3) + (c % 6 == 4);
        r = &rect;
        break;
      case 3:                  /* letterboxed: bars above and below */
        p.height = th + 2 * g_rand_int_range (rng, 1, 9);
        p.keep_aspect = TRUE;
        p.pad_value = 114.f;
        break;
    }
    check_case (rng, c, fmt, fw, fh, &p, r, c % 4 < 2 ? &scratch : &threaded, c % 4 >= 2);
  }
  gst_cnn_scratch_clear (&scratch);
  gst_cnn_scratch_clear (&threaded);
  g_rand_free (rng);
}
GST_END_TEST;

/* cnnsegment's per-pixel class: the vector passes against the plain loop,
 * both layouts, class counts around the vector width (the maximum in the
 * first or a later vector of a pixel's scores), pixel counts around it,
 * scores on a coarse grid so that ties (the first class wins) are common;
 * in blocks of pixels on pretend threads, or not. */
GST_START_TEST (test_argmax_matches_reference)
{
  const gint classes[] = { 1, 2, 5, 11, 16, 17, 21, 33 };
  const gsize pixels[] = { 1, 15, 16, 17, 1000, 66049 };
  GRand *rng = g_rand_new_with_seed (7);
  for (guint a = 0; a < G_N_ELEMENTS (classes); a++)
    for (guint b = 0; b < G_N_ELEMENTS (pixels); b++)
      for (gint nhwc = 0; nhwc < 2; nhwc++) {
        gint C = classes[a];
        gsize n = pixels[b];
        gfloat *s = g_new (gfloat, C * n);
        for (gsize i = 0; i < C * n; i++)
          s[i] = (gfloat) g_rand_int_range (rng, -4, 5) * 0.5f;
        guint8 *want = g_new (guint8, n), *got = g_new (guint8, n);
        gst_cnn_argmax_ref (s, C, n, nhwc, want);
        fail_unless (gst_cnn_argmax (s, C, n, nhwc, got, b % 2 ? reversed_for : NULL, NULL) == -1);
        gsize bad = 0;
        while (bad < n && want[bad] == got[bad])
          bad++;
        fail_unless (bad == n, "%d classes, %" G_GSIZE_FORMAT " pixels, %s: pixel %" G_GSIZE_FORMAT
            " class %d, the reference %d", C, n, nhwc ? "NHWC" : "NCHW", bad, got[bad], want[bad]);
        g_free (s);
        g_free (want);
        g_free (got);
      }
  g_rand_free (rng);
}

GST_END_TEST;

/* gst_cnn_argmax()'s check for NaN and Inf, block by block: the first in
 * the scores' order (that of a plain scan of them all), wherever the NaN,
 * Inf and -Inf fall (one to three of them, in one block or several, in
 * the first class plane or a later one). */
GST_START_TEST (test_argmax_finds_nonfinite)
{
  const gsize pixels[] = { 17, 4096, 4097, 20000 };
  const gfloat bad[] = { NAN, INFINITY, -INFINITY };
  GRand *rng = g_rand_new_with_seed (5);
  for (gint t = 0; t < 48; t++) {
    gint C = t % 3 ? 21 : 5;
    gsize n = pixels[t % G_N_ELEMENTS (pixels)], total = (gsize) C * n;
    gboolean nhwc = t % 2;
    gfloat *s = g_new (gfloat, total);
    for (gsize i = 0; i < total; i++)
      s[i] = (gfloat) g_rand_double_range (rng, -8, 8);
    for (gint k = 0; k <= t % 3; k++)
      s[g_rand_int_range (rng, 0, (gint32) total)] = bad[g_rand_int_range (rng, 0, 3)];
    guint8 *mask = g_new (guint8, n);
    gint64 want = gst_cnn_first_nonfinite (s, (gint64) total);
    gint64 got = gst_cnn_argmax (s, C, n, nhwc, mask, t % 4 < 2 ? reversed_for : NULL, NULL);
    fail_unless (want >= 0 && got == want, "%d classes, %zu pixels, %s: found %" G_GINT64_FORMAT
        ", the first is %" G_GINT64_FORMAT, C, n, nhwc ? "NHWC" : "NCHW", got, want);
    g_free (s);
    g_free (mask);
  }
  g_rand_free (rng);
}

GST_END_TEST;

static Suite *
preprocess_suite (void)
{
  Suite *s = suite_create ("preprocess");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_matches_reference);
  tcase_add_test (tc, test_halving_matches_reference);
  tcase_add_test (tc, test_argmax_matches_reference);
  tcase_add_test (tc, test_argmax_finds_nonfinite);
  return s;
}

GST_CHECK_MAIN (preprocess);
