/* gstcnnutil.c - frame <-> tensor pixel work for the cnn elements. */
#include "gstcnnutil.h"
#include "gstcnncpu.h"
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

typedef struct {
  gdouble ry, gu, gv, bu, rv;    /* YUV -> RGB */
  gdouble yr, yg, yb, ur, ug, ub, vr, vg, vb;   /* RGB -> YUV */
  gdouble yoff, ymul, coff, cmul;
} yuv_coefs;

static void
get_coefs (const GstVideoInfo * info, yuv_coefs * c)
{
  gdouble Kr = 0.299, Kb = 0.114;
  if (!gst_video_color_matrix_get_Kr_Kb (info->colorimetry.matrix, &Kr, &Kb)) {
    Kr = 0.299;
    Kb = 0.114;
  }
  gdouble Kg = 1.0 - Kr - Kb;
  gboolean full = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  c->yoff = full ? 0 : 16;
  c->ymul = full ? 1.0 : 255.0 / 219.0;
  c->coff = 128;
  c->cmul = full ? 1.0 : 255.0 / 224.0;
  c->rv = 2 * (1 - Kr);
  c->bu = 2 * (1 - Kb);
  c->gu = -2 * (1 - Kb) * Kb / Kg;
  c->gv = -2 * (1 - Kr) * Kr / Kg;
  c->yr = Kr;
  c->yg = Kg;
  c->yb = Kb;
  c->ur = -Kr / (2 * (1 - Kb));
  c->ug = -Kg / (2 * (1 - Kb));
  c->ub = 0.5;
  c->vr = 0.5;
  c->vg = -Kg / (2 * (1 - Kr));
  c->vb = -Kb / (2 * (1 - Kr));
}

static inline guint8
clamp8 (gdouble v)
{
  return v <= 0 ? 0 : v >= 255 ? 255 : (guint8) (v + 0.5);
}

static gboolean
is_yuv (const GstVideoFrame * f)
{
  GstVideoFormat fmt = GST_VIDEO_FRAME_FORMAT (f);
  return fmt == GST_VIDEO_FORMAT_NV12 || fmt == GST_VIDEO_FORMAT_I420;
}

/* One YUV pixel as R, G, B: float math, rounded to bytes (held as floats). */
static inline void
yuv_px (const yuv_coefs * c, guint8 Y, guint8 U, guint8 V, gfloat * rgb)
{
  const gfloat yy = (Y - (gfloat) c->yoff) * (gfloat) c->ymul;
  const gfloat u = (U - (gfloat) c->coff) * (gfloat) c->cmul, v = (V - (gfloat) c->coff) * (gfloat) c->cmul;
  const gfloat r = yy + (gfloat) c->rv * v, g = yy + (gfloat) c->gu * u + (gfloat) c->gv * v,
      b = yy + (gfloat) c->bu * u;
  rgb[0] = r <= 0.f ? 0 : r >= 255.f ? 255 : (gint) (r + 0.5f);
  rgb[1] = g <= 0.f ? 0 : g >= 255.f ? 255 : (gint) (g + 0.5f);
  rgb[2] = b <= 0.f ? 0 : b >= 255.f ? 255 : (gint) (b + 0.5f);
}

void
gst_cnn_scratch_clear (GstCnnScratch * s)
{
  g_clear_pointer (&s->mem, g_free);
  s->size = 0;
}

/* The region, scales and letterbox offsets of a frame in the tensor. */
static void
place (const GstVideoFrame * frame, const GstCnnRect * rect, const GstCnnPreprocess * p, GstCnnLetterbox * lb)
{
  GstCnnRect r = { 0, 0, GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame) };
  if (rect) {
    r.x = CLAMP (rect->x, 0, r.w - 1);
    r.y = CLAMP (rect->y, 0, r.h - 1);
    r.w = CLAMP (rect->w, 1, r.w - r.x);
    r.h = CLAMP (rect->h, 1, r.h - r.y);
  }
  gdouble sx = (gdouble) p->width / r.w, sy = (gdouble) p->height / r.h;
  gdouble ox = 0, oy = 0;
  if (p->keep_aspect) {
    sx = sy = MIN (sx, sy);
    ox = (p->width - r.w * sx) / 2;
    oy = (p->height - r.h * sy) / 2;
  }
  lb->rect = r;
  lb->scale_x = sx;
  lb->scale_y = sy;
  lb->off_x = ox;
  lb->off_y = oy;
}

/* At least @need bytes of @sc, kept for the next frame. */
static guint8 *
scratch_reserve (GstCnnScratch * sc, gsize need)
{
  if (sc->size < need) {
    g_free (sc->mem);
    sc->mem = g_malloc (need);
    sc->size = need;
  }
  return sc->mem;
}

void
gst_cnn_frame_to_image (const GstVideoFrame * frame, const GstCnnRect * rect, const GstCnnPreprocess * p,
    cnn_image * img, cnn_image_map * map, GstCnnLetterbox * lb)
{
  place (frame, rect, p, lb);
  memset (img, 0, sizeof *img);
  img->width = GST_VIDEO_FRAME_WIDTH (frame);
  img->height = GST_VIDEO_FRAME_HEIGHT (frame);
  img->yuv = is_yuv (frame);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES (frame) && i < 3; i++) {
    img->plane[i] = GST_VIDEO_FRAME_PLANE_DATA (frame, i);
    img->stride[i] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, i);
  }
  for (gint k = 0; k < 3; k++) {
    img->comp_plane[k] = GST_VIDEO_FRAME_COMP_PLANE (frame, k);
    img->comp_offset[k] = GST_VIDEO_FRAME_COMP_POFFSET (frame, k);
    img->comp_pstride[k] = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, k);
  }
  if (img->yuv) {
    yuv_coefs c;
    get_coefs (&frame->info, &c);
    img->yoff = (gfloat) c.yoff;
    img->ymul = (gfloat) c.ymul;
    img->coff = (gfloat) c.coff;
    img->cmul = (gfloat) c.cmul;
    img->rv = (gfloat) c.rv;
    img->gu = (gfloat) c.gu;
    img->gv = (gfloat) c.gv;
    img->bu = (gfloat) c.bu;
  }
  memset (map, 0, sizeof *map);
  map->x = lb->rect.x;
  map->y = lb->rect.y;
  map->w = lb->rect.w;
  map->h = lb->rect.h;
  map->scale_x = lb->scale_x;
  map->scale_y = lb->scale_y;
  map->off_x = lb->off_x;
  map->off_y = lb->off_y;
  map->nhwc = p->nhwc;
  map->bgr = p->bgr;
  for (gint k = 0; k < 3; k++) {
    map->mean[k] = p->mean[k];
    map->std[k] = p->std[k];
  }
  map->pad_value = p->pad_value;
}

void
gst_cnn_preprocess_ref (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb)
{
  cnn_image img;
  cnn_image_map map;
  gst_cnn_frame_to_image (frame, rect, p, &img, &map, lb);
  cnn_image_to_tensor (&img, &map, p->channels, p->height, p->width, out);
}

enum { VEC_NONE, VEC_AVX2, VEC_AVX512 };

/* Where each tensor column's two source pixels lie in a source row, as byte
 * offsets from the row's start (packed RGB: the pixel; YUV: the luma byte in
 * lx, the chroma element in cx).  The vector pass works on Wp columns (W
 * rounded up to 16): the padding columns repeat the last one. */
typedef struct {
  gint *lx0, *lx1, *cx0, *cx1;
  gfloat *wx;
  gboolean *xin;
  gint W, Wp;
  gint ps, cps;                  /* pixel stride (packed RGB), chroma element stride (YUV) */
  gboolean yuv;
  gint vec;                      /* the vector passes that run: VEC_AVX512, VEC_AVX2, or VEC_NONE (the plain loops) */
  guint8 *win;                   /* per 16 columns: read through a 128-byte window (VBMI) */
  guint8 *idx;                   /* per 16 columns: the window's byte indices, 128 bytes */
  gint nvec;                     /* leading columns read from the frame's rows in place */
  gint tail_l, tail_c;           /* first luma (packed) and chroma byte the other columns read */
  gint luma_end, chroma_end;     /* bytes readable from a row's (a chroma component's) start */
  gsize tail_bytes;              /* size of tail_row()'s copy */
  gint half;                     /* 4:2:0 halved (halve_row_avx512/avx2): its columns, a multiple of 16; else 0 */
} col_taps;

/* Source row @y's pointers: packed RGB in row[0] with the components at
 * o[0..2]; YUV as Y, U, V in row[0..2]. */
typedef struct {
  const guint8 *row[3];
  gint o[3];
} src_row;

static void
src_row_at (const GstVideoFrame * f, gint y, src_row * s)
{
  if (is_yuv (f)) {
    for (gint k = 0; k < 3; k++) {
      gint cy = k ? y / 2 : y;
      s->row[k] = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (f, k) + cy * GST_VIDEO_FRAME_COMP_STRIDE (f, k);
      s->o[k] = 0;
    }
  } else {
    s->row[0] = s->row[1] = s->row[2] =
        (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0);
    for (gint k = 0; k < 3; k++)
      s->o[k] = GST_VIDEO_FRAME_COMP_POFFSET (f, k);
  }
}

