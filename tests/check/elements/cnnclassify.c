/* cnnclassify element tests: real SqueezeNet on a real photo in every
 * format, secondary mode, interval, labels, errors. */
#include "common.h"
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "../../core/onnx-builder.h"

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

/* A file in the temp folder holding a 3-class "classifier" on 8x8 images:
 * channel means, then @last_op (Log, Softmax...).  Returns its path. */
static gchar *
tiny_classifier (const gchar * last_op, const gchar * file)
{
  ob_model *b = ob_new (13);
  int64_t in[4] = { 1, 3, 8, 8 };
  ob_input (b, "image", 4, in);
  ob_node (b, "GlobalAveragePool", "image", "p");
  ob_node (b, "Flatten", "p", "f");
  ob_node (b, last_op, "f", "scores");
  ob_output (b, "scores");
  gchar *path = g_build_filename (g_get_tmp_dir (), file, NULL);
  fail_unless (ob_save (b, path));
  ob_free (b);
  return path;
}

/* The cnnclassify description for the tests that run a model once per
 * pixel format: SqueezeNet, or under valgrind (quick mode, where SqueezeNet
 * on the portable kernels takes 20 s a frame) tiny_classifier(), which
 * sends every format through the same element code, pre-processing
 * included, in a fraction of that.  *@tmp is the file to remove after, or
 * NULL; *@k the ranks to expect (@k_max at most). */
static gchar *
format_test_launch (const gchar * extra, gint k_max, gchar ** tmp, gint * k)
{
  if (!quick_mode ()) {
    *tmp = NULL;
    *k = k_max;
    return squeezenet_launch (extra);
  }
  *tmp = tiny_classifier ("Softmax", "cnn-formats.onnx");
  *k = MIN (k_max, 3);
  return g_strdup_printf ("cnnclassify model=%s threads=2 %s", *tmp, extra);
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
  gchar *tmp;
  gint k, first = -1;
  gchar *launch = format_test_launch ("top-k=3", 3, &tmp, &k);
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
    if (!tmp)
      fail_unless (is_bird (id), "%s: top-1 %d (%s) is not a bird", gst_video_format_to_string (formats[f]),
          id, gst_structure_get_string (c, "label"));
    else                        /* channel means: the photo's dominant channel in every format */
      fail_unless (first < 0 || id == first, "%s: top-1 %d, %s's was %d", gst_video_format_to_string (formats[f]),
          id, gst_video_format_to_string (formats[0]), first);
    first = first < 0 ? id : first;
    fail_unless (conf > 0 && conf <= 1);
    /* top-k=3: three ranks, best first, distinct classes */
    GstVideoRegionOfInterestMeta *roi = frame_roi (out);
    gint n = 0, ids[3];
    gdouble last = 2, total = 0;
    for (GList * l = roi ? roi->params : NULL; l; l = l->next) {
      const GstStructure *p = l->data;
      gint rank;
      if (!gst_structure_has_name (p, "classification"))
        continue;
      fail_unless (n < 3 && gst_structure_get_int (p, "rank", &rank) && rank == n);
      fail_unless (gst_structure_get_int (p, "class-id", &ids[n]) && gst_structure_get_double (p, "confidence", &conf));
      fail_unless (conf <= last, "%s: rank %d has %g, above rank %d's %g", gst_video_format_to_string (formats[f]),
          n, conf, n - 1, last);
      for (gint j = 0; j < n; j++)
        fail_unless (ids[j] != ids[n]);
      last = conf;
      total += conf;
      n++;
    }
    fail_unless_equals_int (n, k);
    fail_unless (total <= 1 + 1e-6);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  g_free (launch);
  if (tmp)
    g_remove (tmp);
  g_free (tmp);
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

/* `model` changes while playing: the next frame uses the new model and its
 * description file's labels. */
GST_START_TEST (test_hot_reload)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  if (!have_file (model) || !have_file (fashion)) {
    g_free (model);
    g_free (fashion);
    return;
  }
  gchar *launch = squeezenet_launch ("name=c");
  GstVideoInfo info;
  GstBuffer *in = photo_buffer (PHOTOS "/eagle.jpg", GST_VIDEO_FORMAT_RGB, &info);
  GstHarness *h = harness_for (launch, &info);
  GstBuffer *out = gst_harness_push_and_pull (h, gst_buffer_ref (in));
  gint id;
  fail_unless (gst_structure_get_int (frame_classification (out), "class-id", &id) && is_bird (id));
  gst_buffer_unref (out);
  GstElement *c = gst_bin_get_by_name (GST_BIN (h->element), "c");
  g_object_set (c, "model", fashion, "labels", NULL, NULL);
  out = gst_harness_push_and_pull (h, in);
  const GstStructure *cl = frame_classification (out);
  fail_unless (cl && gst_structure_get_int (cl, "class-id", &id));
  const gchar *label = gst_structure_get_string (cl, "label");
  g_print ("after the swap: %s (%d)\n", label, id);
  fail_unless (id >= 0 && id < 10, "class %d after switching to the 10-class model", id);
  const gchar *fashion_labels[] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
    "Shirt", "Sneaker", "Bag", "Ankle boot" };
  fail_unless_equals_string (label, fashion_labels[id]);
  gst_buffer_unref (out);
  gst_object_unref (c);
  gst_harness_teardown (h);
  g_free (launch);
  g_free (model);
  g_free (fashion);
}
GST_END_TEST;

static gpointer
pipeline_thread (gpointer launch)
{
  return run_pipeline (launch);
}

/* Two pipelines in parallel share one loaded model (one file, one cache
 * entry) and each gets the same results as it would alone. */
