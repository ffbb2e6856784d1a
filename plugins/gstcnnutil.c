/* gstcnnutil.c - frame <-> tensor pixel work for the cnn elements. */
#include "gstcnnutil.h"
#include <math.h>
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

/* Source row y (x from x0, n pixels) as RGB bytes. */
static void
read_row_rgb (const GstVideoFrame * f, const yuv_coefs * c, gint y, gint x0, gint n, guint8 * rgb)
{
  if (!is_yuv (f)) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0) +
        y * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0);
    gint ps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
    gint o0 = GST_VIDEO_FRAME_COMP_POFFSET (f, 0), o1 = GST_VIDEO_FRAME_COMP_POFFSET (f, 1),
        o2 = GST_VIDEO_FRAME_COMP_POFFSET (f, 2);
    for (gint i = 0; i < n; i++) {
      const guint8 *p = row + (x0 + i) * ps;
      rgb[3 * i] = p[o0];
      rgb[3 * i + 1] = p[o1];
      rgb[3 * i + 2] = p[o2];
    }
    return;
  }
  const guint8 *Y = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (f, 0) + y * GST_VIDEO_FRAME_COMP_STRIDE (f, 0);
  const guint8 *U = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (f, 1) + (y / 2) * GST_VIDEO_FRAME_COMP_STRIDE (f, 1);
  const guint8 *V = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (f, 2) + (y / 2) * GST_VIDEO_FRAME_COMP_STRIDE (f, 2);
  gint cps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 1);
  /* float math, one chroma pair per two pixels */
  const gfloat yoff = (gfloat) c->yoff, ymul = (gfloat) c->ymul, coff = (gfloat) c->coff,
      cmul = (gfloat) c->cmul, rv = (gfloat) c->rv, gu = (gfloat) c->gu, gv = (gfloat) c->gv,
      bu = (gfloat) c->bu;
  for (gint i = 0; i < n; i++) {
    gint x = x0 + i;
    gfloat yy = (Y[x] - yoff) * ymul;
    gfloat u = (U[(x >> 1) * cps] - coff) * cmul, v = (V[(x >> 1) * cps] - coff) * cmul;
    gfloat r = yy + rv * v, g = yy + gu * u + gv * v, b = yy + bu * u;
    rgb[3 * i] = (guint8) (r <= 0.f ? 0 : r >= 255.f ? 255 : (gint) (r + 0.5f));
    rgb[3 * i + 1] = (guint8) (g <= 0.f ? 0 : g >= 255.f ? 255 : (gint) (g + 0.5f));
    rgb[3 * i + 2] = (guint8) (b <= 0.f ? 0 : b >= 255.f ? 255 : (gint) (b + 0.5f));
  }
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

/* Tensor position i on one axis (letterbox offset off, scale sc, source
 * length len) blends source positions *a and *b by *w, half-pixel centers;
 * TRUE when i falls on the picture rather than on a letterbox bar. */
