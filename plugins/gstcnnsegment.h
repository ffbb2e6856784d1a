/* gstcnnsegment.h - per-pixel classes as a mask meta, optionally blended. */
#ifndef GST_CNN_SEGMENT_H
#define GST_CNN_SEGMENT_H

#include "gstcnnfilter.h"

G_BEGIN_DECLS
#define GST_TYPE_CNN_SEGMENT (gst_cnn_segment_get_type ())
G_DECLARE_FINAL_TYPE (GstCnnSegment, gst_cnn_segment, GST, CNN_SEGMENT, GstCnnFilter)
GST_ELEMENT_REGISTER_DECLARE (cnnsegment);
G_END_DECLS

#endif
