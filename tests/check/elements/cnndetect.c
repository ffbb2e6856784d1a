/* cnndetect element tests: each decoder on a model whose outputs are known
 * constants, so boxes, NMS, thresholds, class filters and the letterbox
 * mapping back to the frame can be checked exactly; and a real detector. */
#include "common.h"
#include "../../core/onnx-builder.h"
#include <math.h>

/* Writes a model with input [1,3,64,64] whose outputs are the given
 * constants; returns its path (free it). */
static gchar *
const_model (const gchar * name, gint n_out, gint64 dims[][3], const gfloat * const *data)
{
  ob_model *b = ob_new (13);
  int64_t in[4] = { 1, 3, 64, 64 };
  ob_input (b, "image", 4, in);
  for (gint i = 0; i < n_out; i++) {
    gchar *c = g_strdup_printf ("c%d", i), *o = g_strdup_printf ("out%d", i);
    ob_init_float (b, c, 3, dims[i], data[i], NULL);
    ob_node (b, "Identity", c, o);
    ob_output (b, o);
    g_free (c);
    g_free (o);
  }
  gchar *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  fail_unless (ob_save (b, path));
  ob_free (b);
  return path;
}

typedef struct {
  gint x, y, w, h, class_id;
} Want;

static void
check_boxes_on (const gchar * model, const gchar * props, gint fw, gint fh, const Want * want, guint n_want,
    const gchar * post)
{
  gchar *launch = g_strdup_printf ("cnndetect model=%s %s postprocess=%s", model, props, post);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, fw, fh);
  GstHarness *h = harness_for (launch, &info);
  GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (in, 0, 0, info.size);
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  fail_unless_equals_int (count_rois (out), n_want);
  gpointer state = NULL;
  GstMeta *m;
  guint i = 0;
  while ((m = gst_buffer_iterate_meta_filtered (out, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) m;
    GstStructure *d = gst_video_region_of_interest_meta_get_param (roi, "detection");
    gint id = -1;
    fail_unless (d && gst_structure_get_int (d, "class-id", &id));
    g_print ("%s (%s): box %u,%u %ux%u class %d\n", props, post, roi->x, roi->y, roi->w, roi->h, id);
    fail_unless (abs ((gint) roi->x - want[i].x) <= 1 && abs ((gint) roi->y - want[i].y) <= 1 &&
        abs ((gint) roi->w - want[i].w) <= 1 && abs ((gint) roi->h - want[i].h) <= 1,
        "box %u is %u,%u %ux%u, expected %d,%d %dx%d", i, roi->x, roi->y, roi->w, roi->h,
        want[i].x, want[i].y, want[i].w, want[i].h);
    fail_unless_equals_int (id, want[i].class_id);
    i++;
  }
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (launch);
}

/* The boxes cnndetect finds in a blank frame of @fw x @fh with @props,
 * decoded by the element (postprocess=cpu) and through the session
 * (postprocess=backend: cnn_session_detect()). */
static void
check_boxes (const gchar * model, const gchar * props, gint fw, gint fh, const Want * want, guint n_want)
{
  check_boxes_on (model, props, fw, fh, want, n_want, "cpu");
  check_boxes_on (model, props, fw, fh, want, n_want, "backend");
}

