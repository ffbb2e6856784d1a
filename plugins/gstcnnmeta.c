/* gstcnnmeta.c - the segmentation mask meta. */
#include "gstcnnmeta.h"
#include <string.h>

GType
gst_cnn_segmentation_meta_api_get_type (void)
{
  static GType type;
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR, NULL };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, gst_meta_api_type_register ("GstCnnSegmentationMetaAPI", tags));
  return type;
}

static gboolean
seg_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstCnnSegmentationMeta *m = (GstCnnSegmentationMeta *) meta;
  m->mask = NULL;
  m->labels = NULL;
  m->width = m->height = m->n_classes = 0;
  return TRUE;
}

static void
seg_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstCnnSegmentationMeta *m = (GstCnnSegmentationMeta *) meta;
  g_free (m->mask);
  g_strfreev (m->labels);
}

static gboolean
seg_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer, GQuark type, gpointer data)
{
  GstCnnSegmentationMeta *m = (GstCnnSegmentationMeta *) meta;
  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;               /* scaling would need the new geometry: drop */
  return gst_buffer_add_cnn_segmentation_meta (dest, m->width, m->height, m->n_classes, m->mask,
      m->rect_x, m->rect_y, m->rect_w, m->rect_h, m->labels) != NULL;
}

const GstMetaInfo *
gst_cnn_segmentation_meta_get_info (void)
{
  static const GstMetaInfo *info;
  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_CNN_SEGMENTATION_META_API_TYPE,
        "GstCnnSegmentationMeta", sizeof (GstCnnSegmentationMeta), seg_meta_init, seg_meta_free,
        seg_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) mi);
  }
  return info;
}

GstCnnSegmentationMeta *
gst_buffer_add_cnn_segmentation_meta (GstBuffer * buffer, guint width, guint height,
    guint n_classes, const guint8 * mask, gint rect_x, gint rect_y, gint rect_w, gint rect_h,
    gchar ** labels)
{
  GstCnnSegmentationMeta *m = (GstCnnSegmentationMeta *) gst_buffer_add_meta (buffer,
      gst_cnn_segmentation_meta_get_info (), NULL);
  m->width = width;
  m->height = height;
  m->n_classes = n_classes;
  m->mask = g_memdup2 (mask, (gsize) width * height);
  m->rect_x = rect_x;
  m->rect_y = rect_y;
  m->rect_w = rect_w;
  m->rect_h = rect_h;
  m->labels = g_strdupv (labels);
  return m;
}

void
gst_cnn_class_color (guint class_id, guint8 rgb[3])
{
  /* Pascal VOC's palette: bit-interleaved, distinct for 256 classes */
  guint r = 0, g = 0, b = 0, c = class_id;
  for (gint i = 7; i >= 0; i--) {
    r |= ((c >> 0) & 1) << i;
    g |= ((c >> 1) & 1) << i;
    b |= ((c >> 2) & 1) << i;
    c >>= 3;
  }
  rgb[0] = (guint8) r;
  rgb[1] = (guint8) g;
  rgb[2] = (guint8) b;
}
