#!/bin/sh
# Pipeline benchmark: frames per second of
#   filesrc ! decodebin ! videoconvert ! cnnX ! fakesink
# on a generated H.264 clip (4:2:0, as cameras and files deliver), and the
# element's time spent outside inference (pre-processing, decoding results,
# drawing) as a share of its time and of the inference time, from the
# element's "cnn-stats" message at EOS.
#   MODEL=... ELEMENT=cnnclassify PROPS="color-order=bgr" sh bench/pipeline-bench.sh
set -eu
cd "$(dirname "$0")/.."
export GST_PLUGIN_PATH="$PWD/${CNN_BUILD:-build}/plugins"
MODEL=${MODEL:-models/fashion/classifier.onnx}
ELEMENT=${ELEMENT:-cnnclassify}
FRAMES=${FRAMES:-200}
SIZE=${SIZE:-640x480}
clip=$(mktemp --suffix=.mp4)
trap 'rm -f "$clip"' EXIT
gst-launch-1.0 -q videotestsrc num-buffers="$FRAMES" pattern=ball ! \
  "video/x-raw,format=I420,width=${SIZE%x*},height=${SIZE#*x},framerate=30/1" ! x264enc speed-preset=ultrafast ! \
  mp4mux ! filesink location="$clip"
start=$(date +%s.%N)
out=$(gst-launch-1.0 -m filesrc location="$clip" ! decodebin ! videoconvert ! \
  $ELEMENT model="$MODEL" threads=${THREADS:-2} ${PROPS:-} ! fakesink sync=false 2>&1)
end=$(date +%s.%N)
stats=$(echo "$out" | grep -o 'cnn-stats, .*' | head -1)
echo "$stats" | python3 -c '
import re, sys
s = sys.stdin.read()
v = {k: float(x) for k, x in re.findall(r"([a-z-]+)=\(\w+\)([0-9.e+-]+)", s)}
wall = float(sys.argv[1]) - float(sys.argv[2])
n = v.get("frames", 0)
print(f"{sys.argv[3]} on {sys.argv[4]}: {n:.0f} frames in {wall:.2f} s = {n / wall:.1f} fps (decode included)")
if v.get("element-ms"):
    e, i, p = v["element-ms"], v["inference-ms"], v["preprocess-ms"]
    print(f"element: {e / n:.3f} ms/frame, inference {i / n:.3f} ms, pre-processing {p / n:.3f} ms, "
          f"outside inference {100 * (e - i) / e:.1f}% of the element time "
          f"({100 * (e - i) / i:.1f}% of the inference time)")
' "$end" "$start" "$ELEMENT" "$(basename "$MODEL")"
