#!/bin/sh
# The benchmark suite of the README's performance section: the architectures
# of shared/tools/export_models.py and the real models of shared/models, 1
# and 2 threads, batch 1 and 4, side by side with ONNX Runtime.
#   sh bench/run-suite.sh > perf.md      (needs onnxruntime: /opt/cnn-venv)
set -eu
cd "$(dirname "$0")/.."
SHARED=${CNN_SHARED:-$(cd .. && pwd)/shared}
EXPORTED=${CNN_EXPORTED:-build/exported}
PY=${CNN_VENV:-/opt/cnn-venv}/bin/python
[ -f "$EXPORTED/style256.onnx" ] || /usr/bin/python3 "$SHARED/tools/export_models.py" "$EXPORTED" >/dev/null 2>&1
"$PY" bench/compare.py --markdown --threads 1 2 --batch 1 4 --rounds ${ROUNDS:-3} --runs ${RUNS:-20} \
  "$EXPORTED"/resnet50.onnx "$EXPORTED"/mobilenet_v2.onnx "$EXPORTED"/squeezenet1_1.onnx \
  "$EXPORTED"/tiny_yolov2.onnx "$EXPORTED"/unet256.onnx "$EXPORTED"/style256.onnx \
  "$SHARED"/models/squeezenet1.1_fp16.onnx "$SHARED"/models/ultraface-rfb-320.onnx \
  "$SHARED"/models/deeplabv3_257.onnx "$SHARED"/models/style_candy.onnx
