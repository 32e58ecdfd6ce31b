#!/bin/sh
# Full-size parity check: torchvision resnet50 (random weights, randomised BN statistics,
# fixed seed) at 224x224, batch 2, against PyTorch's float64 reference logits.
#
#   tests/bench/parity_resnet50.sh [path/to/rn50-tune]      (default build/rn50-tune)
#
# The weights are ~100 MB, so they are generated into a temporary directory each run
# rather than committed (set KEEP=1 to keep it and print its path).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/rn50-tune}
# Debian's interpreter has PyTorch 1.13 + torchvision; the pyenv python3 on PATH does not.
PY=${PYTHON:-/usr/bin/python3}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parity_resnet50.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "keeping $TMP"
else
    trap 'rm -rf "$TMP"' EXIT INT TERM
fi

# 1. Reference: weights, input and float64 logits (make_parity.py also validates its safetensors).
"$PY" "$ROOT/tests/fixtures/make_parity.py" --resnet50 "$TMP" --batch 2

# 2. Our engine. Without a binary, stop after the Python half with a clear note.
if [ ! -x "$BIN" ]; then
    echo "SKIP: $BIN not built; reference files were generated and checked, engine not run"
    exit 0
fi
start=$(date +%s)
"$BIN" infer --model resnet50 --weights "$TMP/resnet50.safetensors" \
    --input "$TMP/resnet50.input.npy" --output "$TMP/out.npy"
echo "engine infer took $(( $(date +%s) - start )) s (includes loading the weights)"

# 3. Compare: max |diff|, logit range, their ratio, argmax agreement.
"$PY" - "$TMP/resnet50.logits.npy" "$TMP/out.npy" <<'PYEOF'
import sys
import numpy as np
ref = np.load(sys.argv[1]).astype(np.float64)
out = np.load(sys.argv[2]).astype(np.float64)
if out.shape != ref.shape:
    sys.exit(f"FAIL: output shape {out.shape}, expected {ref.shape}")
diff = float(np.abs(out - ref).max())
rng = float(ref.max() - ref.min())
agree = (out.argmax(1) == ref.argmax(1))
print(f"max|diff| {diff:.4g}   logit range {rng:.4g}   ratio {diff / rng:.3g}")
print(f"argmax ref {ref.argmax(1).tolist()} ours {out.argmax(1).tolist()}: "
      f"{'agree' if agree.all() else 'DISAGREE'}")
if not np.isfinite(out).all():
    sys.exit("FAIL: non-finite output")
PYEOF
