"""ONNX Runtime half of tests/bench/peers.sh, on PyPI's `onnxruntime` (benchmark-only: never a
dependency of the engine). Install it once in its own virtual environment:

    python3 -m venv /opt/ort && /opt/ort/bin/pip install onnxruntime numpy

    /opt/ort/bin/python peer_ort.py MODEL.onnx C,H,W --batch B --reps R [--warmup W] [--threads T]

Prints one JSON line (median/min/max ms per run and images/s), like our engine's --json.
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("chw")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    chw = [int(v) for v in a.chw.split(",")]

    # Same settings as the earlier Node peer: 2 intra-op threads, 1 inter-op, sequential, all
    # graph optimisations (ORT's NCHWc rewrite included).
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, size=(a.batch, *chw)).astype(np.float32)
    feeds = {sess.get_inputs()[0].name: x}

    ms = []
    for i in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        dt = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            ms.append(dt)
    ms.sort()
    med = statistics.median(ms)
    print(json.dumps({"median_ms": round(med, 3), "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3),
                      "images_per_s": round(a.batch * 1e3 / med, 2), "batch": a.batch, "reps": len(ms),
                      "what": "ort-infer", "ort": ort.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
