"""Synthetic scenes of Fashion-MNIST items on varied backgrounds: the data the
shipped detector and segmenter are trained and evaluated on, and the frames
of the demo video.  Imported by train_fashion_scenes.py and
make_demo_video.py (Debian's python with numpy; no torch needed here).

An item is a Fashion-MNIST image used as an alpha mask over a random colour:
its box is the mask's extent, its segmentation the pixels the mask covers
more than a third (later items over earlier ones)."""
import gzip

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]
SIZE = 128              # the models' input: square RGB scenes
MIN_ITEM, MAX_ITEM = 22, 52


def load(kind):
    """Fashion-MNIST images (N, 28, 28) uint8 and labels (N,)."""
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def background(rng, h, w):
    """A gradient between two colours, with noise, stripes or blotches."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    t = (np.cos(ang) * xx + np.sin(ang) * yy)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    kind = rng.integers(0, 4)
    if kind == 1:
        img += rng.normal(0, rng.uniform(5, 25), (h, w, 1))
    elif kind == 2:
        period = rng.uniform(6, 30) * max(h, w) / SIZE
        img += 20 * np.sign(np.sin(2 * np.pi * (xx * np.cos(ang + 1) + yy * np.sin(ang + 1)) * max(h, w) / period))[..., None]
    elif kind == 3:
        for _ in range(rng.integers(2, 6)):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.3) * max(h, w)
            m = ((np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2) < r * r
            img[m] = img[m] * 0.6 + rng.uniform(0, 255, 3) * 0.4
    return img


def item_colour(rng, bg_mean):
    """A colour that stands out from the background's mean."""
    for _ in range(20):
        c = rng.uniform(0, 255, 3)
        if np.abs(c - bg_mean).sum() > 150:
            return c
    return 255 - bg_mean


def resize(a, s):
    """Bilinear resize of a 2D float array to s x s."""
    n = a.shape[0]
    pos = (np.arange(s) + 0.5) * n / s - 0.5
    p0 = np.clip(np.floor(pos).astype(int), 0, n - 1)
    p1 = np.clip(p0 + 1, 0, n - 1)
    f = np.clip(pos - p0, 0, 1)
    rows = a[p0] * (1 - f)[:, None] + a[p1] * f[:, None]
    return rows[:, p0] * (1 - f)[None, :] + rows[:, p1] * f[None, :]


def paste(img, mask, item, label, x, y, s, colour):
    """Draws the item at (x, y), size s; returns its box or None if off-canvas."""
    h, w = mask.shape
    a = resize(item.astype(np.float32) / 255.0, s)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
    if x1 <= x0 or y1 <= y0:
        return None
    a = a[y0 - y:y1 - y, x0 - x:x1 - x]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a[..., None]) + colour * a[..., None]
    mask[y0:y1, x0:x1][a > 0.33] = label + 1
    ys, xs = np.nonzero(a > 0.1)
    if len(xs) == 0:
        return None
    return [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1, int(label)]


def scene(rng, images, labels, size=SIZE):
    """One scene: image (size, size, 3) uint8, class mask (size, size) uint8
    (0 background, k + 1 class k), boxes [[x1, y1, x2, y2, class], ...]."""
    img = background(rng, size, size)
    mask = np.zeros((size, size), np.uint8)
    boxes, placed = [], []
    for _ in range(rng.integers(1, 5)):
        s = int(rng.integers(MIN_ITEM, MAX_ITEM + 1) * size / SIZE)
        for _ in range(10):
            x, y = int(rng.integers(-s // 8, size - s + s // 8)), int(rng.integers(-s // 8, size - s + s // 8))
            # little overlap, so that every item stays recognisable
            if all(min(x + s, px + ps) - max(x, px) < s // 3 or min(y + s, py + ps) - max(y, py) < s // 3
                   for px, py, ps in placed):
                break
        else:
            continue
        k = int(rng.integers(0, len(images)))
        b = paste(img, mask, images[k], labels[k], x, y, s, item_colour(rng, img.mean((0, 1))))
        if b:
            boxes.append(b)
            placed.append((x, y, s))
    # a later item may hide part of an earlier one: boxes of what shows
    out = []
    for b in boxes:
        vis = mask[b[1]:b[3], b[0]:b[2]] == b[4] + 1
        if vis.sum() >= 30:
            out.append(b)
    return np.clip(img, 0, 255).astype(np.uint8), mask, out


def scenes(kind, n, seed):
    """n scenes from the "train" or "t10k" images: images (n, SIZE, SIZE, 3),
    masks (n, SIZE, SIZE), boxes per scene."""
    x, y = load(kind)
    rng = np.random.default_rng(seed)
    imgs, masks, boxes = [], [], []
    for _ in range(n):
        im, m, b = scene(rng, x, y)
        imgs.append(im)
        masks.append(m)
        boxes.append(b)
    return np.stack(imgs), np.stack(masks), boxes


def held_out():
    """The 500 held-out scenes the shipped models' figures are measured on."""
    return scenes("t10k", 500, 2)


def box_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mean_ap(detections, truths, n_classes, iou=0.5):
    """VOC-style mAP (all-point interpolation) over classes that occur.
    detections: per image [[x1, y1, x2, y2, score, class]]; truths: per image
    [[x1, y1, x2, y2, class]]."""
    aps = []
    for c in range(n_classes):
        dets = [(d[4], i, d) for i, ds in enumerate(detections) for d in ds if d[5] == c]
        gts = {i: [t for t in ts if t[4] == c] for i, ts in enumerate(truths)}
        n_gt = sum(len(v) for v in gts.values())
        if n_gt == 0:
            continue
        dets.sort(key=lambda t: -t[0])
        used = {i: [False] * len(v) for i, v in gts.items()}
        tp = np.zeros(len(dets))
        for j, (_, i, d) in enumerate(dets):
            best, bi = 0.0, -1
            for k, t in enumerate(gts[i]):
                o = box_iou(d, t)
                if o > best:
                    best, bi = o, k
            if best >= iou and not used[i][bi]:
                used[i][bi] = True
                tp[j] = 1
        ctp = np.cumsum(tp)
        rec = ctp / n_gt
        prec = ctp / np.arange(1, len(dets) + 1)
        mrec = np.concatenate([[0], rec, [1]])
        mpre = np.concatenate([[0], prec, [0]])
        for k in range(len(mpre) - 2, -1, -1):
            mpre[k] = max(mpre[k], mpre[k + 1])
        idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])))
    return float(np.mean(aps)) if aps else 0.0


def mean_iou(preds, truths, n_classes):
    """Mean over classes (background included) of the IoU of the class masks."""
    inter = np.zeros(n_classes)
    union = np.zeros(n_classes)
    for p, t in zip(preds, truths):
        for c in range(n_classes):
            a, b = p == c, t == c
            inter[c] += np.logical_and(a, b).sum()
            union[c] += np.logical_or(a, b).sum()
    ok = union > 0
    return float(np.mean(inter[ok] / union[ok]))
