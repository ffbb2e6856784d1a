#!/bin/sh
# Webcam classification: top-3 labels drawn on the live picture.
#   pipelines/webcam-classify.sh
#   MODEL=squeezenet.onnx LABELS=labels.txt PRE="color-order=bgr" pipelines/webcam-classify.sh
# SRC and SINK replace the camera and the window (the tests use videotestsrc and fakesink).
. "$(dirname "$0")/env.sh"
MODEL=${MODEL:-$top/models/fashion/classifier.onnx}
LABELS=${LABELS:-}
SRC=${SRC:-v4l2src}
SINK=${SINK:-autovideosink}
run "$SRC ! videoconvert ! cnnclassify model=$MODEL ${LABELS:+labels=$LABELS} top-k=3 ${PRE:-} ! \
  cnnoverlay ! videoconvert ! $SINK"
