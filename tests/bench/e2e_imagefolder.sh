#!/usr/bin/env bash
# End to end on a generated ImageFolder: torchvision's resnet50(num_classes=10) with fixed random
# weights (randomised BatchNorm, tests/fixtures/make_parity.py's helpers, seed printed), exported
# to safetensors; 10 classes of JPEGs (train/: 4 per class, val/: 2 per class; 500x375-ish photos,
# some grey and CMYK); then
#   rn50-tune --model M.yaml --weights W.safetensors --data imagefolder:ROOT --objective size --budget 5%
# kept small (a two-config space, 20 val and 20 test images, global stage only). This checks the
# path, not the accuracy: the weights are random. Not a test; prints the run's summary.
# E2E_CLASSES=1000 runs the literal ImageNet command instead: `--model resnet50` (torchvision's
# 1000-class resnet50(), random weights) on 1000 generated class folders (train/: 2 small JPEGs a
# class, val/: 1), --val-per-class 1.
#   tests/bench/e2e_imagefolder.sh BUILD_DIR [OUT_DIR]
set -euo pipefail
B=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
OUT=${2:-$T/run}
trap 'rm -rf "$T"' EXIT
CLASSES=${E2E_CLASSES:-10}
/usr/bin/python3 - "$T" "$SRC/tests/fixtures" "$CLASSES" <<'PY'
import os, sys
import numpy as np
import torch, torchvision
from PIL import Image
t, fx, classes = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, fx)
import make_parity
torch.manual_seed(make_parity.SEED)
print(f"e2e: torch.manual_seed({make_parity.SEED}), torchvision resnet50(num_classes={classes})")
model = make_parity.randomise_bn(torchvision.models.resnet50(num_classes=classes)).eval()
make_parity.write_safetensors(os.path.join(t, "resnet50-10.safetensors"), model.state_dict(), {"format": "pt"})
make_parity.write_yaml(os.path.join(t, "resnet50-10.yaml"), "resnet50-10", "bottleneck", [3, 4, 6, 3], 64, "imagenet", 3, 10, (224, 224))
rng = np.random.default_rng(11)
k = 0
big = classes <= 10
for c in range(classes):
    for part, n in ((("train", 4), ("val", 2)) if big else (("train", 2), ("val", 1))):
        for i in range(n):
            w, h = ((500, 375) if k % 2 else (375, 500)) if big else ((160, 120) if k % 2 else (120, 160))
            small = rng.integers(0, 256, size=(h // 16, w // 16, 3), dtype=np.uint8)
            im = Image.fromarray(small).resize((w, h), Image.BICUBIC)
            im = im.convert("L") if k % 7 == 0 else im.convert("CMYK") if k % 11 == 0 else im
            d = os.path.join(t, "root", part, f"n{c:08d}")
            os.makedirs(d, exist_ok=True)
            im.save(os.path.join(d, f"{k}.JPEG"), quality=90)
            k += 1
PY
cat >"$T/space.yaml" <<'Y'
palettization:
  n_bits: [4, 8]
  granularity: [per_tensor]
workflows: [ptq]
Y
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
if [ "$CLASSES" = 1000 ]; then MODEL=resnet50; VPC=1; else MODEL=$T/resnet50-10.yaml; VPC=2; fi
time "$B/rn50-tune" --model "$MODEL" --weights "$T/resnet50-10.safetensors" --data "imagefolder:$T/root" \
    --objective size --budget 5% --val-per-class $VPC --cache-dir "$T/cache" --space "$T/space.yaml" --device none \
    --global-only --screen 10,20 --val-limit 20 --test-limit 20 --threads 2 --out "$OUT" --json
ls "$OUT"
head -5 "$OUT/split_val.tsv"
