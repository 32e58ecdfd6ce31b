#!/usr/bin/env python3
"""Scaling model of a default ResNet50 ImageNet search on a cluster (issue 15; results/mpi_scaling.md).

Replays the batches of a committed search (results/search/size-5p/results.db: which candidates
were evaluated together, on how many images) with the group choice evaluate_many.c makes, on
P = 2 * nodes ranks of 1 thread (nodes of this machine's size: 2 cores), from measured costs:

  image   seconds to infer and score one 224x224 image on one core (tests/bench/mpi_eval.sh)
  comp    seconds to compress one ResNet50 candidate on one core (rn50-tune eval --config)
  alpha   latency of one collective step between nodes, beta bytes/s of a link (assumed: a
          10 Gb/s Ethernet cluster; this machine's shared memory says nothing about a network)

Per batch of m candidates on n images with `per` ranks a group (P / per groups):
  ceil(m / groups) * (comp + ceil(n / per) * image + eval_comm(per, n)) + batch_comm(P, m)
  eval_comm = 2 alpha log2(per) + 16 n / beta   (the outcome agreement, the per-image gather)
  batch_comm = 3 alpha log2(P) + (1100 m + 96 m P) / beta   (plans out, results in)
and per is the divisor of P with the least time (the run's own rule). Batches run one after
another (each stage's decisions wait for the previous batch). fmnist -> ImageNet: full-val
evaluations (5,000 images) become 10,000 (a held-out stratified sample of train/), test
evaluations (10,000) become 50,000 (ImageNet val); the screening prefixes (500, 1,500, 1,000 and
the 500 sensitivity images) stay. The mixed stage's ladder is steered one evaluation at a time:
its evaluations are batches of one.

  /usr/bin/python3 tests/bench/mpi_scaling.py [--image S] [--comp S] [--alpha S] [--beta B/s]
"""
import argparse
import math
import os
import sqlite3


def batches(db):
    rows = sqlite3.connect(db).execute("select stage, split, n_images from evals order by id").fetchall()
    out = []
    for stage, split, n in rows:
        n = 10000 if (split == "val" and n == 5000) else 50000 if split == "test" else n
        key = (stage, split, n)
        if out and out[-1][0] == key and stage not in ("mixed", "baseline"):
            out[-1][1] += 1
        else:
            out.append([key, 1])
    return [(k[2], m) for k, m in out]


def batch_time(P, m, n, a):
    best = math.inf
    for per in range(P, 0, -1):
        if P % per:
            continue
        groups = P // per
        comm = (2 * a.alpha * math.log2(per) + 16 * n / a.beta) if per > 1 else 0.0
        t = math.ceil(m / groups) * (a.comp + math.ceil(n / per) * a.image + comm)
        best = min(best, t)
    if P > 1:
        best += 3 * a.alpha * math.log2(P) + (1100 * m + 96 * m * P) / a.beta
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--db", default=os.path.join(root, "results/search/size-5p/results.db"))
    ap.add_argument("--image", type=float, default=0.925, help="s per image per core (measured: 1 / 1.082)")
    ap.add_argument("--comp", type=float, default=4.5, help="s to compress a candidate on one core (measured mean)")
    ap.add_argument("--alpha", type=float, default=20e-6)
    ap.add_argument("--beta", type=float, default=1.25e9)
    a = ap.parse_args()
    b = batches(a.db)
    n_eval = sum(m for _, m in b)
    images = sum(n * m for n, m in b)
    print(f"{len(b)} batches, {n_eval} evaluations, {images} image evaluations; image {a.image} s, compress {a.comp} s, "
          f"alpha {a.alpha} s, beta {a.beta:.3g} B/s")
    print("| nodes | ranks | wall time | speed-up | efficiency |")
    print("|---|---|---|---|---|")
    t1 = None
    for nodes in (1, 8, 64, 256):
        P = 2 * nodes
        t = sum(batch_time(P, m, n, a) for n, m in b)
        t1 = t if t1 is None else t1
        print(f"| {nodes} | {P} | {t / 3600:.1f} h | {t1 / t:.1f} | {100 * t1 / t / nodes:.0f} % |")


if __name__ == "__main__":
    main()