GST_START_TEST (test_parallel_pipelines_share_model)
{
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *out[2], *launch[2];
  GThread *th[2];
  for (int i = 0; i < 2; i++) {
    out[i] = g_strdup_printf ("%s/cnn-parallel-%d.jsonl", g_get_tmp_dir (), i);
    launch[i] = g_strdup_printf ("videotestsrc num-buffers=12 pattern=%s ! video/x-raw,width=160,height=120 ! "
        "cnnclassify model=%s threads=1 top-k=2 ! cnnmetapublish location=%s ! fakesink", "ball", model, out[i]);
    th[i] = g_thread_new ("pipeline", pipeline_thread, launch[i]);
  }
  for (int i = 0; i < 2; i++) {
    gchar *msg = g_thread_join (th[i]);
    fail_unless (msg == NULL, "pipeline %d: %s", i, msg);
  }
  gchar *a, *b;
  fail_unless (g_file_get_contents (out[0], &a, NULL, NULL) && g_file_get_contents (out[1], &b, NULL, NULL));
  fail_unless (strlen (a) > 0 && strcmp (a, b) == 0, "the two pipelines disagree");
  gchar **lines = g_strsplit (a, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines) - 1, 12);
  g_strfreev (lines);
  for (int i = 0; i < 2; i++) {
    g_remove (out[i]);
    g_free (out[i]);
    g_free (launch[i]);
  }
  g_free (a);
  g_free (b);
  g_free (model);
}
GST_END_TEST;

/* A model whose outputs turn NaN / -Inf: the frame passes without results
 * and a warning names the output; the stream goes on. */
GST_START_TEST (test_nonfinite_outputs)
{
  gchar *path = tiny_classifier ("Log", "cnn-nan.onnx");
  /* mean 255: every input is <= 0, log of it is -Inf or NaN */
  gchar *launch = g_strdup_printf ("cnnclassify model=%s mean=255", path);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 32, 24);
  GstHarness *h = harness_for (launch, &info);
  GstBus *bus = harness_bus (h);
  for (int i = 0; i < 3; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
    gst_buffer_memset (in, 0, 40 * i, info.size);
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless (out != NULL, "the stream stopped");
    fail_unless (frame_classification (out) == NULL, "results attached from NaN scores");
    gst_buffer_unref (out);
  }
  gchar *w = pop_warning (bus);
  fail_unless (w != NULL, "no warning");
  fail_unless (strstr (w, "NaN or Inf") && strstr (w, "'scores'"), "%s", w);
  g_free (w);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL, "one warning per 100 frames");
  harness_teardown_bus (h, bus);
  g_remove (path);
  g_free (path);
  g_free (launch);
}
GST_END_TEST;

/* The frame size and format change mid-stream: every frame is classified. */
GST_START_TEST (test_renegotiation)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *launch = g_strdup_printf ("cnnclassify model=%s", fashion);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 320, 240);
  GstHarness *h = harness_for (launch, &info);
  struct { GstVideoFormat f; gint w, h; } steps[] = { { GST_VIDEO_FORMAT_RGB, 320, 240 },
    { GST_VIDEO_FORMAT_RGB, 64, 48 }, { GST_VIDEO_FORMAT_NV12, 100, 50 }, { GST_VIDEO_FORMAT_BGRx, 28, 28 } };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    gst_video_info_set_format (&info, steps[i].f, steps[i].w, steps[i].h);
    GstCaps *caps = gst_video_info_to_caps (&info);
    gst_harness_set_src_caps (h, gst_caps_ref (caps));
    gst_harness_set_sink_caps (h, caps);
    GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
    gst_buffer_memset (in, 0, 16 * (i + 1), info.size);       /* set: valgrind checks what is read */
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    fail_unless (out && frame_classification (out) != NULL, "no result after switching to %dx%d %s",
        steps[i].w, steps[i].h, gst_video_format_to_string (steps[i].f));
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  g_free (launch);
  g_free (fashion);
}
GST_END_TEST;

/* A frame its upstream element still holds (a decoder's reference frame:
 * read-only memory, a second ref) is read where it lies: cnnclassify, which
 * draws nothing, maps it for reading only, one frame at a time and in
 * batches.  Mapped for writing, it was copied whole on every frame. */
GST_START_TEST (test_frames_read_in_place)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 56, 28);
  for (gint batch = 1; batch <= 2; batch++) {
    gchar *launch = g_strdup_printf ("cnnclassify model=%s batch-size=%d", fashion, batch);
    GstHarness *h = harness_for (launch, &info);
    guint8 *pix[2];
    GstBuffer *held[2];
    for (gint i = 0; i < batch; i++) {
      pix[i] = g_malloc (info.size);
      memset (pix[i], 40 * (i + 1), info.size);
      GstBuffer *in = gst_buffer_new ();
      gst_buffer_append_memory (in, gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, pix[i], info.size, 0,
              info.size, pix[i], g_free));
      held[i] = gst_buffer_ref (in);
      fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    }
    for (gint i = 0; i < batch; i++) {
      GstBuffer *out = gst_harness_pull (h);
      fail_unless (out && frame_classification (out) != NULL, "no result (batch-size %d)", batch);
      GstMapInfo m;
      fail_unless (gst_buffer_map (out, &m, GST_MAP_READ));
      fail_unless (m.data == pix[i], "frame %d was copied (batch-size %d)", i, batch);
      gst_buffer_unmap (out, &m);
      gst_buffer_unref (out);
      gst_buffer_unref (held[i]);
    }
    gst_harness_teardown (h);
    g_free (launch);
  }
  g_free (fashion);
}
GST_END_TEST;

/* A flushing seek in the middle of the stream: the element flushes, goes on
 * and the pipeline reaches EOS without an error. */
