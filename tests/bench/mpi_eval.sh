#!/bin/sh
# ResNet50 evaluation of one candidate on 2 ranks x 1 thread against 1 process x 2 threads
# (issue 15's target: at least 0.9 of the single process's images/s), side by side in one run:
# the two alternate, REPS times each, and the best images/s of each is compared.
#
#   tests/bench/mpi_eval.sh [path/to/rn50-tune] [IMAGES] [REPS]    (default build/rn50-tune 32 2)
#
# Weights: torchvision resnet50 with random weights and randomised BN statistics (fixed seed,
# tests/fixtures/make_parity.py); images: IMAGES random 3x224x224 float32 with random labels
# (accuracy is meaningless here, speed is not). The candidate is 4-bit per-tensor palettization
# (configs/compress/palettize-4bit.yaml), compressed on every rank before the timed pass.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/rn50-tune}
N=${2:-32}
REPS=${3:-2}
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mpi_eval.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

"$PY" "$ROOT/tests/fixtures/make_parity.py" --resnet50 "$TMP" --batch 1 >/dev/null
"$PY" - "$TMP" "$N" <<'PYEOF'
import sys
import numpy as np
d, n = sys.argv[1], int(sys.argv[2])
g = np.random.default_rng(15)
np.save(d + "/x.npy", g.standard_normal((n, 3, 224, 224), dtype=np.float32))
np.save(d + "/y.npy", g.integers(0, 1000, n).astype(np.int64))
PYEOF
EVAL="eval --model resnet50 --weights $TMP/resnet50.safetensors --data npy:$TMP/x.npy,$TMP/y.npy --batch 16
      --config $ROOT/configs/compress/palettize-4bit.yaml --json"
ips() { sed -n 's/.*"images_per_s":\([^,]*\),.*/\1/p' "$1" | tail -n 1; }
best1=0
best2=0
for r in $(seq "$REPS"); do
    # shellcheck disable=SC2086
    OMP_WAIT_POLICY=PASSIVE "$BIN" $EVAL --threads 2 >"$TMP/one.out" 2>"$TMP/one.err"
    # shellcheck disable=SC2086
    OMP_WAIT_POLICY=PASSIVE mpirun --oversubscribe --allow-run-as-root -np 2 "$BIN" $EVAL --threads 1 >"$TMP/two.out" 2>"$TMP/two.err"
    a=$(ips "$TMP/one.out")
    b=$(ips "$TMP/two.out")
    echo "rep $r: 1 rank x 2 threads $a images/s, 2 ranks x 1 thread $b images/s"
    best1=$(echo "$a $best1" | awk '{print ($1 > $2) ? $1 : $2}')
    best2=$(echo "$b $best2" | awk '{print ($1 > $2) ? $1 : $2}')
done
echo "best: 1x2 $best1 images/s, 2x1 $best2 images/s, ratio 2x1 / 1x2 = $(echo "$best2 $best1" | awk '{printf "%.3f", $1 / $2}') (target >= 0.9)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo)"