/* One source row interpolated horizontally at tensor columns i0..i1-1:
 * h[k * Wp + i] = channel k (R, G, B) between the column's two source
 * pixels, the reference's arithmetic in the same order. */
static void
hpass (const src_row * s, const yuv_coefs * c, const col_taps * t, gint i0, gint i1, gfloat * h)
{
  for (gint i = i0; i < i1; i++) {
    gfloat a[3], b[3];
    if (t->yuv) {
      yuv_px (c, s->row[0][t->lx0[i]], s->row[1][t->cx0[i]], s->row[2][t->cx0[i]], a);
      yuv_px (c, s->row[0][t->lx1[i]], s->row[1][t->cx1[i]], s->row[2][t->cx1[i]], b);
    } else {
      for (gint k = 0; k < 3; k++) {
        a[k] = s->row[0][t->lx0[i] + s->o[k]];
        b[k] = s->row[0][t->lx1[i] + s->o[k]];
      }
    }
    for (gint k = 0; k < 3; k++)
      h[k * t->Wp + i] = a[k] + t->wx[i] * (b[k] - a[k]);
  }
}

/* What one frame's tensor rows need, shared by the threads. */
typedef struct {
  const GstVideoFrame *frame;
  const GstCnnPreprocess *p;
  const GstCnnLetterbox *lb;
  yuv_coefs c;
  col_taps t;
  gfloat inv[3], pad[3], mean[3];
  gfloat inv4[3];                /* inv / 4, or 0 where that is not exact (halve_row_avx512) */
  gint src[3];
  gsize cs, ps;                  /* a tensor value's place: channel k, column i at k * cs + i * ps */
  gint rows;                     /* tensor rows per work item */
  guint8 *thread_mem;            /* per thread: two interpolated rows, a planar row and a tail_row() copy */
  gsize thread_bytes;
  gfloat *out;
} pre_job;

/* One tensor row from the two interpolated source rows @h0, @h1 (weight @wy)
 * at columns i0..i1-1: blend, normalize, letterbox bars. */
static void
vpass (const pre_job * J, const gfloat * h0, const gfloat * h1, gfloat wy, gint i0, gint i1, gfloat * o)
{
  const col_taps *t = &J->t;
  gint Wp = t->Wp;
  if (J->p->channels == 1) {
    for (gint i = i0; i < i1; i++) {
      gfloat v[3];
      for (gint k = 0; k < 3; k++)
        v[k] = h0[k * Wp + i] + wy * (h1[k * Wp + i] - h0[k * Wp + i]);
      gfloat g = (v[0] + v[1] + v[2]) / 3.f;
      o[i] = t->xin[i] ? (g - J->mean[0]) * J->inv[0] : J->pad[0];
    }
    return;
  }
  for (gint k = 0; k < 3; k++) {
    const gfloat *a = h0 + J->src[k] * Wp, *b = h1 + J->src[k] * Wp;
    gfloat *d = o + k * J->cs;
    for (gint i = i0; i < i1; i++) {
      gfloat v = a[i] + wy * (b[i] - a[i]);
      d[i * J->ps] = t->xin[i] ? (v - J->mean[k]) * J->inv[k] : J->pad[k];
    }
  }
}

#define TAIL_PAD 128

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_VECTOR_PASSES 1

/* Byte and word packs, shuffles and multiply-adds on 512 bits. */
static gboolean
use_avx512bw (void)
{
  static gint ok = -1;
  if (ok < 0)
    ok = gst_cnn_cpu_avx512 () && __builtin_cpu_supports ("avx512bw");
  return ok;
}

/* Byte permutes (vpermt2b) in place of gathers, which cost a load per lane. */
static gboolean
use_vbmi (void)
{
  static gint ok = -1;
  if (ok < 0)
    ok = use_avx512bw () && __builtin_cpu_supports ("avx512vbmi") && !g_getenv ("CNN_NO_VBMI");
  return ok;
}

/* Byte @sh / 8 of each lane of @v, as floats. */
__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
byte_at (__m512i v, __m512i sh)
{
  return _mm512_cvtepi32_ps (_mm512_and_si512 (_mm512_srlv_epi32 (v, sh), _mm512_set1_epi32 (0xff)));
}

