/* plugin.c - the cnn GStreamer plugin: one line per element. */
#include "gstcnnclassify.h"
#include "gstcnndetect.h"
#include "gstcnnmetapublish.h"
#include "gstcnnoverlay.h"
#include "gstcnnsegment.h"
#include "gstcnnstyle.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER (cnnclassify, plugin);
  ok |= GST_ELEMENT_REGISTER (cnndetect, plugin);
  ok |= GST_ELEMENT_REGISTER (cnnsegment, plugin);
  ok |= GST_ELEMENT_REGISTER (cnnstyle, plugin);
  ok |= GST_ELEMENT_REGISTER (cnnoverlay, plugin);
  ok |= GST_ELEMENT_REGISTER (cnnmetapublish, plugin);
  return ok;
}

#define PACKAGE "cnn"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, cnn,
    "CNN inference on video: classify, detect, segment, style transfer, overlay, JSON Lines",
    plugin_init, "0.1.0", "LGPL", "cnn", "https://example.invalid/cnn")
