#!/bin/sh
# Segmentation overlay (U-Net, DeepLab): class colours blended on the video.
#   MODEL=deeplabv3_257.onnx PRE="layout=nhwc mean=127.5 std=127.5" pipelines/segment-overlay.sh
# SRC defaults to the webcam, SINK to a window.
. "$(dirname "$0")/env.sh"
: "${MODEL:?set MODEL to a segmentation .onnx (see models/)}"
SRC=${SRC:-v4l2src}
SINK=${SINK:-autovideosink}
run "$SRC ! videoconvert ! cnnsegment model=$MODEL overlay=true alpha=${ALPHA:-0.5} ${PRE:-} ! \
  cnnmetapublish location=${JSON:-/dev/null} ! videoconvert ! $SINK"