GST_START_TEST (test_flushing_seek)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *l = g_strdup_printf ("videotestsrc num-buffers=60 ! video/x-raw,width=64,height=48,framerate=30/1 ! "
      "cnnclassify model=%s interval=3 ! fakesink sync=false", fashion);
  GstElement *p = gst_parse_launch (l, NULL);
  fail_unless (p != NULL);
  GstBus *bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PAUSED);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_ASYNC_DONE);
  gst_message_unref (m);
  fail_unless (gst_element_seek_simple (p, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, GST_SECOND / 2));
  gst_element_set_state (p, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "no EOS after the seek");
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  g_free (l);
  g_free (fashion);
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
    /* a labels path that cannot be read (a folder: root reads any file) */
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnclassify model=%s labels=%s ! fakesink",
        model, g_get_tmp_dir ());
    msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "labels") && strstr (msg, g_get_tmp_dir ()), "unreadable labels: %s", msg);
    g_print ("unreadable labels: %s\n", msg);
    g_free (msg);
    g_free (l);
  }
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

/* The backend of the batching and pre-processing tests: CNN_TEST_BACKEND
 * (cuda on a GPU machine), else the CPU. */
static const gchar *
test_backend (void)
{
  const gchar *b = g_getenv ("CNN_TEST_BACKEND");
  return b ? b : "cpu";
}

/* The top-5 (ids, confidences) of @out's frame classification. */
static gint
top5 (GstBuffer * out, gint * ids, gdouble * conf)
{
  GstVideoRegionOfInterestMeta *roi = frame_roi (out);
  gint n = 0;
  for (GList * l = roi ? roi->params : NULL; l && n < 5; l = l->next)
    if (gst_structure_has_name (l->data, "classification") &&
        gst_structure_get_int (l->data, "class-id", &ids[n]) &&
        gst_structure_get_double (l->data, "confidence", &conf[n]))
      n++;
  return n;
}

/* preprocess=backend (the session's conversion: on the CPU the core's
 * reference, on a GPU its kernel) gives what the element's vector code
 * gives, in every format, stretched and letterboxed: both equal the
 * reference to the bit, so do the top-5 confidences (on a GPU, within
 * what two sessions' convolution algorithms may differ by). */
GST_START_TEST (test_preprocess_on_backend)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  g_free (model);
  for (gint aspect = 0; aspect < 2; aspect++) {
    gchar *extra[2];
    for (gint b = 0; b < 2; b++)
      extra[b] = g_strdup_printf ("top-k=5 keep-aspect=%s preprocess=%s backend=%s", aspect ? "true" : "false",
          b ? "backend" : "cpu", test_backend ());
    gdouble tol = strcmp (test_backend (), "cpu") == 0 ? 0 : 1e-4;
    gchar *tmp[2];
    gint k;
    gchar *launch[2] = { format_test_launch (extra[0], 5, &tmp[0], &k),
      format_test_launch (extra[1], 5, &tmp[1], &k) };
    for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
      gint ids[2][5], n[2];
      gdouble conf[2][5];
      for (gint b = 0; b < 2; b++) {
        GstVideoInfo info;
        GstBuffer *in = photo_buffer (PHOTOS "/eagle.jpg", formats[f], &info);
        GstHarness *h = harness_for (launch[b], &info);
        GstBuffer *out = gst_harness_push_and_pull (h, in);
        fail_unless (out != NULL);
        n[b] = top5 (out, ids[b], conf[b]);
        gst_buffer_unref (out);
        gst_harness_teardown (h);
      }
      const gchar *fmt = gst_video_format_to_string (formats[f]);
      fail_unless (n[0] == k && n[1] == k, "%s: %d and %d ranks", fmt, n[0], n[1]);
      for (gint r = 0; r < k; r++)
        fail_unless (ids[0][r] == ids[1][r] && fabs (conf[0][r] - conf[1][r]) <= tol, "%s%s: rank %d: cpu %d %.9g, "
            "backend %d %.9g", fmt, aspect ? " letterboxed" : "", r, ids[0][r], conf[0][r], ids[1][r], conf[1][r]);
    }
    for (gint b = 0; b < 2; b++) {
      g_free (extra[b]);
      g_free (launch[b]);
      if (tmp[b])
        g_remove (tmp[b]);
      g_free (tmp[b]);
    }
  }
}
GST_END_TEST;

/* Top-1 class id of eagle.jpg through SqueezeNet's cnnclassify with
 * @extra properties, or -1 with *error set. */
static gint
eagle_top1 (const gchar * extra, gchar ** error)
{
  gchar *c = squeezenet_launch (extra);
  gchar *launch = g_strdup_printf ("filesrc location=" PHOTOS "/eagle.jpg ! jpegdec ! videoconvert ! "
      "imagefreeze num-buffers=1 ! %s ! appsink name=sink", c);
  GstElement *p = gst_parse_launch (launch, NULL);
  g_free (launch);
  g_free (c);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstSample *s = NULL;
  /* a failed start fails the state change: no need to wait for a sample */
  if (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE &&
      gst_element_get_state (p, NULL, NULL, 20 * GST_SECOND) != GST_STATE_CHANGE_FAILURE)
    g_signal_emit_by_name (sink, "try-pull-sample", (GstClockTime) (20 * GST_SECOND), &s);
  gint id = -1;
  *error = NULL;
  if (s) {
    const GstStructure *c = frame_classification (gst_sample_get_buffer (s));
    if (c)
      gst_structure_get_int (c, "class-id", &id);
    gst_sample_unref (s);
  } else {
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR);
    if (m) {
      GError *e = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (m, &e, &dbg);
      *error = g_strdup_printf ("%s: %s", e->message, dbg ? dbg : "");
      g_error_free (e);
      g_free (dbg);
      gst_message_unref (m);
    }
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  return id;
}

/* backend=cuda gives the CPU's answer where a GPU is, and a clear error
 * naming the reason where none is; bad backend and precision names too. */