GST_START_TEST (test_yolov5_rows)
{
  /* cx, cy, w, h, obj, class0, class1 in input pixels */
  gfloat rows[] = { 32, 32, 20, 10, 0.9f, 0.1f, 0.95f,   /* kept: class 1, 0.855 */
    33, 32, 20, 10, 0.8f, 0.1f, 0.9f,   /* overlaps the first: NMS drops it */
    10, 10, 8, 8, 0.1f, 0.9f, 0.1f,     /* under the threshold */
    50, 40, 10, 10, 0.9f, 0.8f, 0.1f
  };                            /* kept: class 0, 0.72 */
  gint64 dims[1][3] = { { 1, 4, 7 } };
  const gfloat *data[] = { rows };
  gchar *model = const_model ("cnn-yolov5.onnx", 1, dims, data);
  /* 128x64 frame, letterboxed into 64x64: scale 0.5, 16 px bars top and bottom */
  Want want[] = { { 44, 22, 40, 20, 1 }, { 90, 38, 20, 20, 0 } };
  check_boxes (model, "decoder=yolov5 keep-aspect=true threshold=0.5", 128, 64, want, 2);
  /* stretched instead: x scale 2, y scale 1 */
  Want stretched[] = { { 44, 27, 40, 10, 1 }, { 90, 35, 20, 10, 0 } };
  check_boxes (model, "decoder=yolov5 threshold=0.5", 128, 64, stretched, 2);
  /* class filter */
  check_boxes (model, "decoder=yolov5 threshold=0.5 classes=1", 128, 64, stretched, 1);
  /* a higher threshold keeps the best only */
  check_boxes (model, "decoder=yolov5 threshold=0.8", 128, 64, stretched, 1);
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

/* batch-size=2: each frame's boxes from its own item of the batch, decoded
 * by the element and through the session.  The model's rows are constant
 * but for the last box's objectness, 0.9 less the frame's mean pixel (0 or
 * 1 after mean=0 std=255): a black frame keeps it, a white one drops it. */
GST_START_TEST (test_batch_items)
{
  gfloat rows[] = { 32, 32, 20, 10, 0.9f, 0.1f, 0.95f, 33, 32, 20, 10, 0.8f, 0.1f, 0.9f,
    10, 10, 8, 8, 0.1f, 0.9f, 0.1f, 50, 40, 10, 10, 0.9f, 0.8f, 0.1f
  };
  gfloat mask[28] = { 0 };
  mask[3 * 7 + 4] = -1;
  ob_model *b = ob_new (13);
  int64_t in[4] = { -1, 3, 64, 64 }, rd[3] = { 1, 4, 7 }, shape[3] = { -1, 1, 1 }, axes[3] = { 1, 2, 3 };
  ob_input (b, "image", 4, in);
  ob_init_float (b, "rows", 3, rd, rows, NULL);
  ob_init_float (b, "mask", 3, rd, mask, NULL);
  ob_init_int64 (b, "shape", 3, shape);
  ob_attr_ints (b, ob_node (b, "ReduceMean", "image", "m"), "axes", 3, axes);
  ob_node (b, "Reshape", "m,shape", "m3");
  ob_node (b, "Mul", "m3,mask", "d");
  ob_node (b, "Add", "rows,d", "out");
  ob_output (b, "out");
  gchar *model = g_build_filename (g_get_tmp_dir (), "cnn-yolov5-batch.onnx", NULL);
  fail_unless (ob_save (b, model));
  ob_free (b);
  for (gint post = 0; post < 2; post++) {
    gchar *l = g_strdup_printf ("cnndetect model=%s decoder=yolov5 threshold=0.5 mean=0 std=255 batch-size=2 "
        "postprocess=%s", model, post ? "backend" : "cpu");
    GstVideoInfo info;
    gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 64, 64);
    GstHarness *h = harness_for (l, &info);
    for (gint f = 0; f < 2; f++) {
      GstBuffer *buf = gst_buffer_new_allocate (NULL, info.size, NULL);
      gst_buffer_memset (buf, 0, f ? 255 : 0, info.size);
      GST_BUFFER_PTS (buf) = f * GST_MSECOND;
      fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    }
    for (gint f = 0; f < 2; f++) {
      GstBuffer *out = gst_harness_pull (h);
      fail_unless_equals_int (count_rois (out), f ? 1 : 2);
      gst_buffer_unref (out);
    }
    gst_harness_teardown (h);
    g_free (l);
  }
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_yolov8_columns)
{
  /* [1, 4+2, 3]: columns are boxes */
  gfloat cols[] = { 16, 40, 40,   /* cx */
    16, 40, 41,                 /* cy */
    8, 10, 10,                  /* w */
    8, 10, 10,                  /* h */
    0.9f, 0.1f, 0.2f,           /* class 0 */
    0.05f, 0.7f, 0.6f           /* class 1 */
  };
  gint64 dims[1][3] = { { 1, 6, 3 } };
  const gfloat *data[] = { cols };
  gchar *model = const_model ("cnn-yolov8.onnx", 1, dims, data);
  Want want[] = { { 12, 12, 8, 8, 0 }, { 35, 35, 10, 10, 1 } };
  check_boxes (model, "decoder=yolov8 threshold=0.5", 64, 64, want, 2);
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_ssd_boxes_scores)
{
  gfloat scores[] = { 0.1f, 0.9f, 0.0f,   /* class 1 */
    0.2f, 0.1f, 0.7f,           /* class 2 */
    0.9f, 0.05f, 0.05f          /* background */
  };
  gfloat boxes[] = { 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 0.5f, 1.0f, 0.75f, 0, 0, 1, 1 };
  gint64 dims[2][3] = { { 1, 3, 3 }, { 1, 3, 4 } };
  const gfloat *data[] = { scores, boxes };
  gchar *model = const_model ("cnn-ssd.onnx", 2, dims, data);
  Want want[] = { { 25, 50, 25, 50, 1 }, { 50, 100, 50, 50, 2 } };
  check_boxes (model, "threshold=0.5", 100, 200, want, 2);
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_ssd_priors)
{
  /* priors: one step of 32 px on a 64x64 input (2x2 cells), one size of
   * 16 px; zero offsets give the priors themselves, the last box is
   * shifted by one variance unit in x and doubled in size */
  gfloat scores[] = { 0.1f, 0.9f, 0.9f, 0.1f, 0.9f, 0.1f, 0.2f, 0.8f };
  gfloat boxes[16] = { 0 };
  boxes[12] = 2.5f;             /* cx += 2.5 * center variance * prior width */
  boxes[14] = logf (2.f) / 0.2f;    /* w *= 2 */
  gint64 dims[2][3] = { { 1, 4, 2 }, { 1, 4, 4 } };
  const gfloat *data[] = { scores, boxes };
  gchar *model = const_model ("cnn-ssd-priors.onnx", 2, dims, data);
  gchar *json = g_build_filename (g_get_tmp_dir (), "cnn-ssd-priors.json", NULL);
  g_file_set_contents (json, "{\"decoder\": {\"type\": \"ssd-priors\", \"steps\": [32], "
      "\"min_sizes\": [[16]], \"variances\": [0.1, 0.2]}}", -1, NULL);
  /* cells (0,0) and (1,1) are faces: centers 16,16 and 48,48 px; the second
   * moves 2.5 * 0.1 * 16 = 4 px right and is 32 px wide: 36..68, clipped
   * to the frame at 64 */
  Want want[] = { { 8, 8, 16, 16, 1 }, { 36, 40, 28, 16, 1 } };
  check_boxes (model, "threshold=0.5", 64, 64, want, 2);
  g_remove (json);
  g_free (json);
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_yolov2_grid)
{
  /* 1 anchor of 2x2 cells, 2 classes, 2x2 grid on a 64x64 input: one
   * confident cell at (1, 0) */
  gfloat t[7 * 4] = { 0 };
  for (int i = 0; i < 4; i++)
    t[4 * 4 + i] = -10.f;       /* objectness logits: low */
  t[4 * 4 + 1] = 10.f;          /* cell x=1, y=0 is confident */
  t[5 * 4 + 1] = 0.f;           /* class 0 logit */
  t[6 * 4 + 1] = 5.f;           /* class 1 logit */
  gint64 dims[1][3] = { { 7, 2, 2 } };
  const gfloat *data[] = { t };
  gchar *model = const_model ("cnn-yolov2.onnx", 1, dims, data);
  gchar *json = g_build_filename (g_get_tmp_dir (), "cnn-yolov2.json", NULL);
  g_file_set_contents (json, "{\"task\": \"detect\", \"decoder\": {\"type\": \"yolov2\", "
      "\"anchors\": [[2, 2]], \"threshold\": 0.5}}", -1, NULL);
  /* center (1.5, 0.5) cells = (48, 16) px; size 2 cells = 64 px */
  Want want[] = { { 16, 0, 48, 48, 1 } };
  check_boxes (model, "", 64, 64, want, 1);
  g_remove (json);
  g_free (json);
  g_remove (model);
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_ultraface_real)
{
  gchar *model = shared_model ("ultraface-rfb-320.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  /* no face in the photo: nothing above 0.7; a low threshold finds boxes
   * that NMS thins out, all inside the frame; the same boxes decoded
   * through the session (postprocess=backend) */
  for (int pass = 0; pass < 4; pass++) {
    const gchar *thr = pass % 2 ? "0.2" : "0.7", *post = pass < 2 ? "cpu" : "backend";
    gchar *l = g_strdup_printf ("cnndetect model=%s mean=127 std=128 threshold=%s nms-iou=0.3 postprocess=%s",
        model, thr, post);
    GstVideoInfo info;
    GstBuffer *in = photo_buffer (PHOTOS "/scream.jpg", GST_VIDEO_FORMAT_I420, &info);
    GstHarness *h = harness_for (l, &info);
    GstBuffer *out = gst_harness_push_and_pull (h, in);
    guint n = count_rois (out);
    g_print ("ultraface threshold %s, postprocess %s: %u boxes\n", thr, post, n);
    fail_unless (pass % 2 ? n >= 1 : n == 0);
    static guint rois[2][4 * 100], counts[2];
    if (pass < 2)
      counts[pass] = MIN (n, 100);
    else
      fail_unless_equals_int (n, counts[pass - 2]);
    gpointer state = NULL;
    GstMeta *m;
    guint i = 0;
    while ((m = gst_buffer_iterate_meta_filtered (out, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
      GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) m;
      fail_unless (roi->x + roi->w <= (guint) info.width && roi->y + roi->h <= (guint) info.height);
      guint box[4] = { roi->x, roi->y, roi->w, roi->h };
      if (i < 100 && pass < 2)
        memcpy (&rois[pass][4 * i], box, sizeof box);
      else if (i < 100)
        fail_unless (memcmp (&rois[pass - 2][4 * i], box, sizeof box) == 0, "box %u differs", i);
      i++;
    }
    gst_buffer_unref (out);
    gst_harness_teardown (h);
    g_free (l);
  }
  g_free (model);
}
GST_END_TEST;

GST_START_TEST (test_wrong_model)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (!have_file (model)) {
    g_free (model);
    return;
  }
  gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnndetect model=%s ! fakesink", model);
  gchar *msg = run_pipeline (l);
  fail_unless (msg && strstr (msg, "decoder"), "classifier as detector: %s", msg);
  g_free (msg);
  g_free (l);
  g_free (model);
}
GST_END_TEST;

static Suite *
cnndetect_suite (void)
{
  Suite *s = suite_create ("cnndetect");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_yolov5_rows);
  tcase_add_test (tc, test_yolov8_columns);
  tcase_add_test (tc, test_batch_items);
  tcase_add_test (tc, test_ssd_boxes_scores);
  tcase_add_test (tc, test_ssd_priors);
  tcase_add_test (tc, test_yolov2_grid);
  tcase_add_test (tc, test_ultraface_real);
  tcase_add_test (tc, test_wrong_model);
  return s;
}

GST_CHECK_MAIN (cnndetect);