static gboolean
source_taps (gint i, gdouble off, gdouble sc, gint len, gint * a, gint * b, gfloat * w)
{
  gdouble s = (i + 0.5 - off) / sc - 0.5;
  gboolean inside = i + 0.5 >= off && i + 0.5 <= off + len * sc;
  s = CLAMP (s, 0, len - 1);
  *a = (gint) floor (s);
  *b = MIN (*a + 1, len - 1);
  *w = (gfloat) (s - *a);
  return inside;
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
gst_cnn_preprocess_ref (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb, GstCnnScratch * scratch)
{
  place (frame, rect, p, lb);
  GstCnnRect r = lb->rect;
  gint W = p->width, H = p->height, C = p->channels;
  gdouble sx = lb->scale_x, sy = lb->scale_y, ox = lb->off_x, oy = lb->off_y;

  yuv_coefs c;
  get_coefs (&frame->info, &c);
  /* per output column: source columns and weight (half-pixel centers); two
   * source rows converted to RGB */
  GstCnnScratch local = { NULL, 0 };
  gint *x0 = (gint *) scratch_reserve (scratch ? scratch : &local,
      (gsize) W * (2 * sizeof (gint) + sizeof (gfloat) + sizeof (gboolean)) + 6 * (gsize) r.w), *x1 = x0 + W;
  gfloat *wx = (gfloat *) (x1 + W);
  gboolean *xin = (gboolean *) (wx + W);
  guint8 *row0 = (guint8 *) (xin + W), *row1 = row0 + 3 * r.w;
  for (gint i = 0; i < W; i++)
    xin[i] = source_taps (i, ox, sx, r.w, &x0[i], &x1[i], &wx[i]);
  gint cached0 = -1, cached1 = -1;
  gsize plane = (gsize) W * H;
  gfloat inv[3], pad[3];
  for (gint k = 0; k < 3; k++) {
    inv[k] = 1.f / p->std[k];
    pad[k] = (p->pad_value - p->mean[k]) * inv[k];
  }
  for (gint j = 0; j < H; j++) {
    gint y0, y1;
    gfloat wy;
    gboolean yin = source_taps (j, oy, sy, r.h, &y0, &y1, &wy);
    if (cached0 != y0) {
      if (cached1 == y0) {
        guint8 *t = row0;
        row0 = row1;
        row1 = t;
        cached1 = -1;
      } else {
        read_row_rgb (frame, &c, r.y + y0, r.x, r.w, row0);
      }
      cached0 = y0;
    }
    if (cached1 != y1) {
      read_row_rgb (frame, &c, r.y + y1, r.x, r.w, row1);
      cached1 = y1;
    }
    for (gint i = 0; i < W; i++) {
      gfloat v[3];
      const guint8 *a0 = row0 + 3 * x0[i], *a1 = row0 + 3 * x1[i], *b0 = row1 + 3 * x0[i], *b1 = row1 + 3 * x1[i];
      for (gint k = 0; k < 3; k++) {
        gfloat a = a0[k] + wx[i] * (a1[k] - a0[k]);
        gfloat b = b0[k] + wx[i] * (b1[k] - b0[k]);
        v[k] = a + wy * (b - a);
      }
      gboolean inside = yin && xin[i];
      if (C == 1) {
        gfloat g = (v[0] + v[1] + v[2]) / 3.f;
        out[(gsize) j * W + i] = inside ? (g - p->mean[0]) * inv[0] : pad[0];
        continue;
      }
      for (gint k = 0; k < 3; k++) {
        gint src = p->bgr ? 2 - k : k;
        gfloat val = inside ? (v[src] - p->mean[k]) * inv[k] : pad[k];
        if (p->nhwc)
          out[((gsize) j * W + i) * 3 + k] = val;
        else
          out[k * plane + (gsize) j * W + i] = val;
      }
    }
  }
  gst_cnn_scratch_clear (&local);
}

/* One source row, interpolated horizontally at the tensor's columns: h[3i + k]
 * = channel k (R, G, B) between source columns x0[i] and x1[i].  Packed RGB
 * formats are read in place; YUV rows are converted (all of the region's
 * columns) first. */
static void
hpass (const GstVideoFrame * f, const yuv_coefs * c, gint y, const GstCnnRect * r, const gint * x0,
    const gint * x1, const gfloat * wx, gint W, guint8 * rgb, gfloat * h)
{
  const guint8 *row;
  gint ps, o[3];
  if (is_yuv (f)) {
    read_row_rgb (f, c, y, r->x, r->w, rgb);
    row = rgb;
    ps = 3;
    o[0] = 0;
    o[1] = 1;
    o[2] = 2;
  } else {
    row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0) +
        r->x * GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
    ps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
    for (gint k = 0; k < 3; k++)
      o[k] = GST_VIDEO_FRAME_COMP_POFFSET (f, k);
  }
  for (gint i = 0; i < W; i++) {
    const guint8 *a0 = row + x0[i] * ps, *a1 = row + x1[i] * ps;
    for (gint k = 0; k < 3; k++)
      h[3 * i + k] = a0[o[k]] + wx[i] * (a1[o[k]] - a0[o[k]]);
  }
}

