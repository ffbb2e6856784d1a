/* gstcnndecode.c - YOLO (v2, v3, v5, X, v8) and SSD / UltraFace decoding, NMS. */
#include "gstcnndecode.h"
#include <math.h>
#include <string.h>

static const gchar *names[] = { "auto", "yolov2", "yolov3", "yolov5", "yolox", "yolov8", "ssd",
  "ssd-priors" };

const gchar *
gst_cnn_decoder_type_name (GstCnnDecoderType type)
{
  return type < G_N_ELEMENTS (names) ? names[type] : "unknown";
}

GstCnnDecoderType
gst_cnn_decoder_type_from_name (const gchar * name)
{
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (name, names[i]) == 0)
      return (GstCnnDecoderType) i;
  if (g_ascii_strcasecmp (name, "ultraface") == 0)
    return GST_CNN_DECODER_SSD;
  return (GstCnnDecoderType) - 1;
}

void
gst_cnn_decoder_options_init (GstCnnDecoderOptions * o, GstCnnDecoderType type)
{
  static const gfloat v2[] = { 1.08f, 1.19f, 3.42f, 4.41f, 6.63f, 11.38f, 9.42f, 5.11f, 16.62f, 10.52f };
  static const gfloat v3[3][6] = { { 116, 90, 156, 198, 373, 326 }, { 30, 61, 62, 45, 59, 119 },
    { 10, 13, 16, 30, 33, 23 } };
  memset (o, 0, sizeof *o);
  o->type = type;
  o->threshold = 0.5f;
  /* SSD-family score columns start with "background" (UltraFace: 0 bg, 1 face) */
  o->background_class = type == GST_CNN_DECODER_SSD || type == GST_CNN_DECODER_SSD_PRIORS ? 0 : -1;
  if (type == GST_CNN_DECODER_YOLOV2) {
    memcpy (o->anchors[0], v2, sizeof v2);
    o->n_anchors[0] = 5;
    o->n_anchor_sets = 1;
  } else if (type == GST_CNN_DECODER_YOLOV3) {
    for (int i = 0; i < 3; i++) {
      memcpy (o->anchors[i], v3[i], sizeof v3[i]);
      o->n_anchors[i] = 3;
    }
    o->n_anchor_sets = 3;
  }
  /* UltraFace-RFB-320 priors */
  static const gfloat ms[4][3] = { { 10, 16, 24 }, { 32, 48, 0 }, { 64, 96, 0 }, { 128, 192, 256 } };
  static const gint nms[4] = { 3, 2, 2, 3 }, steps[4] = { 8, 16, 32, 64 };
  memcpy (o->min_sizes, ms, sizeof ms);
  memcpy (o->n_min_sizes, nms, sizeof nms);
  memcpy (o->steps, steps, sizeof steps);
  o->n_steps = 4;
  o->center_variance = 0.1f;
  o->size_variance = 0.2f;
}

/* Dims without the leading batch 1. */
static gint
rank_nobatch (const cnn_tensor * t)
{
  return t->ndim > 0 && t->dims[0] == 1 ? t->ndim - 1 : t->ndim;
}

GstCnnDecoderType
gst_cnn_decoder_guess (const cnn_tensor * const *out, gint n)
{
  if (n == 2 && rank_nobatch (out[0]) == 2 && rank_nobatch (out[1]) == 2) {
    const cnn_tensor *a = out[0], *b = out[1];
    if (a->dims[a->ndim - 2] == b->dims[b->ndim - 2] && (a->dims[a->ndim - 1] == 4 || b->dims[b->ndim - 1] == 4))
      return GST_CNN_DECODER_SSD;
  }
  if (n >= 1 && rank_nobatch (out[0]) == 3) {
    /* anchor grids: [A*(5+C), H, W] with a real grid */
    for (gint i = 0; i < n; i++)
      if (rank_nobatch (out[i]) != 3 || out[i]->dims[out[i]->ndim - 1] < 2 ||
          out[i]->dims[out[i]->ndim - 2] < 2 || out[i]->dims[out[i]->ndim - 3] < 6)
        return GST_CNN_DECODER_AUTO;
    return n == 1 ? GST_CNN_DECODER_YOLOV2 : GST_CNN_DECODER_YOLOV3;
  }
  if (n == 1 && rank_nobatch (out[0]) == 2) {
    gint64 r = out[0]->dims[out[0]->ndim - 2], c = out[0]->dims[out[0]->ndim - 1];
    if (r > c && c > 5)
      return GST_CNN_DECODER_YOLOV5;
    if (c > r && r > 4)
      return GST_CNN_DECODER_YOLOV8;
  }
  return GST_CNN_DECODER_AUTO;
}