GST_START_TEST (test_backends)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  g_free (model);
  gchar *err = NULL;
  gint cpu = eagle_top1 ("backend=cpu", &err), cuda;
  fail_unless (is_bird (cpu), "cpu: %d %s", cpu, err);
  for (int prec = 0; prec < 2; prec++) {
    cuda = eagle_top1 (prec ? "backend=cuda precision=tf32" : "backend=cuda", &err);
    if (err) {
      g_print ("backend=cuda: %s\n", err);
      fail_unless (strstr (err, "cuda") || strstr (err, "CUDA"), "unclear error: %s", err);
    } else {
      fail_unless (cuda == cpu, "cuda says %d, cpu %d", cuda, cpu);
    }
    g_free (err);
  }
  fail_unless (eagle_top1 ("backend=tpu", &err) < 0 && err && strstr (err, "'tpu'"), "bad backend: %s", err);
  g_free (err);
  fail_unless (eagle_top1 ("precision=int4", &err) < 0 && err && strstr (err, "'int4'"), "bad precision: %s",
      err);
  g_free (err);
}
GST_END_TEST;

static guint64
stat_of (GstElement * e, const gchar * field)
{
  GstStructure *st = NULL;
  guint64 v = 0;
  g_object_get (e, "stats", &st, NULL);
  fail_unless (st && gst_structure_get_uint64 (st, field, &v), "no %s in stats", field);
  gst_structure_free (st);
  return v;
}

static GstBuffer *
timed_frame (GstClockTime pts)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 32 * 32 * 3, NULL);
  gst_buffer_memset (b, 0, 128, 32 * 32 * 3);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = 40 * GST_MSECOND;
  return b;
}

/* Frames that downstream's QoS says are late: inferred anyway (none), passed
 * with the last results (skip) or dropped (drop), and counted in stats. */
GST_START_TEST (test_qos_policy)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  const gchar *policies[] = { "none", "skip", "drop" };
  for (int pi = 0; pi < 3; pi++) {
    gchar *l = g_strdup_printf ("cnnclassify model=%s qos-policy=%s", fashion, policies[pi]);
    GstVideoInfo info;
    gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 32, 32);
    GstHarness *h = harness_for (l, &info);
    GstElement *c = gst_harness_find_element (h, "cnnclassify");
    gst_buffer_unref (gst_harness_push_and_pull (h, timed_frame (0)));
    /* downstream: the frame at 40 ms came 1 s late */
    fail_unless (gst_harness_push_upstream_event (h, gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.5,
                GST_SECOND, 40 * GST_MSECOND)));
    for (int i = 1; i <= 3; i++)  /* ending at 80..160 ms, before 1.04 s: late */
      fail_unless_equals_int (gst_harness_push (h, timed_frame (i * 40 * GST_MSECOND)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (h, timed_frame (2 * GST_SECOND)), GST_FLOW_OK);
    guint64 inferences = stat_of (c, "inferences"), skipped = stat_of (c, "late-skipped"),
        dropped = stat_of (c, "late-dropped");
    guint received = gst_harness_buffers_received (h);
    g_print ("qos-policy=%s: %u frames out, %" G_GUINT64_FORMAT " inferences, %" G_GUINT64_FORMAT
        " skipped, %" G_GUINT64_FORMAT " dropped\n", policies[pi], received, inferences, skipped, dropped);
    if (pi == 0) {
      fail_unless (inferences == 5 && skipped == 0 && dropped == 0 && received == 5);
    } else if (pi == 1) {
      fail_unless (inferences == 2 && skipped == 3 && dropped == 0 && received == 5);
      for (guint i = 0; i < 4; i++) {   /* the late frames still carry results */
        GstBuffer *out = gst_harness_pull (h);
        fail_unless (frame_classification (out) != NULL, "frame %u without results", i + 1);
        gst_buffer_unref (out);
      }
    } else {
      fail_unless (inferences == 2 && skipped == 0 && dropped == 3 && received == 2);
    }
    gst_object_unref (c);
    gst_harness_teardown (h);
    g_free (l);
  }
  g_free (fashion);
}
GST_END_TEST;

/* In a live pipeline the element adds its measured processing time to the
 * LATENCY answer; a set `latency` is used as given. */
GST_START_TEST (test_latency)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  GstClockTime mins[4];
  /* the last: batches of 4 at 30 fps wait up to 3 frame durations more */
  const gchar *el[4] = { "", "! cnnclassify name=c model=%s ", "! cnnclassify name=c model=%s latency=50000000 ",
    "! cnnclassify name=c model=%s latency=50000000 batch-size=4 " };
  for (int k = 0; k < 4; k++) {
    gchar *mid = g_strdup_printf (el[k], fashion);
    gchar *l = g_strdup_printf ("videotestsrc is-live=true ! video/x-raw,format=RGB,width=32,height=32,"
        "framerate=30/1 %s! fakesink sync=true", mid);
    GstElement *p = gst_parse_launch (l, NULL);
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    fail_unless (gst_element_get_state (p, NULL, NULL, 10 * GST_SECOND) == GST_STATE_CHANGE_SUCCESS);
    GstQuery *q = gst_query_new_latency ();
    fail_unless (gst_element_query (p, q));
    gboolean live;
    GstClockTime max;
    gst_query_parse_latency (q, &live, &mins[k], &max);
    gst_query_unref (q);
    fail_unless (live);
    if (k > 0) {
      GstElement *c = gst_bin_get_by_name (GST_BIN (p), "c");
      guint64 lat;
      g_object_get (c, "latency", &lat, NULL);
      g_print ("latency: pipeline %" GST_TIME_FORMAT " without the element, %" GST_TIME_FORMAT
          " with it; element %" GST_TIME_FORMAT "\n", GST_TIME_ARGS (mins[0]), GST_TIME_ARGS (mins[k]),
          GST_TIME_ARGS (lat));
      /* measured on a blank frame: about a millisecond, over one under valgrind */
      fail_unless (lat > 0 && lat < (quick_mode () ? 60 : 1) * GST_SECOND, "latency %" G_GUINT64_FORMAT, lat);
      if (k >= 2)
        fail_unless_equals_uint64 (lat, 50 * GST_MSECOND);
      fail_unless_equals_uint64 (mins[k], mins[0] + lat + (k == 3 ? 3 * gst_util_uint64_scale_int (GST_SECOND, 1, 30) : 0));
      gst_object_unref (c);
    }
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    g_free (l);
    g_free (mid);
  }
  g_free (fashion);
}
GST_END_TEST;

