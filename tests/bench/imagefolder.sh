#!/usr/bin/env bash
# The image pipeline against ResNet50 (tests/bench/bench_imagefolder.c) on N generated JPEGs the
# size of an average ImageNet photo (500x375 and 375x500, quality 90, 4:2:0), with Debian's
# /usr/bin/python3 (PIL). Not a test: it prints rates and ratios measured in the same run.
#   tests/bench/imagefolder.sh BUILD_DIR [N] [threads]
set -euo pipefail
B=$1
N=${2:-200}
TH=${3:-2}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T/root" "$N" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(10)
for i in range(n):
    w, h = (500, 375) if i % 3 else (375, 500)
    small = rng.integers(0, 256, size=(h // 16, w // 16, 3), dtype=np.uint8)
    a = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.int16)
    a = np.clip(a + rng.integers(-16, 17, size=a.shape), 0, 255).astype(np.uint8)
    for part in ("val", "train"):
        if part == "train" and i >= 20:
            continue
        d = os.path.join(root, part, f"c{i % 10}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(a).save(os.path.join(d, f"{i}.jpg"), quality=90)
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$B/bench_imagefolder" "$T/root" "$T/cache" "$TH"
