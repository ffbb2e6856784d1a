/* cnnmetapublish tests: a folder of JPEGs classified in a batch pipeline
 * gives one parseable JSON line per image with its file name; detections
 * with boxes; bus messages; segmentation masks run-length encoded. */
#include "common.h"
#include <json-glib/json-glib.h>
#include "gstcnnmeta.h"

GST_START_TEST (test_folder_to_json_lines)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx"), *labels = shared_model ("imagenet_labels.txt");
  if (!have_file (model)) {
    g_free (model);
    g_free (labels);
    return;
  }
  const gchar *photos[] = { "dog", "eagle", "horses", "giraffe" };
  gchar *dir = g_dir_make_tmp ("cnn-folder-XXXXXX", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (photos); i++) {
    gchar *src = g_strdup_printf (PHOTOS "/%s.jpg", photos[i]), *data;
    gsize len;
    fail_unless (g_file_get_contents (src, &data, &len, NULL));
    gchar *dst = g_strdup_printf ("%s/%05u.jpg", dir, i);
    g_file_set_contents (dst, data, len, NULL);
    g_free (data);
    g_free (src);
    g_free (dst);
  }
  gchar *jsonl = g_build_filename (dir, "results.jsonl", NULL);
  gchar *l = g_strdup_printf ("multifilesrc location=%s/%%05d.jpg caps=image/jpeg,framerate=1/1 ! "
      "jpegdec ! videoconvert ! cnnclassify model=%s labels=%s color-order=bgr top-k=2 threads=2 ! "
      "cnnmetapublish location=%s ! fakesink", dir, model, labels, jsonl);
  gchar *msg = run_pipeline (l);
  fail_unless (msg == NULL, "%s", msg);
  gchar *text;
  fail_unless (g_file_get_contents (jsonl, &text, NULL, NULL));
  gchar **lines = g_strsplit (g_strchomp (text), "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), G_N_ELEMENTS (photos));
  for (guint i = 0; lines[i]; i++) {
    JsonParser *p = json_parser_new ();
    fail_unless (json_parser_load_from_data (p, lines[i], -1, NULL), "line %u is not JSON", i);
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    fail_unless_equals_int (json_object_get_int_member (o, "frame"), i);
    gchar *want = g_strdup_printf ("%s/%05u.jpg", dir, i);
    fail_unless_equals_string (json_object_get_string_member (o, "source"), want);
    JsonArray *c = json_object_get_array_member (o, "classifications");
    fail_unless_equals_int (json_array_get_length (c), 2);
    JsonObject *top = json_array_get_object_element (c, 0);
    g_print ("%s: %s %.3f\n", photos[i], json_object_get_string_member (top, "label"),
        json_object_get_double_member (top, "confidence"));
    g_free (want);
    g_object_unref (p);
  }
  g_strfreev (lines);
  g_free (text);
  for (guint i = 0; i < G_N_ELEMENTS (photos); i++) {
    gchar *f = g_strdup_printf ("%s/%05u.jpg", dir, i);
    g_remove (f);
    g_free (f);
  }
  g_remove (jsonl);
  g_rmdir (dir);
  g_free (jsonl);
  g_free (dir);
  g_free (l);
  g_free (model);
  g_free (labels);
}
GST_END_TEST;

/* A pipeline that fails mid-stream keeps every line already written: the
 * fifth frame makes identity fail, and the file holds the four before it,
 * each a whole JSON object, without waiting for an EOS that never comes. */