gint
gst_cnn_decoder_n_classes (const GstCnnDecoderOptions * o, const cnn_tensor * const *out, gint n,
    GError ** error)
{
  const cnn_tensor *t = n > 0 ? out[0] : NULL;
  gint64 c = -1;
  switch (o->type) {
    case GST_CNN_DECODER_YOLOV2:
    case GST_CNN_DECODER_YOLOV3: {
      if (n > 3 || (o->type == GST_CNN_DECODER_YOLOV2 && n != 1) || n != MAX (o->n_anchor_sets, 1))
        goto bad;
      for (gint i = 0; i < n; i++) {
        if (rank_nobatch (out[i]) != 3 || o->n_anchors[i] < 1 || out[i]->dims[out[i]->ndim - 3] % o->n_anchors[i])
          goto bad;
        gint64 ci = out[i]->dims[out[i]->ndim - 3] / o->n_anchors[i] - 5;
        if (ci < 1 || (c >= 0 && ci != c))
          goto bad;
        c = ci;
      }
      break;
    }
    case GST_CNN_DECODER_YOLOV5:
    case GST_CNN_DECODER_YOLOX:
      if (n != 1 || rank_nobatch (t) != 2 || t->dims[t->ndim - 1] < 6)
        goto bad;
      c = t->dims[t->ndim - 1] - 5;
      break;
    case GST_CNN_DECODER_YOLOV8:
      if (n != 1 || rank_nobatch (t) != 2 || t->dims[t->ndim - 2] < 5)
        goto bad;
      c = t->dims[t->ndim - 2] - 4;
      break;
    case GST_CNN_DECODER_SSD:
    case GST_CNN_DECODER_SSD_PRIORS: {
      if (n != 2 || rank_nobatch (out[0]) != 2 || rank_nobatch (out[1]) != 2)
        goto bad;
      const cnn_tensor *s = out[0]->dims[out[0]->ndim - 1] == 4 && out[1]->dims[out[1]->ndim - 1] != 4 ?
          out[1] : out[0];
      c = s->dims[s->ndim - 1];
      break;
    }
    default:
      goto bad;
  }
  return (gint) c;
bad:
  g_set_error (error, g_quark_from_static_string ("gst-cnn-decode"), 0,
      "the model's %d output(s) do not fit the %s decoder", n, gst_cnn_decoder_type_name (o->type));
  return -1;
}

static inline gfloat
sigmoid (gfloat x)
{
  return 1.f / (1.f + expf (-x));
}

static void
add_box (GArray * boxes, gfloat cx, gfloat cy, gfloat w, gfloat h, gfloat conf, gint cls)
{
  GstCnnBox b = { cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, conf, cls };
  g_array_append_val (boxes, b);
}

