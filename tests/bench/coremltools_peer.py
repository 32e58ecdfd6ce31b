#!/opt/ct-torch2/bin/python
"""coremltools as a peer: the published study's post-training workflows run with coremltools' own
torch-side APIs on the default model rn50-fmnist, against rn50-tune on the same weights.

    /opt/ct-torch2/bin/python tests/bench/coremltools_peer.py BUILD/rn50-tune [--threads T]
        [--limit N] [--out results/rn50-fmnist/coremltools_peer.md]

A benchmark, not a test. It needs coremltools.optimize.torch, hence torch >= 2.1: a separate
venv, not a runtime dependency of rn50-tune (tests/bench/setup_coremltools_peer.sh makes
/opt/ct-torch2: CPU use of PyPI's torch 2.7.0, torchvision 0.22.0, coremltools 9.0).

Per config, the same weights (configs/models/rn50-fmnist.safetensors, the torchvision state_dict
with its BatchNorms) and the same test split (Fashion-MNIST t10k, 10,000 images):
  coremltools: PostTrainingPalettizer (k-means, per tensor 8/6/4/2 bits, 4 bits in groups of 16
    output channels), MagnitudePruner data-free (one step of a constant schedule, 50/75/90 %),
    LinearQuantizer W8A8 (symmetric, int8 weights per channel, uint8 activations, observers on for
    128 calibration images, the first 128 of our val split, then fake quantization), each on the
    torch model as the study applies them (before BatchNorm is folded); the time is prepare +
    compress (+ calibration) + finalize, the accuracy that of the returned torch model;
  rn50-tune: `eval --config configs/compress/NAME.yaml --split test --json`, compressing the folded
    weights in memory; the time is its compress_seconds (calibration included).
Both sides run on --threads threads (torch.set_num_threads; rn50-tune --threads). Prints one
Markdown table; --out writes it with the command, the CPU and the versions.
"""
import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TQDM_DISABLE", "1")  # coremltools' per-layer progress bars
import logging  # noqa: E402

logging.disable(logging.WARNING)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "fixtures"))

FMNIST = os.environ.get("RN50_FMNIST_DIR") or "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # model/data.h
VAL_FIRST = 55000           # the val split: the last 5,000 training images (model/data.h)
N_CALIB = 128

# (label, coremltools workflow, its config, our config): the study's post-training rows.
CASES = [
    ("palettize 8 bit", "pal", {"n_bits": 8, "granularity": "per_tensor"}, "palettize-8bit"),
    ("palettize 6 bit", "pal", {"n_bits": 6, "granularity": "per_tensor"}, "palettize-6bit"),
    ("palettize 4 bit", "pal", {"n_bits": 4, "granularity": "per_tensor"}, "palettize-4bit"),
    ("palettize 2 bit", "pal", {"n_bits": 2, "granularity": "per_tensor"}, "palettize-2bit"),
    ("palettize 4 bit, groups of 16", "pal",
     {"n_bits": 4, "granularity": "per_grouped_channel", "group_size": 16, "channel_axis": 0},
     "palettize-4bit-g16"),
    # Diagnostic: coremltools' torch side compresses every conv and linear, ours only those with
    # more than 2048 weights (coremltools' Core ML side default, config.h): the same 2 bits on
    # coremltools' side with the 9 smaller layers left alone.
    ("palettize 2 bit, only layers > 2048 weights", "pal-big", {"n_bits": 2, "granularity": "per_tensor"},
     "palettize-2bit"),
    ("prune 50 % data-free", "prune", {"target_sparsity": 0.5}, "prune-50"),
    ("prune 75 % data-free", "prune", {"target_sparsity": 0.75}, "prune-75"),
    ("prune 90 % data-free", "prune", {"target_sparsity": 0.9}, "prune-90"),
    ("W8A8, 128 calibration images", "w8a8", {"quantization_scheme": "symmetric"}, "w8a8"),
]


def idx_images(path, first, n):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    total = int.from_bytes(buf[4:8], "big")
    x = np.frombuffer(buf, np.uint8, offset=16).reshape(total, 1, 28, 28)[first:first + n]
    return ((x.astype(np.float32) / 255.0 - MEAN) / STD).astype(np.float32)


def idx_labels(path, first, n):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    return np.frombuffer(buf, np.uint8, offset=8)[first:first + n].astype(np.int64)


def load_model():
    import torch
    from make_parity import build_resnet, read_safetensors

    m = build_resnet("bottleneck", [3, 4, 6, 3], 16, "small", 1, 10)
    sd = read_safetensors(os.path.join(SRC, "configs", "models", "rn50-fmnist.safetensors"))
    m.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}, strict=False)
    return m.eval()


def top1(model, x, y, batch=250):
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            right += int((model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch]).sum())
    return 100.0 * right / len(x)