static GstPadProbeReturn
count_buffers (GstPad * pad, GstPadProbeInfo * info, gpointer frames)
{
  g_atomic_int_inc ((gint *) frames);
  return GST_PAD_PROBE_OK;
}

/* A live source faster than the element: the streaming thread takes the
 * session frame after frame.  The element's latency then comes from the
 * frames' own runs, readable before anyone asks, and LATENCY queries made
 * while it is busy get it without waiting for the session (a query that
 * waited for it could starve: the lock is not fair). */
GST_START_TEST (test_latency_while_busy)
{
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *l = g_strdup_printf ("videotestsrc name=src is-live=true pattern=ball ! video/x-raw,format=RGB,"
      "width=640,height=480,framerate=1000/1 ! cnnclassify name=c model=%s threads=1 ! fakesink sync=false",
      fashion);
  GstElement *p = gst_parse_launch (l, NULL);
  GstElement *c = gst_bin_get_by_name (GST_BIN (p), "c"), *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstPad *out = gst_element_get_static_pad (c, "src");
  gint frames = 0;
  gst_pad_add_probe (out, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, &frames, NULL);
  GstBus *bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (g_atomic_int_get (&frames) < 3) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 10 * GST_MSECOND, GST_MESSAGE_ERROR);
    fail_if (m != NULL, "error before 3 frames");
  }
  guint64 lat;
  g_object_get (c, "latency", &lat, NULL);
  fail_unless (GST_CLOCK_TIME_IS_VALID (lat) && lat > 0, "latency %" G_GUINT64_FORMAT, lat);
  GstQuery *q = gst_query_new_latency ();
  fail_unless (gst_element_query (src, q));
  GstClockTime upstream, min, max;
  gboolean live;
  gst_query_parse_latency (q, &live, &upstream, &max);
  gst_query_unref (q);
  gint before = g_atomic_int_get (&frames);
  for (int i = 0; i < 20; i++) {
    q = gst_query_new_latency ();
    fail_unless (gst_pad_query (out, q));
    gst_query_parse_latency (q, &live, &min, &max);
    gst_query_unref (q);
    fail_unless (live);
    fail_unless_equals_uint64 (min, upstream + lat);
  }
  g_print ("latency while busy: element %" GST_TIME_FORMAT ", %d frames during 20 queries\n",
      GST_TIME_ARGS (lat), g_atomic_int_get (&frames) - before);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (out);
  gst_object_unref (src);
  gst_object_unref (c);
  gst_object_unref (p);
  g_free (l);
  g_free (fashion);
}
GST_END_TEST;

static glong
rss_kib (void)
{
  gchar *statm = NULL;
  glong pages = 0, rss = 0;
  if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    sscanf (statm, "%ld %ld", &pages, &rss);
  g_free (statm);
  return rss * (sysconf (_SC_PAGESIZE) / 1024);
}

typedef struct {
  guint64 n, early;
  glong rss_early;
} SoakCount;

static GstPadProbeReturn
soak_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  SoakCount *c = data;
  if (++c->n == c->early)
    c->rss_early = rss_kib ();
  return GST_PAD_PROBE_OK;
}

/* 100,000 frames through the element (3,000 under valgrind): every frame
 * classified, and the resident memory after the first tenth does not grow
 * (snow: under valgrind, videotestsrc's ball pattern wrote a byte before
 * its buffer). */
GST_START_TEST (test_soak)
{
  guint64 frames = quick_mode () ? 3000 : 100000;
  gchar *path = tiny_classifier ("Softmax", "cnn-soak.onnx");
  gchar *l = g_strdup_printf ("videotestsrc num-buffers=%" G_GUINT64_FORMAT " pattern=snow ! "
      "video/x-raw,format=RGB,width=16,height=16 ! cnnclassify name=c model=%s threads=1 ! "
      "fakesink name=sink", frames, path);
  GstElement *p = gst_parse_launch (l, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink"), *c = gst_bin_get_by_name (GST_BIN (p), "c");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  SoakCount count = { 0, frames / 10, 0 };
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, soak_probe, &count, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 600 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "no EOS");
  gst_message_unref (m);
  glong rss_end = rss_kib ();
  g_print ("soak: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT " inferences, RSS %ld KiB after "
      "%" G_GUINT64_FORMAT ", %ld KiB at the end\n", count.n, stat_of (c, "inferences"), count.rss_early,
      count.early, rss_end);
  fail_unless_equals_uint64 (count.n, frames);
  fail_unless_equals_uint64 (stat_of (c, "inferences"), frames);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan holds freed memory in quarantine: RSS grows; LeakSanitizer checks leaks */
#else
  /* under valgrind the resident memory is valgrind's own; it checks leaks itself */
  fail_unless (quick_mode () || rss_end - count.rss_early < 2048, "RSS grew by %ld KiB",
      rss_end - count.rss_early);
#endif
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (c);
  gst_object_unref (p);
  g_remove (path);
  g_free (path);
  g_free (l);
}
GST_END_TEST;