__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
round_byte (__m512 v)
{
  v = _mm512_min_ps (_mm512_max_ps (v, _mm512_setzero_ps ()), _mm512_set1_ps (255.f));
  return _mm512_roundscale_ps (_mm512_add_ps (v, _mm512_set1_ps (0.5f)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* yuv_px()'s coefficients as float vectors, made once per call of a pass:
 * read from yuv_coefs in the loops, each was a conversion from double and
 * a broadcast per vector of pixels (the stores might alias the struct, so
 * the compiler could not hoist them), 24 of a halving step's 110 uops. */
typedef struct {
  __m512 yoff, ymul, coff, cmul, rv, gu, gv, bu;
} yuv_vec16;

__attribute__ ((target ("avx512f"), always_inline))
static inline yuv_vec16
yuv_vec16_of (const yuv_coefs * c)
{
  yuv_vec16 k = { _mm512_set1_ps ((gfloat) c->yoff), _mm512_set1_ps ((gfloat) c->ymul),
    _mm512_set1_ps ((gfloat) c->coff), _mm512_set1_ps ((gfloat) c->cmul), _mm512_set1_ps ((gfloat) c->rv),
    _mm512_set1_ps ((gfloat) c->gu), _mm512_set1_ps ((gfloat) c->gv), _mm512_set1_ps ((gfloat) c->bu) };
  return k;
}

/* What yuv_px() adds to a pixel's luma term for its chroma (U, V), on 16
 * pixels: red, green's two in order, blue. */
typedef struct {
  __m512 r, gu, gv, b;
} chroma16;

__attribute__ ((target ("avx512f"), always_inline))
static inline chroma16
chroma_terms16 (const yuv_vec16 * c, __m512 U, __m512 V)
{
  __m512 u = _mm512_mul_ps (_mm512_sub_ps (U, c->coff), c->cmul), v = _mm512_mul_ps (_mm512_sub_ps (V, c->coff),
      c->cmul);
  chroma16 t = { _mm512_mul_ps (c->rv, v), _mm512_mul_ps (c->gu, u), _mm512_mul_ps (c->gv, v),
    _mm512_mul_ps (c->bu, u) };
  return t;
}

/* yuv_px() on 16 pixels of luma @Y whose chroma gave @t, before the
 * rounding to bytes. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
yuv_sums16 (const yuv_vec16 * c, __m512 Y, const chroma16 * t, __m512 * rgb)
{
  __m512 yy = _mm512_mul_ps (_mm512_sub_ps (Y, c->yoff), c->ymul);
  rgb[0] = _mm512_add_ps (yy, t->r);
  rgb[1] = _mm512_add_ps (_mm512_add_ps (yy, t->gu), t->gv);
  rgb[2] = _mm512_add_ps (yy, t->b);
}

/* yuv_px() on 16 pixels of luma @Y whose chroma gave @t. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
yuv_luma16 (const yuv_vec16 * c, __m512 Y, const chroma16 * t, __m512 * rgb)
{
  yuv_sums16 (c, Y, t, rgb);
  for (gint k = 0; k < 3; k++)
    rgb[k] = round_byte (rgb[k]);
}

/* yuv_px() on 16 pixels. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
yuv_px16 (const yuv_vec16 * c, __m512 Y, __m512 U, __m512 V, __m512 * rgb)
{
  chroma16 t = chroma_terms16 (c, U, V);
  yuv_luma16 (c, Y, &t, rgb);
}

/* Byte @o of each qword of @lo (columns 0-7) and @hi (8-15), as floats. */
__attribute__ ((target ("avx512f"), always_inline))
static inline __m512
qbyte_at (__m512i lo, __m512i hi, gint o)
{
  __m128i sh = _mm_cvtsi32_si128 (8 * o);
  __m512i m = _mm512_set1_epi64 (0xff);
  __m256i l = _mm512_cvtepi64_epi32 (_mm512_and_si512 (_mm512_srl_epi64 (lo, sh), m));
  __m256i h = _mm512_cvtepi64_epi32 (_mm512_and_si512 (_mm512_srl_epi64 (hi, sh), m));
  return _mm512_cvtepi32_ps (_mm512_inserti64x4 (_mm512_castsi256_si512 (l), h, 1));
}

/* The bytes of the 128 at @p that @idx picks. */
__attribute__ ((target ("avx512f,avx512bw,avx512vbmi")))
static inline __m512i
window (const guint8 * p, const guint8 * idx)
{
  return _mm512_permutex2var_epi8 (_mm512_loadu_si512 (p), _mm512_loadu_si512 (idx), _mm512_loadu_si512 (p + 64));
}

/* hpass() on columns i0..i1-1 (multiples of 16) of a row whose bytes are
 * at offsets less @lbias (luma, packed) and @cbias (chroma).  A column's
 * second source pixel is its first one's right neighbour (or the first
 * itself, with weight 0), so four (YUV) or eight (packed RGB) bytes from
 * the first bring both, chroma pair included: gathered, or with @vbmi
 * picked out of a 128-byte window where the 16 columns' bytes fit in one. */
__attribute__ ((target ("avx512f"), always_inline))
static inline void
hpass_x16 (const src_row * s, const yuv_coefs * c, const col_taps * t, gint i0, gint i1, gint lbias,
    gint cbias, gfloat * h, gboolean vbmi)
{
  const __m512i m8 = _mm512_set1_epi32 (0xff), lb = _mm512_set1_epi32 (lbias), cb = _mm512_set1_epi32 (cbias);
  const gboolean uv = s->row[2] == s->row[1] + 1;       /* NV12: V follows U */
  const yuv_vec16 cv = yuv_vec16_of (c);
  for (gint i = i0; i < i1; i += 16) {
    __m512i lx = _mm512_loadu_si512 (t->lx0 + i);
    const guint8 *idx = t->idx + 8 * i;
    gboolean w = vbmi && t->win[i / 16];
    __m512 a[3], b[3];
    if (t->yuv) {
      gint c0 = t->cx0[i] - cbias;
      __m512i y, u, v;
      if (w) {
        y = window (s->row[0] + t->lx0[i] - lbias, idx);
        u = window (s->row[1] + c0, idx + 64);
        v = uv ? _mm512_srli_epi32 (u, 8) : window (s->row[2] + c0, idx + 64);
      } else {
        __m512i cx = _mm512_sub_epi32 (_mm512_loadu_si512 (t->cx0 + i), cb);
        y = _mm512_i32gather_epi32 (_mm512_sub_epi32 (lx, lb), (const void *) s->row[0], 1);
        u = _mm512_i32gather_epi32 (cx, (const void *) s->row[1], 1);
        v = uv ? _mm512_srli_epi32 (u, 8) : _mm512_i32gather_epi32 (cx, (const void *) s->row[2], 1);
      }
      /* the right neighbour's chroma is the next element on odd columns */
      __m512i csh = _mm512_mullo_epi32 (_mm512_and_si512 (lx, _mm512_set1_epi32 (1)),
          _mm512_set1_epi32 (8 * t->cps));
      yuv_px16 (&cv, _mm512_cvtepi32_ps (_mm512_and_si512 (y, m8)), _mm512_cvtepi32_ps (_mm512_and_si512 (u, m8)),
          _mm512_cvtepi32_ps (_mm512_and_si512 (v, m8)), a);
      yuv_px16 (&cv, byte_at (y, _mm512_set1_epi32 (8)), byte_at (u, csh), byte_at (v, csh), b);
    } else {
      __m512i lo, hi;
      if (w) {
        const guint8 *p = s->row[0] + t->lx0[i] - lbias;
        lo = window (p, idx);
        hi = window (p, idx + 64);
      } else {
        lx = _mm512_sub_epi32 (lx, lb);
        lo = _mm512_i32gather_epi64 (_mm512_castsi512_si256 (lx), (const void *) s->row[0], 1);
        hi = _mm512_i32gather_epi64 (_mm512_extracti64x4_epi64 (lx, 1), (const void *) s->row[0], 1);
      }
      for (gint k = 0; k < 3; k++) {
        a[k] = qbyte_at (lo, hi, s->o[k]);
        b[k] = qbyte_at (lo, hi, t->ps + s->o[k]);
      }
    }
    __m512 wx = _mm512_loadu_ps (t->wx + i);
    for (gint k = 0; k < 3; k++)
      _mm512_storeu_ps (h + k * t->Wp + i, _mm512_add_ps (a[k], _mm512_mul_ps (wx, _mm512_sub_ps (b[k], a[k]))));
  }
}

__attribute__ ((target ("avx512f")))
static void
hpass_avx512 (const src_row * s, const yuv_coefs * c, const col_taps * t, gint i0, gint i1, gint lbias,
    gint cbias, gfloat * h)
{
  hpass_x16 (s, c, t, i0, i1, lbias, cbias, h, FALSE);
}

__attribute__ ((target ("avx512f,avx512bw,avx512vbmi")))
static void
hpass_vbmi (const src_row * s, const yuv_coefs * c, const col_taps * t, gint i0, gint i1, gint lbias,
    gint cbias, gfloat * h)
{
  hpass_x16 (s, c, t, i0, i1, lbias, cbias, h, TRUE);
}

/* vpass() for planar (NCHW) RGB on columns 0..n-1, n a multiple of 16,
 * channel k at o + k * cs. */
__attribute__ ((target ("avx512f")))
static void
vpass_planar_avx512 (const pre_job * J, const gfloat * h0, const gfloat * h1, gfloat wy, gint n, gfloat * o,
    gsize cs)
{
  __m512 vwy = _mm512_set1_ps (wy);
  for (gint k = 0; k < 3; k++) {
    const gfloat *a = h0 + J->src[k] * J->t.Wp, *b = h1 + J->src[k] * J->t.Wp;
    gfloat *d = o + k * cs;
    __m512 m = _mm512_set1_ps (J->mean[k]), s = _mm512_set1_ps (J->inv[k]), pv = _mm512_set1_ps (J->pad[k]);
    for (gint i = 0; i < n; i += 16) {
      __m512 va = _mm512_loadu_ps (a + i);
      __m512 v = _mm512_add_ps (va, _mm512_mul_ps (vwy, _mm512_sub_ps (_mm512_loadu_ps (b + i), va)));
      __m512i in = _mm512_loadu_si512 (J->t.xin + i);
      _mm512_storeu_ps (d + i, _mm512_mask_blend_ps (_mm512_test_epi32_mask (in, in), pv,
              _mm512_mul_ps (_mm512_sub_ps (v, m), s)));
    }
  }
}

/* Tensor row from source rows @y (even) and @y + 1 of a 4:2:0 frame that
 * the tensor halves both ways (640x480 into 320x240), on columns
 * 0..t->half-1: each value averages a 2x2 block of pixels that share one
 * chroma sample, so its chroma terms are worked out once for the four (the
 * general passes convert every pixel on its own), and the two source rows
 * never go through memory.  Pixels as yuv_px16() converts them (its
 * chroma_terms16() once, its yuv_sums16() per pixel); their blend at weights
 * of one half, a + 0.5 (b - a) across and down, is exact on bytes
 * (multiples of 1/4 below 256), so it is their sum over 4: equal to the
 * bit to the general passes and the reference.
 *
 * The rounding to bytes is done on integers: floor (v + 0.5) and a
 * saturating pack to bytes is round_byte() (its clamp first, then
 * truncation, gives the same byte for every v: v + 0.5 is the same sum
 * either way inside 0..255, and outside it both clamp); a byte transpose
 * and two multiply-adds by ones then sum each value's four bytes.
 * (sum - 4 mean) * (inv / 4) is (sum / 4 - mean) * inv to the bit: the
 * factors of 4 are exact (J->inv4 is 0 where inv / 4 would not be). */
__attribute__ ((target ("avx512f,avx512bw")))
static void
halve_row_avx512 (const pre_job * J, gint y, gfloat * o)
{
  const col_taps *t = &J->t;
  const yuv_vec16 cv = yuv_vec16_of (&J->c);
  src_row s[2];
  src_row_at (J->frame, y, &s[0]);
  src_row_at (J->frame, y + 1, &s[1]);
  const gboolean nv12 = s[0].row[2] == s[0].row[1] + 1;
  const __m512i m8 = _mm512_set1_epi32 (0xff), ones8 = _mm512_set1_epi8 (1), ones16 = _mm512_set1_epi16 (1);
  /* per 16 bytes: value i's four bytes from 4 apart to side by side */
  const __m512i tr = _mm512_broadcast_i32x4 (_mm_setr_epi8 (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const __m512 half = _mm512_set1_ps (0.5f);
  /* per source channel (R, G, B) its tensor plane and constants, in
   * locals: px indexed by a value known only at run time, and J's fields
   * read again after every store (which might alias them), had the
   * compiler keep px on the stack and reload the constants each vector */
  gfloat *dst[3];
  __m512 mean4[3], inv4[3];
  for (gint k = 0; k < 3; k++) {
    dst[J->src[k]] = o + k * J->cs;
    mean4[J->src[k]] = _mm512_set1_ps (4 * J->mean[k]);
    inv4[J->src[k]] = _mm512_set1_ps (J->inv4[k]);
  }
  for (gint i = 0; i < t->half; i += 16) {
    const guint8 *cp = s[0].row[1] + t->cx0[i];
    __m512 U, V;
    if (nv12) {
      __m512i uv = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) cp));
      U = _mm512_cvtepi32_ps (_mm512_and_si512 (uv, m8));
      V = _mm512_cvtepi32_ps (_mm512_srli_epi32 (uv, 8));
    } else {
      U = _mm512_cvtepi32_ps (_mm512_cvtepu8_epi32 (_mm_loadu_si128 ((const __m128i *) cp)));
      V = _mm512_cvtepi32_ps (_mm512_cvtepu8_epi32 (_mm_loadu_si128 ((const __m128i *) (s[0].row[2] + t->cx0[i]))));
    }
    chroma16 ct = chroma_terms16 (&cv, U, V);
    __m512i px[3][4];           /* per channel, the four pixels floor (v + 0.5) */
    for (gint r = 0; r < 2; r++) {
      /* a column's two pixels: the low and high byte of a 16-bit lane */
      __m512i yw = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) (s[r].row[0] + t->lx0[i])));
      for (gint e = 0; e < 2; e++) {
        __m512 v[3];
        yuv_sums16 (&cv, _mm512_cvtepi32_ps (e ? _mm512_srli_epi32 (yw, 8) : _mm512_and_si512 (yw, m8)), &ct, v);
        for (gint k = 0; k < 3; k++)
          px[k][2 * r + e] = _mm512_cvt_roundps_epi32 (_mm512_add_ps (v[k], half),
              _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      }
    }
    for (gint k = 0; k < 3; k++) {
      const __m512i *q = px[k];
      __m512i b = _mm512_packus_epi16 (_mm512_packs_epi32 (q[0], q[1]), _mm512_packs_epi32 (q[2], q[3]));
      __m512i sum = _mm512_madd_epi16 (_mm512_maddubs_epi16 (_mm512_shuffle_epi8 (b, tr), ones8), ones16);
      _mm512_storeu_ps (dst[k] + i, _mm512_mul_ps (_mm512_sub_ps (_mm512_cvtepi32_ps (sum), mean4[k]), inv4[k]));
    }
  }
}

