#!/bin/sh
# Batch classification of a folder of JPEGs to JSON Lines, one line per image.
#   MODEL=squeezenet.onnx LABELS=labels.txt PRE="color-order=bgr" \
#     pipelines/classify-folder.sh photos/ results.jsonl
# Files may have any name: they are linked as a numbered sequence and the
# JSON lines name the original files.
. "$(dirname "$0")/env.sh"
MODEL=${MODEL:-$top/models/fashion/classifier.onnx}
DIR=${1:?usage: classify-folder.sh FOLDER OUTPUT.jsonl}
OUT=${2:?usage: classify-folder.sh FOLDER OUTPUT.jsonl}
seq=$(mktemp -d)
trap 'rm -rf "$seq"' EXIT
i=0
for f in "$DIR"/*.jpg "$DIR"/*.jpeg "$DIR"/*.JPG; do
  [ -f "$f" ] || continue
  ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$seq/$(printf %06d $i).jpg"
  i=$((i + 1))
done
[ "$i" -gt 0 ] || { echo "no JPEG files in $DIR" >&2; exit 1; }
echo "classifying $i images" >&2
gst-launch-1.0 -q multifilesrc location="$seq/%06d.jpg" caps=image/jpeg,framerate=1/1 ! jpegdec ! \
  videoconvert ! cnnclassify model="$MODEL" ${LABELS:+labels="$LABELS"} top-k=${TOPK:-5} ${PRE:-} ! \
  cnnmetapublish location="$OUT" ! fakesink
