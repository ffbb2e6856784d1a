#!/bin/sh
# run-checks.sh - the CUDA backend against the CPU reference, on a machine
# with a GPU:
#   tests/cuda/run-checks.sh BINDIR ONNX_DATA_DIR MODEL...
# BINDIR holds test-ops, test-detect, onnx-suite and test-backends (a
# build's tests/).
# Runs: the random op cases of test-ops (fp32, tf32, fp16), detection
# (test-detect, fp32 and fp16), ONNX's conformance
# suites on the CUDA backend, and whole models at batch 1 and 4 (fp32), and in
# tf32 and fp16.
# Prints one line per check and "cuda-checks: N passed, N failed" last.
# The models' CPU references run on CNN_CHECK_THREADS threads (default: all).
set -u
bin=$1; data=$2; shift 2
threads=${CNN_CHECK_THREADS:-$(nproc)}
pass=0; fail=0
check () {
  name=$1; shift
  if "$@" > "${TMPDIR:-/tmp}/cuda-check.log" 2>&1; then
    pass=$((pass + 1)); echo "ok   $name: $(tail -n 1 "${TMPDIR:-/tmp}/cuda-check.log")"
  else
    fail=$((fail + 1)); echo "FAIL $name:"; grep -E "FAIL|error" "${TMPDIR:-/tmp}/cuda-check.log" | head -n 20
    tail -n 1 "${TMPDIR:-/tmp}/cuda-check.log"
  fi
}
check "ops fp32" "$bin/test-ops" --backend cuda
check "ops tf32" "$bin/test-ops" --backend cuda --precision tf32
check "ops fp16" "$bin/test-ops" --backend cuda --precision fp16
# decoding and NMS on the GPU (cnn_session_detect()) against the host's
check "detect fp32" "$bin/test-detect" --backend cuda
check "detect fp16" "$bin/test-detect" --backend cuda --precision fp16
for suite in node pytorch-converted pytorch-operator simple; do
  [ -d "$data/$suite" ] && check "onnx $suite" "$bin/onnx-suite" --backend cuda "$data/$suite"
done
check "models fp32 batch 1" "$bin/test-backends" --threads "$threads" --backend cuda "$@"
check "models fp32 batch 4" "$bin/test-backends" --threads "$threads" --backend cuda --batch 4 "$@"
# tf32 and fp16 round to 10-bit mantissas: models meet 2e-2 of their range
# on inputs of the scale they were trained for (style_candy wants 0..255
# pixels; on -1..1 its instance norms blow the rounding up to 0.4 of the range)
for prec in tf32 fp16; do
  for m in "$@"; do
    case "$m" in
      *style_candy*) check "$prec $(basename "$m")" "$bin/test-backends" --threads "$threads" --backend cuda --precision $prec \
          --low 0 --high 255 "$m" ;;
      *) check "$prec $(basename "$m")" "$bin/test-backends" --threads "$threads" --backend cuda --precision $prec "$m" ;;
    esac
  done
done
echo "cuda-checks: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
