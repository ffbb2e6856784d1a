/* cnn-detect.h - detector outputs to boxes: YOLO (v2, v3, v5, X, v8) and
 * SSD / UltraFace decoding, and NMS.  Included by cnn.h.
 *
 * cnn_decoder_decode() and cnn_boxes_nms() work on host tensors (the
 * reference); cnn_session_detect() decodes the last run's outputs where
 * they are, on the GPU for a CUDA session.  Boxes are in the model's input
 * pixel space (x1, y1, x2, y2).
 *
 * The types before the functions are plain C, so that the CUDA kernels
 * share them. */
#ifndef CNN_DETECT_H
#define CNN_DETECT_H

#include <stdint.h>

typedef enum {
  CNN_DECODER_AUTO,
  CNN_DECODER_YOLOV2,           /* [1, A*(5+C), H, W], anchors in grid cells, softmax classes */
  CNN_DECODER_YOLOV3,           /* one or more [1, A*(5+C), H, W], anchors in pixels, sigmoid */
  CNN_DECODER_YOLOV5,           /* [1, N, 5+C] rows cx, cy, w, h, obj, classes (pixels) */
  CNN_DECODER_YOLOX,            /* [1, N, 5+C] raw: grid decode with strides 8, 16, 32 */
  CNN_DECODER_YOLOV8,           /* [1, 4+C, N] columns cx, cy, w, h, classes */
  CNN_DECODER_SSD,              /* scores [1, N, C] + boxes [1, N, 4] x1,y1,x2,y2 normalized */
  CNN_DECODER_SSD_PRIORS,       /* the same, boxes as offsets from generated priors */
} cnn_decoder_type;

typedef struct {
  cnn_decoder_type type;
  int input_width, input_height;
  float threshold;
  int background_class;         /* SSD: score column to ignore, -1 none */
  float anchors[3][18];         /* per output: (w, h) pairs */
  int n_anchors[3];             /* pairs per output */
  int n_anchor_sets;
  /* SSD priors (UltraFace style) */
  float min_sizes[4][3];
  int n_min_sizes[4];
  int steps[4];
  int n_steps;
  float center_variance, size_variance;
} cnn_decoder_options;

typedef struct {
  float x1, y1, x2, y2;
  float confidence;
  int class_id;
} cnn_box;

/* What follows the decoding: greedy NMS by confidence, per class unless
 * @agnostic, keeping at most @max_boxes (0: all); before it, boxes whose
 * class has keep_class[class] == 0 are dropped (@keep_class NULL: none;
 * else @n_classes entries). */
typedef struct {
  float iou_threshold;
  int agnostic;
  unsigned max_boxes;
  const uint8_t *keep_class;
  int n_classes;
} cnn_nms_options;

#ifndef __CUDACC__
#include "cnn.h"

G_BEGIN_DECLS

/* Fills defaults: tiny-YOLOv2 VOC anchors, YOLOv3 COCO anchors, UltraFace
 * priors, threshold 0.5, background class 0 for SSD (its first score
 * column), none for YOLO. */
void cnn_decoder_options_init (cnn_decoder_options *o, cnn_decoder_type type);

/* Guesses the decoder from output shapes; AUTO if nothing fits. */
cnn_decoder_type cnn_decoder_guess (const cnn_tensor *const *outputs, int n_outputs);

/* Number of classes the outputs hold for this decoder, or -1 with @error set. */
int cnn_decoder_n_classes (const cnn_decoder_options *o, const cnn_tensor *const *outputs,
    int n_outputs, GError **error);

/* Tests: FALSE makes cnn_decoder_decode() go through every row with the
 * plain loops, which its vectorized scans (AVX-512 or AVX2, where the CPU
 * has them and CNN_NO_AVX512 / CNN_NO_AVX2 are unset) are checked against;
 * TRUE goes back. */
void cnn_decoder_set_vector (gboolean on);

/* Appends the boxes above the threshold to @boxes (cnn_box), in the order
 * of their place in the outputs.  The outputs (float32, batch 1) must be
 * finite. */
gboolean cnn_decoder_decode (const cnn_decoder_options *o, const cnn_tensor *const *outputs,
    int n_outputs, GArray *boxes, GError **error);

/* @nms on @boxes, in place: the classes @nms drops, then greedy NMS; the
 * kept boxes by confidence, ties in their order before. */
void cnn_boxes_nms (GArray *boxes, const cnn_nms_options *nms);

float cnn_box_iou (const cnn_box *a, const cnn_box *b);

const char *cnn_decoder_type_name (cnn_decoder_type type);
/* The type, or -1 for an unknown name ("ultraface" is "ssd"). */
cnn_decoder_type cnn_decoder_type_from_name (const char *name);

/* Decodes item @item of the last run's outputs (its first four, in the
 * model's order) with @o, then @nms, into @boxes (cnn_box, emptied first),
 * on the session's backend: on the GPU for a CUDA session (kernels decode
 * and suppress there, and this call copies back only the kept boxes; the
 * outputs must be finite), else cnn_decoder_decode() and cnn_boxes_nms() on
 * the host outputs.  The same boxes either way, but for the last bits of
 * the GPU's exponentials. */
gboolean cnn_session_detect (cnn_session *session, const cnn_decoder_options *o,
    const cnn_nms_options *nms, int item, GArray *boxes, GError **error);

G_END_DECLS
#endif

#endif /* CNN_DETECT_H */
