/* detect.c - YOLO (v2, v3, v5, X, v8) and SSD / UltraFace decoding, NMS,
 * on the host; cnn_session_detect() on the session's backend.  One
 * candidate's arithmetic is in detect-math.h, which the CUDA kernels share;
 * here the vectorized scans pick the candidates worth it. */
#include "cnn-private.h"
#include "detect-math.h"
#include <string.h>

static const gchar *names[] = { "auto", "yolov2", "yolov3", "yolov5", "yolox", "yolov8", "ssd",
  "ssd-priors" };

const gchar *
cnn_decoder_type_name (cnn_decoder_type type)
{
  return type < G_N_ELEMENTS (names) ? names[type] : "unknown";
}

cnn_decoder_type
cnn_decoder_type_from_name (const gchar * name)
{
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (name, names[i]) == 0)
      return (cnn_decoder_type) i;
  if (g_ascii_strcasecmp (name, "ultraface") == 0)
    return CNN_DECODER_SSD;
  return (cnn_decoder_type) - 1;
}

void
cnn_decoder_options_init (cnn_decoder_options * o, cnn_decoder_type type)
{
  static const gfloat v2[] = { 1.08f, 1.19f, 3.42f, 4.41f, 6.63f, 11.38f, 9.42f, 5.11f, 16.62f, 10.52f };
  static const gfloat v3[3][6] = { { 116, 90, 156, 198, 373, 326 }, { 30, 61, 62, 45, 59, 119 },
    { 10, 13, 16, 30, 33, 23 } };
  memset (o, 0, sizeof *o);
  o->type = type;
  o->threshold = 0.5f;
  /* SSD-family score columns start with "background" (UltraFace: 0 bg, 1 face) */
  o->background_class = type == CNN_DECODER_SSD || type == CNN_DECODER_SSD_PRIORS ? 0 : -1;
  if (type == CNN_DECODER_YOLOV2) {
    memcpy (o->anchors[0], v2, sizeof v2);
    o->n_anchors[0] = 5;
    o->n_anchor_sets = 1;
  } else if (type == CNN_DECODER_YOLOV3) {
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

cnn_decoder_type
cnn_decoder_guess (const cnn_tensor * const *out, gint n)
{
  if (n == 2 && rank_nobatch (out[0]) == 2 && rank_nobatch (out[1]) == 2) {
    const cnn_tensor *a = out[0], *b = out[1];
    if (a->dims[a->ndim - 2] == b->dims[b->ndim - 2] && (a->dims[a->ndim - 1] == 4 || b->dims[b->ndim - 1] == 4))
      return CNN_DECODER_SSD;
  }
  if (n >= 1 && rank_nobatch (out[0]) == 3) {
    /* anchor grids: [A*(5+C), H, W] with a real grid */
    for (gint i = 0; i < n; i++)
      if (rank_nobatch (out[i]) != 3 || out[i]->dims[out[i]->ndim - 1] < 2 ||
          out[i]->dims[out[i]->ndim - 2] < 2 || out[i]->dims[out[i]->ndim - 3] < 6)
        return CNN_DECODER_AUTO;
    return n == 1 ? CNN_DECODER_YOLOV2 : CNN_DECODER_YOLOV3;
  }
  if (n == 1 && rank_nobatch (out[0]) == 2) {
    gint64 r = out[0]->dims[out[0]->ndim - 2], c = out[0]->dims[out[0]->ndim - 1];
    if (r > c && c > 5)
      return CNN_DECODER_YOLOV5;
    if (c > r && r > 4)
      return CNN_DECODER_YOLOV8;
  }
  return CNN_DECODER_AUTO;
}

gint
cnn_decoder_n_classes (const cnn_decoder_options * o, const cnn_tensor * const *out, gint n,
    GError ** error)
{
  const cnn_tensor *t = n > 0 ? out[0] : NULL;
  gint64 c = -1;
  switch (o->type) {
    case CNN_DECODER_YOLOV2:
    case CNN_DECODER_YOLOV3: {
      if (n > 3 || (o->type == CNN_DECODER_YOLOV2 && n != 1) || n != MAX (o->n_anchor_sets, 1))
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
    case CNN_DECODER_YOLOV5:
    case CNN_DECODER_YOLOX:
      if (n != 1 || rank_nobatch (t) != 2 || t->dims[t->ndim - 1] < 6)
        goto bad;
      c = t->dims[t->ndim - 1] - 5;
      break;
    case CNN_DECODER_YOLOV8:
      if (n != 1 || rank_nobatch (t) != 2 || t->dims[t->ndim - 2] < 5)
        goto bad;
      c = t->dims[t->ndim - 2] - 4;
      break;
    case CNN_DECODER_SSD:
    case CNN_DECODER_SSD_PRIORS: {
      if (n != 2 || rank_nobatch (out[0]) != 2 || rank_nobatch (out[1]) != 2)
        goto bad;
      const cnn_tensor *s = out[0]->dims[out[0]->ndim - 1] == 4 && out[1]->dims[out[1]->ndim - 1] != 4 ?
          out[1] : out[0], *b = s == out[0] ? out[1] : out[0];
      c = s->dims[s->ndim - 1];
      /* as many boxes of 4 as rows of scores */
      if (c < 1 || b->dims[b->ndim - 1] != 4 || b->dims[b->ndim - 2] != s->dims[s->ndim - 2])
        goto bad;
      break;
    }
    default:
      goto bad;
  }
  return (gint) c;
bad:
  g_set_error (error, CNN_ERROR, CNN_ERROR_SHAPE,
      "the model's %d output(s) do not fit the %s decoder", n, cnn_decoder_type_name (o->type));
  return -1;
}

static void
add_box (GArray * boxes, const cnn_box * b)
{
  g_array_append_vals (boxes, b, 1);
}

/* YOLOv2/v3 grids: [A*(5+C), H, W], anchor by anchor, cells in rows. */
static void
decode_grid (const cnn_decoder_options * o, const cnn_tensor * t, gint set, gint C, GArray * boxes)
{
  gint64 H = t->dims[t->ndim - 2], W = t->dims[t->ndim - 1];
  cnn_box b;
  for (gint a = 0; a < o->n_anchors[set]; a++)
    for (gint64 off = 0; off < H * W; off++)
      if (cnn_det_grid_cell (o, t->data, set, C, H, W, a, off, &b))
        add_box (boxes, &b);
}

/* Tests turn the vectorized scans off to check them against the plain
 * loops. */
static gboolean vector_off;

void
cnn_decoder_set_vector (gboolean on)
{
  vector_off = !on;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "cpu/act_avx2.h"
#include "cpu/act_avx512.h"
#define HAVE_VECTOR_SCANS 1

static gboolean
use_vector (void)
{
  return (cnn_sgemm_avx512_available () || cnn_sgemm_avx2_available ()) && !vector_off;
}

/* Columns @i..@i+31 (those below @N) of a [rows, N] block at @d: per 16
 * columns, the mask of those where any row's value reaches @thr, in
 * @mask[0..1].  Two running maxima, each on a cache line per row: on
 * YOLOv8's 84 x 8400 outputs 53 us, against 60 with one and 66-80 with
 * four or eight. */
__attribute__ ((target ("avx512f")))
static void
columns_reaching_avx512 (const float *d, gint64 N, gint rows, gint64 i, gfloat thr, guint * mask)
{
  __m512 m[2];
  __mmask16 in[2];
  for (gint k = 0; k < 2; k++) {
    gint64 left = N - (i + 16 * k);
    in[k] = left <= 0 ? 0 : left >= 16 ? 0xffff : (__mmask16) ((1u << left) - 1);
    m[k] = _mm512_set1_ps (-INFINITY);
  }
  for (gint c = 0; c < rows; c++) {
    const float *p = d + c * N + i;
    for (gint k = 0; k < 2; k++)
      m[k] = _mm512_max_ps (m[k], _mm512_mask_loadu_ps (m[k], in[k], p + 16 * k));
  }
  for (gint k = 0; k < 2; k++)
    mask[k] = _mm512_mask_cmp_ps_mask (in[k], m[k], _mm512_set1_ps (thr), _CMP_GE_OQ);
}

/* Whether row @r's best of @C class scores times @obj may reach @thr: each
 * lane's greatest score times @obj is compared, the row's greatest among
 * them, so no row that passes is missed whatever the sign of @obj; the
 * caller then decides exactly. */
__attribute__ ((target ("avx512f")))
static gboolean
row_may_pass_avx512 (const float *r, gint C, gfloat obj, gfloat thr)
{
  __m512 m0 = _mm512_set1_ps (-INFINITY), m1 = m0;
  gint c = 0;
  for (; c + 32 <= C; c += 32) {
    m0 = _mm512_max_ps (m0, _mm512_loadu_ps (r + c));
    m1 = _mm512_max_ps (m1, _mm512_loadu_ps (r + c + 16));
  }
  for (; c < C; c += 16)
    m0 = _mm512_max_ps (m0, _mm512_mask_loadu_ps (m0, C - c >= 16 ? 0xffff : (__mmask16) ((1u << (C - c)) - 1),
            r + c));
  __m512 p = _mm512_mul_ps (_mm512_max_ps (m0, m1), _mm512_set1_ps (obj));
  return _mm512_cmp_ps_mask (p, _mm512_set1_ps (thr), _CMP_GE_OQ) != 0;
}

/* Values @j..@j+15 (those below @n) of [rows, C] scores: the mask of those
 * that reach @thr, less the lanes in @skip. */
__attribute__ ((target ("avx512f")))
static guint
values_reaching_avx512 (const float *s, gint64 n, gint64 j, gfloat thr, guint skip)
{
  __mmask16 in = cnn_lanes16 (0, n - j);
  __m512 v = _mm512_maskz_loadu_ps (in, s + j);
  return _mm512_mask_cmp_ps_mask (in & ~skip, v, _mm512_set1_ps (thr), _CMP_GE_OQ);
}

/* The AVX2 scans (no AVX-512): the same, 8 lanes a vector; lanes past the
 * data are loaded as nothing (vmaskmovps) and dropped from the masks. */

CNN_AVX2
static void
columns_reaching_avx2 (const float *d, gint64 N, gint rows, gint64 i, gfloat thr, guint * mask)
{
  __m256 m[4];
  __m256i in[4];
  for (gint k = 0; k < 4; k++) {
    in[k] = cnn_lanes8 (0, N - (i + 8 * k));
    m[k] = _mm256_set1_ps (-INFINITY);
  }
  for (gint c = 0; c < rows; c++) {
    const float *p = d + c * N + i;
    for (gint k = 0; k < 4; k++)
      m[k] = _mm256_max_ps (m[k], _mm256_maskload_ps (p + 8 * k, in[k]));
  }
  for (gint k = 0; k < 2; k++) {
    guint lo = _mm256_movemask_ps (_mm256_and_ps (_mm256_cmp_ps (m[2 * k], _mm256_set1_ps (thr), _CMP_GE_OQ),
            _mm256_castsi256_ps (in[2 * k])));
    guint hi = _mm256_movemask_ps (_mm256_and_ps (_mm256_cmp_ps (m[2 * k + 1], _mm256_set1_ps (thr), _CMP_GE_OQ),
            _mm256_castsi256_ps (in[2 * k + 1])));
    mask[k] = lo | hi << 8;
  }
}

CNN_AVX2
static gboolean
row_may_pass_avx2 (const float *r, gint C, gfloat obj, gfloat thr)
{
  __m256 m0 = _mm256_set1_ps (-INFINITY), m1 = m0;
  gint c = 0;
  for (; c + 16 <= C; c += 16) {
    m0 = _mm256_max_ps (m0, _mm256_loadu_ps (r + c));
    m1 = _mm256_max_ps (m1, _mm256_loadu_ps (r + c + 8));
  }
  for (; c < C; c += 8) {
    __m256i in = cnn_lanes8 (0, C - c);
    m0 = _mm256_max_ps (m0, _mm256_blendv_ps (m0, _mm256_maskload_ps (r + c, in), _mm256_castsi256_ps (in)));
  }
  __m256 p = _mm256_mul_ps (_mm256_max_ps (m0, m1), _mm256_set1_ps (obj));
  return _mm256_movemask_ps (_mm256_cmp_ps (p, _mm256_set1_ps (thr), _CMP_GE_OQ)) != 0;
}

CNN_AVX2
static guint
values_reaching_avx2 (const float *s, gint64 n, gint64 j, gfloat thr, guint skip)
{
  guint m = 0;
  for (gint k = 0; k < 2; k++) {
    __m256i in = cnn_lanes8 (0, n - (j + 8 * k));
    __m256 v = _mm256_maskload_ps (s + j + 8 * k, in);
    m |= (guint) _mm256_movemask_ps (_mm256_and_ps (_mm256_cmp_ps (v, _mm256_set1_ps (thr), _CMP_GE_OQ),
            _mm256_castsi256_ps (in))) << (8 * k);
  }
  return m & ~skip;
}

/* Each scan on the widest vectors use_vector() found. */
static void
columns_reaching (const float *d, gint64 N, gint rows, gint64 i, gfloat thr, guint * mask)
{
  if (cnn_sgemm_avx512_available ())
    columns_reaching_avx512 (d, N, rows, i, thr, mask);
  else
    columns_reaching_avx2 (d, N, rows, i, thr, mask);
}

static gboolean
row_may_pass (const float *r, gint C, gfloat obj, gfloat thr)
{
  return cnn_sgemm_avx512_available () ? row_may_pass_avx512 (r, C, obj, thr) : row_may_pass_avx2 (r, C, obj, thr);
}

static guint
values_reaching (const float *s, gint64 n, gint64 j, gfloat thr, guint skip)
{
  return cnn_sgemm_avx512_available () ? values_reaching_avx512 (s, n, j, thr, skip) :
      values_reaching_avx2 (s, n, j, thr, skip);
}
#else
static gboolean
use_vector (void)
{
  return FALSE;
}
#endif

/* YOLOv5 / YOLOX rows [N, 5 + C]; YOLOX raw: grid cells of strides 8, 16,
 * 32 in order. */
static void
decode_rows (const cnn_decoder_options * o, const cnn_tensor * t, gint C, GArray * boxes)
{
  gint64 N = t->dims[t->ndim - 2], k, gw;
  const float *d = t->data;
  gint stride;
  cnn_box b;
  G_GNUC_UNUSED gboolean vec = use_vector ();
  for (gint64 idx = 0; idx < N; idx++) {
    const float *r = d + idx * (5 + C);
#ifdef HAVE_VECTOR_SCANS
    if (vec && !row_may_pass (r + 5, C, r[4], o->threshold))
      continue;
#endif
    if (cnn_det_row_place (o, N, idx, &k, &gw, &stride) && cnn_det_row (o, r, C, k, gw, stride, &b))
      add_box (boxes, &b);
  }
}

/* YOLOv8 column @i of [4 + C, N]. */
static void
decode_column (const cnn_decoder_options * o, const float *d, gint64 N, gint C, gint64 i, GArray * boxes)
{
  cnn_box b;
  if (cnn_det_column (o, d, N, C, i, &b))
    add_box (boxes, &b);
}

/* YOLOv8 columns [4 + C, N]: cx, cy, w, h, class scores. */
static void
decode_columns (const cnn_decoder_options * o, const cnn_tensor * t, gint C, GArray * boxes)
{
  gint64 N = t->dims[t->ndim - 1];
  const float *d = t->data;
#ifdef HAVE_VECTOR_SCANS
  /* most columns have no score at the threshold: 32 at a time, their
   * greatest scores over the classes */
  if (use_vector ()) {
    guint mask[2];
    for (gint64 i = 0; i < N; i += 32) {
      columns_reaching (d + 4 * N, N, C, i, o->threshold, mask);
      for (gint k = 0; k < 2; k++)
        for (guint m = mask[k]; m; m &= m - 1)
          decode_column (o, d, N, C, i + 16 * k + __builtin_ctz (m), boxes);
    }
    return;
  }
#endif
  for (gint64 i = 0; i < N; i++)
    decode_column (o, d, N, C, i, boxes);
}

/* SSD row @i: scores @s [N, C], boxes @b [N, 4]. */
static void
decode_ssd_row (const cnn_decoder_options * o, const float *s, const float *b, gint C, gint64 i, GArray * boxes)
{
  cnn_box box;
  if (cnn_det_ssd_row (o, s, b, C, i, &box))
    add_box (boxes, &box);
}

#ifdef HAVE_VECTOR_SCANS
/* Of 16 scores from one whose class is @phase, the lanes of class @bg (-1:
 * none). */
static guint
background_lanes (gint bg, gint phase, gint C)
{
  guint m = 0;
  for (gint l = bg < 0 ? 16 : (bg - phase + C) % C; l < 16; l += C)
    m |= 1u << l;
  return m;
}
#endif

/* SSD / UltraFace: scores [N, C] and boxes [N, 4], in either order. */
static void
decode_ssd (const cnn_decoder_options * o, const cnn_tensor * const *out, gint C, GArray * boxes)
{
  const cnn_tensor *S = out[0], *B = out[1];
  if (S->dims[S->ndim - 1] == 4 && B->dims[B->ndim - 1] != 4) {
    S = out[1];
    B = out[0];
  }
  gint64 N = S->dims[S->ndim - 2];      /* B's rows too (cnn_decoder_n_classes()) */
  const float *s = S->data, *b = B->data;
  if (o->type == CNN_DECODER_SSD_PRIORS)
    N = MIN (N, cnn_det_n_priors (o));      /* rows past the priors are not boxes */
#ifdef HAVE_VECTOR_SCANS
  /* most rows have no score at the threshold (UltraFace: 4420 rows, a few
   * faces): the scores 16 at a time, the background's lanes left out */
  if (use_vector ()) {
    gint bg = o->background_class >= 0 && o->background_class < C ? o->background_class : -1;
    gint64 n = N * C, next = 0;
    /* the 16 values from j on: their background lanes by j % C (phase),
     * kept for each phase where there are few */
    guint skip[16];
    for (gint phase = 0; phase < MIN (C, 16); phase++)
      skip[phase] = background_lanes (bg, phase, C);
    gint phase = 0, step = 16 % C;
    for (gint64 j = 0; j < n; j += 16, phase = phase + step >= C ? phase + step - C : phase + step) {
      guint m = values_reaching (s, n, j, o->threshold,
          C <= 16 ? skip[phase] : background_lanes (bg, phase, C));
      for (; m; m &= m - 1) {
        gint64 i = (j + __builtin_ctz (m)) / C;
        if (i >= next) {
          decode_ssd_row (o, s, b, C, i, boxes);
          next = i + 1;
        }
      }
    }
    return;
  }
#endif
  for (gint64 i = 0; i < N; i++)
    decode_ssd_row (o, s, b, C, i, boxes);
}

gboolean
cnn_decoder_decode (const cnn_decoder_options * o, const cnn_tensor * const *out, gint n, GArray * boxes,
    GError ** error)
{
  gint C = cnn_decoder_n_classes (o, out, n, error);
  if (C < 0)
    return FALSE;
  switch (o->type) {
    case CNN_DECODER_YOLOV2:
    case CNN_DECODER_YOLOV3:
      for (gint i = 0; i < n; i++)
        decode_grid (o, out[i], i, C, boxes);
      break;
    case CNN_DECODER_YOLOV5:
    case CNN_DECODER_YOLOX:
      decode_rows (o, out[0], C, boxes);
      break;
    case CNN_DECODER_YOLOV8:
      decode_columns (o, out[0], C, boxes);
      break;
    case CNN_DECODER_SSD:
    case CNN_DECODER_SSD_PRIORS:
      decode_ssd (o, out, C, boxes);
      break;
    default:
      break;
  }
  return TRUE;
}

gfloat
cnn_box_iou (const cnn_box * a, const cnn_box * b)
{
  return cnn_det_iou (a, b);
}

static gint
by_confidence (gconstpointer a, gconstpointer b)
{
  const cnn_box *x = a, *y = b;
  return x->confidence < y->confidence ? 1 : x->confidence > y->confidence ? -1 : 0;
}

void
cnn_boxes_nms (GArray * boxes, const cnn_nms_options * nms)
{
  if (nms->keep_class)
    for (guint i = boxes->len; i-- > 0;) {
      gint c = g_array_index (boxes, cnn_box, i).class_id;
      if (c < 0 || c >= nms->n_classes || !nms->keep_class[c])
        g_array_remove_index (boxes, i);
    }
  /* stable: boxes of equal confidence keep their order */
  g_array_sort (boxes, by_confidence);
  guint n = boxes->len, kept = 0;
  gboolean *drop = g_new0 (gboolean, MAX (n, 1));
  cnn_box *b = (cnn_box *) boxes->data;
  for (guint i = 0; i < n; i++) {
    if (drop[i])
      continue;
    if (nms->max_boxes && kept >= nms->max_boxes)
      break;
    b[kept++] = b[i];
    cnn_box *cur = &b[kept - 1];
    for (guint j = i + 1; j < n; j++)
      if (!drop[j] && (nms->agnostic || b[j].class_id == cur->class_id) &&
          cnn_det_iou (cur, &b[j]) > nms->iou_threshold)
        drop[j] = TRUE;
  }
  g_free (drop);
  g_array_set_size (boxes, kept);
}