void
gst_cnn_preprocess (const GstVideoFrame * frame, const GstCnnRect * rect,
    const GstCnnPreprocess * p, gfloat * out, GstCnnLetterbox * lb, GstCnnScratch * scratch)
{
  place (frame, rect, p, lb);
  GstCnnRect r = lb->rect;
  gint W = p->width, H = p->height, C = p->channels;
  gdouble sx = lb->scale_x, sy = lb->scale_y, ox = lb->off_x, oy = lb->off_y;
  yuv_coefs c;
  get_coefs (&frame->info, &c);
  /* tables per tensor column and two source rows interpolated horizontally
   * at the tensor's columns: the reference's arithmetic in the same order
   * (bilinear is separable), so the results are equal to the bit, without
   * converting every source pixel and without branching per value */
  GstCnnScratch local = { NULL, 0 };
  gint *x0 = (gint *) scratch_reserve (scratch ? scratch : &local,
      (gsize) W * (2 * sizeof (gint) + sizeof (gfloat) + sizeof (gboolean) + 6 * sizeof (gfloat)) +
      3 * (gsize) r.w), *x1 = x0 + W;
  gfloat *wx = (gfloat *) (x1 + W);
  gboolean *xin = (gboolean *) (wx + W);
  gfloat *h0 = (gfloat *) (xin + W), *h1 = h0 + 3 * W;
  guint8 *rgb = (guint8 *) (h1 + 3 * W);
  for (gint i = 0; i < W; i++)
    xin[i] = source_taps (i, ox, sx, r.w, &x0[i], &x1[i], &wx[i]);
  gint cached0 = -1, cached1 = -1;
  gfloat inv[3], pad[3], mean[3];
  gint src[3];
  for (gint k = 0; k < 3; k++) {
    inv[k] = 1.f / p->std[k];
    pad[k] = (p->pad_value - p->mean[k]) * inv[k];
    mean[k] = p->mean[k];
    src[k] = p->bgr ? 2 - k : k;
  }
  /* a tensor value's place: row j, column i, channel k */
  gsize cs = p->nhwc ? 1 : (gsize) W * H, ps = p->nhwc ? (gsize) C : 1;
  for (gint j = 0; j < H; j++) {
    gint y0, y1;
    gfloat wy;
    gboolean yin = source_taps (j, oy, sy, r.h, &y0, &y1, &wy);
    gfloat *o = out + (gsize) j * W * ps;
    if (!yin) {
      for (gint i = 0; i < W; i++)
        for (gint k = 0; k < C; k++)
          o[i * ps + k * cs] = pad[k];
      continue;
    }
    if (cached0 != y0) {
      if (cached1 == y0) {
        gfloat *t = h0;
        h0 = h1;
        h1 = t;
        cached1 = -1;
      } else {
        hpass (frame, &c, r.y + y0, &r, x0, x1, wx, W, rgb, h0);
      }
      cached0 = y0;
    }
    if (cached1 != y1) {
      hpass (frame, &c, r.y + y1, &r, x0, x1, wx, W, rgb, h1);
      cached1 = y1;
    }
    if (C == 1) {
      for (gint i = 0; i < W; i++) {
        gfloat v[3];
        for (gint k = 0; k < 3; k++)
          v[k] = h0[3 * i + k] + wy * (h1[3 * i + k] - h0[3 * i + k]);
        gfloat g = (v[0] + v[1] + v[2]) / 3.f;
        o[i] = xin[i] ? (g - mean[0]) * inv[0] : pad[0];
      }
      continue;
    }
    for (gint k = 0; k < 3; k++) {
      const gfloat *a = h0 + src[k], *b = h1 + src[k];
      gfloat *d = o + k * cs;
      for (gint i = 0; i < W; i++) {
        gfloat v = a[3 * i] + wy * (b[3 * i] - a[3 * i]);
        d[i * ps] = xin[i] ? (v - mean[k]) * inv[k] : pad[k];
      }
    }
  }
  gst_cnn_scratch_clear (&local);
}

