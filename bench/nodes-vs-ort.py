#!/usr/bin/env python3
"""Node by node: cnncore's time against ONNX Runtime's in the same model.

Usage: nodes-vs-ort.py MODEL [--threads 2] [--rounds 3] [--top 25]

Runs `cnn-bench --profile` ROUNDS times and ONNX Runtime with profiling
ROUNDS times (each a fresh process, alternating) and keeps each node's
fastest median over a round's runs, so that neither a stall within a
round nor one slow phase of a shared VM decides a row.  ONNX Runtime names its nodes after their outputs and fuses
activations into convolutions: each of its nodes is mapped back through
the graph (the producer of its output, then of that one's first input, up
to four ops) to a node cnncore reports.  Prints the totals and the nodes
where cnncore is furthest behind (ms, ours and ONNX Runtime's, and the
difference).  Needs Debian's python3-onnx for the graph (this script) and
onnxruntime in CNN_VENV (default /opt/cnn-venv) for the other side.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("CNN_BUILD", os.path.join(os.path.dirname(HERE), "build"))
VENV_PY = os.path.join(os.environ.get("CNN_VENV", "/opt/cnn-venv"), "bin", "python")

# ONNX Runtime's side, run by VENV_PY: per node, median kernel ms over RUNS
# (as cnn-bench --profile gives ours: a mean takes in a shared VM's stalls)
ORT_WORKER = r"""
import json, os, sys, collections, tempfile
import numpy as np, onnxruntime as ort
model, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.log_severity_level = 3
so.enable_profiling = True
so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "p")
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feeds = {}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    feeds[i.name] = np.random.rand(*shape).astype(np.float16 if "float16" in i.type else np.float32)
for _ in range(5):
    s.run(None, feeds)
for _ in range(runs):
    s.run(None, feeds)
path = s.end_profiling()
events = json.load(open(path))
os.remove(path)
times = collections.defaultdict(list)
for e in events:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        times[e["name"][:-len("_kernel_time")]].append(e["dur"] / 1e3)
print(json.dumps({n: sorted(v[-runs:])[len(v[-runs:]) // 2] for n, v in times.items()}))
"""


def ours(model, threads, runs):
    out = subprocess.run([os.path.join(BUILD, "cnncore", "cnn-bench"), model, "--threads", str(threads),
                          "--runs", str(runs), "--profile", "--slowest", "100000", "--no-peak"],
                         check=True, capture_output=True, text=True).stdout
    nodes = {}
    for line in out.splitlines():
        m = re.match(r"\s+([0-9.]+) ms\s+(\S+)\s+(\S+)\s+(\S+)$", line)
        if m:
            nodes[m.group(4)] = (float(m.group(1)), m.group(2), m.group(3))
    return nodes


def onnxruntime(model, threads, runs):
    out = subprocess.run([VENV_PY, "-c", ORT_WORKER, model, str(threads), str(runs)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def to_ours(producer, ort_name, known):
    """The node of ours that ONNX Runtime's node @ort_name computes."""
    if ort_name in known:
        return ort_name
    n = producer.get(re.sub(r"_nchwc$", "", ort_name))
    for _ in range(4):
        if n is None or n.name in known:
            break
        n = producer.get(n.input[0]) if n.input else None
    return n.name if n is not None and n.name in known else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    import onnx
    graph = onnx.load(a.model, load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    best_ours, best_ort = {}, {}
    for _ in range(a.rounds):
        for name, (t, op, shape) in ours(a.model, a.threads, a.runs).items():
            if name not in best_ours or t < best_ours[name][0]:
                best_ours[name] = (t, op, shape)
        for name, t in onnxruntime(a.model, a.threads, a.runs).items():
            best_ort[name] = min(t, best_ort.get(name, t))
    theirs, unmatched = {}, {}
    for name, t in best_ort.items():
        key = to_ours(producer, name, best_ours)
        if key is None:
            unmatched[name] = t
        else:
            theirs[key] = theirs.get(key, 0.0) + t
    print("%s, %d thread(s), fastest of %d rounds: cnncore %.3f ms in its nodes, ONNX Runtime %.3f "
          "(%.3f in nodes of its own: %s)" % (os.path.basename(a.model), a.threads, a.rounds,
                                                sum(v[0] for v in best_ours.values()), sum(best_ort.values()),
                                                sum(unmatched.values()), ", ".join(sorted(unmatched)) or "none"))
    rows = sorted(((t - theirs.get(k, 0.0), t, theirs.get(k), op, shape, k)
                   for k, (t, op, shape) in best_ours.items()), reverse=True)
    print("%8s %8s %8s  %-12s %-20s %s" % ("ours", "ORT", "diff", "op", "output", "node"))
    for d, t, o, op, shape, k in rows[:a.top]:
        print("%8.3f %8s %+8.3f  %-12s %-20s %s" % (t, "-" if o is None else "%.3f" % o, d, op, shape, k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
