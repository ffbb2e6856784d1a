/**
 * SECTION:element-cnnmetapublish
 * @title: cnnmetapublish
 *
 * Passes video through and writes one JSON object per frame, one per line
 * (JSON Lines), to `location` or to stdout: frame number, timestamp, source
 * file name where known (the `location` of an upstream filesrc, or of a
 * multifilesrc / imagesequencesrc with the frame's index filled in; a
 * symbolic link is followed to the file it names), frame
 * size, detected objects with their boxes and classifications, whole-frame
 * classifications and the pixel count per class of a segmentation (with
 * mask-rle=true its whole class map too, run-length encoded).  Lines
 * are flushed as they are written, so an error or a kill loses nothing
 * already written.  With emit-messages=true each frame's object also goes
 * to the bus as an element message "cnn-results" with field "json".
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 multifilesrc location=photos/%05d.jpg caps=image/jpeg,framerate=1/1 ! \
 *     jpegdec ! videoconvert ! cnnclassify model=squeezenet.onnx ! \
 *     cnnmetapublish location=results.jsonl ! fakesink
 * ]|
 */
#include "gstcnnmetapublish.h"
#include "gstcnnmeta.h"
#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_cnn_meta_publish_debug);
#define GST_CAT_DEFAULT gst_cnn_meta_publish_debug

enum { PROP_0, PROP_LOCATION, PROP_EMIT_MESSAGES, PROP_MASK_RLE };

struct _GstCnnMetaPublish {
  GstBaseTransform parent;
  gchar *location;
  gboolean emit_messages;
  gboolean mask_rle;
  FILE *out;
  guint64 frame;
  GstVideoInfo info;
  gboolean have_info;
  gchar *src_location;          /* upstream source's location (maybe a pattern) */
  gint src_start_index;
};

G_DEFINE_TYPE (GstCnnMetaPublish, gst_cnn_meta_publish, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (cnnmetapublish, "cnnmetapublish", GST_RANK_NONE, GST_TYPE_CNN_META_PUBLISH);

static gboolean
gst_cnn_meta_publish_start (GstBaseTransform * bt)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (bt);
  self->frame = 0;
  if (!self->location || !*self->location || strcmp (self->location, "-") == 0) {
    self->out = stdout;
    return TRUE;
  }
  self->out = fopen (self->location, "w");
  if (!self->out) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("Could not open %s for writing", self->location),
        ("%s", g_strerror (errno)));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_cnn_meta_publish_stop (GstBaseTransform * bt)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (bt);
  if (self->out && self->out != stdout)
    fclose (self->out);
  else if (self->out)
    fflush (self->out);
  self->out = NULL;
  g_clear_pointer (&self->src_location, g_free);
  return TRUE;
}

static gboolean
gst_cnn_meta_publish_set_caps (GstBaseTransform * bt, GstCaps * in, GstCaps * out)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (bt);
  self->have_info = gst_video_info_from_caps (&self->info, in);
  return TRUE;
}

/* The location of the source element upstream, looked up once. */
static void
find_source (GstCnnMetaPublish * self)
{
  GstPad *pad = gst_element_get_static_pad (GST_ELEMENT (self), "sink");
  GstElement *el = NULL;
  for (int depth = 0; pad && depth < 64; depth++) {
    GstPad *peer = gst_pad_get_peer (pad);
    gst_object_unref (pad);
    pad = NULL;
    if (!peer)
      break;
    GstElement *parent = gst_pad_get_parent_element (peer);
    gst_object_unref (peer);
    while (GST_IS_GHOST_PAD (parent)) {
      GstElement *p = gst_pad_get_parent_element (GST_PAD (parent));
      gst_object_unref (parent);
      parent = p;
    }
    if (!parent)
      break;
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (parent), "location") &&
        parent->numsinkpads == 0) {
      el = parent;
      break;
    }
    GList *sinks = parent->sinkpads;
    if (sinks)
      pad = gst_object_ref (sinks->data);
    gst_object_unref (parent);
  }
  if (pad)
    gst_object_unref (pad);
  if (!el)
    return;
  g_object_get (el, "location", &self->src_location, NULL);
  self->src_start_index = 0;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (el), "start-index"))
    g_object_get (el, "start-index", &self->src_start_index, NULL);
  gst_object_unref (el);
}