/* YOLOv2/v3 grids: [A*(5+C), H, W] with tx, ty, tw, th, to, classes. */
static void
decode_grid (const GstCnnDecoderOptions * o, const cnn_tensor * t, gint set, gint C, GArray * boxes)
{
  gint A = o->n_anchors[set];
  gint64 H = t->dims[t->ndim - 2], W = t->dims[t->ndim - 1], plane = H * W;
  const float *d = t->data;
  gboolean v2 = o->type == GST_CNN_DECODER_YOLOV2;
  gfloat cell_w = (gfloat) o->input_width / W, cell_h = (gfloat) o->input_height / H;
  gfloat *cls = g_new (gfloat, C);
  for (gint a = 0; a < A; a++) {
    const float *base = d + (gint64) a * (5 + C) * plane;
    for (gint64 y = 0; y < H; y++)
      for (gint64 x = 0; x < W; x++) {
        gint64 off = y * W + x;
        gfloat obj = sigmoid (base[4 * plane + off]);
        if (obj < o->threshold)
          continue;
        gint best = 0;
        gfloat sum = 0, mx = -INFINITY;
        for (gint c = 0; c < C; c++) {
          cls[c] = base[(5 + c) * plane + off];
          mx = MAX (mx, cls[c]);
        }
        for (gint c = 0; c < C; c++) {
          cls[c] = v2 ? expf (cls[c] - mx) : sigmoid (cls[c]);
          sum += cls[c];
          if (cls[c] > cls[best])
            best = c;
        }
        gfloat p = v2 ? cls[best] / sum : cls[best];
        gfloat conf = obj * p;
        if (conf < o->threshold)
          continue;
        gfloat cx = (x + sigmoid (base[off])) * cell_w, cy = (y + sigmoid (base[plane + off])) * cell_h;
        gfloat aw = o->anchors[set][2 * a], ah = o->anchors[set][2 * a + 1];
        gfloat w = expf (base[2 * plane + off]) * (v2 ? aw * cell_w : aw);
        gfloat h = expf (base[3 * plane + off]) * (v2 ? ah * cell_h : ah);
        add_box (boxes, cx, cy, w, h, conf, best);
      }
  }
  g_free (cls);
}

gboolean
gst_cnn_decode (const GstCnnDecoderOptions * o, const cnn_tensor * const *out, gint n, GArray * boxes,
    GError ** error)
{
  gint C = gst_cnn_decoder_n_classes (o, out, n, error);
  if (C < 0)
    return FALSE;
  switch (o->type) {
    case GST_CNN_DECODER_YOLOV2:
    case GST_CNN_DECODER_YOLOV3:
      for (gint i = 0; i < n; i++)
        decode_grid (o, out[i], i, C, boxes);
      break;
    case GST_CNN_DECODER_YOLOV5:
    case GST_CNN_DECODER_YOLOX: {
      const cnn_tensor *t = out[0];
      gint64 N = t->dims[t->ndim - 2], row = 5 + C;
      const float *d = t->data;
      /* YOLOX raw rows: grid cells of strides 8, 16, 32 in order */
      gint64 idx = 0;
      gint strides[3] = { 8, 16, 32 };
      for (gint s = 0; s < (o->type == GST_CNN_DECODER_YOLOX ? 3 : 1); s++) {
        gint64 gw = o->type == GST_CNN_DECODER_YOLOX ? o->input_width / strides[s] : N;
        gint64 gh = o->type == GST_CNN_DECODER_YOLOX ? o->input_height / strides[s] : 1;
        for (gint64 k = 0; k < gw * gh && idx < N; k++, idx++) {
          const float *r = d + idx * row;
          gint best = 0;
          for (gint c = 1; c < C; c++)
            if (r[5 + c] > r[5 + best])
              best = c;
          gfloat conf = r[4] * r[5 + best];
          if (conf < o->threshold)
            continue;
          gfloat cx = r[0], cy = r[1], w = r[2], h = r[3];
          if (o->type == GST_CNN_DECODER_YOLOX) {
            cx = (cx + k % gw) * strides[s];
            cy = (cy + k / gw) * strides[s];
            w = expf (w) * strides[s];
            h = expf (h) * strides[s];
          }
          add_box (boxes, cx, cy, w, h, conf, best);
        }
      }
      break;
    }
    case GST_CNN_DECODER_YOLOV8: {
      const cnn_tensor *t = out[0];
      gint64 N = t->dims[t->ndim - 1];
      const float *d = t->data;
      for (gint64 i = 0; i < N; i++) {
        gint best = 0;
        for (gint c = 1; c < C; c++)
          if (d[(4 + c) * N + i] > d[(4 + best) * N + i])
            best = c;
        gfloat conf = d[(4 + best) * N + i];
        if (conf >= o->threshold)
          add_box (boxes, d[i], d[N + i], d[2 * N + i], d[3 * N + i], conf, best);
      }
      break;
    }
    case GST_CNN_DECODER_SSD:
    case GST_CNN_DECODER_SSD_PRIORS: {
      const cnn_tensor *S = out[0], *B = out[1];
      if (S->dims[S->ndim - 1] == 4 && B->dims[B->ndim - 1] != 4) {
        S = out[1];
        B = out[0];
      }
      gint64 N = S->dims[S->ndim - 2];
      if (B->dims[B->ndim - 2] != N || B->dims[B->ndim - 1] != 4) {
        g_set_error (error, g_quark_from_static_string ("gst-cnn-decode"), 0,
            "scores and boxes disagree on the number of boxes");
        return FALSE;
      }
      const float *s = S->data, *b = B->data;
      gint64 prior = 0;
      gint step_i = 0, size_i = 0;
      gint64 fx = 0, fy = 0;
      for (gint64 i = 0; i < N; i++) {
        gint best = -1;
        for (gint c = 0; c < C; c++)
          if (c != o->background_class && (best < 0 || s[i * C + c] > s[i * C + best]))
            best = c;
        gfloat x1 = b[4 * i], y1 = b[4 * i + 1], x2 = b[4 * i + 2], y2 = b[4 * i + 3];
        if (o->type == GST_CNN_DECODER_SSD_PRIORS) {
          /* priors in generation order: per step, per cell, per min size */
          if (step_i >= o->n_steps)
            break;
          gint step = o->steps[step_i];
          gint64 gw = (o->input_width + step - 1) / step, gh = (o->input_height + step - 1) / step;
          gfloat pcx = (fx + 0.5f) / gw, pcy = (fy + 0.5f) / gh;
          gfloat pw = o->min_sizes[step_i][size_i] / o->input_width, ph = o->min_sizes[step_i][size_i] / o->input_height;
          gfloat cx = pcx + x1 * o->center_variance * pw, cy = pcy + y1 * o->center_variance * ph;
          gfloat w = pw * expf (x2 * o->size_variance), h = ph * expf (y2 * o->size_variance);
          x1 = cx - w / 2;
          y1 = cy - h / 2;
          x2 = cx + w / 2;
          y2 = cy + h / 2;
          if (++size_i >= o->n_min_sizes[step_i]) {
            size_i = 0;
            if (++fx >= gw) {
              fx = 0;
              if (++fy >= gh) {
                fy = 0;
                step_i++;
              }
            }
          }
          prior++;
        }
        if (best < 0 || s[i * C + best] < o->threshold)
          continue;
        GstCnnBox box = { x1 * o->input_width, y1 * o->input_height, x2 * o->input_width,
          y2 * o->input_height, s[i * C + best], best };
        g_array_append_val (boxes, box);
      }
      break;
    }
    default:
      break;
  }
  return TRUE;
}

