/* cnnstyle element tests: the frame becomes cnncore's own output for the
 * same input (identity geometry), differs from the input, strength=0 keeps
 * the frame; with the candy network and with a small network of our own. */
#include "common.h"
#include "cnn.h"
#include "../../core/onnx-builder.h"
#include <glib/gstdio.h>
#include <math.h>

/* The element's frame for @model (input W x H, BGR 0..255 out) against
 * cnncore's output for the same tensor, and strength=0 leaves the frame. */
static void
check_matches_core (const gchar * model, gint W, gint H)
{
  GstVideoInfo info;
  GstBuffer *in = photo_buffer_sized (PHOTOS "/horses.jpg", GST_VIDEO_FORMAT_RGB, W, H, &info);
  /* cnncore on the same tensor: BGR planes, 0..255 */
  GstVideoFrame f;
  gst_video_frame_map (&f, &info, in, GST_MAP_READ);
  gsize plane = (gsize) W * H;
  gfloat *t = g_new (gfloat, 3 * plane);
  for (gint y = 0; y < H; y++)
    for (gint x = 0; x < W; x++)
      for (gint c = 0; c < 3; c++)
        t[(2 - c) * plane + y * W + x] = ((const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0))[y *
            GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0) + 3 * x + c];
  gst_video_frame_unmap (&f);
  GError *err = NULL;
  cnn_model *m = cnn_model_load (model, &err);
  fail_unless (m != NULL);
  cnn_session *s = cnn_session_new (m, NULL, &err);
  cnn_tensor tin = { CNN_DTYPE_FLOAT32, 4, { 1, 3, H, W }, t };
  fail_unless (cnn_session_run (s, &tin, 1, &err));
  const float *want = cnn_session_get_output (s, 0)->data;

  GstBuffer *orig = gst_buffer_copy_deep (in);
  gchar *l = g_strdup_printf ("cnnstyle model=%s color-order=bgr output-range=0,255 threads=2", model);
  GstHarness *h = harness_for (l, &info);
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  GstMapInfo a, b;
  gst_buffer_map (out, &a, GST_MAP_READ);
  gst_buffer_map (orig, &b, GST_MAP_READ);
  gint worst = 0;
  gdouble diff_in = 0;
  for (gint y = 0; y < H; y++)
    for (gint x = 0; x < W; x++)
      for (gint c = 0; c < 3; c++) {
        gsize i = (gsize) y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0) + 3 * x + c;
        gfloat v = want[(2 - c) * plane + y * W + x];
        gint e = (gint) CLAMP (floorf (v + 0.5f), 0, 255);
        worst = MAX (worst, abs ((gint) a.data[i] - e));
        diff_in += abs ((gint) a.data[i] - (gint) b.data[i]);
      }
  diff_in /= 3.0 * plane;
  g_print ("style %dx%d: max difference from cnncore %d, mean difference from the input %.1f\n", W, H, worst,
      diff_in);
  fail_unless (worst <= 1, "frame differs from cnncore's output by %d", worst);
  fail_unless (diff_in > 10, "the output is too close to the input (%.1f)", diff_in);
  gst_buffer_unmap (out, &a);
  gst_buffer_unmap (orig, &b);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (l);

  /* strength=0: untouched */
  l = g_strdup_printf ("cnnstyle model=%s color-order=bgr strength=0 threads=2", model);
  h = harness_for (l, &info);
  out = gst_harness_push_and_pull (h, gst_buffer_copy_deep (orig));
  gst_buffer_map (out, &a, GST_MAP_READ);
  gst_buffer_map (orig, &b, GST_MAP_READ);
  fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0, "strength=0 changed the frame");
  gst_buffer_unmap (out, &a);
  gst_buffer_unmap (orig, &b);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (l);
  gst_buffer_unref (orig);
  cnn_session_free (s);
  cnn_model_unref (m);
  g_free (t);
}

GST_START_TEST (test_candy_matches_core)
{
  gchar *model = shared_model ("style_candy.onnx");
  if (have_file (model))
    check_matches_core (model, 720, 720);
  g_free (model);
}
GST_END_TEST;

/* The candy network at @S x @S instead of 720 x 720, for the tests under
 * valgrind (at 720 x 720 still running after 22 minutes there): the same
 * graph and weights, its input and output declared S x S and its two
 * ConvTransposes' output_shape scaled to match.  Its reflection padding
 * adds 80, two stride-2 convolutions quarter that and ten valid 3x3 ones
 * take 20 off: q = (S + 80) / 4 - 20; the ConvTransposes make 2q + 2 and
 * 4q + 2, each cropped by one on every side, and 4q = S.  S + 80 a
 * multiple of 4, S above 40 (the padding reflects 40 pixels).  Written to
 * a temp file; NULL without the model. */
