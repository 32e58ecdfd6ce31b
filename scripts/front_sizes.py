#!/usr/bin/env python3
"""The committed search runs' sizes as recorded against what `rn50-tune size` reports now.

    python3 scripts/front_sizes.py BUILD/rn50-tune [results/search]

The runs under results/search/ recorded each point's Core ML package size with the size model of
their day; the size model has changed since (ragged LUT groups left in fp16 as coremltools leaves
them, program bytes per op as measured on coremltools 9.0's own packages: compress/size.h). For
every point of points.csv this sizes the point's stored config (RUN/configs/*.yaml) again, from
the model's shapes (a copy of rn50-fmnist.yaml under another name: no weights, no compression
run, the planned sparsity and full LUTs: what `size` reports for the compressed model too, but
for a tie in pruning), and says whether the front (points not dominated in val top-1, bytes and
predicted latency, among the points within the budget, as tune's final stage) and the chosen point (the objective's best within the budget) would change.
Prints Markdown. Accuracy and latency are the runs' own: only the bytes are recomputed.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def dominates(a, b):
    ge = a["top1_val"] >= b["top1_val"] and a["bytes"] <= b["bytes"] and a["latency_ms"] <= b["latency_ms"]
    gt = a["top1_val"] > b["top1_val"] or a["bytes"] < b["bytes"] or a["latency_ms"] < b["latency_ms"]
    return ge and gt


def front(points):
    """As tune's final stage: among the points within the budget, the baseline aside."""
    pts = [p for p in points if p["within"] and not p["baseline"]]
    return {p["id"] for p in pts if not any(dominates(q, p) for q in pts if q is not p)}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "rn50-tune")
    top = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "results", "search")
    with open(os.path.join(ROOT, "configs", "models", "rn50-fmnist.yaml")) as f:
        model = f.read().replace("name: rn50-fmnist", "name: rn50-fmnist-shapes")
    tmp = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    tmp.write(model)
    tmp.close()
    try:
        for run in sorted(os.listdir(top)):
            d = os.path.join(top, run)
            if not os.path.exists(os.path.join(d, "points.csv")):
                continue
            objective = json.load(open(os.path.join(d, "front.json")))["run"]["objective"]
            with open(os.path.join(d, "points.csv")) as f:
                rows = list(csv.DictReader(f))
            pts_old, pts_new = [], []
            print(f"\n## {run} (objective {objective})\n")
            print("| id | config | on front | chosen | bytes recorded | bytes now | change |")
            print("|---|---|---|---|---:|---:|---:|")
            for r in rows:
                old = int(r["bytes"])
                cfg = r["config"] or ""
                if cfg:
                    p = subprocess.run([binary, "size", "--model", tmp.name, "--config", os.path.join(d, cfg), "--json"],
                                       capture_output=True, text=True)
                    if p.returncode:
                        sys.exit(f"front_sizes: size of {run}/{cfg} failed: {p.stderr.strip()}")
                    new = int(json.loads(p.stdout.strip().splitlines()[-1])["bytes"])
                else:  # the baseline: no config
                    p = subprocess.run([binary, "size", "--model", tmp.name, "--json"], capture_output=True, text=True)
                    new = int(json.loads(p.stdout.strip().splitlines()[-1])["bytes"]) if p.returncode == 0 else old
                base = {"id": r["id"], "top1_val": float(r["top1_val"]), "latency_ms": float(r["latency_ms"]),
                        "within": r["within_budget"] == "1", "baseline": r["stage"] == "baseline"}
                pts_old.append(dict(base, bytes=old))
                pts_new.append(dict(base, bytes=new))
                print(f"| {r['id']} | `{cfg or 'baseline'}` | {'yes' if r['on_front'] == '1' else ''} | "
                      f"{'yes' if r['chosen'] == '1' else ''} | {old:,} | {new:,} | {100.0 * (new - old) / old:+.2f} % |")
            f_old, f_new = front(pts_old), front(pts_new)
            rec = {r["id"] for r in rows if r["on_front"] == "1"}
            key = "bytes" if objective == "size" else "latency_ms"
            best = lambda pts: min((p for p in pts if p["within"]), key=lambda p: (p[key], -p["top1_val"]))["id"]  # noqa: E731
            print(f"\nFront recomputed with the recorded bytes: {'the recorded one' if f_old == rec else 'differs from the recorded one in ' + ', '.join(sorted(f_old ^ rec))}; "
                  f"with the bytes now: {'unchanged' if f_new == f_old else 'changes: ' + ', '.join(sorted(f_old ^ f_new))}. "
                  f"Chosen point by the {objective} objective: {best(pts_old)} recorded, {best(pts_new)} with the bytes now.")
    finally:
        os.remove(tmp.name)


if __name__ == "__main__":
    main()