/* A description file with members of the wrong type or range: the error
 * names the member; nothing else happens. */
GST_START_TEST (test_bad_descriptions)
{
  const gchar *bad[][2] = {
    { "[1, 2]", "not a JSON object" },
    { "{\"task\": 7}", "\"task\" must be a string" },
    { "{\"preprocess\": [1]}", "\"preprocess\" must be an object" },
    { "{\"preprocess\": {\"mean\": \"abc\"}}", "\"mean\" must be" },
    { "{\"preprocess\": {\"std\": [1, 2]}}", "\"std\" must be" },
    { "{\"preprocess\": {\"layout\": {}}}", "\"layout\" must be a string" },
    { "{\"preprocess\": {\"keep_aspect\": 1}}", "\"keep_aspect\" must be true or false" },
    { "{\"labels\": [1, 2, 3]}", "\"labels\" must be" },
    { "{\"preprocess\": {\"width\": -5}}", "\"width\" must be an integer" },
  };
  gchar *dir = g_dir_make_tmp ("cnn-desc-XXXXXX", NULL);
  gchar *model = g_build_filename (dir, "m.onnx", NULL), *json = g_build_filename (dir, "m.json", NULL);
  gchar *fashion = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *bytes;
  gsize len;
  fail_unless (g_file_get_contents (fashion, &bytes, &len, NULL));
  fail_unless (g_file_set_contents (model, bytes, (gssize) len, NULL));
  g_free (bytes);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    fail_unless (g_file_set_contents (json, bad[i][0], -1, NULL));
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnclassify model=%s ! fakesink", model);
    gchar *msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, bad[i][1]), "%s: %s", bad[i][0], msg);
    g_free (msg);
    g_free (l);
  }
  g_remove (json);
  g_remove (model);
  g_rmdir (dir);
  g_free (json);
  g_free (model);
  g_free (dir);
  g_free (fashion);
}
GST_END_TEST;

/* An idx file of Debian's Fashion-MNIST, gunzipped: @header bytes then the data. */
static guint8 *
read_idx_gz (const gchar * path, gsize header, gsize * n)
{
  GFile *f = g_file_new_for_path (path);
  GInputStream *raw = G_INPUT_STREAM (g_file_read (f, NULL, NULL));
  g_object_unref (f);
  if (!raw)
    return NULL;
  GZlibDecompressor *z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  GInputStream *in = g_converter_input_stream_new (raw, G_CONVERTER (z));
  GByteArray *all = g_byte_array_new ();
  guint8 chunk[65536];
  gssize got;
  while ((got = g_input_stream_read (in, chunk, sizeof chunk, NULL, NULL)) > 0)
    g_byte_array_append (all, chunk, (guint) got);
  g_object_unref (in);
  g_object_unref (z);
  g_object_unref (raw);
  *n = all->len > header ? all->len - header : 0;
  guint8 *data = g_memdup2 (all->data + MIN (header, all->len), *n);
  g_byte_array_unref (all);
  return data;
}

/* The shipped classifier, through the element, on the whole Fashion-MNIST
 * test set: at least the accuracy its description file reports (less 0.2
 * points for rounding in the element's pre-processing). */
GST_START_TEST (test_shipped_model_accuracy)
{
  const gchar *dir = "/usr/share/datasets/fashion-mnist";
  gchar *ip = g_build_filename (dir, "t10k-images-idx3-ubyte.gz", NULL);
  gchar *lp = g_build_filename (dir, "t10k-labels-idx1-ubyte.gz", NULL);
  gsize ni = 0, nl = 0;
  guint8 *images = read_idx_gz (ip, 16, &ni), *labels = read_idx_gz (lp, 8, &nl);
  g_free (ip);
  g_free (lp);
  if (!images || !labels) {
    g_printerr ("SKIP: Fashion-MNIST test set not installed (dataset-fashion-mnist)\n");
    g_free (images);
    g_free (labels);
    return;
  }
  fail_unless (ni == nl * 28 * 28 && nl == 10000, "%zu images, %zu labels", ni / 784, nl);
  gchar *json = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.json", NULL);
  JsonParser *jp = json_parser_new ();
  fail_unless (json_parser_load_from_file (jp, json, NULL));
  JsonObject *trained = json_object_get_object_member (json_node_get_object (json_parser_get_root (jp)),
      "trained");
  gdouble reported = json_object_get_double_member (trained, "test_accuracy");
  g_object_unref (jp);
  g_free (json);
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  gchar *launch = g_strdup_printf ("cnnclassify model=%s threads=2", model);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 28, 28);
  GstHarness *h = harness_for (launch, &info);
  guint right = 0;
  /* under valgrind (1 s an image) the first 20: the check there is for
   * memory errors; they score 95% natively */
  gsize n = quick_mode () ? 20 : nl;
  for (gsize i = 0; i < n; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
    GstMapInfo map;
    gst_buffer_map (in, &map, GST_MAP_WRITE);
    for (gint y = 0; y < 28; y++)
      for (gint x = 0; x < 28; x++)
        memset (map.data + y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0) + 3 * x, images[i * 784 + y * 28 + x], 3);
    gst_buffer_unmap (in, &map);
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    const GstStructure *c = frame_classification (out);
    gint id = -1;
    fail_unless (c && gst_structure_get_int (c, "class-id", &id));
    right += id == labels[i];
    gst_buffer_unref (out);
  }
  gdouble acc = (gdouble) right / n, want = n == nl ? reported - 0.002 : 0.8;
  g_print ("shipped classifier through cnnclassify: %.2f%% of %zu test images (reported %.2f%%)\n",
      100 * acc, n, 100 * reported);
  fail_unless (acc >= want, "accuracy %.4f below %.4f", acc, want);
  gst_harness_teardown (h);
  g_free (launch);
  g_free (model);
  g_free (images);
  g_free (labels);
}
GST_END_TEST;

