#!/bin/sh
# Batch classification of a folder of JPEG (or, if it holds none, PNG) images
# to JSON Lines, one line per image.
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
link_all() {  # extension globs...
  i=0
  for f in "$@"; do
    [ -f "$f" ] || continue
    ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$seq/$(printf %06d $i).img"
    i=$((i + 1))
  done
}
link_all "$DIR"/*.jpg "$DIR"/*.jpeg "$DIR"/*.JPG "$DIR"/*.JPEG
caps=image/jpeg
dec=jpegdec
if [ "$i" = 0 ]; then
  link_all "$DIR"/*.png "$DIR"/*.PNG
  caps=image/png
  dec=pngdec
fi
[ "$i" -gt 0 ] || { echo "no JPEG or PNG files in $DIR" >&2; exit 1; }
echo "classifying $i images" >&2
gst-launch-1.0 -q multifilesrc location="$seq/%06d.img" caps=$caps,framerate=1/1 ! $dec ! \
  videoconvert ! cnnclassify model="$MODEL" ${LABELS:+labels="$LABELS"} top-k=${TOPK:-5} ${PRE:-} ! \
  cnnmetapublish location="$OUT" ! fakesink
