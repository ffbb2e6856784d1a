/**
 * SECTION:element-cnnoverlay
 * @title: cnnoverlay
 *
 * Draws what the cnn elements attached: boxes of GstVideoRegionOfInterestMeta
 * with their label and confidence (and the classifications of each object),
 * whole-frame classifications in the top-left corner, and segmentation
 * masks (`masks`).  Text is drawn with Pango on a dark plate, readable on
 * any background; each class gets its own colour.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     cnndetect model=detector.onnx ! cnnoverlay ! videoconvert ! autovideosink
 * ]|
 */
#include "gstcnnoverlay.h"
#include "gstcnnmeta.h"
#include "gstcnnutil.h"
#include <cairo.h>
#include <pango/pangocairo.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_overlay_debug);
#define GST_CAT_DEFAULT gst_cnn_overlay_debug

enum { PROP_0, PROP_MASKS, PROP_MASK_ALPHA, PROP_FONT, PROP_LINE_WIDTH };

struct _GstCnnOverlay {
  GstVideoFilter parent;
  gboolean masks;
  gdouble mask_alpha, line_width;
  gchar *font;
};

G_DEFINE_TYPE (GstCnnOverlay, gst_cnn_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cnnoverlay, "cnnoverlay", GST_RANK_NONE, GST_TYPE_CNN_OVERLAY);

/* "label 0.93", and the object's classifications after it. */
static gchar *
roi_text (GstVideoRegionOfInterestMeta * roi, gint * class_id)
{
  GString *s = g_string_new (NULL);
  *class_id = -1;
  for (GList * l = roi->params; l; l = l->next) {
    GstStructure *st = l->data;
    const gchar *label = gst_structure_get_string (st, "label");
    gdouble conf = 0;
    gint id = -1;
    gst_structure_get_double (st, "confidence", &conf);
    gst_structure_get_int (st, "class-id", &id);
    if (!label)
      continue;
    if (*class_id < 0)          /* the first result (the detection) picks the colour */
      *class_id = id;
    g_string_append_printf (s, "%s%s %.2f", s->len ? ", " : "", label, conf);
  }
  if (!s->len)
    g_string_append (s, g_quark_to_string (roi->roi_type));
  return g_string_free (s, FALSE);
}

