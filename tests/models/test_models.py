"""cnncore against ONNX Runtime on real models and real photos.

Each case runs `cnn-run` (which also writes the exact input tensor it fed),
then ONNX Runtime on that same tensor, and compares every output:
max abs error relative to the reference output's range must stay under the
case's tolerance (1e-4 for float32 models, 1e-2 for the float16 SqueezeNet),
and the top-1 class (per pixel for segmentation) must agree.

Environment: CNN_BUILD (meson build dir), CNN_SHARED (the shared test data,
default ../shared next to the source tree), CNN_EXPORTED (folder with the
models of shared/tools/export_models.py; those cases skip without it).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CNN_BUILD", os.path.join(SRC, "build"))
SHARED = os.environ.get("CNN_SHARED", os.path.join(os.path.dirname(SRC), "shared"))
EXPORTED = os.environ.get("CNN_EXPORTED", "")
PHOTOS = "/usr/share/darknet/data"
CNN_RUN = os.path.join(BUILD, "cnncore", "cnn-run")

ort = pytest.importorskip("onnxruntime")

# name, model, photo (or None: seeded random input), cnn-run args, tolerance, class axis
REAL = [
    ("squeezenet_fp16_eagle", "squeezenet1.1_fp16.onnx", "eagle.jpg", ["--bgr"], 1e-2, 1),
    ("squeezenet_fp16_dog", "squeezenet1.1_fp16.onnx", "dog.jpg", ["--bgr"], 1e-2, 1),
    ("ultraface_person", "ultraface-rfb-320.onnx", "person.jpg", ["--mean", "127", "--std", "128"], 1e-4, 2),
    ("deeplab_person", "deeplabv3_257.onnx", "person.jpg", ["--mean", "127.5", "--std", "127.5"], 1e-4, 3),
    ("style_candy_horses", "style_candy.onnx", "horses.jpg", ["--bgr"], 1e-4, None),
]
EXPORTS = [
    ("resnet50", 1), ("mobilenet_v2", 1), ("squeezenet1_1", 1), ("tiny_yolov2", None),
    ("unet256", 1), ("style256", None),
]


def run_case(tmp_path, model, photo, args, tol, axis, shape=None, batch=1):
    inp = tmp_path / "input.bin"
    ours = str(tmp_path / "ours")
    cmd = [CNN_RUN, model, "--threads", "2", "--save-outputs", ours, "--batch", str(batch)]
    if photo:
        cmd += ["--input", os.path.join(PHOTOS, photo), "--save-input", str(inp)] + args
    else:
        rng = np.random.default_rng(0)
        rng.random(shape, dtype=np.float32).tofile(inp)
        cmd += ["--input", str(inp)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ref = str(tmp_path / "ref")
    subprocess.run([sys.executable, os.path.join(HERE, "ort_reference.py"), model, str(inp), ref,
                    "--batch", str(batch)], check=True)
    i = 0
    while os.path.exists(f"{ref}{i}.bin"):
        with open(f"{ref}{i}.shape") as f:
            shape_i = [int(d) for d in f.read().split()]
        want = np.fromfile(f"{ref}{i}.bin", dtype=np.float32).reshape(shape_i)
        got = np.fromfile(f"{ours}{i}.bin", dtype=np.float32)
        assert got.size == want.size, f"output {i}: {got.size} values, ONNX Runtime gives {want.size}"
        got = got.reshape(shape_i)
        err = np.abs(got.astype(np.float64) - want)
        rng_ = float(want.max() - want.min()) or 1.0
        rel = err.max() / rng_
        print(f"{os.path.basename(model)} output {i} {shape_i}: max abs {err.max():.3g}, "
              f"relative to range {rel:.3g}, max rel {(err / np.maximum(np.abs(want), 1e-3)).max():.3g}")
        assert rel < tol, f"output {i}: max abs error {err.max():.3g} is {rel:.3g} of the range"
        if axis is not None and i == 0 and want.ndim > axis:
            a, b = got.argmax(axis=axis), want.argmax(axis=axis)
            agree = float((a == b).mean())
            print(f"  top-1 agreement {agree:.6f}")
            if a.size <= 8:
                assert (a == b).all(), "top-1 differs"
            else:   # per pixel / per anchor: near-ties may flip
                assert agree > 0.999, f"top-1 agrees on {agree:.4%} only"
        i += 1
    assert i > 0, "ONNX Runtime wrote no outputs"


@pytest.mark.parametrize("name,model,photo,args,tol,axis", REAL, ids=[c[0] for c in REAL])
def test_real_model(tmp_path, name, model, photo, args, tol, axis):
    path = os.path.join(SHARED, "models", model)
    if not os.path.exists(path):
        pytest.skip(f"{path} not found")
    run_case(tmp_path, path, photo, args, tol, axis)


@pytest.mark.parametrize("name,axis", EXPORTS, ids=[c[0] for c in EXPORTS])
def test_exported_model(tmp_path, name, axis):
    path = os.path.join(EXPORTED, name + ".onnx")
    if not EXPORTED or not os.path.exists(path):
        pytest.skip("set CNN_EXPORTED to the output of shared/tools/export_models.py")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    run_case(tmp_path, path, None, [], 1e-4, axis, shape)


@pytest.mark.parametrize("name,axis", EXPORTS, ids=[c[0] for c in EXPORTS])
def test_exported_model_batch4(tmp_path, name, axis):
    """The same at batch 4 (the benchmark suite's second batch): the model
    with a symbolic batch dimension (bench/symbolic_batch.py, which needs
    Debian's python3-onnx), four different random images in one run."""
    path = os.path.join(EXPORTED, name + ".onnx")
    if not EXPORTED or not os.path.exists(path):
        pytest.skip("set CNN_EXPORTED to the output of shared/tools/export_models.py")
    batched = str(tmp_path / (name + "_batch.onnx"))
    r = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "bench", "symbolic_batch.py"), path, batched],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("bench/symbolic_batch.py failed (python3-onnx missing?): " + r.stderr[-200:])
    sess = ort.InferenceSession(batched, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 4 for d in sess.get_inputs()[0].shape]
    assert shape[0] == 4
    run_case(tmp_path, batched, None, [], 1e-4, axis, shape, batch=4)