/* The AVX2 passes (no AVX-512): the same arithmetic in the same order, 8
 * columns a vector, so equal to the bit to the reference as well.  Bytes
 * come by gathers (no byte permutes); a packed pixel's component by a byte
 * shuffle. */

__attribute__ ((target ("avx2"), always_inline))
static inline __m256
round_byte8 (__m256 v)
{
  v = _mm256_min_ps (_mm256_max_ps (v, _mm256_setzero_ps ()), _mm256_set1_ps (255.f));
  return _mm256_round_ps (_mm256_add_ps (v, _mm256_set1_ps (0.5f)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* yuv_vec16, chroma16, chroma_terms16() and yuv_sums16() on 8 pixels. */
typedef struct {
  __m256 yoff, ymul, coff, cmul, rv, gu, gv, bu;
} yuv_vec8;

__attribute__ ((target ("avx2"), always_inline))
static inline yuv_vec8
yuv_vec8_of (const yuv_coefs * c)
{
  yuv_vec8 k = { _mm256_set1_ps ((gfloat) c->yoff), _mm256_set1_ps ((gfloat) c->ymul),
    _mm256_set1_ps ((gfloat) c->coff), _mm256_set1_ps ((gfloat) c->cmul), _mm256_set1_ps ((gfloat) c->rv),
    _mm256_set1_ps ((gfloat) c->gu), _mm256_set1_ps ((gfloat) c->gv), _mm256_set1_ps ((gfloat) c->bu) };
  return k;
}

typedef struct {
  __m256 r, gu, gv, b;
} chroma8;

__attribute__ ((target ("avx2"), always_inline))
static inline chroma8
chroma_terms8 (const yuv_vec8 * c, __m256 U, __m256 V)
{
  __m256 u = _mm256_mul_ps (_mm256_sub_ps (U, c->coff), c->cmul), v = _mm256_mul_ps (_mm256_sub_ps (V, c->coff),
      c->cmul);
  chroma8 t = { _mm256_mul_ps (c->rv, v), _mm256_mul_ps (c->gu, u), _mm256_mul_ps (c->gv, v),
    _mm256_mul_ps (c->bu, u) };
  return t;
}

__attribute__ ((target ("avx2"), always_inline))
static inline void
yuv_sums8 (const yuv_vec8 * c, __m256 Y, const chroma8 * t, __m256 * rgb)
{
  __m256 yy = _mm256_mul_ps (_mm256_sub_ps (Y, c->yoff), c->ymul);
  rgb[0] = _mm256_add_ps (yy, t->r);
  rgb[1] = _mm256_add_ps (_mm256_add_ps (yy, t->gu), t->gv);
  rgb[2] = _mm256_add_ps (yy, t->b);
}

/* yuv_px() on 8 pixels of bytes (one a lane, in the low byte). */
__attribute__ ((target ("avx2"), always_inline))
static inline void
yuv_px8 (const yuv_vec8 * c, __m256i Y, __m256i U, __m256i V, __m256 * rgb)
{
  chroma8 t = chroma_terms8 (c, _mm256_cvtepi32_ps (U), _mm256_cvtepi32_ps (V));
  yuv_sums8 (c, _mm256_cvtepi32_ps (Y), &t, rgb);
  for (gint k = 0; k < 3; k++)
    rgb[k] = round_byte8 (rgb[k]);
}

/* A pshufb control that moves byte @o of each qword of a 128-bit lane to
 * the low byte of dword @d and @d + 1 (the lane's two qwords), zeroing the
 * rest. */
static __m128i
qbyte_control (gint o, gint d)
{
  gint8 b[16];
  memset (b, -128, sizeof b);
  b[4 * d] = (gint8) o;
  b[4 * d + 4] = (gint8) (8 + o);
  return _mm_loadu_si128 ((const __m128i *) b);
}

/* hpass_x16() on columns i0..i1-1 (multiples of 8) with gathers. */
__attribute__ ((target ("avx2")))
static void
hpass_avx2 (const src_row * s, const yuv_coefs * c, const col_taps * t, gint i0, gint i1, gint lbias,
    gint cbias, gfloat * h)
{
  const __m256i m8 = _mm256_set1_epi32 (0xff), lb = _mm256_set1_epi32 (lbias), cb = _mm256_set1_epi32 (cbias);
  const gboolean uv = s->row[2] == s->row[1] + 1;       /* NV12: V follows U */
  const yuv_vec8 cv = yuv_vec8_of (c);
  /* packed: per component and pixel of the pair, its byte of the column's
   * 8 from the two gathers of 4 columns (dwords 0, 1 and 2, 3 of each
   * lane); then lanes to column order */
  __m256i sel[3][2][2];
  const __m256i order = _mm256_setr_epi32 (0, 1, 4, 5, 2, 3, 6, 7);
  for (gint k = 0; !t->yuv && k < 3; k++)
    for (gint e = 0; e < 2; e++)
      for (gint g = 0; g < 2; g++)
        sel[k][e][g] = _mm256_broadcastsi128_si256 (qbyte_control (s->o[k] + e * t->ps, 2 * g));
  for (gint i = i0; i < i1; i += 8) {
    __m256i lx = _mm256_loadu_si256 ((const __m256i *) (t->lx0 + i));
    __m256 a[3], b[3];
    if (t->yuv) {
      __m256i cx = _mm256_sub_epi32 (_mm256_loadu_si256 ((const __m256i *) (t->cx0 + i)), cb);
      __m256i y = _mm256_i32gather_epi32 ((const gint *) s->row[0], _mm256_sub_epi32 (lx, lb), 1);
      __m256i u = _mm256_i32gather_epi32 ((const gint *) s->row[1], cx, 1);
      __m256i v = uv ? _mm256_srli_epi32 (u, 8) : _mm256_i32gather_epi32 ((const gint *) s->row[2], cx, 1);
      /* the right neighbour's chroma is the next element on odd columns */
      __m256i csh = _mm256_mullo_epi32 (_mm256_and_si256 (lx, _mm256_set1_epi32 (1)),
          _mm256_set1_epi32 (8 * t->cps));
      yuv_px8 (&cv, _mm256_and_si256 (y, m8), _mm256_and_si256 (u, m8), _mm256_and_si256 (v, m8), a);
      yuv_px8 (&cv, _mm256_and_si256 (_mm256_srli_epi32 (y, 8), m8), _mm256_and_si256 (_mm256_srlv_epi32 (u, csh),
              m8), _mm256_and_si256 (_mm256_srlv_epi32 (v, csh), m8), b);
    } else {
      lx = _mm256_sub_epi32 (lx, lb);
      __m256i lo = _mm256_i32gather_epi64 ((const long long *) s->row[0], _mm256_castsi256_si128 (lx), 1);
      __m256i hi = _mm256_i32gather_epi64 ((const long long *) s->row[0], _mm256_extracti128_si256 (lx, 1), 1);
      for (gint k = 0; k < 3; k++) {
        __m256 *d[2] = { &a[k], &b[k] };
        for (gint e = 0; e < 2; e++)
          *d[e] = _mm256_cvtepi32_ps (_mm256_permutevar8x32_epi32 (_mm256_or_si256 (_mm256_shuffle_epi8 (lo,
                          sel[k][e][0]), _mm256_shuffle_epi8 (hi, sel[k][e][1])), order));
      }
    }
    __m256 wx = _mm256_loadu_ps (t->wx + i);
    for (gint k = 0; k < 3; k++)
      _mm256_storeu_ps (h + k * t->Wp + i, _mm256_add_ps (a[k], _mm256_mul_ps (wx, _mm256_sub_ps (b[k], a[k]))));
  }
}

/* vpass_planar_avx512() 8 columns a vector. */
__attribute__ ((target ("avx2")))
static void
vpass_planar_avx2 (const pre_job * J, const gfloat * h0, const gfloat * h1, gfloat wy, gint n, gfloat * o,
    gsize cs)
{
  __m256 vwy = _mm256_set1_ps (wy);
  for (gint k = 0; k < 3; k++) {
    const gfloat *a = h0 + J->src[k] * J->t.Wp, *b = h1 + J->src[k] * J->t.Wp;
    gfloat *d = o + k * cs;
    __m256 m = _mm256_set1_ps (J->mean[k]), s = _mm256_set1_ps (J->inv[k]), pv = _mm256_set1_ps (J->pad[k]);
    for (gint i = 0; i < n; i += 8) {
      __m256 va = _mm256_loadu_ps (a + i);
      __m256 v = _mm256_add_ps (va, _mm256_mul_ps (vwy, _mm256_sub_ps (_mm256_loadu_ps (b + i), va)));
      __m256i out = _mm256_cmpeq_epi32 (_mm256_loadu_si256 ((const __m256i *) (J->t.xin + i)), _mm256_setzero_si256 ());
      _mm256_storeu_ps (d + i, _mm256_blendv_ps (_mm256_mul_ps (_mm256_sub_ps (v, m), s), pv,
              _mm256_castsi256_ps (out)));
    }
  }
}

/* halve_row_avx512() 8 columns a vector: the packs, shuffle and
 * multiply-adds work within 128-bit lanes, so the same steps sum each
 * value's four bytes. */
__attribute__ ((target ("avx2")))
static void
halve_row_avx2 (const pre_job * J, gint y, gfloat * o)
{
  const col_taps *t = &J->t;
  const yuv_vec8 cv = yuv_vec8_of (&J->c);
  src_row s[2];
  src_row_at (J->frame, y, &s[0]);
  src_row_at (J->frame, y + 1, &s[1]);
  const gboolean nv12 = s[0].row[2] == s[0].row[1] + 1;
  const __m256i m8 = _mm256_set1_epi32 (0xff), ones8 = _mm256_set1_epi8 (1), ones16 = _mm256_set1_epi16 (1);
  const __m256i tr = _mm256_broadcastsi128_si256 (_mm_setr_epi8 (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11,
          15));
  const __m256 half = _mm256_set1_ps (0.5f);
  gfloat *dst[3];               /* per source channel, as in halve_row_avx512() */
  __m256 mean4[3], inv4[3];
  for (gint k = 0; k < 3; k++) {
    dst[J->src[k]] = o + k * J->cs;
    mean4[J->src[k]] = _mm256_set1_ps (4 * J->mean[k]);
    inv4[J->src[k]] = _mm256_set1_ps (J->inv4[k]);
  }
  for (gint i = 0; i < t->half; i += 8) {
    const guint8 *cp = s[0].row[1] + t->cx0[i];
    __m256 U, V;
    if (nv12) {
      __m256i uv = _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) cp));
      U = _mm256_cvtepi32_ps (_mm256_and_si256 (uv, m8));
      V = _mm256_cvtepi32_ps (_mm256_srli_epi32 (uv, 8));
    } else {
      U = _mm256_cvtepi32_ps (_mm256_cvtepu8_epi32 (_mm_loadl_epi64 ((const __m128i *) cp)));
      V = _mm256_cvtepi32_ps (_mm256_cvtepu8_epi32 (_mm_loadl_epi64 ((const __m128i *) (s[0].row[2] + t->cx0[i]))));
    }
    chroma8 ct = chroma_terms8 (&cv, U, V);
    __m256i px[3][4];
    for (gint r = 0; r < 2; r++) {
      __m256i yw = _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) (s[r].row[0] + t->lx0[i])));
      for (gint e = 0; e < 2; e++) {
        __m256 v[3];
        yuv_sums8 (&cv, _mm256_cvtepi32_ps (e ? _mm256_srli_epi32 (yw, 8) : _mm256_and_si256 (yw, m8)), &ct, v);
        /* floor (v + 0.5): exact, then converted as it is */
        for (gint k = 0; k < 3; k++)
          px[k][2 * r + e] = _mm256_cvttps_epi32 (_mm256_floor_ps (_mm256_add_ps (v[k], half)));
      }
    }
    for (gint k = 0; k < 3; k++) {
      const __m256i *q = px[k];
      __m256i b = _mm256_packus_epi16 (_mm256_packs_epi32 (q[0], q[1]), _mm256_packs_epi32 (q[2], q[3]));
      __m256i sum = _mm256_madd_epi16 (_mm256_maddubs_epi16 (_mm256_shuffle_epi8 (b, tr), ones8), ones16);
      _mm256_storeu_ps (dst[k] + i, _mm256_mul_ps (_mm256_sub_ps (_mm256_cvtepi32_ps (sum), mean4[k]), inv4[k]));
    }
  }
}

