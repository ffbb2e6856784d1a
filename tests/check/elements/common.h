/* common.h - helpers for the element tests: frames from photos in any
 * format, paths of the shared models, small generated models. */
#ifndef CNN_CHECK_COMMON_H
#define CNN_CHECK_COMMON_H

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <string.h>
#include <glib/gstdio.h>
#include "../../core/running-on-valgrind.h"

#ifndef SHARED_DIR
#define SHARED_DIR "../shared"
#endif
#define PHOTOS "/usr/share/darknet/data"

static inline gchar *
shared_model (const gchar * name)
{
  return g_build_filename (SHARED_DIR, "models", name, NULL);
}

/* Under valgrind (or with CNN_TEST_QUICK=1) the element tests go quick: the
 * soak takes 3,000 frames, not 100,000, and leaves the resident memory
 * check (which needs the full volume, and valgrind's allocator) to the
 * normal runs; the shipped model's accuracy takes 20 images; the tests that
 * run every pixel format take a generated model in place of SqueezeNet;
 * the latency test allows a measured latency over a second. */
static inline gboolean
quick_mode (void)
{
  return RUNNING_ON_VALGRIND || g_strcmp0 (g_getenv ("CNN_TEST_QUICK"), "1") == 0;
}

static inline gboolean
have_file (const gchar * path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* A photo as a buffer of @format, scaled to @sw x @sh (0: as it is), with
 * GstVideoConverter. */
static inline GstBuffer *
photo_buffer_sized (const gchar * path, GstVideoFormat format, gint sw, gint sh, GstVideoInfo * info_out)
{
  GdkPixbuf *pb = gdk_pixbuf_new_from_file (path, NULL);
  fail_unless (pb != NULL, "cannot read %s", path);
  gint w = gdk_pixbuf_get_width (pb) & ~1, h = gdk_pixbuf_get_height (pb) & ~1;
  GstVideoInfo rgb;
  gst_video_info_set_format (&rgb, GST_VIDEO_FORMAT_RGB, w, h);
  GstBuffer *src = gst_buffer_new_allocate (NULL, rgb.size, NULL);
  GstVideoFrame sf;
  gst_video_frame_map (&sf, &rgb, src, GST_MAP_WRITE);
  gint nch = gdk_pixbuf_get_n_channels (pb), ps = gdk_pixbuf_get_rowstride (pb);
  const guint8 *px = gdk_pixbuf_read_pixels (pb);
  for (gint y = 0; y < h; y++)
    for (gint x = 0; x < w; x++)
      memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&sf, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&sf, 0) + 3 * x,
          px + y * ps + x * nch, 3);
  gst_video_frame_unmap (&sf);
  g_object_unref (pb);
  GstVideoInfo info;
  gst_video_info_set_format (&info, format, sw ? sw : w, sh ? sh : h);
  if (info_out)
    *info_out = info;
  if (format == GST_VIDEO_FORMAT_RGB && !sw)
    return src;
  GstBuffer *dst = gst_buffer_new_allocate (NULL, info.size, NULL);
  GstVideoFrame in, out;
  gst_video_frame_map (&in, &rgb, src, GST_MAP_READ);
  gst_video_frame_map (&out, &info, dst, GST_MAP_WRITE);
  GstVideoConverter *conv = gst_video_converter_new (&rgb, &info, NULL);
  gst_video_converter_frame (conv, &in, &out);
  gst_video_converter_free (conv);
  gst_video_frame_unmap (&in);
  gst_video_frame_unmap (&out);
  gst_buffer_unref (src);
  return dst;
}

static inline GstBuffer *
photo_buffer (const gchar * path, GstVideoFormat format, GstVideoInfo * info_out)
{
  return photo_buffer_sized (path, format, 0, 0, info_out);
}

/* A bus of its own on @h's element, whose messages the test pops. */
static inline GstBus *
harness_bus (GstHarness * h)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  return bus;
}

/* Tears @h down with the bus harness_bus() gave it. */
static inline void
harness_teardown_bus (GstHarness * h, GstBus * bus)
{
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* The next warning on @bus as "message | debug" (printed too), or NULL. */
static inline gchar *
pop_warning (GstBus * bus)
{
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  if (!m)
    return NULL;
  GError *e;
  gchar *dbg;
  gst_message_parse_warning (m, &e, &dbg);
  gchar *s = g_strdup_printf ("%s | %s", e->message, dbg);
  g_print ("warning: %s\n", s);
  g_error_free (e);
  g_free (dbg);
  gst_message_unref (m);
  return s;
}

/* A harness on "@launch" with caps of @info set on both ends. */
static inline GstHarness *
harness_for (const gchar * launch, const GstVideoInfo * info)
{
  GstHarness *h = gst_harness_new_parse (launch);
  GstCaps *caps = gst_video_info_to_caps (info);
  gst_harness_set_src_caps (h, gst_caps_ref (caps));
  gst_harness_set_sink_caps (h, caps);
  return h;
}

/* The whole frame's region (classifications hang on it), or NULL. */
static inline GstVideoRegionOfInterestMeta *
frame_roi (GstBuffer * buf)
{
  gpointer state = NULL;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) m;
    if (g_strcmp0 (g_quark_to_string (roi->roi_type), "frame") == 0)
      return roi;
  }
  return NULL;
}

/* The "classification" of rank 0 on the whole-frame ROI, or NULL. */
static inline const GstStructure *
frame_classification (GstBuffer * buf)
{
  GstVideoRegionOfInterestMeta *roi = frame_roi (buf);
  return roi ? gst_video_region_of_interest_meta_get_param (roi, "classification") : NULL;
}

static inline guint
count_rois (GstBuffer * buf)
{
  guint n = 0;
  gpointer state = NULL;
  while (gst_buffer_iterate_meta_filtered (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
    n++;
  return n;
}

/* Runs @launch to NULL -> PLAYING and back; returns the ERROR message text
 * (debug string included) or NULL if the pipeline reached EOS. */
static inline gchar *
run_pipeline (const gchar * launch)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (launch, &err);
  fail_unless (p != NULL, "%s: %s", launch, err ? err->message : "");
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gchar *result = NULL;
  fail_unless (msg != NULL, "%s: timed out", launch);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e;
    gchar *dbg;
    gst_message_parse_error (msg, &e, &dbg);
    result = g_strdup_printf ("%s | %s", e->message, dbg ? dbg : "");
    g_error_free (e);
    g_free (dbg);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  return result;
}

#endif
