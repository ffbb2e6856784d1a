#!/bin/sh
# Runs every example of pipelines/ with stand-in sources and sinks
# (videotestsrc, files, fakesink) and checks what they write, so none can
# silently break.  Usage: run-pipelines.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -u
SRC_DIR=$1
export CNN_BUILD=$(basename "$2")
SHARED=$3/models
P=$SRC_DIR/pipelines
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {  # name, then a command that must succeed
  name=$1
  shift
  if "$@" > "$tmp/$name.log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $name"
  else
    fail=$((fail + 1))
    echo "FAIL $name"
    tail -20 "$tmp/$name.log"
  fi
}
lines() { [ -f "$1" ] && [ "$(wc -l < "$1")" -eq "$2" ]; }

check webcam-classify env SRC="videotestsrc num-buffers=3" SINK=fakesink sh "$P/webcam-classify.sh"

if [ -f "$SHARED/ultraface-rfb-320.onnx" ]; then
  annotate() {
    env MODEL="$SHARED/ultraface-rfb-320.onnx" DETECT="mean=127 std=128 threshold=0.7" \
      SRC="videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240" \
      sh "$P/annotate-video.sh" unused "$tmp/out.mp4" &&
      [ -s "$tmp/out.mp4" ] && lines "$tmp/out.jsonl" 10 &&
      grep -qa avc1 "$tmp/out.mp4"
  }
  check annotate-video annotate
fi

if [ -f "$SHARED/squeezenet1.1_fp16.onnx" ]; then
  folder() {
    mkdir -p "$tmp/photos" &&
      cp /usr/share/darknet/data/dog.jpg "$tmp/photos/my dog.jpg" &&
      cp /usr/share/darknet/data/eagle.jpg "$tmp/photos/eagle.jpg" &&
      cp /usr/share/darknet/data/horses.jpg "$tmp/photos/z-horses.jpg" &&
      env MODEL="$SHARED/squeezenet1.1_fp16.onnx" LABELS="$SHARED/imagenet_labels.txt" \
        PRE="color-order=bgr" sh "$P/classify-folder.sh" "$tmp/photos" "$tmp/folder.jsonl" &&
      lines "$tmp/folder.jsonl" 3 && grep -q '"source":"[^"]*/my dog.jpg"' "$tmp/folder.jsonl" &&
      grep -q '"source":"[^"]*/z-horses.jpg"' "$tmp/folder.jsonl"
  }
  check classify-folder folder
fi

if [ -f "$SHARED/deeplabv3_257.onnx" ]; then
  segment() {
    env MODEL="$SHARED/deeplabv3_257.onnx" PRE="mean=127.5 std=127.5" JSON="$tmp/seg.jsonl" \
      SRC="videotestsrc num-buffers=2 ! video/x-raw,width=320,height=240" SINK=fakesink \
      sh "$P/segment-overlay.sh" && lines "$tmp/seg.jsonl" 2 && grep -q '"segmentation"' "$tmp/seg.jsonl"
  }
  check segment-overlay segment
fi

if [ -f "$SHARED/style_candy.onnx" ]; then
  check style-webcam env MODEL="$SHARED/style_candy.onnx" PRE="color-order=bgr" \
    SRC="videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240" SINK=fakesink \
    sh "$P/style-webcam.sh"
fi

# The description files of models/zoo: a model next to its NAME.json needs
# no properties and gives what the explicit properties give.
zoo() {
  m=$1
  shift
  [ -f "$SHARED/$m.onnx" ] || return 0
  mkdir -p "$tmp/zoo" && ln -sf "$SHARED/$m.onnx" "$tmp/zoo/$m.onnx" &&
    cp "$SRC_DIR/models/zoo/$m.json" "$SRC_DIR/models/zoo/imagenet_labels.txt" "$tmp/zoo/" &&
    GST_PLUGIN_PATH="$SRC_DIR/$CNN_BUILD/plugins" gst-launch-1.0 -q filesrc location="$PHOTO" ! jpegdec ! \
      videoconvert ! $ELEMENT model="$tmp/zoo/$m.onnx" ${DESC_PROPS:-} ! cnnmetapublish location="$tmp/$m-desc.jsonl" ! \
      fakesink &&
    GST_PLUGIN_PATH="$SRC_DIR/$CNN_BUILD/plugins" gst-launch-1.0 -q filesrc location="$PHOTO" ! jpegdec ! \
      videoconvert ! $ELEMENT model="$SHARED/$m.onnx" "$@" ! cnnmetapublish location="$tmp/$m-props.jsonl" ! \
      fakesink &&
    [ "$(sed 's/"source":"[^"]*",//' "$tmp/$m-desc.jsonl")" = "$(sed 's/"source":"[^"]*",//' "$tmp/$m-props.jsonl")" ] &&
    grep -q "$WANT" "$tmp/$m-desc.jsonl"
}
PHOTO=/usr/share/darknet/data/eagle.jpg ELEMENT=cnnclassify WANT='"label":"[^"]*"' \
  check zoo-squeezenet zoo squeezenet1.1_fp16 labels="$SHARED/imagenet_labels.txt" color-order=bgr
python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["labels"]))' \
  "$SRC_DIR/models/zoo/deeplabv3_257.json" > "$tmp/voc.txt"
PHOTO=/usr/share/darknet/data/person.jpg ELEMENT=cnnsegment WANT='"person":' \
  check zoo-deeplab zoo deeplabv3_257 mean=127.5 std=127.5 layout=nhwc labels="$tmp/voc.txt"
printf 'background\nface\n' > "$tmp/face.txt"
# no face passes 0.7 in these photos: a lower threshold shows the rest of the
# description (normalization, background column, NMS) at work
PHOTO=/usr/share/darknet/data/scream.jpg ELEMENT=cnndetect WANT='"label":"face"' DESC_PROPS="threshold=0.2" \
  check zoo-ultraface zoo ultraface-rfb-320 mean=127 std=128 threshold=0.2 nms-iou=0.3 labels="$tmp/face.txt"

echo "pipelines: $pass passed, $fail failed"
[ "$fail" = 0 ]