GST_START_TEST (test_lines_kept_on_error)
{
  gchar *dir = g_dir_make_tmp ("cnn-json-XXXXXX", NULL);
  gchar *jsonl = g_build_filename (dir, "results.jsonl", NULL);
  gchar *l = g_strdup_printf ("videotestsrc num-buffers=20 ! video/x-raw,format=RGB,width=28,height=28 ! "
      "cnnclassify model=%s/models/fashion/classifier.onnx ! identity error-after=5 ! "
      "cnnmetapublish location=%s ! fakesink", SOURCE_DIR, jsonl);
  gchar *msg = run_pipeline (l);
  fail_unless (msg != NULL, "the pipeline did not fail");
  gchar *text;
  fail_unless (g_file_get_contents (jsonl, &text, NULL, NULL));
  gchar **lines = g_strsplit (g_strchomp (text), "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 4);
  for (guint i = 0; lines[i]; i++) {
    JsonParser *p = json_parser_new ();
    fail_unless (json_parser_load_from_data (p, lines[i], -1, NULL), "line %u is not JSON: %s", i, lines[i]);
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    fail_unless_equals_int (json_object_get_int_member (o, "frame"), i);
    fail_unless (json_array_get_length (json_object_get_array_member (o, "classifications")) > 0);
    g_object_unref (p);
  }
  g_strfreev (lines);
  g_free (text);
  g_remove (jsonl);
  g_rmdir (dir);
  g_free (jsonl);
  g_free (dir);
  g_free (l);
  g_free (msg);
}
GST_END_TEST;

GST_START_TEST (test_objects_and_messages)
{
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 64, 48);
  GstHarness *h = harness_for ("cnnmetapublish emit-messages=true location=/dev/null", &info);
  GstBus *bus = harness_bus (h);
  GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
  GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta (in, "face", 1, 2, 30, 40);
  gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("detection", "label",
          G_TYPE_STRING, "face", "class-id", G_TYPE_INT, 1, "confidence", G_TYPE_DOUBLE, 0.9, NULL));
  gst_buffer_unref (gst_harness_push_and_pull (h, in));
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (m != NULL, "no bus message");
  const gchar *json = gst_structure_get_string (gst_message_get_structure (m), "json");
  JsonParser *p = json_parser_new ();
  fail_unless (json_parser_load_from_data (p, json, -1, NULL));
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  JsonArray *objs = json_object_get_array_member (o, "objects");
  fail_unless_equals_int (json_array_get_length (objs), 1);
  JsonObject *obj = json_array_get_object_element (objs, 0);
  fail_unless_equals_string (json_object_get_string_member (obj, "label"), "face");
  JsonObject *box = json_object_get_object_member (obj, "box");
  fail_unless_equals_int (json_object_get_int_member (box, "w"), 30);
  fail_unless_equals_int (json_object_get_int_member (box, "h"), 40);
  g_object_unref (p);
  gst_message_unref (m);
  harness_teardown_bus (h, bus);
}
GST_END_TEST;

/* The class map of a segmentation, run-length encoded row after row: the
 * shipped segmenter's mask meta on a frame, and the runs decoded again. */
GST_START_TEST (test_mask_rle)
{
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 128, 128);
  gchar *l = g_strdup_printf ("cnnsegment model=%s/models/fashion/segmenter.onnx ! "
      "cnnmetapublish emit-messages=true location=/dev/null mask-rle=true", SOURCE_DIR);
  GstHarness *h = harness_for (l, &info);
  GstBus *bus = harness_bus (h);
  GstBuffer *in = gst_buffer_new_allocate (NULL, info.size, NULL);
  GstMapInfo map;
  gst_buffer_map (in, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)   /* a bright square on a dark gradient */
    map.data[i] = (i / 3 / 128 > 40 && i / 3 / 128 < 90 && i / 3 % 128 > 30 && i / 3 % 128 < 70) ? 230 : i / 3 % 128;
  gst_buffer_unmap (in, &map);
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  GstCnnSegmentationMeta *seg = (GstCnnSegmentationMeta *) gst_buffer_get_meta (out,
      g_type_from_name ("GstCnnSegmentationMetaAPI"));
  fail_unless (seg != NULL, "no mask meta");
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (m != NULL, "no bus message");
  JsonParser *p = json_parser_new ();
  fail_unless (json_parser_load_from_data (p, gst_structure_get_string (gst_message_get_structure (m), "json"),
          -1, NULL));
  JsonObject *js = json_object_get_object_member (json_node_get_object (json_parser_get_root (p)),
      "segmentation");
  fail_unless_equals_int (json_object_get_int_member (js, "width"), seg->width);
  JsonArray *rle = json_object_get_array_member (js, "rle");
  guint n = json_array_get_length (rle), runs = 0;
  gsize at = 0, total = (gsize) seg->width * seg->height;
  fail_unless (n % 2 == 0);
  for (guint i = 0; i < n; i += 2) {
    gint64 c = json_array_get_int_element (rle, i), count = json_array_get_int_element (rle, i + 1);
    fail_unless (count > 0 && at + count <= total, "run %u: %" G_GINT64_FORMAT " pixels", i / 2, count);
    /* each run is the class the mask has there, and a run ends where it changes */
    for (gint64 k = 0; k < count; k++)
      fail_unless_equals_int (seg->mask[at + k], c);
    fail_unless (at + count == total || seg->mask[at + count] != c);
    at += count;
    runs++;
  }
  fail_unless_equals_int (at, total);
  g_print ("mask %ux%u: %u runs\n", seg->width, seg->height, runs);
  gst_buffer_unref (out);
  g_object_unref (p);
  gst_message_unref (m);
  harness_teardown_bus (h, bus);
  g_free (l);
}
GST_END_TEST;

static Suite *
cnnmetapublish_suite (void)
{
  Suite *s = suite_create ("cnnmetapublish");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_folder_to_json_lines);
  tcase_add_test (tc, test_objects_and_messages);
  tcase_add_test (tc, test_lines_kept_on_error);
  tcase_add_test (tc, test_mask_rle);
  return s;
}

GST_CHECK_MAIN (cnnmetapublish);
