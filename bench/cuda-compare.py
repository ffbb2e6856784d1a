#!/usr/bin/env python3
"""cuda-compare.py - cnn-bench --backend cuda next to PyTorch (cuDNN) on the
same GPU in the same run: images/s per model, batch and precision, and the
ratio ours / PyTorch; where onnxruntime has its CUDA provider, ONNX Runtime
on the same ONNX file too (fp32 and tf32: its provider has no fp16 switch,
it runs fp16 only on a converted model).

  bench/cuda-compare.py --cnn-bench BUILD/cnncore/cnn-bench --models DIR \
      [--batches 1,8,32] [--precisions fp32,tf32,fp16] [--runs 30]

The models (torchvision's ResNet-50, MobileNetV2, SqueezeNet 1.1 with
random weights) are exported to DIR with a symbolic batch dimension, so
that both sides run the same network at every batch size."""
import argparse, json, os, subprocess, sys, time

import numpy as np
import torch
import torchvision

try:
    import onnxruntime as ort
    HAVE_ORT = "CUDAExecutionProvider" in ort.get_available_providers()
except ImportError:
    HAVE_ORT = False

ap = argparse.ArgumentParser()
ap.add_argument("--cnn-bench", required=True)
ap.add_argument("--models", required=True)
ap.add_argument("--batches", default="1,8,32")
ap.add_argument("--precisions", default="fp32,tf32,fp16")
ap.add_argument("--runs", type=int, default=30)
a = ap.parse_args()

tv = torchvision.models
archs = {"resnet50": tv.resnet50, "mobilenet_v2": tv.mobilenet_v2, "squeezenet1_1": tv.squeezenet1_1}


def export(name):
    path = os.path.join(a.models, name + ".onnx")
    if os.path.exists(path):
        return path
    os.makedirs(a.models, exist_ok=True)
    torch.manual_seed(0)
    m = archs[name]().eval()
    kw = dict(opset_version=13, input_names=["input"], output_names=["output"],
              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    try:
        torch.onnx.export(m, torch.rand(1, 3, 224, 224), path, dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(m, torch.rand(1, 3, 224, 224), path, **kw)
    return path


def torch_rate(name, batch, precision):
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    m = archs[name]().eval().cuda()
    # fp16: half weights and activations, float32 tensors in and out as ours
    dtype = torch.float16 if precision == "fp16" else torch.float32
    m = m.to(dtype)
    x = torch.rand(batch, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(5):
            m(x.cuda().to(dtype))
        torch.cuda.synchronize()
        ts = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            m(x.cuda().to(dtype)).float().cpu()   # host in, host out: what cnn-bench times
            ts.append(time.perf_counter() - t0)
    ts.sort()
    return batch / ts[len(ts) // 2]


def ort_rate(name, batch, precision):
    if not HAVE_ORT or precision == "fp16":
        return None
    opts = {"use_tf32": "1" if precision == "tf32" else "0", "cudnn_conv_algo_search": "EXHAUSTIVE"}
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(os.path.join(a.models, name + ".onnx"), so,
                             providers=[("CUDAExecutionProvider", opts)])
    x = {s.get_inputs()[0].name: np.random.rand(batch, 3, 224, 224).astype(np.float32)}
    for _ in range(5):
        s.run(None, x)
    ts = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        s.run(None, x)   # host in, host out, as on the other two sides
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return batch / ts[len(ts) // 2]


def ours_rate(name, batch, precision):
    path = os.path.join(a.models, name + ".onnx")
    out = subprocess.run([a.cnn_bench, path, "--backend", "cuda", "--precision", precision, "--batch",
                          str(batch), "--runs", str(a.runs), "--no-peak", "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return json.loads(out.stdout)["images_per_s"], None


print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}"
      + (f", onnxruntime {ort.__version__} (CUDA provider)" if HAVE_ORT else ", no ONNX Runtime CUDA provider"))
print("| model | batch | precision | ours img/s | PyTorch img/s | ratio |" + (" ORT img/s | ours/ORT |" if HAVE_ORT else ""))
print("|---|---|---|---|---|---|" + ("---|---|" if HAVE_ORT else ""))
for name in archs:
    export(name)
    for b in [int(v) for v in a.batches.split(",")]:
        for p in a.precisions.split(","):
            ours, err = ours_rate(name, b, p)
            ref = torch_rate(name, b, p)
            o = ort_rate(name, b, p) if HAVE_ORT else None
            row = f"| {name} | {b} | {p} | " + (f"error: {err} | {ref:.0f} | - |" if ours is None
                                                else f"{ours:.0f} | {ref:.0f} | {ours / ref:.2f} |")
            if HAVE_ORT:
                row += " - | - |" if o is None else f" {o:.0f} | " + ("-" if ours is None else f"{ours / o:.2f}") + " |"
            print(row)
            sys.stdout.flush()
