#!/usr/bin/python3
"""PyTorch half of tests/bench/peers.sh: ONNX export and PyTorch timings.

Run with Debian's /usr/bin/python3 (PyTorch 1.13). Every timing prints one JSON line
(last line of stdout) so peers.sh can collect it the same way as our engine's --json.

    peer_torch.py export MODEL OUT.onnx
    peer_torch.py infer  MODEL --batch B --reps R [--warmup W]
    peer_torch.py train  MODEL --batch B --reps R [--warmup W]

MODEL: resnet50 (torchvision, 3x224x224, 1000 classes) or rn50-fmnist (ResNet-50 topology,
width 16, small stem, 1x28x28, 10 classes; built with tests/fixtures/make_parity.py's builder).
Weights are random: timing does not depend on their values.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from make_parity import build_resnet, randomise_bn  # noqa: E402

THREADS = 2  # SPEC §8: all peer figures are on 2 threads


def make_model(name):
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        return randomise_bn(torchvision.models.resnet50()), (3, 224, 224), 1000
    if name == "rn50-fmnist":
        return randomise_bn(build_resnet("bottleneck", [3, 4, 6, 3], 16, "small", 1, 10)), (1, 28, 28), 10
    raise SystemExit(f"unknown model {name!r}")


def summary(times_s, batch, **extra):
    ms = sorted(t * 1e3 for t in times_s)
    med = statistics.median(ms)
    out = {"median_ms": round(med, 3), "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3),
           "images_per_s": round(batch * 1e3 / med, 2), "batch": batch, "reps": len(ms)}
    out.update(extra)
    return out


def cmd_export(args):
    model, chw, _ = make_model(args.model)
    model.eval()
    x = torch.randn(1, *chw)
    # Dynamic batch axis so one file serves batch 1, 8 and 500. Opset 13: what the spec's
    # ORT figures used; eval-mode export folds BN into the convolutions (ORT would anyway).
    torch.onnx.export(model, x, args.out, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(json.dumps({"exported": args.out, "bytes": os.path.getsize(args.out), "chw": list(chw)}))


def cmd_infer(args):
    model, chw, _ = make_model(args.model)
    model.eval()
    x = torch.randn(args.batch, *chw)
    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            model(x)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
    print(json.dumps(summary(times, args.batch, what="pytorch-infer", threads=torch.get_num_threads())))


def cmd_train(args):
    model, chw, classes = make_model(args.model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch, *chw)
    y = torch.randint(0, classes, (args.batch,))
    times = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps(summary(times, args.batch, what="pytorch-train-step", threads=torch.get_num_threads())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export")
    p.add_argument("model")
    p.add_argument("out")
    for name in ("infer", "train"):
        p = sub.add_parser(name)
        p.add_argument("model")
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--reps", type=int, default=30)
        p.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    {"export": cmd_export, "infer": cmd_infer, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
