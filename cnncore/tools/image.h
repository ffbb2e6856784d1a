/* image.h - image file to input tensor, for the command-line tools. */
#ifndef CNN_TOOLS_IMAGE_H
#define CNN_TOOLS_IMAGE_H
#include "cnn.h"

typedef struct {
  gboolean bgr;                 /* channel order B,G,R */
  gboolean nhwc;                /* layout N,H,W,C instead of N,C,H,W */
  float mean[3], std[3];        /* value = (pixel - mean) / std, pixel in 0..255 */
} cnn_image_options;

/* Decodes @path (any format gdk-pixbuf reads), scales it to @width x @height
 * and writes @channels * width * height floats into @out (channels 3: RGB or
 * BGR; 1: gray, the mean of R, G, B). */
gboolean cnn_image_load (const char *path, int width, int height, int channels,
    const cnn_image_options *opts, float *out, GError **error);

#endif
