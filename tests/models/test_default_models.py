"""The shipped detector and segmenter (models/fashion/) reach the held-out
figures their description files report, through the GStreamer elements:
the 500 held-out scenes (models/fashion_scenes.py) go through cnndetect /
cnnsegment as a raw video, cnnmetapublish writes the results, and mAP@0.5 /
mean IoU are computed from those JSON lines as the training script computes
them from PyTorch.  They may differ by rounding (our boxes are whole pixels),
so each must reach the reported figure less 0.01.

Environment: CNN_BUILD (meson build dir)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CNN_BUILD", os.path.join(SRC, "build"))
MODELS = os.path.join(SRC, "models")
sys.path.insert(0, MODELS)
import fashion_scenes as fs  # noqa: E402

if not os.path.exists(f"{fs.DATA}/t10k-images-idx3-ubyte.gz"):
    pytest.skip("dataset-fashion-mnist is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    imgs, masks, boxes = fs.held_out()
    raw = tmp_path_factory.mktemp("scenes") / "held-out.rgb"
    raw.write_bytes(imgs.tobytes())
    return raw, masks, boxes


def run(raw, element, tmp_path, publish=""):
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(BUILD, "plugins"))
    pipe = (f"filesrc location={raw} ! rawvideoparse width={fs.SIZE} height={fs.SIZE} format=rgb "
            f"framerate=25/1 ! videoconvert ! {element} ! cnnmetapublish location={out} {publish} ! fakesink")
    r = subprocess.run(["gst-launch-1.0", "-q"] + pipe.split(), env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in open(out)]


def reported(name, key):
    with open(os.path.join(MODELS, "fashion", name)) as f:
        return json.load(f)["trained"][key]


def test_detector_map(held_out, tmp_path):
    raw, _, truths = held_out
    # the training script scores every box above 0.05 (after NMS)
    rows = run(raw, f"cnndetect model={MODELS}/fashion/detector.onnx threshold=0.05", tmp_path)
    assert len(rows) == len(truths)
    dets = [[[o["box"]["x"], o["box"]["y"], o["box"]["x"] + o["box"]["w"], o["box"]["y"] + o["box"]["h"],
              o["confidence"], o["class_id"]] for o in r["objects"]] for r in rows]
    m = fs.mean_ap(dets, truths, len(fs.LABELS))
    want = reported("detector.json", "held_out_map50")
    print(f"detector through cnndetect: mAP@0.5 {m:.4f} (reported {want})")
    assert m >= want - 0.01


def test_segmenter_mean_iou(held_out, tmp_path):
    raw, truths, _ = held_out
    rows = run(raw, f"cnnsegment model={MODELS}/fashion/segmenter.onnx", tmp_path, "mask-rle=true")
    assert len(rows) == len(truths)
    preds = []
    for r in rows:
        seg = r["segmentation"]
        rle = seg["rle"]
        pred = np.repeat(np.array(rle[0::2], np.uint8), rle[1::2]).reshape(seg["height"], seg["width"])
        preds.append(pred)
    m = fs.mean_iou(preds, truths, len(fs.LABELS) + 1)
    want = reported("segmenter.json", "held_out_mean_iou")
    print(f"segmenter through cnnsegment: mean IoU {m:.4f} (reported {want})")
    assert m >= want - 0.01
