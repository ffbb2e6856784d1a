/* image.c - image decoding for the tools, through gdk-pixbuf. */
#include "image.h"
#include <gdk-pixbuf/gdk-pixbuf.h>

gboolean
cnn_image_load (const char *path, int width, int height, int channels,
    const cnn_image_options *o, float *out, GError **error)
{
  GdkPixbuf *src = gdk_pixbuf_new_from_file (path, error);
  if (!src)
    return FALSE;
  GdkPixbuf *pb = gdk_pixbuf_scale_simple (src, width, height, GDK_INTERP_BILINEAR);
  g_object_unref (src);
  if (!pb) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_NO_MEMORY, "cannot scale %s", path);
    return FALSE;
  }
  int nch = gdk_pixbuf_get_n_channels (pb), stride = gdk_pixbuf_get_rowstride (pb);
  const guint8 *px = gdk_pixbuf_read_pixels (pb);
  int64_t plane = (int64_t) width * height;
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      const guint8 *p = px + y * stride + x * nch;
      if (channels == 1) {
        out[(int64_t) y * width + x] = ((p[0] + p[1] + p[2]) / 3.f - o->mean[0]) / o->std[0];
        continue;
      }
      for (int c = 0; c < 3; c++) {
        int sc = o->bgr ? 2 - c : c;
        float v = (p[sc] - o->mean[c]) / o->std[c];
        if (o->nhwc)
          out[((int64_t) y * width + x) * 3 + c] = v;
        else
          out[c * plane + (int64_t) y * width + x] = v;
      }
    }
  g_object_unref (pb);
  return TRUE;
}