/* The bytes that the columns from t->nvec on read in row @s, copied with
 * zero padding into @buf: a row they may read past its last pixel (a whole
 * window), with their offsets less t->tail_l and t->tail_c. */
static void
tail_row (const col_taps * t, const src_row * s, guint8 * buf, src_row * out)
{
  *out = *s;
  gint nl = t->luma_end - t->tail_l;
  memcpy (buf, s->row[0] + t->tail_l, nl);
  memset (buf + nl, 0, TAIL_PAD);
  out->row[0] = out->row[1] = out->row[2] = buf;
  if (!t->yuv)
    return;
  guint8 *cb = buf + nl + TAIL_PAD;
  gint nc = t->chroma_end - t->tail_c;
  if (s->row[2] == s->row[1] + 1) {
    memcpy (cb, s->row[1] + t->tail_c, nc + 1);
    memset (cb + nc + 1, 0, TAIL_PAD);
    out->row[1] = cb;
    out->row[2] = cb + 1;
    return;
  }
  for (gint k = 1; k < 3; k++) {
    memcpy (cb, s->row[k] + t->tail_c, nc);
    memset (cb + nc, 0, TAIL_PAD);
    out->row[k] = cb;
    cb += nc + TAIL_PAD;
  }
}
#endif

/* The column tables for region @r of @f (scale @sx, letterbox offset @ox). */
static void
prepare_taps (const GstVideoFrame * f, const GstCnnRect * r, gdouble ox, gdouble sx, col_taps * t)
{
  t->yuv = is_yuv (f);
  t->ps = t->yuv ? 1 : GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
  t->cps = t->yuv ? GST_VIDEO_FRAME_COMP_PSTRIDE (f, 1) : 0;
  for (gint i = 0; i < t->Wp; i++) {
    gint a, b;
    if (i < t->W) {
      t->xin[i] = cnn_image_taps (i, ox, sx, r->w, &a, &b, &t->wx[i]);
    } else {
      a = b = r->w - 1;
      t->wx[i] = 0;
      t->xin[i] = FALSE;
    }
    t->lx0[i] = (r->x + a) * t->ps;
    t->lx1[i] = (r->x + b) * t->ps;
    t->cx0[i] = ((r->x + a) >> 1) * t->cps;
    t->cx1[i] = ((r->x + b) >> 1) * t->cps;
  }
  /* hpass_x16() reads 4 (YUV) or 8 (packed) bytes from a column's first
   * luma offset and 4 from its chroma offset, or 128 from a block's first
   * through a window: the blocks whose reads stay inside the rows take them
   * in place, the rest from tail_row()'s copy */
  gint luma_read = t->yuv ? 4 : 8;
  if (t->yuv) {
    t->luma_end = GST_VIDEO_FRAME_COMP_WIDTH (f, 0);
    t->chroma_end = (GST_VIDEO_FRAME_COMP_WIDTH (f, 1) - 1) * t->cps + 1;
  } else {
    t->luma_end = GST_VIDEO_FRAME_WIDTH (f) * t->ps;
    t->chroma_end = 0;
  }
  t->nvec = 0;
  t->vec = VEC_NONE;
#ifdef HAVE_VECTOR_PASSES
  t->vec = gst_cnn_cpu_avx512 () ? VEC_AVX512 : gst_cnn_cpu_avx2 () ? VEC_AVX2 : VEC_NONE;
  gboolean vbmi = t->vec == VEC_AVX512 && use_vbmi (), in_place = TRUE;
  for (gint i = 0; t->vec && i < t->Wp; i += 16) {
    gint l0 = t->lx0[i], c0 = t->cx0[i];
    gboolean w = t->win[i / 16] = vbmi && t->lx0[i + 15] - l0 + luma_read <= 128 &&
        t->cx0[i + 15] - c0 + 4 <= 128;
    guint8 *idx = t->idx + 8 * i;
    for (gint l = 0; w && l < 16; l++)
      for (gint m = 0; m < luma_read; m++) {
        if (t->yuv) {
          idx[4 * l + m] = t->lx0[i + l] - l0 + m;
          idx[64 + 4 * l + m] = t->cx0[i + l] - c0 + m;
        } else {
          idx[8 * l + m] = t->lx0[i + l] - l0 + m;
        }
      }
    in_place = in_place && (w ? l0 + 128 : t->lx0[i + 15] + luma_read) <= t->luma_end &&
        (!t->yuv || (w ? c0 + 128 : t->cx0[i + 15] + 4) <= t->chroma_end);
    if (in_place)
      t->nvec = i + 16;
  }
  /* halving 4:2:0: every column averages an even pixel and the next, which
   * share a chroma sample, and lies inside the region */
  t->half = 0;
  if ((t->vec == VEC_AVX2 || (t->vec == VEC_AVX512 && use_avx512bw ())) && t->yuv && t->W >= 16 &&
      t->lx0[0] % 2 == 0) {
    gint i = 0;
    while (i < t->W && t->lx0[i] == t->lx0[0] + 2 * i && t->lx1[i] == t->lx0[i] + 1 && t->wx[i] == 0.5f &&
        t->xin[i] && t->cx0[i] == t->cx0[0] + i * t->cps)
      i++;
    t->half = i == t->W ? t->W & ~15 : 0;
  }
#endif
  t->tail_l = t->nvec < t->Wp ? t->lx0[t->nvec] : 0;
  t->tail_c = t->nvec < t->Wp ? t->cx0[t->nvec] : 0;
  t->tail_bytes = t->luma_end - t->tail_l + TAIL_PAD + (t->yuv ? 2 * (t->chroma_end - t->tail_c + 1 + TAIL_PAD) : 0);
}

