#!/bin/sh
# The main job, offline, on the project's own default models (models/fashion/):
#  1. a generated video of Fashion-MNIST items drifting over a background goes
#     through cnndetect (boxes, labels) and cnnsegment (class overlay) into an
#     annotated MP4 and a JSON Lines file, with a progress line;
#  2. the shipped classifier labels the sample images in a batch pipeline.
# Outputs go to $OUT (default: build/demo/).
set -eu
cd "$(dirname "$0")/.."
BUILD=${CNN_BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
export GST_PLUGIN_PATH="$PWD/$BUILD/plugins"
OUT=${OUT:-$BUILD/demo}
mkdir -p "$OUT"
M=models/fashion
# Debian's python, which setup-debian.sh gives numpy: a python3 found first
# on PATH (pyenv's, a virtual environment's) may lack it
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

echo "== 1/2 detection and segmentation of a generated video"
"$PY" models/make_demo_video.py "$OUT/input.rgb" 120 384
gst-launch-1.0 -q filesrc location="$OUT/input.rgb" ! \
  rawvideoparse width=384 height=384 format=rgb framerate=12/1 ! videoconvert ! \
  x264enc speed-preset=veryfast ! mp4mux ! filesink location="$OUT/input.mp4"
rm -f "$OUT/input.rgb"
echo "gst-launch-1.0 filesrc location=$OUT/input.mp4 ! decodebin ! videoconvert ! progressreport ! \\"
echo "  cnndetect model=$M/detector.onnx ! cnnsegment model=$M/segmenter.onnx overlay=true ! cnnoverlay ! \\"
echo "  cnnmetapublish location=$OUT/annotated.jsonl ! videoconvert ! x264enc ! mp4mux ! filesink location=$OUT/annotated.mp4"
gst-launch-1.0 -e filesrc location="$OUT/input.mp4" ! decodebin ! videoconvert ! \
  progressreport update-freq=1 ! \
  cnndetect model=$M/detector.onnx ! cnnsegment model=$M/segmenter.onnx overlay=true alpha=0.45 ! \
  cnnoverlay ! cnnmetapublish location="$OUT/annotated.jsonl" ! videoconvert ! \
  x264enc speed-preset=veryfast ! mp4mux ! filesink location="$OUT/annotated.mp4" |
  grep --line-buffered -E "progressreport|ERROR|Execution ended" || true
"$PY" - "$OUT/annotated.jsonl" <<'PY'
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
labels = collections.Counter(o["label"] for r in rows for o in r.get("objects", []))
n = sum(len(r.get("objects", [])) for r in rows)
print(f"{len(rows)} frames, {n} boxes ({n / max(len(rows), 1):.1f} per frame): "
      + ", ".join(f"{k} {v}" for k, v in labels.most_common()))
PY
[ -s "$OUT/annotated.mp4" ] || { echo "demo: no annotated video was written" >&2; exit 1; }
echo "annotated video: $OUT/annotated.mp4, JSON Lines: $OUT/annotated.jsonl"

echo "== 2/2 batch classification of the sample images"
"$BUILD/cnncore/cnn-inspect" $M/classifier.onnx | head -n 3
MODEL=$M/classifier.onnx TOPK=3 sh pipelines/classify-folder.sh $M/samples "$OUT/classify.jsonl"
# file -> top label, from the JSON lines
"$PY" - "$OUT/classify.jsonl" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
right = 0
for r in rows:
    top = r["classifications"][0]
    name = os.path.basename(r["source"])
    right += name.split("-", 1)[1].rsplit(".", 1)[0].replace("-", " ") in top["label"].lower().replace("/", " ").replace("-", " ")
    print(f"{name:20s} {top['label']:12s} {top['confidence']:.3f}")
print(f"{len(rows)} images, {right} labelled as their file name says; JSON Lines in {sys.argv[1]}")
PY
