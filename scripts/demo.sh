#!/bin/sh
# The main job: build, then run the shipped default classifier
# (models/fashion/, trained on Fashion-MNIST) in a GStreamer batch pipeline
# over the sample images; prints one JSON line per image and a summary.
set -eu
cd "$(dirname "$0")/.."
BUILD=${CNN_BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
export GST_PLUGIN_PATH="$PWD/$BUILD/plugins"
"$BUILD/cnncore/cnn-inspect" models/fashion/classifier.onnx
out=${OUT:-$BUILD/demo.jsonl}
MODEL=models/fashion/classifier.onnx TOPK=3 sh pipelines/classify-folder.sh models/fashion/samples "$out"
# file -> top label, from the JSON lines
python3 - "$out" <<'PY'
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