/* Fills a printf-style "%d" / "%05d" in @pattern with @index, safely. */
static gchar *
format_location (const gchar * pattern, gint64 index)
{
  const gchar *p = strchr (pattern, '%');
  if (!p)
    return g_strdup (pattern);
  const gchar *q = p + 1;
  gboolean zero = *q == '0';
  gint width = 0;
  while (g_ascii_isdigit (*q))
    width = width * 10 + (*q++ - '0');
  if (*q != 'd' && *q != 'u' && *q != 'i')
    return g_strdup (pattern);
  gchar *num = g_strdup_printf (zero ? "%0*" G_GINT64_FORMAT : "%*" G_GINT64_FORMAT, MIN (width, 32), index);
  gchar *out = g_strdup_printf ("%.*s%s%s", (int) (p - pattern), pattern, num, q + 1);
  g_free (num);
  return out;
}

static void
member_int (JsonBuilder * b, const gchar * name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

static void
member_double (JsonBuilder * b, const gchar * name, gdouble v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, v);
}

static void
member_string (JsonBuilder * b, const gchar * name, const gchar * v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, v);
}

static void
add_classifications (JsonBuilder * b, GstVideoRegionOfInterestMeta * roi)
{
  json_builder_begin_array (b);
  for (GList * l = roi->params; l; l = l->next) {
    GstStructure *st = l->data;
    if (!gst_structure_has_name (st, "classification"))
      continue;
    gdouble conf = 0;
    gint id = -1;
    gst_structure_get_double (st, "confidence", &conf);
    gst_structure_get_int (st, "class-id", &id);
    json_builder_begin_object (b);
    member_string (b, "label", gst_structure_get_string (st, "label"));
    member_int (b, "class_id", id);
    member_double (b, "confidence", conf);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
}

static GstFlowReturn
gst_cnn_meta_publish_transform_ip (GstBaseTransform * bt, GstBuffer * buf)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (bt);
  if (self->frame == 0)
    find_source (self);
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  member_int (b, "frame", (gint64) self->frame);
  json_builder_set_member_name (b, "timestamp");
  if (GST_BUFFER_PTS_IS_VALID (buf))
    json_builder_add_int_value (b, (gint64) GST_BUFFER_PTS (buf));
  else
    json_builder_add_null_value (b);
  if (self->src_location) {
    gchar *src = format_location (self->src_location, self->src_start_index + (gint64) self->frame);
    /* a numbered link to a file (pipelines/classify-folder.sh): name the file */
    gchar *target = g_file_test (src, G_FILE_TEST_IS_SYMLINK) ? g_file_read_link (src, NULL) : NULL;
    if (target) {
      g_free (src);
      src = target;
    }
    member_string (b, "source", src);
    g_free (src);
  }
  if (self->have_info) {
    member_int (b, "width", GST_VIDEO_INFO_WIDTH (&self->info));
    member_int (b, "height", GST_VIDEO_INFO_HEIGHT (&self->info));
  }
  json_builder_set_member_name (b, "objects");
  json_builder_begin_array (b);
  gpointer state = NULL;
  GstMeta *meta;
  GstVideoRegionOfInterestMeta *frame_roi = NULL;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    if (roi->roi_type == g_quark_from_static_string (GST_CNN_ROI_FRAME)) {
      frame_roi = roi;
      continue;
    }
    GstStructure *det = gst_video_region_of_interest_meta_get_param (roi, "detection");
    json_builder_begin_object (b);
    member_string (b, "label", det && gst_structure_get_string (det, "label") ?
        gst_structure_get_string (det, "label") : g_quark_to_string (roi->roi_type));
    if (det) {
      gint id = -1;
      gdouble conf = 0;
      gst_structure_get_int (det, "class-id", &id);
      gst_structure_get_double (det, "confidence", &conf);
      member_int (b, "class_id", id);
      member_double (b, "confidence", conf);
    }
    json_builder_set_member_name (b, "box");
    json_builder_begin_object (b);
    member_int (b, "x", roi->x);
    member_int (b, "y", roi->y);
    member_int (b, "w", roi->w);
    member_int (b, "h", roi->h);
    json_builder_end_object (b);
    json_builder_set_member_name (b, "classifications");
    add_classifications (b, roi);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  if (frame_roi) {
    json_builder_set_member_name (b, "classifications");
    add_classifications (b, frame_roi);
  }
  GstCnnSegmentationMeta *seg = gst_buffer_get_cnn_segmentation_meta (buf);
  if (seg) {
    guint64 counts[256] = { 0 };
    for (gsize i = 0; i < (gsize) seg->width * seg->height; i++)
      counts[seg->mask[i]]++;
    json_builder_set_member_name (b, "segmentation");
    json_builder_begin_object (b);
    member_int (b, "width", seg->width);
    member_int (b, "height", seg->height);
    json_builder_set_member_name (b, "pixels");
    json_builder_begin_object (b);
    guint nl = seg->labels ? g_strv_length (seg->labels) : 0;
    for (guint c = 0; c < 255; c++) {
      if (!counts[c])
        continue;
      gchar *name = c < nl ? g_strdup (seg->labels[c]) : g_strdup_printf ("%u", c);
      member_int (b, name, (gint64) counts[c]);
      g_free (name);
    }
    json_builder_end_object (b);
    if (self->mask_rle) {
      gsize n = (gsize) seg->width * seg->height;
      json_builder_set_member_name (b, "rle");
      json_builder_begin_array (b);
      for (gsize i = 0; i < n;) {
        gsize j = i + 1;
        while (j < n && seg->mask[j] == seg->mask[i])
          j++;
        json_builder_add_int_value (b, seg->mask[i]);
        json_builder_add_int_value (b, (gint64) (j - i));
        i = j;
      }
      json_builder_end_array (b);
    }
    json_builder_end_object (b);
  }
  json_builder_end_object (b);
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  gchar *line = json_generator_to_data (gen, NULL);
  GstFlowReturn ret = GST_FLOW_OK;
  if (fprintf (self->out, "%s\n", line) < 0 || fflush (self->out) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not write results"), ("%s", g_strerror (errno)));
    ret = GST_FLOW_ERROR;
  }
  if (self->emit_messages)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
            gst_structure_new ("cnn-results", "frame", G_TYPE_UINT64, self->frame, "json",
                G_TYPE_STRING, line, NULL)));
  g_free (line);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  self->frame++;
  return ret;
}

