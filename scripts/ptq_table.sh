#!/usr/bin/env bash
# Post-training compression table on the default model (issue 4): for each committed config,
# top-1 on the val and test splits, the deployment size of the really compressed model, and the
# time to compress. Writes results/rn50-fmnist/ptq.csv (whole or not at all).
#   scripts/ptq_table.sh [build/rn50-tune] [extra eval options, e.g. --limit 1000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/rn50-tune}
shift || true
OUT=$ROOT/results/rn50-fmnist/ptq.csv
mkdir -p "$(dirname "$OUT")"
C=configs/compress
CONFIGS="fp16 palettize-8bit palettize-6bit palettize-4bit palettize-3bit palettize-2bit palettize-1bit
palettize-4bit-g32 palettize-4bit-g16 palettize-4bit-g8 palettize-4bit-g4
palettize-2bit-g32 palettize-2bit-g16 palettize-2bit-g8 palettize-2bit-g4
palettize-4bit-skm palettize-3bit-skm palettize-2bit-skm
prune-50 prune-75 prune-90 prune-95 w8a8 w8a16
prune50-palettize4 prune75-palettize4 prune50-w8a8 prune75-w8a8 palettize4-a8"

# The first "KEY":value of a JSON line (size's per-layer breakdown repeats "bytes" later).
field() { grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2; }

cd "$ROOT"
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
echo "name,config,top1_val,top1_test,bytes,seconds" >"$TMP"
for name in $CONFIGS; do
    cfg=$C/$name.yaml
    val=$("$BIN" eval --model rn50-fmnist --data fmnist --split val --config "$cfg" --json "$@" 2>/dev/null | tail -n 1)
    test=$("$BIN" eval --model rn50-fmnist --data fmnist --split test --config "$cfg" --json "$@" 2>/dev/null | tail -n 1)
    size=$("$BIN" size --model rn50-fmnist --config "$cfg" --json 2>/dev/null | tail -n 1)
    row="$name,$cfg,$(echo "$val" | field top1),$(echo "$test" | field top1),$(echo "$size" | field bytes),$(echo "$test" | field compress_seconds)"
    echo "$row" | tee -a "$TMP"
done
mv "$TMP" "$OUT"
trap - EXIT
echo "wrote $OUT"
