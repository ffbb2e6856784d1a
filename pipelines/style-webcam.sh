#!/bin/sh
# Style transfer on a webcam: the stylized picture in a window.
#   MODEL=candy.onnx PRE="color-order=bgr" pipelines/style-webcam.sh
. "$(dirname "$0")/env.sh"
: "${MODEL:?set MODEL to a style-transfer .onnx (see models/)}"
SRC=${SRC:-v4l2src}
SINK=${SINK:-autovideosink}
run "$SRC ! videoconvert ! cnnstyle model=$MODEL strength=${STRENGTH:-1.0} ${PRE:-} ! videoconvert ! $SINK"