def coremltools_side(kind, conf, calib):
    """Compresses a fresh copy of the model with coremltools' torch-side API; returns (model, s)."""
    import torch
    from coremltools.optimize.torch.palettization import PostTrainingPalettizer, PostTrainingPalettizerConfig
    from coremltools.optimize.torch.pruning import MagnitudePruner, MagnitudePrunerConfig
    from coremltools.optimize.torch.quantization import LinearQuantizer, LinearQuantizerConfig

    model = load_model()
    t0 = time.perf_counter()
    if kind in ("pal", "pal-big"):
        d = {"global_config": conf}
        if kind == "pal-big":
            d["module_name_configs"] = {n: None for n, m in model.named_modules()
                                        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.weight.numel() <= 2048}
        cfg = PostTrainingPalettizerConfig.from_dict(d)
        out = PostTrainingPalettizer(model, cfg).compress()
    elif kind == "prune":
        # Data-free: the masks of the largest |w| at the target, set in one step (a constant
        # schedule from step 1), then folded into the weights by finalize.
        cfg = MagnitudePrunerConfig.from_dict(
            {"global_config": dict(conf, scheduler={"begin_step": 1})})
        pruner = MagnitudePruner(model, cfg)
        pruner.prepare(inplace=True)
        pruner.step()
        out = pruner.finalize(inplace=True)
    else:
        # milestones: observers on at step 0 (BatchNorm frozen there too), fake quantization on
        # and observers off at step 1: one calibration pass over the samples between the steps.
        cfg = LinearQuantizerConfig.from_dict(
            {"global_config": dict(conf, milestones=[0, 1, 1, 0])})
        q = LinearQuantizer(model, cfg)
        prepared = q.prepare(example_inputs=(torch.from_numpy(calib[:1]),), inplace=True)
        q.step()
        prepared.eval()
        with torch.no_grad():
            for i in range(0, len(calib), 32):
                prepared(torch.from_numpy(calib[i:i + 32]))
        q.step()
        out = q.finalize(inplace=True)
    return out, time.perf_counter() - t0


def ours(binary, name, threads, limit):
    cmd = [binary, "eval", "--model", "rn50-fmnist", "--data", "fmnist", "--split", "test", "--config",
           os.path.join(SRC, "configs", "compress", name + ".yaml"), "--threads", str(threads), "--json"]
    if limit:
        cmd += ["--limit", str(limit)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"coremltools_peer: {' '.join(cmd)} failed: {p.stderr.strip()}")
    j = json.loads(p.stdout.strip().splitlines()[-1])
    return j["top1"], j["compress_seconds"]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", help="the rn50-tune program")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N test images only (0: all 10,000)")
    ap.add_argument("--out", help="write the table here (Markdown)")
    ap.add_argument("--only", default="", help="run only the workflows whose label contains this")
    a = ap.parse_args()

    import coremltools
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n = a.limit or 10000
    x = idx_images(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"), 0, n)
    y = idx_labels(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), 0, n)
    calib = idx_images(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"), VAL_FIRST, N_CALIB)
    t_all = time.perf_counter()
    load0 = os.getloadavg()[0]
    base = top1(load_model(), x, y)
    rows = []
    for label, kind, conf, name in CASES:
        if a.only not in label:
            continue
        model, secs = coremltools_side(kind, conf, calib)
        acc = top1(model, x, y)
        our_acc, our_secs = ours(a.binary, name, a.threads, a.limit)
        rows.append((label, name, secs, our_secs, acc, our_acc))
        print(f"{label}: coremltools {secs:.2f} s {acc:.2f} %, rn50-tune {our_secs:.2f} s {our_acc:.2f} %",
              file=sys.stderr, flush=True)
    lines = [
        f"| workflow | our config | coremltools s | rn50-tune s | time ratio (ct / ours) | coremltools top-1 % "
        f"| rn50-tune top-1 % | difference (ours - ct), points |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, name, secs, our_secs, acc, our_acc in rows:
        ratio = secs / our_secs if our_secs > 0 else float("inf")
        lines.append(f"| {label} | `{name}` | {secs:.2f} | {our_secs:.2f} | {ratio:.1f}x | {acc:.2f} | {our_acc:.2f} "
                     f"| {our_acc - acc:+.2f} |")
    head = (f"Uncompressed (torch, float32, BatchNorm unfolded): top-1 {base:.2f} % on {n} test images.\n"
            f"coremltools {coremltools.__version__}, torch {torch.__version__} (CPU), {a.threads} threads; "
            f"CPU: {cpu_name()} ({os.cpu_count()} cores seen); whole run {time.perf_counter() - t_all:.0f} s; "
            f"1-minute load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other jobs share "
            f"the cores: the seconds are wall time under that load, both sides alike, each config's two sides "
            f"run back to back).\n")
    table = "\n".join(lines) + "\n"
    print(head + "\n" + table)
    if a.out:
        cmd = " ".join(["/opt/ct-torch2/bin/python", "tests/bench/coremltools_peer.py"] + sys.argv[1:])
        with open(a.out, "w") as f:
            f.write("# coremltools as a peer: post-training workflows on rn50-fmnist\n\n"
                    f"Made by `{cmd}` on {time.strftime('%Y-%m-%d', time.gmtime())}.\n\n" + head + "\n" + table)


if __name__ == "__main__":
    main()