static gchar *
shrunk_candy (gint S)
{
  gchar *model = shared_model ("style_candy.onnx"), *contents = NULL;
  gsize len;
  if (!have_file (model) || !g_file_get_contents (model, &contents, &len, NULL)) {
    g_free (model);
    return NULL;
  }
  Onnx__ModelProto *m = onnx__model_proto__unpack (NULL, len, (const uint8_t *) contents);
  fail_unless (m && m->graph && m->graph->n_input > 0 && m->graph->n_output == 1, "not the candy network");
  Onnx__ValueInfoProto *io[2] = { m->graph->input[0], m->graph->output[0] };
  for (gint k = 0; k < 2; k++) {
    fail_unless (io[k]->type && io[k]->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
        io[k]->type->tensor_type->shape && io[k]->type->tensor_type->shape->n_dim == 4);
    for (gint d = 2; d < 4; d++) {
      Onnx__TensorShapeProto__Dimension *dim = io[k]->type->tensor_type->shape->dim[d];
      fail_unless (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value == 720);
      dim->dim_value = S;
    }
  }
  gint q = (S + 80) / 4 - 20, convt = 0;
  for (size_t i = 0; i < m->graph->n_node; i++) {
    Onnx__NodeProto *n = m->graph->node[i];
    if (strcmp (n->op_type, "ConvTranspose") != 0)
      continue;
    for (size_t a = 0; a < n->n_attribute; a++)
      if (strcmp (n->attribute[a]->name, "output_shape") == 0) {
        fail_unless (n->attribute[a]->n_ints == 2 && convt < 2);
        n->attribute[a]->ints[0] = n->attribute[a]->ints[1] = convt ? 4 * q + 2 : 2 * q + 2;
        convt++;
      }
  }
  fail_unless (convt == 2, "%d ConvTranspose output shapes, the candy network has 2", convt);
  size_t n = onnx__model_proto__get_packed_size (m);
  guint8 *buf = g_malloc (n);
  onnx__model_proto__pack (m, buf);
  gchar *path = g_build_filename (g_get_tmp_dir (), "cnnstyle-candy-small.onnx", NULL);
  fail_unless (g_file_set_contents (path, (const gchar *) buf, (gssize) n, NULL));
  g_free (buf);
  onnx__model_proto__free_unpacked (m, NULL);
  g_free (contents);
  g_free (model);
  return path;
}

/* The candy network shrunk to 48 x 48: every op of it (ImageScaler,
 * reflection Pad, 9x9 and strided convolutions, InstanceNormalization,
 * Crop, ConvTranspose with an output shape, Tanh, Affine) through the
 * element, in seconds; what the tests under valgrind run. */
GST_START_TEST (test_candy_shrunk_matches_core)
{
  gchar *path = shrunk_candy (48);
  if (path) {
    check_matches_core (path, 48, 48);
    g_unlink (path);
  }
  g_free (path);
}
GST_END_TEST;

/* A small image-to-image network of our own (3x3 box blur, inverted, with
 * a Relu), 64 x 40: the same checks in seconds, which is what the tests
 * under valgrind run (the candy network takes them over 15 minutes). */
GST_START_TEST (test_small_network_matches_core)
{
  ob_model *b = ob_new (13);
  int64_t xd[4] = { 1, 3, 40, 64 }, wd[4] = { 3, 3, 3, 3 }, bd[1] = { 3 }, pads[4] = { 1, 1, 1, 1 };
  float w[81], bias[3] = { 255.f, 250.f, 245.f };
  for (gint i = 0; i < 81; i++)
    w[i] = i / 9 % 4 == 0 ? -1.f / 9 : 0.f;     /* output channel c reads input channel c */
  ob_input (b, "image", 4, xd);
  ob_init_float (b, "w", 4, wd, w, NULL);
  ob_init_float (b, "b", 1, bd, bias, NULL);
  Onnx__NodeProto *n = ob_node (b, "Conv", "image,w,b", "c");
  ob_attr_ints (b, n, "pads", 4, pads);
  ob_node (b, "Relu", "c", "styled");
  ob_output (b, "styled");
  gchar *path = g_build_filename (g_get_tmp_dir (), "cnnstyle-small.onnx", NULL);
  fail_unless (ob_save (b, path));
  ob_free (b);
  check_matches_core (path, 64, 40);
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

GST_START_TEST (test_classifier_refused)
{
  gchar *model = shared_model ("squeezenet1.1_fp16.onnx");
  if (have_file (model)) {
    gchar *l = g_strdup_printf ("videotestsrc num-buffers=1 ! cnnstyle model=%s ! fakesink", model);
    gchar *msg = run_pipeline (l);
    fail_unless (msg && strstr (msg, "not an image"), "classifier as style model: %s", msg);
    g_free (msg);
    g_free (l);
  }
  g_free (model);
}
GST_END_TEST;

static Suite *
cnnstyle_suite (void)
{
  Suite *s = suite_create ("cnnstyle");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_candy_matches_core);
  tcase_add_test (tc, test_candy_shrunk_matches_core);
  tcase_add_test (tc, test_small_network_matches_core);
  tcase_add_test (tc, test_classifier_refused);
  return s;
}

GST_CHECK_MAIN (cnnstyle);
