#!/bin/sh
# A/B timing of two builds or two settings of cnn-bench on one model,
# alternating A and B for ROUNDS rounds, each a fresh process; prints each
# side's fastest run over all rounds and every round's, so that a VM whose
# speed moves under it (by half, within minutes, on some) shows through.
#   sh bench/ab.sh MODEL "A" "B" [THREADS]
# A and B are each a command line for cnn-bench up to the model: a binary,
# optionally preceded by VAR=value settings, e.g.
#   sh bench/ab.sh m.onnx "build-old/cnncore/cnn-bench" "build/cnncore/cnn-bench" 2
#   sh bench/ab.sh m.onnx "build/cnncore/cnn-bench" "CNN_NO_AVX512=1 build/cnncore/cnn-bench"
# ROUNDS (5) and RUNS (50 timed runs per process) are taken from the
# environment.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 MODEL \"A\" \"B\" [THREADS]" >&2; exit 2; }
model=$1 a=$2 b=$3 threads=${4:-2}
best () {
  # shellcheck disable=SC2086
  env $1 "$model" --threads "$threads" --runs "${RUNS:-50}" --no-peak | sed -n 's/.*min \([0-9.]*\) ms.*/\1/p'
}
ra='' rb=''
for _ in $(seq "${ROUNDS:-5}"); do
  ra="$ra $(best "$a")"
  rb="$rb $(best "$b")"
done
for side in A B; do
  if [ $side = A ]; then r=$ra; c=$a; else r=$rb; c=$b; fi
  echo "$r" | awk -v s="$side" -v c="$c" '{ m = $1; for (i = 2; i <= NF; i++) if ($i < m) m = $i;
    printf "%s fastest %.3f ms (rounds:%s)  %s\n", s, m, $0, c }'
done
