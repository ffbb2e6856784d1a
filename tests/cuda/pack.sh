#!/bin/sh
# pack.sh - a build's CUDA checks, packed to run on a GPU machine that has
# the NVIDIA driver, CUDA's runtime libraries and cuDNN / cuBLAS, but not
# this project's dependencies (GLib, protobuf-c, OpenBLAS, GStreamer):
#
#   sh tests/cuda/pack.sh BUILD OUTDIR [MODEL.onnx...]
#
# OUTDIR gets bundle.txz (the test binaries, cnn-bench, the plugin and
# gst-launch-1.0 with the few GStreamer plugins the tests use, every shared
# library they load beyond glibc and the CUDA libraries, ONNX's node suite,
# a photo), the models given, the models the element tests read, and run.sh
# (about 20 MB besides the models given).  There, `sh OUTDIR/run.sh` runs
# run-checks.sh on those models ("cuda-checks: N passed, N failed"), then
# cnnclassify's element tests on the GPU (CNN_TEST_BACKEND=cuda: backend
# choice, session pre-processing, batching, several elements in one batch;
# GstCheck's summary line).  Built on Debian 12; glibc there must be as new.
set -eu
build=$1; out=$2; shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out/models" "$stage/bin" "$stage/lib" "$stage/gst" "$stage/share/mime" "$stage/data" "$stage/onnx"
cp "$build/tests/test-ops" "$build/tests/onnx-suite" "$build/tests/test-backends" "$build/tests/test-detect" \
  "$build/tests/check/check-cnnclassify" "$build/cnncore/cnn-bench" "$src/tests/cuda/run-checks.sh" "$stage/bin/"
cp "$(command -v gst-launch-1.0)" "$stage/bin/"
scanner=$(ls /usr/lib/*/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner | head -n 1)
cp "$scanner" "$stage/bin/"
plugins=$(dirname "$(ls /usr/lib/*/gstreamer-1.0/libgstcoreelements.so | head -n 1)")
cp "$build/plugins/libgstcnn.so" "$stage/gst/"
for p in coreelements app videotestsrc videoconvertscale jpeg imagefreeze typefindfunctions; do
  cp "$plugins/libgst$p.so" "$stage/gst/"
done
# libraries beyond glibc and the CUDA ones (which the GPU machine has)
for f in "$stage"/bin/* "$stage"/gst/*; do
  ldd "$f" 2>/dev/null | awk '/=> \// { print $3 }'
done | sort -u | grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|libcudnn|libcublas' |
  while read -r l; do cp -L "$l" "$stage/lib/"; done
# GdkPixbuf finds a photo's type through the MIME database
cp /usr/share/mime/mime.cache "$stage/share/mime/"
cp /usr/share/darknet/data/eagle.jpg "$stage/data/"
cp -r /usr/share/libonnx-testdata/data/node "$stage/onnx/"
tar cJf "$out/bundle.txz" -C "$stage" bin lib gst share data onnx
for m in "$@"; do
  cp "$m" "$out/models/"
done
# the element tests read SqueezeNet under the shared folder and the
# classifier under the source folder compiled into them: run.sh puts them
# back there
shared=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "shared_dir"][0])')
[ -n "$shared" ] || shared="$src/../shared"
shared=$(cd "$shared" && pwd)
mkdir -p "$out/fixed/shared" "$out/fixed/fashion"
cp "$shared/models/squeezenet1.1_fp16.onnx" "$shared/models/imagenet_labels.txt" "$out/fixed/shared/" 2>/dev/null || true
cp "$src/models/fashion/classifier.onnx" "$src/models/fashion/classifier.json" "$src/models/fashion/labels.txt" \
  "$out/fixed/fashion/"
{
  echo "#!/bin/sh"
  echo "SHARED_MODELS='$shared/models' FASHION='$src/models/fashion'"
} > "$out/run.sh"
cat >> "$out/run.sh" <<'EOF'
# run.sh - see tests/cuda/pack.sh
set -u
D=$(cd "$(dirname "$0")" && pwd)
cd "$D"
tar xJf bundle.txz
# cuDNN and cuBLAS where the machine keeps them (CUDA's folders, Python wheels)
dirs=$(find /usr/local /opt /usr/lib \( -name 'libcudnn.so.9' -o -name 'libcublas.so.*' \) 2>/dev/null |
  xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="$D/lib:$dirs"
ldd bin/test-ops gst/libgstcnn.so | grep "not found" | sort -u
export CNN_CHECK_THREADS=$(nproc)
sh bin/run-checks.sh bin onnx models/*.onnx
# the element tests read their photo and models from fixed places
mkdir -p /usr/share/darknet/data "$SHARED_MODELS" "$FASHION"
cp data/eagle.jpg /usr/share/darknet/data/
cp fixed/shared/* "$SHARED_MODELS/" 2>/dev/null
cp -n fixed/fashion/* "$FASHION/"
export XDG_DATA_DIRS="$D/share" GST_PLUGIN_SYSTEM_PATH_1_0="$D/gst" GST_PLUGIN_PATH_1_0= \
  GST_PLUGIN_SCANNER_1_0="$D/bin/gst-plugin-scanner" GST_REGISTRY_1_0="$D/registry.bin"
CNN_TEST_BACKEND=cuda GST_CHECKS=test_backends,test_preprocess_on_backend,test_batching,test_model_instance_batching \
  timeout 600 bin/check-cnnclassify
EOF
chmod +x "$out/run.sh"
du -sh "$out"
