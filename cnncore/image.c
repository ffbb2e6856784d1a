/* image.c - pictures as model inputs: the plain reference conversion
 * (colour, bilinear scaling, letterbox, normalization) that every faster
 * path is held to: the elements' vectorized CPU code and the CUDA kernel. */
#include "cnn-private.h"
#include <math.h>

gboolean
cnn_image_taps (int i, double off, double scale, int len, int *a, int *b, float *w)
{
  double s = (i + 0.5 - off) / scale - 0.5;
  gboolean inside = i + 0.5 >= off && i + 0.5 <= off + len * scale;
  s = CLAMP (s, 0, len - 1);
  *a = (int) floor (s);
  *b = MIN (*a + 1, len - 1);
  *w = (float) (s - *a);
  return inside;
}

static inline uint8_t
comp (const cnn_image *img, int k, int x, int y)
{
  if (img->yuv && k > 0) {
    x >>= 1;
    y >>= 1;
  }
  int p = img->comp_plane[k];
  return img->plane[p][(size_t) y * img->stride[p] + (size_t) x * img->comp_pstride[k] + img->comp_offset[k]];
}

static inline uint8_t
to_byte (float v)
{
  return v <= 0.f ? 0 : v >= 255.f ? 255 : (uint8_t) (int) (v + 0.5f);
}

/* Pixel (x, y) as R, G, B bytes. */
static void
pixel (const cnn_image *img, int x, int y, uint8_t rgb[3])
{
  if (!img->yuv) {
    for (int k = 0; k < 3; k++)
      rgb[k] = comp (img, k, x, y);
    return;
  }
  const float yy = (comp (img, 0, x, y) - img->yoff) * img->ymul;
  const float u = (comp (img, 1, x, y) - img->coff) * img->cmul, v = (comp (img, 2, x, y) - img->coff) * img->cmul;
  rgb[0] = to_byte (yy + img->rv * v);
  rgb[1] = to_byte (yy + img->gu * u + img->gv * v);
  rgb[2] = to_byte (yy + img->bu * u);
}

void
cnn_image_to_tensor (const cnn_image *img, const cnn_image_map *map, int channels, int height, int width,
    float *out)
{
  const size_t plane = (size_t) width * height;
  float inv[3], pad[3];
  for (int k = 0; k < 3; k++) {
    inv[k] = 1.f / map->std[k];
    pad[k] = (map->pad_value - map->mean[k]) * inv[k];
  }
  for (int j = 0; j < height; j++) {
    int y0, y1;
    float wy;
    gboolean yin = cnn_image_taps (j, map->off_y, map->scale_y, map->h, &y0, &y1, &wy);
    for (int i = 0; i < width; i++) {
      int x0, x1;
      float wx;
      gboolean inside = cnn_image_taps (i, map->off_x, map->scale_x, map->w, &x0, &x1, &wx) && yin;
      uint8_t a0[3], a1[3], b0[3], b1[3];
      pixel (img, map->x + x0, map->y + y0, a0);
      pixel (img, map->x + x1, map->y + y0, a1);
      pixel (img, map->x + x0, map->y + y1, b0);
      pixel (img, map->x + x1, map->y + y1, b1);
      float v[3];
      for (int k = 0; k < 3; k++) {
        float a = a0[k] + wx * (a1[k] - a0[k]);
        float b = b0[k] + wx * (b1[k] - b0[k]);
        v[k] = a + wy * (b - a);
      }
      size_t at = (size_t) j * width + i;
      if (channels == 1) {
        float g = (v[0] + v[1] + v[2]) / 3.f;
        out[at] = inside ? (g - map->mean[0]) * inv[0] : pad[0];
        continue;
      }
      for (int k = 0; k < 3; k++) {
        float val = inside ? (v[map->bgr ? 2 - k : k] - map->mean[k]) * inv[k] : pad[k];
        out[map->nhwc ? at * 3 + k : k * plane + at] = val;
      }
    }
  }
}

const char *
cnn_image_check (const cnn_image *img, const cnn_image_map *map)
{
  if (img->width < 1 || img->height < 1)
    return "the image is empty";
  for (int k = 0; k < 3; k++)
    if (img->comp_plane[k] < 0 || img->comp_plane[k] > 2 || !img->plane[img->comp_plane[k]] ||
        img->comp_pstride[k] < 1 || img->comp_offset[k] < 0 || img->stride[img->comp_plane[k]] < 1)
      return "a component's plane, pixel stride or offset is not valid";
  if (map->w < 1 || map->h < 1 || map->x < 0 || map->y < 0 ||
      map->x >= img->width || map->y >= img->height ||
      map->w > img->width - map->x || map->h > img->height - map->y)     /* no overflow */
    return "the region is not inside the image";
  if (!(map->scale_x > 0) || !(map->scale_y > 0) || !isfinite (map->off_x) || !isfinite (map->off_y))
    return "the scales must be positive and the offsets finite";
  for (int k = 0; k < 3; k++)
    if (map->std[k] == 0 || !isfinite (map->std[k]) || !isfinite (map->mean[k]))
      return "mean and std must be finite, std not zero";
  return NULL;
}
