#!/bin/sh
# Times single 3x3 stride-1 convolutions with the Winograd path off and on
# (CNN_WINOGRAD=0 / 1), interleaved, best median of ROUNDS: the measurements
# behind cnn_conv2d_winograd_applies()'s thresholds.
#   sh bench/winograd-layers.sh ["C H W M" ...]
set -eu
cd "$(dirname "$0")/.."
BENCH=${CNN_BUILD:-build}/cnncore/cnn-bench
ROUNDS=${ROUNDS:-4}
THREADS=${THREADS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ $# -gt 0 ] || set -- "64 56 56 64" "256 14 14 256" "512 7 7 512" "256 9 9 256" "1024 13 13 1024" \
  "3 416 416 16" "4 128 128 32" "16 208 208 32" "32 256 256 3"
median () {
  CNN_WINOGRAD=$1 "$BENCH" "$2" --threads "$THREADS" --runs 15 --no-peak 2>/dev/null |
    sed -n 's/.*median \([0-9.]*\) ms.*/\1/p'
}
printf '%-20s %10s %10s %8s\n' "C H W M" "im2col ms" "wino ms" speedup
for shape in "$@"; do
  set -- $shape
  m="$TMP/conv.onnx"
  /usr/bin/python3 bench/make_conv.py "$m" "$1" "$2" "$3" "$4" 3 1 1
  a=; b=
  for r in $(seq "$ROUNDS"); do
    x=$(median 0 "$m"); y=$(median 1 "$m")
    a=$(echo "${a:-$x} $x" | awk '{ print ($2 < $1) ? $2 : $1 }')
    b=$(echo "${b:-$y} $y" | awk '{ print ($2 < $1) ? $2 : $1 }')
  done
  printf '%-20s %10s %10s %8s\n' "$shape" "$a" "$b" "$(echo "$a $b" | awk '{ printf "%.2f", $1 / $2 }')"
done
