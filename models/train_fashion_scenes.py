#!/usr/bin/python3
"""Trains the shipped default detector and segmenter on synthetic scenes of
Fashion-MNIST items (fashion_scenes.py): training scenes from the training
images, held-out scenes from the test images.

Run with Debian's python (torch): /usr/bin/python3 models/train_fashion_scenes.py [detector|segmenter]...
Writes models/fashion/{detector,segmenter}.onnx and their description files
with the held-out mAP@0.5 and mean IoU.  Seeded, so a rerun reproduces the
shipped files up to floating point noise.

detector: anchor-free, one 16x16 grid (stride 8) on 128x128 RGB; each cell
predicts a box and 10 class scores.  The exported graph decodes the boxes
itself, so its output is YOLOv8's: [1, 14, 256] columns cx, cy, w, h (input
pixels) and class probabilities.
segmenter: a small U-Net, [1, 11, 128, 128] class scores (0: background)."""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_scenes as fs  # noqa: E402

# CNN_MODELS_OUT: write elsewhere (to compare a rerun with the shipped files)
OUT = os.environ.get("CNN_MODELS_OUT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion"))
STRIDE = 8
GRID = fs.SIZE // STRIDE
NC = len(fs.LABELS)


def to_input(imgs):
    """uint8 NHWC -> float NCHW in 0..1 (the description's scale 1/255)."""
    return torch.tensor(imgs, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0


def cbr(i, o, s=1, d=1):
    return [nn.Conv2d(i, o, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(o), nn.ReLU()]


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*cbr(3, 16, 2), *cbr(16, 32, 2), *cbr(32, 32), *cbr(32, 64, 2),
                                  *cbr(64, 64), *cbr(64, 64, d=2), *cbr(64, 64, d=4), *cbr(64, 64))
        self.head = nn.Conv2d(64, 4 + NC, 1)
        nn.init.constant_(self.head.bias[4:], -4.6)   # class prior 1%: a calm start
        gy, gx = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
        self.register_buffer("gx", gx.reshape(1, -1).float())
        self.register_buffer("gy", gy.reshape(1, -1).float())
        self.export = False

    def raw(self, x):
        return self.head(self.body(x)).flatten(2)          # [N, 4 + C, 256]

    def decode(self, r):
        cx = (self.gx + 2 * torch.sigmoid(r[:, 0]) - 0.5) * STRIDE
        cy = (self.gy + 2 * torch.sigmoid(r[:, 1]) - 0.5) * STRIDE
        w = torch.exp(r[:, 2].clamp(max=4)) * 4 * STRIDE
        h = torch.exp(r[:, 3].clamp(max=4)) * 4 * STRIDE
        return torch.stack([cx, cy, w, h], 1)

    def forward(self, x):
        r = self.raw(x)
        return torch.cat([self.decode(r), torch.sigmoid(r[:, 4:])], 1)


def det_targets(boxes):
    """Per image: cells within one cell of each box centre (its own cell
    always) are positives for it; a cell goes to the smallest box."""
    n = len(boxes)
    pos = torch.zeros(n, GRID * GRID, dtype=torch.bool)
    tbox = torch.zeros(n, 4, GRID * GRID)
    tcls = torch.zeros(n, NC, GRID * GRID)
    for i, bs in enumerate(boxes):
        area = np.full(GRID * GRID, np.inf)
        for x1, y1, x2, y2, c in bs:
            cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
            gx, gy = int(cx // STRIDE), int(cy // STRIDE)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    jx, jy = gx + dx, gy + dy
                    if not (0 <= jx < GRID and 0 <= jy < GRID):
                        continue
                    # neighbours only where the centre stays within the
                    # decodable offset range (-0.5 .. 1.5 cells)
                    off_x, off_y = cx / STRIDE - jx, cy / STRIDE - jy
                    if not (-0.5 < off_x < 1.5 and -0.5 < off_y < 1.5):
                        continue
                    k = jy * GRID + jx
                    if w * h < area[k]:
                        area[k] = w * h
                        pos[i, k] = True
                        tbox[i, :, k] = torch.tensor([cx, cy, w, h], dtype=torch.float32)
                        tcls[i, :, k] = 0
                        tcls[i, c, k] = 1
    return pos, tbox, tcls


def giou_loss(p, t):
    """1 - GIoU of cx, cy, w, h boxes [4, M]."""
    p1, p2 = p[:2] - p[2:] / 2, p[:2] + p[2:] / 2
    t1, t2 = t[:2] - t[2:] / 2, t[:2] + t[2:] / 2
    i = (torch.min(p2, t2) - torch.max(p1, t1)).clamp(min=0).prod(0)
    u = p[2:].prod(0) + t[2:].prod(0) - i
    c = (torch.max(p2, t2) - torch.min(p1, t1)).prod(0)
    iou = i / u.clamp(min=1e-6)
    return (1 - iou + (c - u) / c.clamp(min=1e-6)).mean()


def nms(dets, iou=0.45):
    dets = sorted(dets, key=lambda d: -d[4])
    keep = []
    for d in dets:
        if all(k[5] != d[5] or fs.box_iou(k, d) < iou for k in keep):
            keep.append(d)
    return keep


def detect(net, imgs, threshold=0.05):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(imgs), 64):
            y = net(to_input(imgs[i:i + 64])).numpy()
            for o in y:
                best = o[4:].argmax(0)
                conf = o[4:].max(0)
                ds = []
                for k in np.nonzero(conf >= threshold)[0]:
                    cx, cy, w, h = o[:4, k]
                    ds.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, float(conf[k]), int(best[k])])
                out.append(nms(ds))
    return out


