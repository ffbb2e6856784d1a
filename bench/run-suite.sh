#!/bin/sh
# The benchmark suite of the README's performance section: the architectures
# of shared/tools/export_models.py and the real models of shared/models, 1
# and 2 threads, batch 1 and 4 (two tables), side by side with ONNX Runtime.
#   sh bench/run-suite.sh > perf.md      (needs onnxruntime: /opt/cnn-venv,
#   and Debian's python3-onnx for the batch-4 copies)
set -eu
cd "$(dirname "$0")/.."
SHARED=${CNN_SHARED:-$(cd .. && pwd)/shared}
EXPORTED=${CNN_EXPORTED:-build/exported}
PY=${CNN_VENV:-/opt/cnn-venv}/bin/python
[ -f "$EXPORTED/style256.onnx" ] || /usr/bin/python3 "$SHARED/tools/export_models.py" "$EXPORTED" >/dev/null 2>&1
MODELS="$EXPORTED/resnet50.onnx $EXPORTED/mobilenet_v2.onnx $EXPORTED/squeezenet1_1.onnx
  $EXPORTED/tiny_yolov2.onnx $EXPORTED/unet256.onnx $EXPORTED/style256.onnx
  $SHARED/models/squeezenet1.1_fp16.onnx $SHARED/models/ultraface-rfb-320.onnx
  $SHARED/models/deeplabv3_257.onnx $SHARED/models/style_candy.onnx"
# shellcheck disable=SC2086
"$PY" bench/compare.py --markdown --threads 1 2 --batch 1 --rounds ${ROUNDS:-3} --runs ${RUNS:-20} $MODELS
# batch 4: copies whose batch dimension is symbolic (most of these models
# fix it at 1), fewer runs of four images each
BATCHED="$EXPORTED/batch"
mkdir -p "$BATCHED"
B4=
for m in $MODELS; do
  b="$BATCHED/$(basename "$m")"
  [ -f "$b" ] || /usr/bin/python3 bench/symbolic_batch.py "$m" "$b"
  B4="$B4 $b"
done
echo
# shellcheck disable=SC2086
"$PY" bench/compare.py --markdown --threads 1 2 --batch 4 --rounds ${ROUNDS:-3} --runs ${RUNS4:-5} $B4
