/* cnnsegment element tests: DeepLab finds the person in person.jpg, the
 * mask meta, the overlay, errors. */
#include "common.h"
#include "gstcnnmeta.h"
#include "../../core/onnx-builder.h"

static gchar *
deeplab_launch (const gchar * extra)
{
  gchar *model = shared_model ("deeplabv3_257.onnx");
  gchar *s = g_strdup_printf ("cnnsegment model=%s mean=127.5 std=127.5 threads=2 %s", model, extra);
  g_free (model);
  return s;
}

GST_START_TEST (test_person_mask)
{
  gchar *model = shared_model ("deeplabv3_257.onnx");
  gboolean have = have_file (model);
  g_free (model);
  if (!have)
    return;
  GstVideoFormat fmts[] = { GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_NV12 };
  for (guint f = 0; f < G_N_ELEMENTS (fmts); f++)
    for (int overlay = 0; overlay < 2; overlay++) {
      gchar *l = deeplab_launch (overlay ? "overlay=true alpha=0.6" : "");
      GstVideoInfo info;
      GstBuffer *in = photo_buffer (PHOTOS "/person.jpg", fmts[f], &info);
      GstBuffer *orig = gst_buffer_copy_deep (in);
      GstHarness *h = harness_for (l, &info);
      GstBuffer *out = gst_harness_push_and_pull (h, in);
      /* readers outside the plugin find the meta API by name */
      GType api = g_type_from_name ("GstCnnSegmentationMetaAPI");
      fail_unless (api != 0);
      GstCnnSegmentationMeta *m = (GstCnnSegmentationMeta *) gst_buffer_get_meta (out, api);
      fail_unless (m != NULL, "no mask meta");
      fail_unless_equals_int (m->width, 257);
      fail_unless_equals_int (m->height, 257);
      fail_unless_equals_int (m->n_classes, 21);
      gsize person = 0, n = (gsize) m->width * m->height;
      for (gsize i = 0; i < n; i++)
        person += m->mask[i] == 15;
      g_print ("%s overlay=%d: %.2f%% person pixels\n", gst_video_format_to_string (fmts[f]), overlay,
          100.0 * person / n);
      fail_unless (person > n / 100, "only %zu person pixels", person);
      GstMapInfo a, b;
      gst_buffer_map (out, &a, GST_MAP_READ);
      gst_buffer_map (orig, &b, GST_MAP_READ);
      gsize changed = 0;
      for (gsize i = 0; i < a.size; i++)
        changed += a.data[i] != b.data[i];
      gst_buffer_unmap (out, &a);
      gst_buffer_unmap (orig, &b);
      if (overlay)
        fail_unless (changed > a.size / 100, "overlay changed %zu bytes only", changed);
      else
        fail_unless (changed == 0, "without overlay the frame changed");
      gst_buffer_unref (orig);
      gst_buffer_unref (out);
      gst_harness_teardown (h);
      g_free (l);
    }
}
GST_END_TEST;

GST_START_TEST (test_classifier_refused)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (have_file (model)) {
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnsegment model=%s ! fakesink", model);
    gchar *msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "too small for a segmentation"), "classifier as segmenter: %s", msg);
    g_free (msg);
    g_free (l);
  }
  g_free (model);
}
GST_END_TEST;

/* Scores of 21 x 160 x 160 (537,600 values: checked for NaN and Inf in
 * blocks on the session's threads) that are log (1) = 0 but for a NaN at
 * value 400,000 (the second block) and a -Inf at 530,000 (the third): the
 * frame passes without a mask, and the warning names the first. */
