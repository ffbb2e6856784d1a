#!/usr/bin/python3
"""Writes the demo's input: raw RGB frames (WIDTH x HEIGHT, 24 bits) of
Fashion-MNIST test items drifting and bouncing over a background, for
scripts/demo.sh to encode.  Seeded: the same video every time.

  models/make_demo_video.py OUT.rgb [FRAMES] [SIZE]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_scenes as fs  # noqa: E402


def main():
    out = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 384
    scale = size / fs.SIZE
    rng = np.random.default_rng(7)
    images, labels = fs.load("t10k")
    bg = fs.background(rng, size, size)
    items = []
    for _ in range(4):
        s = int(rng.integers(fs.MIN_ITEM + 8, fs.MAX_ITEM + 1) * scale)
        items.append({
            "k": int(rng.integers(0, len(images))), "s": s,
            "x": float(rng.uniform(0, size - s)), "y": float(rng.uniform(0, size - s)),
            "vx": float(rng.uniform(-4, 4) * scale / 3), "vy": float(rng.uniform(-4, 4) * scale / 3),
            "colour": fs.item_colour(rng, bg.mean((0, 1))),
        })
    with open(out, "wb") as f:
        for _ in range(frames):
            img = bg.copy()
            mask = np.zeros((size, size), np.uint8)
            for it in items:
                fs.paste(img, mask, images[it["k"]], labels[it["k"]], int(it["x"]), int(it["y"]), it["s"],
                         it["colour"])
                # bounce off the edges
                for p, v in (("x", "vx"), ("y", "vy")):
                    it[p] += it[v]
                    if it[p] < 0 or it[p] > size - it["s"]:
                        it[v] = -it[v]
                        it[p] = min(max(it[p], 0), size - it["s"])
            f.write(np.clip(img, 0, 255).astype(np.uint8).tobytes())


if __name__ == "__main__":
    main()