static void
draw_label (GstCnnOverlay * self, cairo_t * cr, PangoLayout * layout, const gchar * text,
    gdouble x, gdouble y, const guint8 rgb[3], gint fw, gint fh)
{
  pango_layout_set_text (layout, text, -1);
  gint tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  x = CLAMP (x, 0, MAX (fw - tw - 4, 0));
  y = CLAMP (y, 0, MAX (fh - th - 2, 0));
  cairo_set_source_rgba (cr, rgb[0] / 255.0 * 0.35, rgb[1] / 255.0 * 0.35, rgb[2] / 255.0 * 0.35, 0.85);
  cairo_rectangle (cr, x, y, tw + 4, th + 2);
  cairo_fill (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_move_to (cr, x + 2, y + 1);
  pango_cairo_show_layout (cr, layout);
}

static void
draw_mask (GstCnnOverlay * self, GstCnnSegmentationMeta * m, guint32 * argb, gint fw, gint fh)
{
  guint a = (guint) (CLAMP (self->mask_alpha, 0, 1) * 255 + 0.5);
  for (gint y = MAX (m->rect_y, 0); y < MIN (m->rect_y + m->rect_h, fh); y++) {
    gint my = CLAMP ((gint) (((gint64) (y - m->rect_y) * m->height) / MAX (m->rect_h, 1)), 0, (gint) m->height - 1);
    for (gint x = MAX (m->rect_x, 0); x < MIN (m->rect_x + m->rect_w, fw); x++) {
      gint mx = CLAMP ((gint) (((gint64) (x - m->rect_x) * m->width) / MAX (m->rect_w, 1)), 0, (gint) m->width - 1);
      guint8 c = m->mask[(gsize) my * m->width + mx], rgb[3];
      if (c == 0 || c == 255)   /* background, none */
        continue;
      gst_cnn_class_color (c, rgb);
      argb[(gsize) y * fw + x] = (a << 24) | ((rgb[0] * a / 255) << 16) | ((rgb[1] * a / 255) << 8) | (rgb[2] * a / 255);
    }
  }
}

static GstFlowReturn
gst_cnn_overlay_transform_frame_ip (GstVideoFilter * vf, GstVideoFrame * frame)
{
  GstCnnOverlay *self = GST_CNN_OVERLAY (vf);
  gint fw = GST_VIDEO_FRAME_WIDTH (frame), fh = GST_VIDEO_FRAME_HEIGHT (frame);
  GstCnnSegmentationMeta *seg = gst_buffer_get_cnn_segmentation_meta (frame->buffer);
  gboolean have_roi = gst_buffer_get_meta (frame->buffer, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) != NULL;
  if (!have_roi && !(seg && self->masks))
    return GST_FLOW_OK;
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, fw, fh);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy (surface);
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot draw on a %dx%d frame", fw, fh), (NULL));
    return GST_FLOW_ERROR;
  }
  if (seg && self->masks) {
    cairo_surface_flush (surface);
    draw_mask (self, seg, (guint32 *) cairo_image_surface_get_data (surface), fw, fh);
    cairo_surface_mark_dirty (surface);
  }
  cairo_t *cr = cairo_create (surface);
  PangoLayout *layout = pango_cairo_create_layout (cr);
  gchar *font = g_strdup_printf ("%s %d", self->font, MAX (8, fh / 40));
  PangoFontDescription *desc = pango_font_description_from_string (font);
  pango_layout_set_font_description (layout, desc);
  gdouble lw = self->line_width > 0 ? self->line_width : MAX (2.0, fh / 240.0);
  gpointer state = NULL;
  GstMeta *meta;
  gdouble frame_text_y = 2;
  while ((meta = gst_buffer_iterate_meta_filtered (frame->buffer, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    gint class_id;
    gchar *text = roi_text (roi, &class_id);
    guint8 rgb[3];
    gst_cnn_class_color (class_id >= 0 ? (guint) class_id + 1 : 1, rgb);
    if (roi->roi_type == g_quark_from_static_string (GST_CNN_ROI_FRAME)) {
      guint8 white[3] = { 200, 200, 200 };
      draw_label (self, cr, layout, text, 4, frame_text_y, white, fw, fh);
      gint tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      frame_text_y += th + 4;
    } else {
      cairo_set_line_width (cr, lw);
      cairo_set_source_rgb (cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
      cairo_rectangle (cr, roi->x + lw / 2, roi->y + lw / 2, MAX (roi->w - lw, 1), MAX (roi->h - lw, 1));
      cairo_stroke (cr);
      gint tw, th;
      pango_layout_set_text (layout, text, -1);
      pango_layout_get_pixel_size (layout, &tw, &th);
      gdouble ty = roi->y >= (guint) th + 2 ? roi->y - th - 2 : roi->y;
      draw_label (self, cr, layout, text, roi->x, ty, rgb, fw, fh);
    }
    g_free (text);
  }
  pango_font_description_free (desc);
  g_free (font);
  g_object_unref (layout);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  gst_cnn_frame_blend_argb (frame, cairo_image_surface_get_data (surface),
      cairo_image_surface_get_stride (surface), NULL, NULL);
  cairo_surface_destroy (surface);
  return GST_FLOW_OK;
}

static void
gst_cnn_overlay_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnOverlay *self = GST_CNN_OVERLAY (object);
  switch (prop_id) {
    case PROP_MASKS: self->masks = g_value_get_boolean (value); break;
    case PROP_MASK_ALPHA: self->mask_alpha = g_value_get_double (value); break;
    case PROP_FONT: g_free (self->font); self->font = g_value_dup_string (value); break;
    case PROP_LINE_WIDTH: self->line_width = g_value_get_double (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_overlay_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnOverlay *self = GST_CNN_OVERLAY (object);
  switch (prop_id) {
    case PROP_MASKS: g_value_set_boolean (value, self->masks); break;
    case PROP_MASK_ALPHA: g_value_set_double (value, self->mask_alpha); break;
    case PROP_FONT: g_value_set_string (value, self->font); break;
    case PROP_LINE_WIDTH: g_value_set_double (value, self->line_width); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_overlay_finalize (GObject * object)
{
  g_free (GST_CNN_OVERLAY (object)->font);
  G_OBJECT_CLASS (gst_cnn_overlay_parent_class)->finalize (object);
}

static void
gst_cnn_overlay_init (GstCnnOverlay * self)
{
  self->masks = TRUE;
  self->mask_alpha = 0.45;
  self->font = g_strdup ("Sans Bold");
}

static void
gst_cnn_overlay_class_init (GstCnnOverlayClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstVideoFilterClass *vf = GST_VIDEO_FILTER_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;
  oc->set_property = gst_cnn_overlay_set_property;
  oc->get_property = gst_cnn_overlay_get_property;
  oc->finalize = gst_cnn_overlay_finalize;
  g_object_class_install_property (oc, PROP_MASKS, g_param_spec_boolean ("masks", "Masks",
          "Draw segmentation masks", TRUE, rw));
  g_object_class_install_property (oc, PROP_MASK_ALPHA, g_param_spec_double ("mask-alpha",
          "Mask alpha", "Opacity of mask colours", 0, 1, 0.45, rw));
  g_object_class_install_property (oc, PROP_FONT, g_param_spec_string ("font", "Font",
          "Pango font family and style (the size follows the frame height)", "Sans Bold", rw));
  g_object_class_install_property (oc, PROP_LINE_WIDTH, g_param_spec_double ("line-width",
          "Line width", "Box line width in pixels (0: from the frame height)", 0, 100, 0, rw));
  gst_element_class_set_static_metadata (ec, "CNN overlay", "Filter/Editor/Video",
      "Draws boxes, labels, confidences and masks of the cnn elements", "cnn project");
  GstCaps *caps = gst_caps_from_string (GST_VIDEO_CAPS_MAKE (GST_CNN_VIDEO_FORMATS));
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref (caps);
  vf->transform_frame_ip = gst_cnn_overlay_transform_frame_ip;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_overlay_debug, "cnnoverlay", 0, "cnn overlay");
}