GST_START_TEST (test_nonfinite_scores_located)
{
  ob_model *b = ob_new (13);
  int64_t in[4] = { 1, 3, 160, 160 }, wd[4] = { 21, 3, 1, 1 }, od[4] = { 1, 21, 160, 160 };
  gsize n = 21 * 160 * 160;
  gfloat w[63] = { 0 }, *ones = g_new (gfloat, n);
  for (gsize i = 0; i < n; i++)
    ones[i] = 1.f;
  ones[400000] = -1.f;
  ones[530000] = 0.f;
  ob_input (b, "image", 4, in);
  ob_init_float (b, "w", 4, wd, w, NULL);
  ob_init_float (b, "c", 4, od, ones, NULL);
  ob_node (b, "Conv", "image,w", "zero");
  ob_node (b, "Add", "zero,c", "sum");
  ob_node (b, "Log", "sum", "scores");
  ob_output (b, "scores");
  gchar *path = g_build_filename (g_get_tmp_dir (), "cnn-seg-nan.onnx", NULL);
  fail_unless (ob_save (b, path));
  ob_free (b);
  g_free (ones);
  gchar *launch = g_strdup_printf ("cnnsegment model=%s threads=2", path);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 64, 48);
  GstHarness *h = harness_for (launch, &info);
  GstBus *bus = harness_bus (h);
  GstBuffer *frame = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (frame, 0, 128, info.size);    /* defined bytes (valgrind follows them through the zeros) */
  GstBuffer *out = gst_harness_push_and_pull (h, frame);
  fail_unless (out != NULL, "the stream stopped");
  /* the meta's API is registered with the first mask */
  GType api = g_type_from_name ("GstCnnSegmentationMetaAPI");
  fail_unless (api == 0 || gst_buffer_get_meta (out, api) == NULL, "a mask from NaN scores");
  gst_buffer_unref (out);
  gchar *warning = pop_warning (bus);
  fail_unless (warning != NULL, "no warning");
  fail_unless (strstr (warning, "holds NaN at element 400000") != NULL, "%s", warning);
  g_free (warning);
  harness_teardown_bus (h, bus);
  g_remove (path);
  g_free (path);
  g_free (launch);
}
GST_END_TEST;

/* batch-size=2 on 2 threads with the shipped segmenter (1.2 MiB of
 * activations a frame): the session runs the two frames apart, one a
 * thread, each on a one-thread plan of its own; the masks are those of
 * the element without a batch, frame by frame (a pixel whose two best
 * classes are a rounding apart may go either way: one in 1000 at most). */
GST_START_TEST (test_batch_masks)
{
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "segmenter.onnx", NULL);
  gchar *l1 = g_strdup_printf ("cnnsegment model=%s threads=2", model);
  gchar *l2 = g_strdup_printf ("cnnsegment model=%s threads=2 batch-size=2", model);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 160, 120);
  GstHarness *h1 = harness_for (l1, &info), *h2 = harness_for (l2, &info);
  GRand *r = g_rand_new_with_seed (11);
  const guint frames = 4;
  gsize most = 0;
  for (guint i = 0; i < frames; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
    GstMapInfo m;
    gst_buffer_map (in, &m, GST_MAP_WRITE);
    /* blocks of colour with noise, moved from frame to frame (swapped
     * frames would show): regions the segmenter tells apart */
    for (gsize k = 0; k < m.size; k++)
      m.data[k] = (guint8) (((k / 3 + 23 * i) % 160 / 40 * 60 + (k / 480 + 17 * i) % 120 / 30 * 40 +
              (k % 3) * 50 + g_rand_int_range (r, 0, 24)) & 0xff);
    gst_buffer_unmap (in, &m);
    GST_BUFFER_PTS (in) = i * 33 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h1, gst_buffer_ref (in)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (h2, in), GST_FLOW_OK);
  }
  fail_unless_equals_int (gst_harness_buffers_received (h2), frames);
  GType api = g_type_from_name ("GstCnnSegmentationMetaAPI");
  fail_unless (api != 0);
  for (guint i = 0; i < frames; i++) {
    GstBuffer *a = gst_harness_pull (h1), *b = gst_harness_pull (h2);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), GST_BUFFER_PTS (a));
    GstCnnSegmentationMeta *ma = (GstCnnSegmentationMeta *) gst_buffer_get_meta (a, api);
    GstCnnSegmentationMeta *mb = (GstCnnSegmentationMeta *) gst_buffer_get_meta (b, api);
    fail_unless (ma && mb, "frame %u: no mask", i);
    fail_unless (ma->width == mb->width && ma->height == mb->height);
    gsize n = (gsize) ma->width * ma->height, differ = 0;
    for (gsize k = 0; k < n; k++)
      differ += ma->mask[k] != mb->mask[k];
    fail_unless (differ <= n / 1000, "frame %u: %zu of %zu mask pixels differ batched", i, differ, n);
    most = MAX (most, differ);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
  g_print ("batch-size=2 on 2 threads: at most %zu mask pixels a frame differ from unbatched\n", most);
  g_rand_free (r);
  gst_harness_teardown (h1);
  gst_harness_teardown (h2);
  g_free (l1);
  g_free (l2);
  g_free (model);
}
GST_END_TEST;

static Suite *
cnnsegment_suite (void)
{
  Suite *s = suite_create ("cnnsegment");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_person_mask);
  tcase_add_test (tc, test_classifier_refused);
  tcase_add_test (tc, test_nonfinite_scores_located);
  tcase_add_test (tc, test_batch_masks);
  return s;
}

GST_CHECK_MAIN (cnnsegment);
