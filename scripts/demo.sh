#!/bin/sh
# The main job until the GStreamer elements land: build, describe the shipped
# default classifier and classify the sample images with it.
set -eu
cd "$(dirname "$0")/.."
BUILD=${CNN_BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
MODEL=models/fashion/classifier.onnx
"$BUILD/cnncore/cnn-inspect" "$MODEL"
for img in models/fashion/samples/*.png; do
  echo "== $img"
  "$BUILD/cnncore/cnn-run" "$MODEL" --input "$img" --scale 0.00392156862745098 \
    --labels models/fashion/labels.txt --top 3 --threads 2 | tail -n 3
done
