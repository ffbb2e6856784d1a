/* gstcnnstyle.h - style transfer: the model's image replaces the frame. */
#ifndef GST_CNN_STYLE_H
#define GST_CNN_STYLE_H

#include "gstcnnfilter.h"

G_BEGIN_DECLS
#define GST_TYPE_CNN_STYLE (gst_cnn_style_get_type ())
G_DECLARE_FINAL_TYPE (GstCnnStyle, gst_cnn_style, GST, CNN_STYLE, GstCnnFilter)
GST_ELEMENT_REGISTER_DECLARE (cnnstyle);
G_END_DECLS

#endif