static void
gst_cnn_meta_publish_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (object);
  switch (prop_id) {
    case PROP_LOCATION: g_free (self->location); self->location = g_value_dup_string (value); break;
    case PROP_EMIT_MESSAGES: self->emit_messages = g_value_get_boolean (value); break;
    case PROP_MASK_RLE: self->mask_rle = g_value_get_boolean (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_meta_publish_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCnnMetaPublish *self = GST_CNN_META_PUBLISH (object);
  switch (prop_id) {
    case PROP_LOCATION: g_value_set_string (value, self->location); break;
    case PROP_EMIT_MESSAGES: g_value_set_boolean (value, self->emit_messages); break;
    case PROP_MASK_RLE: g_value_set_boolean (value, self->mask_rle); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec); break;
  }
}

static void
gst_cnn_meta_publish_finalize (GObject * object)
{
  g_free (GST_CNN_META_PUBLISH (object)->location);
  G_OBJECT_CLASS (gst_cnn_meta_publish_parent_class)->finalize (object);
}

static void
gst_cnn_meta_publish_init (GstCnnMetaPublish * self)
{
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_cnn_meta_publish_class_init (GstCnnMetaPublishClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bt = GST_BASE_TRANSFORM_CLASS (klass);
  oc->set_property = gst_cnn_meta_publish_set_property;
  oc->get_property = gst_cnn_meta_publish_get_property;
  oc->finalize = gst_cnn_meta_publish_finalize;
  g_object_class_install_property (oc, PROP_LOCATION, g_param_spec_string ("location", "Location",
          "JSON Lines file to write (unset or \"-\": stdout)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_EMIT_MESSAGES, g_param_spec_boolean ("emit-messages",
          "Emit messages", "Also post each frame's results on the bus (\"cnn-results\")", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (oc, PROP_MASK_RLE, g_param_spec_boolean ("mask-rle",
          "Mask RLE", "Also write the segmentation's class map, run-length encoded row after row: "
          "\"rle\": [class, count, class, count, ...] (class 255: none)", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  gst_element_class_set_static_metadata (ec, "CNN metadata writer", "Sink/Metadata",
      "Writes detections, classifications and segmentation summaries as JSON Lines", "cnn project");
  GstCaps *caps = gst_caps_new_any ();
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template (ec, gst_pad_template_new ("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref (caps);
  bt->start = gst_cnn_meta_publish_start;
  bt->stop = gst_cnn_meta_publish_stop;
  bt->set_caps = gst_cnn_meta_publish_set_caps;
  bt->transform_ip = gst_cnn_meta_publish_transform_ip;
  bt->transform_ip_on_passthrough = TRUE;
  GST_DEBUG_CATEGORY_INIT (gst_cnn_meta_publish_debug, "cnnmetapublish", 0, "cnn JSON Lines writer");
}