void
gst_cnn_letterbox_to_frame (const GstCnnLetterbox * lb, gdouble tx, gdouble ty, gdouble * fx,
    gdouble * fy)
{
  *fx = lb->rect.x + (tx - lb->off_x) / lb->scale_x;
  *fy = lb->rect.y + (ty - lb->off_y) / lb->scale_y;
}

void
gst_cnn_frame_blend_argb (GstVideoFrame * f, const guint8 * argb, gint stride)
{
  gint W = GST_VIDEO_FRAME_WIDTH (f), H = GST_VIDEO_FRAME_HEIGHT (f);
  if (!is_yuv (f)) {
    guint8 *base = GST_VIDEO_FRAME_PLANE_DATA (f, 0);
    gint fs = GST_VIDEO_FRAME_PLANE_STRIDE (f, 0), ps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
    gint o[3] = { GST_VIDEO_FRAME_COMP_POFFSET (f, 0), GST_VIDEO_FRAME_COMP_POFFSET (f, 1),
      GST_VIDEO_FRAME_COMP_POFFSET (f, 2) };
    for (gint y = 0; y < H; y++) {
      const guint32 *src = (const guint32 *) (argb + (gsize) y * stride);
      guint8 *row = base + (gsize) y * fs;
      for (gint x = 0; x < W; x++) {
        guint32 s = src[x];
        guint a = s >> 24;
        if (!a)
          continue;
        guint8 *px = row + x * ps;
        guint comp[3] = { (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff };
        for (gint k = 0; k < 3; k++)
          px[o[k]] = (guint8) (comp[k] + px[o[k]] * (255 - a) / 255);
      }
    }
    return;
  }
  yuv_coefs c;
  get_coefs (&f->info, &c);
  guint8 *Y = GST_VIDEO_FRAME_COMP_DATA (f, 0), *U = GST_VIDEO_FRAME_COMP_DATA (f, 1),
      *V = GST_VIDEO_FRAME_COMP_DATA (f, 2);
  gint ys = GST_VIDEO_FRAME_COMP_STRIDE (f, 0), cs = GST_VIDEO_FRAME_COMP_STRIDE (f, 1),
      cps = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 1);
  /* work on 2x2 blocks: four lumas, one chroma pair */
  for (gint by = 0; by < H; by += 2)
    for (gint bx = 0; bx < W; bx += 2) {
      gdouble sum_u = 0, sum_v = 0;
      gint n = 0, touched = 0;
      guint8 *up = U + (by / 2) * cs + (bx / 2) * cps, *vp = V + (by / 2) * cs + (bx / 2) * cps;
      gdouble u0 = (*up - c.coff) * c.cmul, v0 = (*vp - c.coff) * c.cmul;
      for (gint dy = 0; dy < 2 && by + dy < H; dy++)
        for (gint dx = 0; dx < 2 && bx + dx < W; dx++) {
          gint x = bx + dx, y = by + dy;
          guint32 s = ((const guint32 *) (argb + (gsize) y * stride))[x];
          guint a = s >> 24;
          guint8 *yp = Y + y * ys + x;
          gdouble yy = (*yp - c.yoff) * c.ymul;
          gdouble rgb[3] = { yy + c.rv * v0, yy + c.gu * u0 + c.gv * v0, yy + c.bu * u0 };
          if (a) {
            touched++;
            gdouble comp[3] = { (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff };
            for (gint k = 0; k < 3; k++)
              rgb[k] = comp[k] + rgb[k] * (255 - a) / 255.0;
            gdouble ny = c.yr * rgb[0] + c.yg * rgb[1] + c.yb * rgb[2];
            *yp = clamp8 (ny / c.ymul + c.yoff);
          }
          sum_u += c.ur * rgb[0] + c.ug * rgb[1] + c.ub * rgb[2];
          sum_v += c.vr * rgb[0] + c.vg * rgb[1] + c.vb * rgb[2];
          n++;
        }
      if (touched) {
        *up = clamp8 (sum_u / n / c.cmul + c.coff);
        *vp = clamp8 (sum_v / n / c.cmul + c.coff);
      }
    }
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