/* A 28x28 RGB frame of seeded noise, time-stamped @pts. */
static GstBuffer *
noise_frame (GRand * r, const GstVideoInfo * info, GstClockTime pts)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstMapInfo map;
  gst_buffer_map (b, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) g_rand_int_range (r, 0, 256);
  gst_buffer_unmap (b, &map);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = 33 * GST_MSECOND;
  return b;
}

/* batch-size: frames wait for their batch and come out in order, with the
 * results an unbatched element gives; a partial batch goes at EOS, or
 * before a frame later than batch-timeout; a model with a fixed batch of
 * one says so. */
GST_START_TEST (test_batching)
{
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 28, 28);
  const gchar *be = test_backend ();
  gchar *l1 = g_strdup_printf ("cnnclassify model=%s backend=%s", model, be);
  /* batches pre-processed by the element, and by the session (a partial
   * batch's items left unset) */
  gchar *l4 = g_strdup_printf ("cnnclassify model=%s batch-size=4 backend=%s", model, be);
  gchar *l4b = g_strdup_printf ("cnnclassify model=%s batch-size=4 backend=%s preprocess=backend", model, be);
  GstHarness *h1 = harness_for (l1, &info), *h4[2] = { harness_for (l4, &info), harness_for (l4b, &info) };
  GRand *r = g_rand_new_with_seed (7);
  const guint n = 10;
  for (guint i = 0; i < n; i++) {
    GstBuffer *in = noise_frame (r, &info, i * 33 * GST_MSECOND);
    fail_unless_equals_int (gst_harness_push (h1, gst_buffer_ref (in)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (h4[1], gst_buffer_ref (in)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (h4[0], in), GST_FLOW_OK);
    /* whole batches only */
    for (gint k = 0; k < 2; k++)
      fail_unless_equals_int (gst_harness_buffers_received (h4[k]), (i + 1) / 4 * 4);
  }
  for (gint k = 0; k < 2; k++) {
    fail_unless (gst_harness_push_event (h4[k], gst_event_new_eos ()));
    fail_unless_equals_int (gst_harness_buffers_received (h4[k]), n);
  }
  for (guint i = 0; i < n; i++) {
    GstBuffer *a = gst_harness_pull (h1);
    const GstStructure *ca = frame_classification (a);
    fail_unless (ca != NULL);
    gint ia = -1;
    gdouble pa = 0;
    gst_structure_get_int (ca, "class-id", &ia);
    gst_structure_get_double (ca, "confidence", &pa);
    for (gint k = 0; k < 2; k++) {
      GstBuffer *b = gst_harness_pull (h4[k]);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (b), GST_BUFFER_PTS (a));
      const GstStructure *cb = frame_classification (b);
      fail_unless (cb != NULL);
      gint ib = -2;
      gdouble pb = 1;
      gst_structure_get_int (cb, "class-id", &ib);
      gst_structure_get_double (cb, "confidence", &pb);
      fail_unless_equals_int (ib, ia);
      fail_unless (fabs (pa - pb) < 1e-5, "frame %u: %f batched%s, %f not", i, pb,
          k ? " (session's pre-processing)" : "", pa);
      gst_buffer_unref (b);
    }
    gst_buffer_unref (a);
  }
  gst_harness_teardown (h1);
  gst_harness_teardown (h4[0]);
  gst_harness_teardown (h4[1]);
  g_free (l4b);

  /* batch-timeout: a frame 200 ms after the batch's first sends it on */
  gchar *lt = g_strdup_printf ("cnnclassify model=%s batch-size=4 batch-timeout=50", model);
  GstHarness *ht = harness_for (lt, &info);
  gst_harness_push (ht, noise_frame (r, &info, 0));
  gst_harness_push (ht, noise_frame (r, &info, 10 * GST_MSECOND));
  fail_unless_equals_int (gst_harness_buffers_received (ht), 0);
  gst_harness_push (ht, noise_frame (r, &info, 200 * GST_MSECOND));
  fail_unless_equals_int (gst_harness_buffers_received (ht), 2);
  for (guint i = 0; i < 2; i++) {
    GstBuffer *b = gst_harness_pull (ht);
    fail_unless (frame_classification (b) != NULL, "no result on a timed-out batch");
    gst_buffer_unref (b);
  }
  gst_harness_teardown (ht);
  g_free (lt);

  gchar *fixed = shared_model ("squeezenet1.1_fp16.onnx");
  if (have_file (fixed)) {
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnclassify model=%s batch-size=2 ! fakesink", fixed);
    gchar *msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "fixed batch of 1"), "fixed batch: %s", msg);
    g_print ("fixed batch: %s\n", msg);
    g_free (msg);
    g_free (l);
  }
  g_free (fixed);
  g_rand_free (r);
  g_free (l1);
  g_free (l4);
  g_free (model);
}
GST_END_TEST;

typedef struct {
  GstHarness *h;
  GstBuffer **frames;
  guint n;
} PushJob;

static gpointer
push_frames (gpointer data)
{
  PushJob *j = data;
  for (guint i = 0; i < j->n; i++)
    fail_unless_equals_int (gst_harness_push (j->h, gst_buffer_ref (j->frames[i])), GST_FLOW_OK);
  return NULL;
}

static guint64
stats_uint (GstHarness * h, const gchar * field)
{
  GstElement *e = gst_harness_find_element (h, "cnnclassify");
  GstStructure *st;
  g_object_get (e, "stats", &st, NULL);
  guint64 v = G_MAXUINT64;
  gst_structure_get_uint64 (st, field, &v);
  gst_structure_free (st);
  gst_object_unref (e);
  return v;
}