/* Source row @y interpolated at tensor columns @i0 (a multiple of 16) on
 * into @h. */
static void
hpass_row (const pre_job * J, gint y, gint i0, guint8 * tail, gfloat * h)
{
  const col_taps *t = &J->t;
  src_row s;
  src_row_at (J->frame, y, &s);
#ifdef HAVE_VECTOR_PASSES
  if (t->vec) {
    void (*pass) (const src_row *, const yuv_coefs *, const col_taps *, gint, gint, gint, gint, gfloat *) =
        t->vec == VEC_AVX2 ? hpass_avx2 : use_vbmi ()? hpass_vbmi : hpass_avx512;
    if (i0 < t->nvec)
      pass (&s, &J->c, t, i0, t->nvec, 0, 0, h);
    if (t->nvec < t->Wp) {
      src_row st;
      tail_row (t, &s, tail, &st);
      pass (&st, &J->c, t, MAX (i0, t->nvec), t->Wp, t->tail_l, t->tail_c, h);
    }
    return;
  }
#endif
  hpass (&s, &J->c, t, i0, t->W, h);
}

/* Values 0..n-1 of the three rows at @t (@Wp apart) into @o, interleaved:
 * the pixels of an NHWC tensor row. */
GST_CNN_MULTIVERSION static void
interleave3 (const gfloat * t, gint Wp, gint n, gfloat * o)
{
  for (gint i = 0; i < n; i++) {
    o[3 * i] = t[i];
    o[3 * i + 1] = t[Wp + i];
    o[3 * i + 2] = t[2 * Wp + i];
  }
}

/* Work item @item: tensor rows item * rows on, on thread @thread's scratch. */
static void
pre_rows (gint item, gint thread, gpointer data)
{
  const pre_job *J = data;
  const GstCnnPreprocess *p = J->p;
  const GstCnnLetterbox *lb = J->lb;
  gint W = p->width, Wp = J->t.Wp, j1 = MIN (p->height, (item + 1) * J->rows);
  gfloat *h[2];
  h[0] = (gfloat *) (J->thread_mem + thread * J->thread_bytes);
  h[1] = h[0] + 3 * Wp;
  gfloat *planar = h[1] + 3 * Wp;       /* an NHWC row's values, planar first */
  guint8 *tail = (guint8 *) (planar + 3 * Wp);
  gint cached[2] = { -1, -1 };
  for (gint j = item * J->rows; j < j1; j++) {
    gint y[2];
    gfloat wy;
    gboolean yin = cnn_image_taps (j, lb->off_y, lb->scale_y, lb->rect.h, &y[0], &y[1], &wy);
    gfloat *o = J->out + (gsize) j * W * J->ps;
    if (!yin) {
      for (gint i = 0; i < W; i++)
        for (gint k = 0; k < p->channels; k++)
          o[i * J->ps + k * J->cs] = J->pad[k];
      continue;
    }
#ifdef HAVE_VECTOR_PASSES
    gint y0 = lb->rect.y + y[0];
    if (J->t.half && p->channels == 3 && !p->nhwc && y[1] == y[0] + 1 && wy == 0.5f && y0 % 2 == 0) {
      if (J->t.vec == VEC_AVX512)
        halve_row_avx512 (J, y0, o);
      else
        halve_row_avx2 (J, y0, o);
      if (J->t.half < W) {      /* the last columns, the general way */
        hpass_row (J, y0, J->t.half, tail, h[0]);
        hpass_row (J, y0 + 1, J->t.half, tail, h[1]);
        vpass (J, h[0], h[1], wy, J->t.half, W, o);
        cached[0] = cached[1] = -1;     /* rows interpolated at those columns only */
      }
      continue;
    }
#endif
    if (cached[0] != y[0] && cached[1] == y[0]) {
      gfloat *tmp = h[0];
      h[0] = h[1];
      h[1] = tmp;
      cached[0] = y[0];
      cached[1] = -1;
    }
    for (gint e = 0; e < 2; e++)
      if (cached[e] != y[e]) {
        hpass_row (J, lb->rect.y + y[e], 0, tail, h[e]);
        cached[e] = y[e];
      }
    gint done = 0;
#ifdef HAVE_VECTOR_PASSES
    if (J->t.vec && p->channels == 3) {
      /* NHWC: the planar pass, then its rows interleaved (a value's
       * arithmetic done in vectors) */
      done = W & ~15;
      gfloat *d = p->nhwc ? planar : o;
      gsize cs = p->nhwc ? (gsize) Wp : J->cs;
      if (J->t.vec == VEC_AVX512)
        vpass_planar_avx512 (J, h[0], h[1], wy, done, d, cs);
      else
        vpass_planar_avx2 (J, h[0], h[1], wy, done, d, cs);
      if (p->nhwc)
        interleave3 (planar, Wp, done, o);
    }
#endif
    vpass (J, h[0], h[1], wy, done, W, o);
  }
}

void
gst_cnn_preprocess (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb, GstCnnScratch * scratch)
{
  place (frame, rect, p, lb);
  /* column tables, and per thread two source rows interpolated horizontally
   * at the tensor's columns: the reference's arithmetic in the same order
   * (bilinear is separable), so the results are equal to the bit, without
   * converting every source pixel and without branching per value */
  pre_job J = { frame, p, lb };
  get_coefs (&frame->info, &J.c);
  col_taps *t = &J.t;
  t->W = p->width;
  t->Wp = (p->width + 15) & ~15;
  gsize table_bytes = (gsize) t->Wp * (4 * sizeof (gint) + sizeof (gfloat) + sizeof (gboolean) + 8) + t->Wp / 16;
  /* room for the tail copy before the tables say how much it needs: at most
   * one row of each plane */
  gsize tail_max = GST_VIDEO_FRAME_WIDTH (frame) * 4 + TAIL_PAD + 2 * (GST_VIDEO_FRAME_WIDTH (frame) + 1 + TAIL_PAD);
  J.thread_bytes = ((gsize) 9 * t->Wp * sizeof (gfloat) + tail_max + 63) & ~(gsize) 63;
  /* threads for large tensors only: waking one costs tens of microseconds */
  gint threads = scratch && scratch->parallel_for && (gsize) p->width * p->height * p->channels >= 65536 ?
      MAX (scratch->threads, 1) : 1;
  GstCnnScratch local = { NULL, 0 };
  guint8 *mem = scratch_reserve (scratch ? scratch : &local, table_bytes + 64 + threads * J.thread_bytes);
  t->lx0 = (gint *) mem;
  t->lx1 = t->lx0 + t->Wp;
  t->cx0 = t->lx1 + t->Wp;
  t->cx1 = t->cx0 + t->Wp;
  t->wx = (gfloat *) (t->cx1 + t->Wp);
  t->xin = (gboolean *) (t->wx + t->Wp);
  t->idx = (guint8 *) (t->xin + t->Wp);
  t->win = t->idx + 8 * t->Wp;
  J.thread_mem = (guint8 *) (((guintptr) (t->win + t->Wp / 16) + 63) & ~(guintptr) 63);
  prepare_taps (frame, &lb->rect, lb->off_x, lb->scale_x, t);
  g_assert (t->tail_bytes <= tail_max);
  for (gint k = 0; k < 3; k++) {
    J.inv[k] = 1.f / p->std[k];
    J.pad[k] = (p->pad_value - p->mean[k]) * J.inv[k];
    J.mean[k] = p->mean[k];
    J.src[k] = p->bgr ? 2 - k : k;
    /* exact where inv / 4 and 4 mean stay normal (or 0) floats */
    gboolean exact = fabsf (J.inv[k]) >= 4 * FLT_MIN && fabsf (J.inv[k]) <= FLT_MAX &&
        (p->mean[k] == 0 || (fabsf (p->mean[k]) >= FLT_MIN && fabsf (p->mean[k]) <= FLT_MAX / 4));
    J.inv4[k] = exact ? J.inv[k] / 4 : 0;
    if (!exact)
      t->half = 0;
  }
  J.cs = p->nhwc ? 1 : (gsize) p->width * p->height;
  J.ps = p->nhwc ? (gsize) p->channels : 1;
  J.out = out;
  /* a few items per thread, for balance; each starts its row cache anew */
  gint items = threads > 1 ? MIN (p->height, 4 * threads) : 1;
  J.rows = (p->height + items - 1) / items;
  items = (p->height + J.rows - 1) / J.rows;
  if (threads > 1)
    scratch->parallel_for (scratch->pool, items, pre_rows, &J);
  else
    pre_rows (0, 0, &J);
  gst_cnn_scratch_clear (&local);
}

