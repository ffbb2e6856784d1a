#!/usr/bin/python3
"""Writes models/fashion/samples/: the first test image of each Fashion-MNIST
class as a PNG (from Debian's dataset-fashion-mnist), for the demo."""
import gzip
import os

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion", "samples")
NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
         "ankle-boot"]

with gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
os.makedirs(OUT, exist_ok=True)
for c, name in enumerate(NAMES):
    i = int(np.argmax(y == c))
    Image.fromarray(x[i], mode="L").save(os.path.join(OUT, f"{c}-{name}.png"))
print("wrote", OUT)
