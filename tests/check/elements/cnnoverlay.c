/* cnnoverlay element tests: boxes and labels drawn where the metas say,
 * nothing elsewhere, nothing without metas; every format. */
#include "common.h"

static const GstVideoFormat formats[] = { GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_BGRx,
  GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420 };

static GstBuffer *
gray_frame (GstVideoInfo * info)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame f;
  gst_video_frame_map (&f, info, b, GST_MAP_WRITE);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&f); p++)
    memset (GST_VIDEO_FRAME_PLANE_DATA (&f, p), 128,
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, p) * GST_VIDEO_FRAME_COMP_HEIGHT (&f, p));
  gst_video_frame_unmap (&f);
  return b;
}

/* Whether the pixel at (x, y) is still the gray one: every byte of it in
 * plane 0 (luma for the YUV formats). */
static gboolean
is_gray (GstBuffer * b, GstVideoInfo * info, gint x, gint y)
{
  GstVideoFrame f;
  gst_video_frame_map (&f, info, b, GST_MAP_READ);
  gint ps = MIN (GST_VIDEO_FRAME_COMP_PSTRIDE (&f, 0), 3);
  const guint8 *p = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0) +
      x * GST_VIDEO_FRAME_COMP_PSTRIDE (&f, 0);
  gboolean gray = TRUE;
  for (gint i = 0; i < ps; i++)
    gray &= p[i] == 128;
  gst_video_frame_unmap (&f);
  return gray;
}

GST_START_TEST (test_draws_boxes)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    GstVideoInfo info;
    gst_video_info_set_format (&info, formats[i], 320, 240);
    GstHarness *h = harness_for ("cnnoverlay", &info);
    /* no metas: untouched */
    GstBuffer *out = gst_harness_push_and_pull (h, gray_frame (&info));
    fail_unless (is_gray (out, &info, 100, 50));
    gst_buffer_unref (out);

    GstBuffer *in = gray_frame (&info);
    GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta (in, "cat", 60, 80, 100, 80);
    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("detection", "label",
            G_TYPE_STRING, "cat", "class-id", G_TYPE_INT, 3, "confidence", G_TYPE_DOUBLE, 0.87, NULL));
    roi = gst_buffer_add_video_region_of_interest_meta (in, "frame", 0, 0, 320, 240);
    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("classification", "label",
            G_TYPE_STRING, "indoor", "class-id", G_TYPE_INT, 1, "confidence", G_TYPE_DOUBLE, 0.5, NULL));
    out = gst_harness_push_and_pull (h, in);
    /* the box's left edge, its label plate above it, the frame label at the top left */
    fail_if (is_gray (out, &info, 61, 120), "%s: no box edge", gst_video_format_to_string (formats[i]));
    fail_if (is_gray (out, &info, 64, 74), "%s: no label plate", gst_video_format_to_string (formats[i]));
    fail_if (is_gray (out, &info, 6, 6), "%s: no frame label", gst_video_format_to_string (formats[i]));
    /* inside the box and far away: untouched */
    fail_unless (is_gray (out, &info, 110, 130), "%s: drew inside the box", gst_video_format_to_string (formats[i]));
    fail_unless (is_gray (out, &info, 300, 220), "%s: drew far away", gst_video_format_to_string (formats[i]));
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

static Suite *
cnnoverlay_suite (void)
{
  Suite *s = suite_create ("cnnoverlay");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_draws_boxes);
  return s;
}

GST_CHECK_MAIN (cnnoverlay);