/* model-instance-id: three elements, three streaming threads, one batch of
 * three: the results of every frame are the unbatched ones, and no batch
 * went partial (a long timeout); a lone element's frames go after the
 * timeout in partial batches; another batch-size under the same id is
 * refused. */
GST_START_TEST (test_model_instance_batching)
{
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
  const gchar *be = test_backend ();
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 28, 28);
  gchar *lref = g_strdup_printf ("cnnclassify model=%s backend=%s", model, be);
  gchar *lsh = g_strdup_printf ("cnnclassify model=%s backend=%s batch-size=3 model-instance-id=three "
      "batch-timeout=60000", model, be);
  enum { E = 3, N = 6 };
  GstHarness *ref = harness_for (lref, &info), *h[E];
  GstBuffer *frames[E][N];
  GRand *r = g_rand_new_with_seed (11);
  for (gint e = 0; e < E; e++) {
    h[e] = harness_for (lsh, &info);
    for (gint i = 0; i < N; i++)
      frames[e][i] = noise_frame (r, &info, i * 33 * GST_MSECOND);
  }
  PushJob jobs[E];
  GThread *threads[E];
  for (gint e = 0; e < E; e++) {
    jobs[e] = (PushJob) { h[e], frames[e], N };
    threads[e] = g_thread_new ("push", push_frames, &jobs[e]);
  }
  for (gint e = 0; e < E; e++)
    g_thread_join (threads[e]);
  for (gint e = 0; e < E; e++) {
    for (gint i = 0; i < N; i++) {
      GstBuffer *a = gst_harness_push_and_pull (ref, gst_buffer_ref (frames[e][i])), *b = gst_harness_pull (h[e]);
      const GstStructure *ca = frame_classification (a), *cb = frame_classification (b);
      fail_unless (ca && cb, "element %d frame %d: no result", e, i);
      gint ia = -1, ib = -2;
      gdouble pa = 0, pb = 1;
      gst_structure_get_int (ca, "class-id", &ia);
      gst_structure_get_int (cb, "class-id", &ib);
      gst_structure_get_double (ca, "confidence", &pa);
      gst_structure_get_double (cb, "confidence", &pb);
      fail_unless (ia == ib && fabs (pa - pb) < 1e-5, "element %d frame %d: %d %f batched, %d %f not", e, i,
          ib, pb, ia, pa);
      gst_buffer_unref (a);
      gst_buffer_unref (b);
      gst_buffer_unref (frames[e][i]);
    }
    fail_unless_equals_uint64 (stats_uint (h[e], "inferences"), N);
    fail_unless_equals_uint64 (stats_uint (h[e], "partial-batch-frames"), 0);
  }

  /* alone under another id: each frame waits 30 ms, then runs in a batch of one */
  gchar *lone = g_strdup_printf ("cnnclassify model=%s backend=%s batch-size=3 model-instance-id=lone "
      "batch-timeout=30", model, be);
  GstHarness *hl = harness_for (lone, &info);
  for (gint i = 0; i < 2; i++) {
    GstBuffer *in = noise_frame (r, &info, i * 33 * GST_MSECOND);
    GstBuffer *a = gst_harness_push_and_pull (ref, gst_buffer_ref (in)), *b = gst_harness_push_and_pull (hl, in);
    gdouble pa = 0, pb = 1;
    gst_structure_get_double (frame_classification (a), "confidence", &pa);
    gst_structure_get_double (frame_classification (b), "confidence", &pb);
    fail_unless (fabs (pa - pb) < 1e-5, "lone frame %d: %f, unbatched %f", i, pb, pa);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (stats_uint (hl, "partial-batch-frames"), 2);
  gst_harness_teardown (hl);

  /* the same id with another batch-size, while the instance lives: a clear
   * error at start */
  gchar *mismatch = g_strdup_printf ("videotestsrc num-buffers=1 ! video/x-raw,width=64,height=48 ! "
      "cnnclassify model=%s batch-size=2 model-instance-id=three ! fakesink", model);
  gchar *msg = run_pipeline (mismatch);
  fail_unless (msg && strstr (msg, "model-instance-id 'three'") && strstr (msg, "batch-size 3"), "mismatch: %s",
      msg);
  g_print ("model-instance-id mismatch: %s\n", msg);
  g_free (msg);
  g_free (mismatch);

  for (gint e = 0; e < E; e++)
    gst_harness_teardown (h[e]);
  gst_harness_teardown (ref);
  g_rand_free (r);
  g_free (lone);
  g_free (lref);
  g_free (lsh);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_state_cycles)
{
  gchar *model = g_build_filename (SOURCE_DIR, "models", "fashion", "classifier.onnx", NULL);
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
  tcase_add_test (tc, test_preprocess_on_backend);
  tcase_add_test (tc, test_model_instance_batching);
  tcase_add_test (tc, test_roi_list_and_interval);
  tcase_add_test (tc, test_hot_reload);
  tcase_add_test (tc, test_parallel_pipelines_share_model);
  tcase_add_test (tc, test_nonfinite_outputs);
  tcase_add_test (tc, test_renegotiation);
  tcase_add_test (tc, test_frames_read_in_place);
  tcase_add_test (tc, test_batching);
  tcase_add_test (tc, test_flushing_seek);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_backends);
  tcase_add_test (tc, test_qos_policy);
  tcase_add_test (tc, test_latency);
  tcase_add_test (tc, test_latency_while_busy);
  tcase_add_test (tc, test_soak);
  tcase_add_test (tc, test_bad_descriptions);
  tcase_add_test (tc, test_shipped_model_accuracy);
  tcase_add_test (tc, test_state_cycles);
  return s;
}

GST_CHECK_MAIN (cnnclassify);
