/* gstcnnmetapublish.h - writes the cnn elements' results as JSON Lines. */
#ifndef GST_CNN_META_PUBLISH_H
#define GST_CNN_META_PUBLISH_H

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS
#define GST_TYPE_CNN_META_PUBLISH (gst_cnn_meta_publish_get_type ())
G_DECLARE_FINAL_TYPE (GstCnnMetaPublish, gst_cnn_meta_publish, GST, CNN_META_PUBLISH, GstBaseTransform)
GST_ELEMENT_REGISTER_DECLARE (cnnmetapublish);
G_END_DECLS

#endif
