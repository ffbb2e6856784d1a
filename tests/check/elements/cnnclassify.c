/* cnnclassify element tests: real SqueezeNet on a real photo in every
 * format, secondary mode, interval, labels, errors. */
#include "common.h"

/* every format the elements take */
static const GstVideoFormat formats[] = { GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_BGR,
  GST_VIDEO_FORMAT_RGBx, GST_VIDEO_FORMAT_BGRx, GST_VIDEO_FORMAT_xRGB, GST_VIDEO_FORMAT_xBGR,
  GST_VIDEO_FORMAT_RGBA, GST_VIDEO_FORMAT_BGRA, GST_VIDEO_FORMAT_ARGB, GST_VIDEO_FORMAT_ABGR,
  GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420 };

/* ImageNet bird classes: 7-24, 80-100, 127-146 */
static gboolean
is_bird (gint id)
{
  return (id >= 7 && id <= 24) || (id >= 80 && id <= 100) || (id >= 127 && id <= 146);
}

static gchar *
squeezenet_launch (const gchar * extra)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx"), *labels = shared_model ("imagenet_labels.txt");
  gchar *s = g_strdup_printf ("cnnclassify model=%s labels=%s color-order=bgr threads=2 %s", model,
      labels, extra);
  g_free (model);
  g_free (labels);
  return s;
}

GST_START_TEST (test_eagle_every_format)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_printerr ("SKIP: %s missing\n", model);
    g_free (model);
    return;
  }
  g_free (model);
  gchar *launch = squeezenet_launch ("top-k=3");
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    GstVideoInfo info;
    GstBuffer *in = photo_buffer (PHOTOS "/eagle.jpg", formats[f], &info);
    GstHarness *h = harness_for (launch, &info);
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless (out != NULL);
    const GstStructure *c = frame_classification (out);
    fail_unless (c != NULL, "no classification for %s", gst_video_format_to_string (formats[f]));
    gint id;
    gdouble conf;
    fail_unless (gst_structure_get_int (c, "class-id", &id) && gst_structure_get_double (c, "confidence", &conf));
    g_print ("%s: %s (%d) %.3f\n", gst_video_format_to_string (formats[f]),
        gst_structure_get_string (c, "label"), id, conf);
    fail_unless (is_bird (id), "%s: top-1 %d (%s) is not a bird", gst_video_format_to_string (formats[f]),
        id, gst_structure_get_string (c, "label"));
    fail_unless (conf > 0 && conf <= 1);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  g_free (launch);
}
GST_END_TEST;

GST_START_TEST (test_roi_list_and_interval)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  g_free (model);
  gchar *launch = squeezenet_launch ("inference-region=roi-list roi-class=animal interval=2");
  GstVideoInfo info;
  GstBuffer *in = photo_buffer (PHOTOS "/eagle.jpg", GST_VIDEO_FORMAT_RGB, &info);
  GstHarness *h = harness_for (launch, &info);
  for (int i = 0; i < 3; i++) {
    GstBuffer *b = gst_buffer_copy (in);
    gst_buffer_add_video_region_of_interest_meta (b, "animal", 200, 40, 400, 440);
    gst_buffer_add_video_region_of_interest_meta (b, "sky", 0, 0, 100, 100);
    GstBuffer *out = gst_harness_push_and_pull (h, b);
    gpointer state = NULL;
    GstMeta *m;
    gint classified = 0;
    while ((m = gst_buffer_iterate_meta_filtered (out, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
      GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) m;
      GstStructure *c = gst_video_region_of_interest_meta_get_param (roi, "classification");
      if (g_strcmp0 (g_quark_to_string (roi->roi_type), "sky") == 0) {
        fail_unless (c == NULL, "the filtered-out ROI got classified");
      } else {
        fail_unless (c != NULL, "frame %d: the animal ROI has no classification", i);
        gint id;
        gst_structure_get_int (c, "class-id", &id);
        fail_unless (is_bird (id), "crop classified as %d", id);
        classified++;
      }
    }
    fail_unless_equals_int (classified, 1);
    gst_buffer_unref (out);
  }
  gst_buffer_unref (in);
  gst_harness_teardown (h);
  g_free (launch);
}
GST_END_TEST;

GST_START_TEST (test_errors)
{
  gchar *msg = run_pipeline ("videotestsrc num-buffers=1 ! cnnclassify model=/nonexistent.onnx ! fakesink");
  fail_unless (msg && strstr (msg, "nonexistent.onnx"), "missing model: %s", msg);
  g_free (msg);
  msg = run_pipeline ("videotestsrc num-buffers=1 ! cnnclassify ! fakesink");
  fail_unless (msg && strstr (msg, "model"), "no model: %s", msg);
  g_free (msg);
  gchar *model = shared_model ("ultraface-rfb-320.onnx");
  if (have_file (model)) {
    /* a detector in a classifier: says why */
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnclassify model=%s ! fakesink", model);
    msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "score per class"), "detector as classifier: %s", msg);
    g_print ("wrong model: %s\n", msg);
    g_free (msg);
    g_free (l);
  }
  g_free (model);
  model = shared_model ("squeezenet1.1_fp16.onnx");
  if (have_file (model)) {
    gchar *bad = g_build_filename (g_get_tmp_dir (), "cnn-3-labels.txt", NULL);
    g_file_set_contents (bad, "a\nb\nc\n", -1, NULL);
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnclassify model=%s labels=%s ! fakesink", model, bad);
    msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "3 labels"), "label count: %s", msg);
    g_free (msg);
    g_free (l);
    g_remove (bad);
    g_free (bad);
  }
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_state_cycles)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  gchar *l = g_strdup_printf ("videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120 ! "
      "cnnclassify model=%s threads=1 ! fakesink", model);
  for (int i = 0; i < 5; i++) {
    gchar *msg = run_pipeline (l);
    fail_unless (msg == NULL, "%s", msg);
  }
  g_free (l);
  g_free (model);
}
GST_END_TEST;

static Suite *
cnnclassify_suite (void)
{
  Suite *s = suite_create ("cnnclassify");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_eagle_every_format);
  tcase_add_test (tc, test_roi_list_and_interval);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_state_cycles);
  return s;
}

GST_CHECK_MAIN (cnnclassify);