void
gst_cnn_letterbox_to_frame (const GstCnnLetterbox * lb, gdouble tx, gdouble ty, gdouble * fx,
    gdouble * fy)
{
  *fx = lb->rect.x + (tx - lb->off_x) / lb->scale_x;
  *fy = lb->rect.y + (ty - lb->off_y) / lb->scale_y;
}

typedef struct {
  GstVideoFrame *f;
  const guint8 *argb;
  gint stride, band;            /* rows per task (even) */
  yuv_coefs c;
} blend_job;

static void
blend_rows_packed (gint task, gint thread, gpointer data)
{
  const blend_job *j = data;
  GstVideoFrame *f = j->f;
  gint W = GST_VIDEO_FRAME_WIDTH (f), H = GST_VIDEO_FRAME_HEIGHT (f);
  guint8 *base = GST_VIDEO_FRAME_PLANE_DATA (f, 0);
  gint fs = GST_VIDEO_FRAME_PLANE_STRIDE (f, 0), ps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
  gint o[3] = { GST_VIDEO_FRAME_COMP_POFFSET (f, 0), GST_VIDEO_FRAME_COMP_POFFSET (f, 1),
    GST_VIDEO_FRAME_COMP_POFFSET (f, 2) };
  for (gint y = task * j->band; y < MIN ((task + 1) * j->band, H); y++) {
    const guint32 *src = (const guint32 *) (j->argb + (gsize) y * j->stride);
    guint8 *row = base + (gsize) y * fs;
    for (gint x = 0; x < W; x++) {
      guint32 s = src[x];
      guint a = s >> 24;
      if (!a)
        continue;
      guint8 *px = row + x * ps;
      guint comp[3] = { (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff };
      if (a == 255) {           /* what the blend below gives: the colour */
        for (gint k = 0; k < 3; k++)
          px[o[k]] = (guint8) comp[k];
        continue;
      }
      for (gint k = 0; k < 3; k++)
        px[o[k]] = (guint8) (comp[k] + px[o[k]] * (255 - a) / 255);
    }
  }
}

/* 2x2 blocks: four lumas, one chroma pair.  Where all four pixels are
 * opaque the frame's own colours do not count: the same arithmetic without
 * converting them. */
static void
blend_rows_yuv (gint task, gint thread, gpointer data)
{
  const blend_job *j = data;
  GstVideoFrame *f = j->f;
  const yuv_coefs c = j->c;
  gint W = GST_VIDEO_FRAME_WIDTH (f), H = GST_VIDEO_FRAME_HEIGHT (f);
  guint8 *Y = GST_VIDEO_FRAME_COMP_DATA (f, 0), *U = GST_VIDEO_FRAME_COMP_DATA (f, 1),
      *V = GST_VIDEO_FRAME_COMP_DATA (f, 2);
  gint ys = GST_VIDEO_FRAME_COMP_STRIDE (f, 0), cs = GST_VIDEO_FRAME_COMP_STRIDE (f, 1),
      cps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 1);
  for (gint by = task * j->band; by < MIN ((task + 1) * j->band, H); by += 2) {
    const guint32 *src0 = (const guint32 *) (j->argb + (gsize) by * j->stride);
    const guint32 *src1 = by + 1 < H ? (const guint32 *) (j->argb + (gsize) (by + 1) * j->stride) : NULL;
    for (gint bx = 0; bx < W; bx += 2) {
      gboolean full = bx + 1 < W && src1;
      guint32 all = src0[bx], any = src0[bx];
      if (bx + 1 < W) {
        all &= src0[bx + 1];
        any |= src0[bx + 1];
      }
      if (src1) {
        all &= src1[bx];
        any |= src1[bx];
        if (bx + 1 < W) {
          all &= src1[bx + 1];
          any |= src1[bx + 1];
        }
      }
      if ((any >> 24) == 0)
        continue;               /* nothing drawn here */
      gboolean opaque = full && (all >> 24) == 255;
      gdouble sum_u = 0, sum_v = 0;
      gint n = 0;
      guint8 *up = U + (by / 2) * cs + (bx / 2) * cps, *vp = V + (by / 2) * cs + (bx / 2) * cps;
      gdouble u0 = (*up - c.coff) * c.cmul, v0 = (*vp - c.coff) * c.cmul;
      for (gint dy = 0; dy < 2 && by + dy < H; dy++)
        for (gint dx = 0; dx < 2 && bx + dx < W; dx++) {
          gint x = bx + dx, y = by + dy;
          guint32 s = (dy ? src1 : src0)[x];
          guint a = s >> 24;
          guint8 *yp = Y + y * ys + x;
          gdouble rgb[3] = { 0, 0, 0 };
          if (!opaque) {
            gdouble yy = (*yp - c.yoff) * c.ymul;
            rgb[0] = yy + c.rv * v0;
            rgb[1] = yy + c.gu * u0 + c.gv * v0;
            rgb[2] = yy + c.bu * u0;
          }
          if (a) {
            gdouble comp[3] = { (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff };
            for (gint k = 0; k < 3; k++)
              rgb[k] = opaque ? comp[k] : comp[k] + rgb[k] * (255 - a) / 255.0;
            gdouble ny = c.yr * rgb[0] + c.yg * rgb[1] + c.yb * rgb[2];
            *yp = clamp8 (ny / c.ymul + c.yoff);
          }
          sum_u += c.ur * rgb[0] + c.ug * rgb[1] + c.ub * rgb[2];
          sum_v += c.vr * rgb[0] + c.vg * rgb[1] + c.vb * rgb[2];
          n++;
        }
      *up = clamp8 (sum_u / n / c.cmul + c.coff);
      *vp = clamp8 (sum_v / n / c.cmul + c.coff);
    }
  }
}

void
gst_cnn_frame_blend_argb (GstVideoFrame * f, const guint8 * argb, gint stride, GstCnnParallelFor pfor,
    gpointer pool)
{
  gint H = GST_VIDEO_FRAME_HEIGHT (f);
  blend_job j = { f, argb, stride, 16 };
  gboolean yuv = is_yuv (f);
  if (yuv)
    get_coefs (&f->info, &j.c);
  void (*rows) (gint, gint, gpointer) = yuv ? blend_rows_yuv : blend_rows_packed;
  gint tasks = (H + j.band - 1) / j.band;
  if (pfor)
    pfor (pool, tasks, rows, &j);
  else
    for (gint t = 0; t < tasks; t++)
      rows (t, 0, &j);
}

gboolean
gst_cnn_parse_triplet (const gchar * s, gfloat * v)
{
  gchar **parts = g_strsplit (s, ",", 0);
  guint n = g_strv_length (parts);
  gboolean ok = n == 1 || n == 3;
  for (guint i = 0; ok && i < 3; i++) {
    gchar *end;
    v[i] = (gfloat) g_ascii_strtod (g_strstrip (parts[n == 1 ? 0 : i]), &end);
    ok = end != parts[n == 1 ? 0 : i] && *end == '\0';
  }
  g_strfreev (parts);
  return ok;
}

/* Pixels [i0, i1) of @n, the plain way. */
static void
argmax_plain (const gfloat * s, gint classes, gsize n, gsize i0, gsize i1, gboolean nhwc, guint8 * mask)
{
  for (gsize i = i0; i < i1; i++) {
    gint best = 0;
    for (gint c = 1; c < classes; c++)
      if (nhwc ? s[i * classes + c] > s[i * classes + best] : s[c * n + i] > s[best * n + i])
        best = c;
    mask[i] = (guint8) MIN (best, 254);
  }
}

void
gst_cnn_argmax_ref (const gfloat * s, gint classes, gsize n, gboolean nhwc, guint8 * mask)
{
  argmax_plain (s, classes, n, 0, n, nhwc, mask);
}

#define ARGMAX_BLOCK 4096      /* pixels a task: DeepLab's 21 scores each, 344 KB, stay in L2 */

/* Blocks of exponent-bit tests the compiler vectorizes (isfinite with an
 * early exit it does not), then the culprit searched in the block that
 * has one. */
GST_CNN_MULTIVERSION gint64
gst_cnn_first_nonfinite (const gfloat * v, gint64 n)
{
  const guint32 *u = (const guint32 *) v;
  for (gint64 s = 0; s < n; s += 4096) {
    gint64 e = MIN (s + 4096, n);
    guint32 any = 0;
    for (gint64 k = s; k < e; k++)
      any |= (u[k] & 0x7f800000u) == 0x7f800000u;
    for (gint64 k = s; any && k < e; k++)
      if (!isfinite (v[k]))
        return k;
  }
  return -1;
}

/* *first lowered to @k, a place found (-1: none), where *first is none or
 * later: the blocks of a parallel scan, finishing in any order, leave the
 * first place of all. */
static void
lower_first (atomic_llong * first, gint64 k)
{
  long long cur = atomic_load (first);
  /* a failed exchange reloads cur, another block's find */
  while (k >= 0 && (cur < 0 || k < cur) && !atomic_compare_exchange_weak (first, &cur, k))
    continue;
}

#define NONFINITE_BLOCK (1 << 18)       /* floats a task of the check: a megabyte */

typedef struct {
  const gfloat *v;
  gint64 n;
  atomic_llong first;
} nonfinite_job;

static void
nonfinite_block (gint b, gint thread, gpointer data)
{
  nonfinite_job *j = data;
  gint64 s = (gint64) b * NONFINITE_BLOCK;
  gint64 k = gst_cnn_first_nonfinite (j->v + s, MIN (NONFINITE_BLOCK, j->n - s));
  lower_first (&j->first, k < 0 ? -1 : s + k);
}

gint64
gst_cnn_find_nonfinite (const gfloat * v, gint64 n, GstCnnParallelFor pfor, gpointer pool)
{
  gint blocks = (gint) ((n + NONFINITE_BLOCK - 1) / NONFINITE_BLOCK);
  if (!pfor || blocks <= 1)
    return gst_cnn_first_nonfinite (v, n);
  nonfinite_job j = { v, n, -1 };
  pfor (pool, blocks, nonfinite_block, &j);
  return atomic_load (&j.first);
}

#ifdef HAVE_VECTOR_PASSES
/* Class-major: 16 pixels at a time, a running maximum and its class in
 * registers over the planes (a later class only where strictly larger). */
__attribute__ ((target ("avx512f")))
static void
argmax_planes_avx512 (const gfloat * s, gint classes, gsize plane, gsize n, guint8 * mask)
{
  for (gsize i = 0; i < n; i += 16) {
    __mmask16 k = gst_cnn_lanes16 ((gint64) (n - i));
    __m512 best = _mm512_maskz_loadu_ps (k, s + i);
    __m512i idx = _mm512_setzero_si512 ();
    for (gint c = 1; c < classes; c++) {
      __m512 v = _mm512_maskz_loadu_ps (k, s + (gsize) c * plane + i);
      __mmask16 gt = _mm512_cmp_ps_mask (v, best, _CMP_GT_OQ);
      best = _mm512_mask_mov_ps (best, gt, v);
      idx = _mm512_mask_mov_epi32 (idx, gt, _mm512_set1_epi32 (MIN (c, 254)));
    }
    _mm512_mask_cvtepi32_storeu_epi8 (mask + i, k, idx);
  }
}

/* Pixel-major: a pixel's scores in one or two vectors, their maximum,
 * then the first class that holds it. */
__attribute__ ((target ("avx512f")))
static void
argmax_pixels_avx512 (const gfloat * s, gint classes, gsize n, guint8 * mask)
{
  const __m512 ninf = _mm512_set1_ps (-INFINITY);
  for (gsize i = 0; i < n; i++) {
    const gfloat *p = s + i * classes;
    __m512 m = ninf;
    for (gint c0 = 0; c0 < classes; c0 += 16) {
      __mmask16 k = gst_cnn_lanes16 (classes - c0);
      m = _mm512_max_ps (m, _mm512_mask_loadu_ps (ninf, k, p + c0));
    }
    __m512 top = _mm512_set1_ps (_mm512_reduce_max_ps (m));
    gint best = 0;
    for (gint c0 = 0; c0 < classes; c0 += 16) {
      __mmask16 k = gst_cnn_lanes16 (classes - c0);
      __mmask16 eq = _mm512_mask_cmp_ps_mask (k, _mm512_maskz_loadu_ps (k, p + c0), top, _CMP_EQ_OQ);
      if (eq) {
        best = c0 + __builtin_ctz (eq);
        break;
      }
    }
    mask[i] = (guint8) MIN (best, 254);
  }
}

/* argmax_planes_avx512() 8 pixels a vector, on the first n & ~7 pixels
 * (the caller does the rest). */
__attribute__ ((target ("avx2")))
static void
argmax_planes_avx2 (const gfloat * s, gint classes, gsize plane, gsize n, guint8 * mask)
{
  for (gsize i = 0; i + 8 <= n; i += 8) {
    __m256 best = _mm256_loadu_ps (s + i);
    __m256i idx = _mm256_setzero_si256 ();
    for (gint c = 1; c < classes; c++) {
      __m256 v = _mm256_loadu_ps (s + (gsize) c * plane + i);
      __m256 gt = _mm256_cmp_ps (v, best, _CMP_GT_OQ);
      best = _mm256_blendv_ps (best, v, gt);
      idx = _mm256_blendv_epi8 (idx, _mm256_set1_epi32 (MIN (c, 254)), _mm256_castps_si256 (gt));
    }
    __m128i w = _mm_packus_epi32 (_mm256_castsi256_si128 (idx), _mm256_extracti128_si256 (idx, 1));
    _mm_storel_epi64 ((__m128i *) (mask + i), _mm_packus_epi16 (w, w));
  }
}

/* argmax_pixels_avx512() 8 scores a vector. */
__attribute__ ((target ("avx2")))
static void
argmax_pixels_avx2 (const gfloat * s, gint classes, gsize n, guint8 * mask)
{
  const __m256 ninf = _mm256_set1_ps (-INFINITY);
  for (gsize i = 0; i < n; i++) {
    const gfloat *p = s + i * classes;
    __m256 m = ninf;
    for (gint c0 = 0; c0 < classes; c0 += 8) {
      __m256i k = gst_cnn_lanes8 (classes - c0);
      m = _mm256_max_ps (m, _mm256_blendv_ps (ninf, _mm256_maskload_ps (p + c0, k), _mm256_castsi256_ps (k)));
    }
    __m128 h = _mm_max_ps (_mm256_castps256_ps128 (m), _mm256_extractf128_ps (m, 1));
    h = _mm_max_ps (h, _mm_movehl_ps (h, h));
    h = _mm_max_ss (h, _mm_movehdup_ps (h));
    __m256 top = _mm256_broadcastss_ps (h);
    gint best = 0;
    for (gint c0 = 0; c0 < classes; c0 += 8) {
      __m256i k = gst_cnn_lanes8 (classes - c0);
      gint eq = _mm256_movemask_ps (_mm256_and_ps (_mm256_cmp_ps (_mm256_maskload_ps (p + c0, k), top, _CMP_EQ_OQ),
              _mm256_castsi256_ps (k)));
      if (eq) {
        best = c0 + __builtin_ctz (eq);
        break;
      }
    }
    mask[i] = (guint8) MIN (best, 254);
  }
}
#endif

typedef struct {
  const gfloat *s;
  gint classes;
  gsize n;
  gboolean nhwc;
  guint8 *mask;
  atomic_llong bad;              /* the first NaN or Inf found (an index in s), or -1 */
} argmax_job;

static void
argmax_block (gint b, gint thread, gpointer data)
{
  argmax_job *j = data;
  gsize i0 = (gsize) b * ARGMAX_BLOCK, m = MIN (ARGMAX_BLOCK, j->n - i0);
  /* the block's scores checked first, which brings them into cache for
   * the argmax (one pass over DeepLab's 5.6 MB of scores instead of two) */
  gint64 bad = -1;
  if (j->nhwc) {
    gint64 k = gst_cnn_first_nonfinite (j->s + i0 * j->classes, (gint64) (m * j->classes));
    bad = k < 0 ? -1 : (gint64) (i0 * j->classes) + k;
  } else
    for (gint c = 0; c < j->classes && bad < 0; c++) {
      gint64 k = gst_cnn_first_nonfinite (j->s + (gsize) c * j->n + i0, (gint64) m);
      bad = k < 0 ? -1 : (gint64) ((gsize) c * j->n + i0) + k;
    }
  lower_first (&j->bad, bad);
  if (bad >= 0)
    return;
#ifdef HAVE_VECTOR_PASSES
  if (gst_cnn_cpu_avx512 () && j->classes > 1) {
    if (j->nhwc)
      argmax_pixels_avx512 (j->s + i0 * j->classes, j->classes, m, j->mask + i0);
    else
      argmax_planes_avx512 (j->s + i0, j->classes, j->n, m, j->mask + i0);
    return;
  }
  if (gst_cnn_cpu_avx2 () && j->classes > 1) {
    if (j->nhwc) {
      argmax_pixels_avx2 (j->s + i0 * j->classes, j->classes, m, j->mask + i0);
      return;
    }
    argmax_planes_avx2 (j->s + i0, j->classes, j->n, m, j->mask + i0);
    i0 += m & ~(gsize) 7;
    m &= 7;
  }
#endif
  argmax_plain (j->s, j->classes, j->n, i0, i0 + m, j->nhwc, j->mask);
}

gint64
gst_cnn_argmax (const gfloat * s, gint classes, gsize n, gboolean nhwc, guint8 * mask,
    GstCnnParallelFor pfor, gpointer pool)
{
  gint blocks = (gint) ((n + ARGMAX_BLOCK - 1) / ARGMAX_BLOCK);
  argmax_job j = { s, classes, n, nhwc, mask, -1 };
  if (pfor && blocks > 1)
    pfor (pool, blocks, argmax_block, &j);
  else
    for (gint b = 0; b < blocks; b++)
      argmax_block (b, 0, &j);
  return atomic_load (&j.bad);
}
