#!/usr/bin/env python3
"""cnncore against ONNX Runtime on the same machine, in the same run.

Usage: compare.py [--threads 1 2] [--batch 1 4] [--rounds 3] [--runs 20] [--markdown] MODEL...

For each model, thread count and batch (batch > 1 only where the model's
batch dimension is symbolic), alternates ROUNDS times between `cnn-bench` (a fresh process,
RUNS timed runs after warm-up) and ONNX Runtime (a fresh process too, RUNS runs of the
same input shape, same thread count) and keeps the best median of each.  Each engine
runs alone: ONNX Runtime's idle threads spin for seconds after a run, which took a
core from cnn-bench when both lived side by side.  Prints model,
threads, batch, our ms, ONNX Runtime ms, the ratio of images/s (ours / ORT,
above 1 means faster) and our GFLOP/s.  CNN_BUILD names the build folder.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("CNN_BUILD", os.path.join(os.path.dirname(HERE), "build"))


def ours(model, threads, batch, runs):
    out = subprocess.run([os.path.join(BUILD, "cnncore", "cnn-bench"), model, "--threads", str(threads),
                          "--batch", str(batch), "--runs", str(runs), "--warmup", "3", "--json", "--no-peak"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def onnxruntime(sess, feeds, runs):
    for _ in range(3):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ort_worker(model, threads, batch, runs):
    """ONNX Runtime in a process of its own: its median, as JSON."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--ort-worker", model, str(threads),
                          str(batch), str(runs)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


def ort_session(model, threads, batch):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feeds = {}
    rng = np.random.default_rng(0)
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in i.shape]
        dtype = np.float16 if i.type == "tensor(float16)" else np.float32
        feeds[i.name] = rng.random(shape).astype(dtype)
    return sess, feeds


def sgemm_peak(threads):
    out = subprocess.run([os.path.join(BUILD, "cnncore", "cnn-bench"), os.path.join(HERE, "..", "models",
                          "fashion", "classifier.onnx"), "--threads", str(threads), "--runs", "1",
                          "--warmup", "0", "--json"], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["sgemm_peak_gflops"], j["sgemm_peak_by"], j["openblas_core"]


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--ort-worker":
        model, threads, batch, runs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        sess, feeds = ort_session(model, threads, batch)
        print(json.dumps({"median_ms": onnxruntime(sess, feeds, runs)}))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    peaks = {t: sgemm_peak(t) for t in a.threads}
    rows = []
    for model in a.models:
        for threads in a.threads:
            for batch in a.batch:
                sess, feeds = ort_session(model, threads, batch)
                first = sess.get_inputs()[0].shape
                del sess, feeds     # its threads must not run beside the timed processes
                if batch > 1 and isinstance(first[0], int):
                    continue        # fixed batch dimension: nothing to vary
                best_ours, best_ort, gflops = float("inf"), float("inf"), 0.0
                for _ in range(a.rounds):
                    o = ours(model, threads, batch, a.runs)
                    if o["median_ms"] < best_ours:
                        best_ours, gflops = o["median_ms"], o["gflops"]
                    best_ort = min(best_ort, ort_worker(model, threads, batch, a.runs))
                rows.append((os.path.basename(model).rsplit(".", 1)[0], threads, batch, best_ours, best_ort,
                             best_ort / best_ours, gflops, peaks[threads][0]))
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = (f"{cpu}, {os.cpu_count()} cores; ONNX Runtime {ort.__version__}; SGEMM peak "
            + ", ".join(f"{p[0]:.0f} GFLOP/s at {t} thread(s) ({p[1]})" for t, p in peaks.items())
            + f"; OpenBLAS core {next(iter(peaks.values()))[2]}")
    if a.markdown:
        print(head + "\n")
        print("| model | threads | batch | cnncore ms | ONNX Runtime ms | ratio | GFLOP/s | % of SGEMM peak |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.1f} | {100 * r[6] / r[7]:.0f}% |")
    else:
        print(head)
        print(f"{'model':18s} {'thr':>3s} {'batch':>5s} {'ours ms':>9s} {'ORT ms':>9s} {'ratio':>6s} {'GFLOP/s':>8s}")
        for r in rows:
            print(f"{r[0]:18s} {r[1]:3d} {r[2]:5d} {r[3]:9.2f} {r[4]:9.2f} {r[5]:6.2f} {r[6]:8.1f}")


if __name__ == "__main__":
    main()
