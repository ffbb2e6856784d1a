#!/usr/bin/python3
"""Trains the shipped default classifier on Debian's dataset-fashion-mnist.

Run with Debian's python (torch): /usr/bin/python3 models/train_fashion_classifier.py
Writes models/fashion/classifier.onnx and prints the test accuracy.  Seeded,
so a rerun reproduces the shipped file up to floating point noise.
"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion")
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]


def load(kind):
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.tensor(x, dtype=torch.float32) / 255.0, torch.tensor(y, dtype=torch.long)


class Net(nn.Module):
    """Small VGG-style CNN; input [N,1,28,28] in 0..1, output logits [N,10]."""
    def __init__(self):
        super().__init__()
        def blk(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
        self.features = nn.Sequential(*blk(1, 32), *blk(32, 32), nn.MaxPool2d(2),
                                      *blk(32, 64), *blk(64, 64), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128),
                                  nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 2)
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    net = Net()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(xtr) // 128 + 1))
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            xb = xtr[idx]
            # light augmentation: random horizontal flips
            flip = torch.rand(len(xb)) < 0.5
            xb[flip] = xb[flip].flip(3)
            loss = nn.functional.cross_entropy(net(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {ep + 1}: test accuracy {acc:.4f}", flush=True)
    os.makedirs(OUT, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(OUT, "classifier.onnx"),
                      opset_version=13, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    print(f"final test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