gfloat
gst_cnn_box_iou (const GstCnnBox * a, const GstCnnBox * b)
{
  gfloat ix = MAX (0.f, MIN (a->x2, b->x2) - MAX (a->x1, b->x1));
  gfloat iy = MAX (0.f, MIN (a->y2, b->y2) - MAX (a->y1, b->y1));
  gfloat inter = ix * iy;
  gfloat ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
  return ua > 0 ? inter / ua : 0.f;
}

static gint
by_confidence (gconstpointer a, gconstpointer b)
{
  const GstCnnBox *x = a, *y = b;
  return x->confidence < y->confidence ? 1 : x->confidence > y->confidence ? -1 : 0;
}

void
gst_cnn_nms (GArray * boxes, gfloat iou_threshold, gboolean agnostic, guint max_boxes)
{
  g_array_sort (boxes, by_confidence);
  guint n = boxes->len, kept = 0;
  gboolean *drop = g_new0 (gboolean, MAX (n, 1));
  GstCnnBox *b = (GstCnnBox *) boxes->data;
  for (guint i = 0; i < n; i++) {
    if (drop[i])
      continue;
    if (max_boxes && kept >= max_boxes) {
      drop[i] = TRUE;
      continue;
    }
    b[kept++] = b[i];
    GstCnnBox *cur = &b[kept - 1];
    for (guint j = i + 1; j < n; j++)
      if (!drop[j] && (agnostic || b[j].class_id == cur->class_id) && gst_cnn_box_iou (cur, &b[j]) > iou_threshold)
        drop[j] = TRUE;
  }
  g_free (drop);
  g_array_set_size (boxes, kept);
}
