#!/usr/bin/python3
"""Table and ratios for tests/bench/peers.sh: reads 'label<TAB>json' lines (one per run)."""
import json
import sys

model, path = sys.argv[1], sys.argv[2]
rows = {}
with open(path) as f:
    for line in f:
        label, js = line.rstrip("\n").split("\t", 1)
        try:
            rows[label] = json.loads(js)
        except ValueError:
            rows[label] = {"error": "bad json: " + js[:60]}


def batch_of(label):
    return int(label.rsplit("b", 1)[1])


def ips(label):
    r = rows.get(label, {})
    if "median_ms" not in r:
        return None
    return batch_of(label) * 1e3 / r["median_ms"]


def med(label):
    return rows.get(label, {}).get("median_ms")


print(f"\n{model}, 2 threads")
print(f"{'run':<20} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'images/s':>10}")
for label, r in rows.items():
    if "median_ms" in r:
        print(f"{label:<20} {r['median_ms']:>10.2f} {r['min_ms']:>9.2f} {r['max_ms']:>9.2f} {ips(label):>10.1f}")
    else:
        print(f"{label:<20} {'-- ' + r.get('error', '?')}")


def ratio(what, a, b, fa, better):
    va, vb = fa(a), fa(b)
    if va is None or vb is None:
        print(f"  {what:<44} n/a ({a if va is None else b} missing)")
    else:
        print(f"  {what:<44} {va / vb:6.3f}  ({better})")


print("\nratios")
if model == "resnet50":
    pairs = [("b1", "latency", med, "< 1: ours faster"), ("b8", "throughput", ips, "> 1: ours faster")]
else:
    pairs = [("b1", "latency", med, "< 1: ours faster"), ("b500", "throughput", ips, "> 1: ours faster")]
for b, kind, fn, better in pairs:
    for peer in ("ort", "torch"):
        ratio(f"ours/{peer} {kind} at batch {b[1:]}", f"ours {b}", f"{peer} {b}", fn, better)
if model == "rn50-fmnist":
    ratio("ours/torch training throughput at batch 128", "ours train b128", "torch train b128", ips,
          "> 1: ours faster")
    t = ips("torch train b128")
    if t:
        print(f"  PyTorch training: {t:.0f} images/s = {55000 / t / 60:.1f} min per 55k-image epoch")
