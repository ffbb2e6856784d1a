#!/bin/sh
# Builds the fuzzers with clang (libFuzzer + ASan + UBSan) and runs them for a
# bounded time: the ONNX loader (seeds: the project's own models and ONNX's
# conformance models) for SECONDS, and the model description parser through
# the elements (seeds: the shipped description files) for a third of that.
# Usage: run-fuzz.sh BUILD_DIR [SECONDS]
# A crash leaves its input in BUILD_DIR/fuzz/crash-* : add it to
# tests/fuzz/regressions/ (run on every CI) once fixed.
set -eu
cd "$(dirname "$0")/../.."
BUILD=$1
SECS=${2:-60}
OUT="$BUILD/fuzz"
mkdir -p "$OUT/corpus"
PB=$(ls "$BUILD"/cnncore/onnx.pb-c.c)
# CNN_FUZZ_BUILD: without the depthwise and narrow kernels (see cpu/conv2d_depthwise.c)
CFLAGS="-O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DCNN_FUZZ_BUILD -Icnncore \
  -I$(dirname "$PB")"
clang $CFLAGS $(pkg-config --cflags glib-2.0 libprotobuf-c) -o "$OUT/fuzz-model" tests/fuzz/fuzz-model.c \
  cnncore/*.c cnncore/ops/*.c cnncore/cpu/*.c "$PB" \
  $(pkg-config --libs glib-2.0 libprotobuf-c openblas) -lm -lpthread
# seeds: small models of our own and of the conformance suite
cp models/fashion/classifier.onnx "$OUT/corpus/" 2>/dev/null || true
for d in /usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding \
         /usr/share/libonnx-testdata/data/node/test_resize_upsample_scales_linear \
         /usr/share/libonnx-testdata/data/node/test_slice_neg_steps \
         /usr/share/libonnx-testdata/data/node/test_reshape_negative_dim \
         /usr/share/libonnx-testdata/data/node/test_maxpool_2d_ceil \
         /usr/share/libonnx-testdata/data/pytorch-converted/test_ConvTranspose2d \
         /usr/share/libonnx-testdata/data/node/test_gather_negative_indices \
         /usr/share/libonnx-testdata/data/node/test_reflect_pad; do
  [ -f "$d/model.onnx" ] && cp "$d/model.onnx" "$OUT/corpus/$(basename "$d").onnx"
done
# known crashers stay fixed
for f in tests/fuzz/regressions/*; do
  [ -f "$f" ] && "$OUT/fuzz-model" "$f"
done
# a fixed seed keeps CI runs repeatable; FUZZ_SEED=0 picks a random one
ASAN_OPTIONS=detect_leaks=1 "$OUT/fuzz-model" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" -max_len=65536 -timeout=10 \
  -rss_limit_mb=6144 -malloc_limit_mb=4200 -artifact_prefix="$OUT/" -print_final_stats=1 "$OUT/corpus"

# the description files, through the elements
DSECS=$(( (SECS + 2) / 3 ))
mkdir -p "$OUT/desc-corpus"
cp models/fashion/*.json models/zoo/*.json "$OUT/desc-corpus/" 2>/dev/null || true
GSTFLAGS="$(pkg-config --cflags gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 json-glib-1.0 pangocairo)"
GSTLIBS="$(pkg-config --libs gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 json-glib-1.0 pangocairo)"
clang $CFLAGS -DGST_PLUGIN_BUILD_STATIC -DPACKAGE=\"cnn\" -Iplugins -Itests/core $GSTFLAGS \
  $(pkg-config --cflags glib-2.0 libprotobuf-c) -o "$OUT/fuzz-description" tests/fuzz/fuzz-description.c \
  plugins/*.c cnncore/*.c cnncore/ops/*.c cnncore/cpu/*.c "$PB" \
  $GSTLIBS $(pkg-config --libs glib-2.0 libprotobuf-c openblas) -lm -lpthread
# full stacks on malloc, so that GLib's one constructor block can be told apart
GST_REGISTRY="$OUT/desc-registry.bin" GST_PLUGIN_PATH_1_0= ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions=tests/lsan.supp \
  "$OUT/fuzz-description" -seed="${FUZZ_SEED:-1}" -max_total_time="$DSECS" -max_len=4096 -timeout=10 \
  -rss_limit_mb=4096 -artifact_prefix="$OUT/desc-" -print_final_stats=1 "$OUT/desc-corpus"
