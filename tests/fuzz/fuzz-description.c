/* fuzz-description - libFuzzer harness for model description files: any
 * bytes as MODEL.json next to a model must let the element start, or stop
 * it with an error message; never a crash, a leak, undefined behaviour or a
 * GLib critical.  Each input goes to cnnclassify, cnndetect, cnnsegment and
 * cnnstyle, each with a small model that fits it, and one frame is pushed.
 * Built and run by run-fuzz.sh. */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include "onnx-builder.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
void gst_plugin_cnn_register (void);

static const char *elements[] = { "cnnclassify", "cnndetect", "cnnsegment", "cnnstyle" };
static gchar *models[4], *descs[4];

/* classify: scores [1,3]; detect: YOLOv5 rows [1,32,6]; segment and style:
 * a [1,3,8,8] image */
static void
write_model (int k, const gchar *dir)
{
  ob_model *b = ob_new (13);
  int64_t in[4] = { 1, 3, 8, 8 };
  ob_input (b, "image", 4, in);
  if (k == 0) {
    ob_node (b, "GlobalAveragePool", "image", "p");
    ob_node (b, "Flatten", "p", "out");
  } else if (k == 1) {
    int64_t shape[3] = { 1, 32, 6 };
    ob_init_int64 (b, "shape", 3, shape);
    ob_node (b, "Sigmoid", "image", "s");
    ob_node (b, "Reshape", "s,shape", "out");
  } else {
    ob_node (b, "Sigmoid", "image", "out");
  }
  ob_output (b, "out");
  size_t len;
  uint8_t *buf = ob_pack (b, &len);
  ob_free (b);
  gchar *name = g_strdup_printf ("m%d", k);
  gchar *base = g_build_filename (dir, name, NULL);
  models[k] = g_strconcat (base, ".onnx", NULL);
  descs[k] = g_strconcat (base, ".json", NULL);
  g_file_set_contents (models[k], (const gchar *) buf, len, NULL);
  g_free (buf);
  g_free (base);
  g_free (name);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean ready;
  if (!ready) {
    gst_init (NULL, NULL);
    gst_plugin_cnn_register ();
    g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    gchar *dir = g_dir_make_tmp ("cnn-fuzz-XXXXXX", NULL);
    for (int k = 0; k < 4; k++)
      write_model (k, dir);
    g_free (dir);
    ready = TRUE;
  }
  for (int k = 0; k < 4; k++) {
    g_file_set_contents (descs[k], (const gchar *) data, (gssize) size, NULL);
    gchar *launch = g_strdup_printf ("videotestsrc num-buffers=1 ! "
        "video/x-raw,format=RGB,width=16,height=16 ! %s model=%s ! fakesink", elements[k], models[k]);
    GstElement *p = gst_parse_launch (launch, NULL);
    gst_element_set_state (p, GST_STATE_PLAYING);
    GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    if (m)
      gst_message_unref (m);
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    g_free (launch);
  }
  return 0;
}
