#!/usr/bin/env bash
# Training-time compression table on the default model (issue 5): for each committed finalized
# model, top-1 on val and test as `rn50-tune eval` computes it from the file, and, from the run's
# log (the JSON summaries `rn50-tune finetune --json` printed: one per invocation, so a run that
# was resumed has several), its deployment bytes (the last), the time to compress (fine-tuning
# seconds, summed over the invocations) and the peak RSS (the largest). Writes
# results/rn50-fmnist/finetune.csv (whole or not at all).
#   scripts/finetune_table.sh [build/rn50-tune]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/rn50-tune}
R=results/rn50-fmnist
OUT=$ROOT/$R/finetune.csv
NAMES="dkm-2bit dkm-1bit prune-90-ft prune-90-ft-6ep prune-90-ft-long prune-90-ft-short prune-90-ft-3ep"

field() { grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2 | tr -d '"'; }
field_all() { grep -o "\"$1\":[^,}]*" | cut -d: -f2 | tr -d '"'; }   # one value per line

cd "$ROOT"
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
echo "name,config,model,top1_val,top1_test,bytes,seconds,peak_rss_mb" >"$TMP"
for name in $NAMES; do
    model=$R/$name.safetensors
    [ -e "$model" ] || { echo "skip $name: no $model" >&2; continue; }
    log=$R/finetune-$name.log
    summary=$(grep '^{"command":"finetune"' "$log" | tail -n 1)
    seconds=$(grep '^{"command":"finetune"' "$log" | field_all seconds | awk '{ s += $1 } END { printf "%.1f", s }')
    rss=$(grep '^{"command":"finetune"' "$log" | field_all peak_rss_mb | awk '$1 > m { m = $1 } END { printf "%.1f", m }')
    val=$("$BIN" eval --model rn50-fmnist --weights "$model" --data fmnist --split val --json 2>/dev/null | tail -n 1)
    test=$("$BIN" eval --model rn50-fmnist --weights "$model" --data fmnist --split test --json 2>/dev/null | tail -n 1)
    row="$name,$(echo "$summary" | field config),$model,$(echo "$val" | field top1),$(echo "$test" | field top1)"
    row="$row,$(echo "$summary" | field bytes),$seconds,$rss"
    echo "$row" | tee -a "$TMP"
done
mv "$TMP" "$OUT"
trap - EXIT
echo "wrote $OUT"
