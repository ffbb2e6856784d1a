#!/bin/sh
# fetch.sh - downloads well-known public ONNX models next to their
# description files (models/zoo/NAME.json), so that the elements need no
# pre-processing properties:
#
#   sh models/fetch.sh [DIR]            download every model into DIR (default models/zoo)
#   sh models/fetch.sh --list           what would be fetched, from where
#   sh models/fetch.sh --verify DIR     check the copies already in DIR against the pinned checksums
#
# A pinned SHA-256 is that of the copy the tests run with (../shared/models);
# a download that differs is kept under NAME.onnx.unverified and reported.
# Models without a tested copy have no checksum ("-"): fetched as they are.
# Needs curl or wget (and tar for the archives).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# name | url | sha256 | member of a .tar.gz to extract ("-": the url is the .onnx)
MANIFEST='
squeezenet1.1_fp16|https://github.com/microsoft/Windows-Machine-Learning/raw/master/SharedContent/models/SqueezeNet_fp16.onnx|21f25e3d9254af93e6218a359469fac714a017b3f9035c0f5c4acbf9a3ff7233|-
ultraface-rfb-320|https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/master/models/onnx/version-RFB-320.onnx|34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017|-
style_candy|https://github.com/microsoft/Windows-Machine-Learning/raw/master/Samples/UWP/CandyStyleTransfer/src/Assets/Candy.onnx|4cc994e51bc371584fe38d91ac66015909d8e06eec5b22de9a6b969ad091c2c0|-
resnet18-v2-7|https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/resnet18-v2-7.onnx|-|-
mobilenetv2-12|https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/mobilenetv2-12.tar.gz|-|mobilenetv2-12.onnx
yolox_nano|https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx|-|-
'
# DeepLabv3 (deeplabv3_257.json) has no ONNX download: it is TFHub's
# deeplabv3 MobileNetV2 257 converted with tf2onnx (python -m tf2onnx.convert
# --tflite deeplabv3_257_mv_gpu.tflite --opset 9 --output deeplabv3_257.onnx).

sha () { sha256sum "$1" | cut -d' ' -f1; }

get () {
  if command -v curl >/dev/null; then curl -fsSL -o "$2" "$1"; else wget -q -O "$2" "$1"; fi
}

entries () { echo "$MANIFEST" | grep '|'; }

case "${1:-}" in
  --list)
    entries | while IFS='|' read -r name url sum member; do
      printf '%-20s %s\n  sha256 %s\n' "$name" "$url" "$sum"
    done
    exit 0 ;;
  --verify)
    dir=${2:?usage: fetch.sh --verify DIR}
    bad=0
    for name in $(entries | cut -d'|' -f1); do
      sum=$(entries | grep "^$name|" | cut -d'|' -f3)
      if ! python3 -m json.tool "$here/zoo/$name.json" >/dev/null; then
        echo "no valid description file models/zoo/$name.json"
        bad=1
      fi
      if [ -f "$dir/$name.onnx" ] && [ "$sum" != - ]; then
        if [ "$(sha "$dir/$name.onnx")" = "$sum" ]; then echo "ok   $name"; else echo "DIFF $name"; bad=1; fi
      else
        echo "--   $name (no copy or no checksum)"
      fi
    done
    exit $bad ;;
esac

dir=${1:-$here/zoo}
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/failed"
entries | while IFS='|' read -r name url sum member; do
  out="$dir/$name.onnx"
  if [ -f "$out" ] && { [ "$sum" = - ] || [ "$(sha "$out")" = "$sum" ]; }; then
    echo "have $name"
    continue
  fi
  echo "get  $name <- $url"
  if ! get "$url" "$tmp/download"; then
    echo "     failed" >&2
    echo "$name" >> "$tmp/failed"
    continue
  fi
  if [ "$member" != - ]; then
    tar -xzf "$tmp/download" -C "$tmp" && find "$tmp" -name "$member" -exec mv {} "$tmp/model" \;
  else
    mv "$tmp/download" "$tmp/model"
  fi
  if [ "$sum" != - ] && [ "$(sha "$tmp/model")" != "$sum" ]; then
    mv "$tmp/model" "$out.unverified"
    echo "     differs from the tested copy: kept as $out.unverified" >&2
    echo "$name" >> "$tmp/failed"
  else
    mv "$tmp/model" "$out"
  fi
  [ "$dir" = "$here/zoo" ] || cp "$here/zoo/$name.json" "$dir/"
done
[ "$dir" = "$here/zoo" ] || cp "$here"/zoo/*_labels.txt "$dir/"
if [ -s "$tmp/failed" ]; then
  echo "not fetched: $(tr '\n' ' ' < "$tmp/failed")" >&2
  exit 1
fi
echo "models in $dir; each has its description file (NAME.json)"
