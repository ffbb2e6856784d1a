/* gstcnndetect.h - object detection: boxes as region-of-interest metas. */
#ifndef GST_CNN_DETECT_H
#define GST_CNN_DETECT_H

#include "gstcnnfilter.h"

G_BEGIN_DECLS
#define GST_TYPE_CNN_DETECT (gst_cnn_detect_get_type ())
G_DECLARE_FINAL_TYPE (GstCnnDetect, gst_cnn_detect, GST, CNN_DETECT, GstCnnFilter)
GST_ELEMENT_REGISTER_DECLARE (cnndetect);
G_END_DECLS

#endif
