#!/bin/sh
# Video-file annotation: detection boxes and labels burnt into an MP4.
#   MODEL=detector.onnx pipelines/annotate-video.sh input.mp4 annotated.mp4
# The model's description file (MODEL.json) gives labels, pre-processing
# and decoder; DETECT adds element properties ("threshold=0.6 keep-aspect=true").
. "$(dirname "$0")/env.sh"
: "${MODEL:?set MODEL to a detector .onnx (see models/)}"
IN=${1:?usage: annotate-video.sh INPUT OUTPUT.mp4}
OUT=${2:?usage: annotate-video.sh INPUT OUTPUT.mp4}
SRC=${SRC:-filesrc location=$IN ! decodebin}
run "$SRC ! videoconvert ! cnndetect model=$MODEL ${DETECT:-} ! cnnoverlay ! \
  cnnmetapublish location=${OUT%.mp4}.jsonl ! videoconvert ! x264enc speed-preset=veryfast ! \
  mp4mux ! filesink location=$OUT"
