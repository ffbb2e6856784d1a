#!/usr/bin/env python3
"""Runs a model in ONNX Runtime on raw float32 inputs and writes raw outputs.

Usage: ort_reference.py MODEL INPUT.bin OUTPREFIX [--batch N]
The input shape is the model's declared one (symbolic dims = 1, or N).  Output i
goes to OUTPREFIXi.bin (float32) and OUTPREFIXi.shape (text).  float16
inputs are cast from the float32 file, float16 outputs to float32.
"""
import sys
import numpy as np
import onnxruntime as ort


def main():
    model, inp, prefix = sys.argv[1:4]
    batch = int(sys.argv[sys.argv.index("--batch") + 1]) if "--batch" in sys.argv else 1
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    i0 = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else batch for d in i0.shape]
    x = np.fromfile(inp, dtype=np.float32).reshape(shape)
    if i0.type == "tensor(float16)":
        x = x.astype(np.float16)
    outs = sess.run(None, {i0.name: x})
    for i, o in enumerate(outs):
        np.asarray(o, dtype=np.float32).tofile(f"{prefix}{i}.bin")
        with open(f"{prefix}{i}.shape", "w") as f:
            f.write(" ".join(str(d) for d in o.shape))


if __name__ == "__main__":
    main()
