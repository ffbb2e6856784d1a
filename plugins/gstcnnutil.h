/* gstcnnutil.h - pixel work shared by the cnn elements: one-pass
 * conversion + scaling + normalization of a video frame (or a region of it)
 * into an input tensor, the mapping back to frame coordinates (letterbox
 * included), and blending an RGBA image onto a frame of any supported
 * format. */
#ifndef GST_CNN_UTIL_H
#define GST_CNN_UTIL_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include "cnn.h"

G_BEGIN_DECLS

/* The raw formats every cnn element takes. */
#define GST_CNN_VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, NV12, I420 }"

typedef struct {
  gint x, y, w, h;
} GstCnnRect;

/* How a frame becomes an input tensor. */
typedef struct {
  gint width, height, channels;  /* tensor size; channels 1 (gray) or 3 */
  gboolean nhwc;                 /* layout N,H,W,C instead of N,C,H,W */
  gboolean bgr;                  /* channel order */
  gfloat mean[3], std[3];        /* value = (pixel 0..255 - mean) / std */
  gboolean keep_aspect;          /* letterbox instead of stretching */
  gfloat pad_value;              /* pixel value of letterbox bars, 0..255 */
} GstCnnPreprocess;

/* Tensor pixel (tx, ty) shows frame pixel (rect.x + (tx - off_x) / scale_x, ...). */
typedef struct {
  GstCnnRect rect;
  gdouble scale_x, scale_y, off_x, off_y;
} GstCnnLetterbox;

/* Runs func (i, thread, data) once for every i in [0, n), on threads told
 * apart by @thread; @pool is the implementation's. */
typedef void (*GstCnnParallelFor) (gpointer pool, gint n, void (*func) (gint i, gint thread, gpointer data),
    gpointer data);

/* Working memory kept between frames, so that pre-processing allocates
 * nothing per frame once it has the size it needs; and optionally threads to
 * share the work: parallel_for (pool, n, func, data) must run func (i,
 * thread, data) once for every i in [0, n), with thread in [0, threads)
 * telling apart the threads running at once. */
typedef struct {
  guint8 *mem;
  gsize size;
  GstCnnParallelFor parallel_for;
  gpointer pool;
  gint threads;
} GstCnnScratch;

void gst_cnn_scratch_clear (GstCnnScratch * s);

/* Writes the tensor for @rect of @frame (NULL: the whole frame) into @out
 * (channels * width * height floats) and the mapping into @lb; @scratch
 * holds its tables (NULL: allocated for this call). */
void gst_cnn_preprocess (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb, GstCnnScratch * scratch);
/* The same by the core's plain reference, cnn_image_to_tensor(), which the
 * tests hold gst_cnn_preprocess() to. */
void gst_cnn_preprocess_ref (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb);

/* The frame (or @rect of it) as the core's picture and map for @p, and the
 * letterbox: for pre-processing by a session (cnn_session_set_input_image),
 * on the GPU say.  @img points into @frame's memory. */
void gst_cnn_frame_to_image (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, cnn_image * img, cnn_image_map * map, GstCnnLetterbox * lb);

/* Tensor coordinates to frame coordinates. */
void gst_cnn_letterbox_to_frame (const GstCnnLetterbox * lb, gdouble tx, gdouble ty,
    gdouble * fx, gdouble * fy);

/* Blends a premultiplied ARGB32 image of the frame's size (Cairo's
 * CAIRO_FORMAT_ARGB32 layout, native endian) onto @frame, rows shared out by
 * @pfor (NULL: serially). */
void gst_cnn_frame_blend_argb (GstVideoFrame * frame, const guint8 * argb, gint stride,
    GstCnnParallelFor pfor, gpointer pool);

/* Parses "a,b,c" (or one value for all three) into v[3]. */
gboolean gst_cnn_parse_triplet (const gchar * s, gfloat * v);

/* Index of the first NaN or Inf of @v[0..@n), or -1. */
gint64 gst_cnn_first_nonfinite (const gfloat * v, gint64 n);
/* The same, in blocks of a megabyte on @pfor (NULL: on this thread) where
 * @v is larger: such outputs are read from L3 or memory (DeepLab's 5.6 MB
 * of scores: 0.3 ms on one core), and a core does not reach the bandwidth
 * alone. */
gint64 gst_cnn_find_nonfinite (const gfloat * v, gint64 n, GstCnnParallelFor pfor, gpointer pool);

/* For each of @n pixels, the index of its largest of @classes scores (the
 * first of equal ones), at most 254, into @mask; the scores class-major
 * (NCHW: class c's plane at s + c * n) or pixel-major (NHWC).  Vectorized
 * where the CPU allows, in blocks of pixels on @pfor (NULL: on this
 * thread), each block checked for NaN and Inf first, while it is in cache.
 * Returns the index in @s of the first NaN or Inf (@mask then incomplete),
 * or -1.  gst_cnn_argmax_ref is the plain loop (finite scores only). */
gint64 gst_cnn_argmax (const gfloat * s, gint classes, gsize n, gboolean nhwc, guint8 * mask,
    GstCnnParallelFor pfor, gpointer pool);
void gst_cnn_argmax_ref (const gfloat * s, gint classes, gsize n, gboolean nhwc, guint8 * mask);

G_END_DECLS

#endif