def fit(net, n, batch, epochs, loss_of, name):
    """AdamW with a one-cycle schedule over n samples; loss_of(idx) gives the
    loss of a batch of sample indices."""
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=epochs * ((n + batch - 1) // batch))
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(n)
        t0, tot = time.time(), 0.0
        for i in range(0, n, batch):
            loss = loss_of(perm[i:i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        print(f"{name} epoch {ep + 1}/{epochs}: loss {tot / (n / batch):.3f} ({time.time() - t0:.0f} s)",
              flush=True)


def train_detector(tr, te, epochs):
    torch.manual_seed(0)
    net = Detector()
    imgs, _, boxes = tr
    pos, tbox, tcls = det_targets(boxes)
    x = to_input(imgs)

    def loss_of(idx):
        r = net.raw(x[idx])
        p = pos[idx]
        # class scores everywhere (BCE), boxes at the positives (GIoU)
        lc = F.binary_cross_entropy_with_logits(r[:, 4:], tcls[idx], reduction="sum") / max(p.sum(), 1)
        box = net.decode(r).permute(1, 0, 2)[:, p]
        lb = giou_loss(box, tbox[idx].permute(1, 0, 2)[:, p]) if p.any() else r.sum() * 0
        return lc + 2 * lb

    fit(net, len(x), 64, epochs, loss_of, "detector")
    m = fs.mean_ap(detect(net, te[0]), te[2], NC)
    print(f"detector: held-out mAP@0.5 {m:.4f}")
    return net, m


class UNet(nn.Module):
    """Its first stage runs at half resolution and the scores are upsampled
    at the end: a quarter of the cost, and item edges still follow."""
    def __init__(self):
        super().__init__()
        self.e1 = nn.Sequential(*cbr(3, 16, 2), *cbr(16, 16))
        self.e2 = nn.Sequential(*cbr(16, 32, 2), *cbr(32, 32))
        self.e3 = nn.Sequential(*cbr(32, 64, 2), *cbr(64, 64))
        self.e4 = nn.Sequential(*cbr(64, 64, 2), *cbr(64, 64, d=2), *cbr(64, 64))
        self.d3 = nn.Sequential(*cbr(128, 64))
        self.d2 = nn.Sequential(*cbr(96, 32))
        self.d1 = nn.Sequential(*cbr(48, 16))
        self.out = nn.Conv2d(16, NC + 1, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(a)
        c = self.e3(b)
        d = self.e4(c)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        c = self.d3(torch.cat([up(d), c], 1))
        b = self.d2(torch.cat([up(c), b], 1))
        a = self.d1(torch.cat([up(b), a], 1))
        return F.interpolate(self.out(a), scale_factor=2, mode="bilinear", align_corners=False)


def segment(net, imgs):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(imgs), 64):
            out.extend(net(to_input(imgs[i:i + 64])).argmax(1).numpy().astype(np.uint8))
    return out


def train_segmenter(tr, te, epochs):
    torch.manual_seed(0)
    net = UNet()
    x = to_input(tr[0])
    y = torch.tensor(tr[1], dtype=torch.long)
    # background covers most pixels: weigh the items up
    w = torch.ones(NC + 1)
    w[0] = 0.3
    fit(net, len(x), 32, epochs, lambda idx: F.cross_entropy(net(x[idx]), y[idx], weight=w), "segmenter")
    m = fs.mean_iou(segment(net, te[0]), te[1], NC + 1)
    print(f"segmenter: held-out mean IoU {m:.4f}")
    return net, m


def ship(net, name, output, description):
    """Writes models/fashion/NAME.onnx and its description file NAME.json."""
    net.eval()
    # a symbolic batch: the elements' batch-size gathers frames into one run
    kw = dict(opset_version=13, input_names=["input"], output_names=[output],
              dynamic_axes={"input": {0: "N"}, output: {0: "N"}})
    x = torch.rand(1, 3, fs.SIZE, fs.SIZE)
    path = os.path.join(OUT, name + ".onnx")
    try:
        torch.onnx.export(net, x, path, dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(net, x, path, **kw)
    d = dict(description, preprocess={"color_order": "rgb", "scale": 1 / 255, "mean": 0, "layout": "nchw"})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({k: d[k] for k in ("task", "labels", "preprocess", "decoder", "trained") if k in d}, f,
                  indent=2)
        f.write("\n")


def main():
    what = sys.argv[1:] or ["detector", "segmenter"]
    torch.set_num_threads(os.cpu_count() or 2)
    n_train = int(os.environ.get("SCENES", "8000"))
    tr = fs.scenes("train", n_train, 1)
    te = fs.held_out()
    trained = {"script": "models/train_fashion_scenes.py",
               "data": f"synthetic scenes of Debian dataset-fashion-mnist items ({n_train} training "
                       f"scenes from the training images, 500 held-out scenes from the test images)"}
    if "detector" in what:
        net, m = train_detector(tr, te, int(os.environ.get("DET_EPOCHS", "20")))
        ship(net, "detector", "boxes", {"task": "detect", "labels": "labels.txt",
                                         "decoder": {"type": "yolov8", "threshold": 0.4, "nms_iou": 0.45},
                                         "trained": dict(trained, held_out_map50=round(m, 4))})
    if "segmenter" in what:
        net, m = train_segmenter(tr, te, int(os.environ.get("SEG_EPOCHS", "8")))
        ship(net, "segmenter", "scores", {"task": "segment", "labels": "segment-labels.txt",
                                           "trained": dict(trained, held_out_mean_iou=round(m, 4))})
        with open(os.path.join(OUT, "segment-labels.txt"), "w") as f:
            f.write("\n".join(["background"] + fs.LABELS) + "\n")


if __name__ == "__main__":
    main()
