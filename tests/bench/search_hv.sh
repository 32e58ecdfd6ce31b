#!/usr/bin/env bash
# The staged global search against the exhaustive grid (issue 7): on the global-combination space,
# successive halving must reach >= 99 % of the grid's hypervolume with <= 25 % of its full-val
# evaluations. One run does both: the staged screening first, then every remaining global config
# on the full val split (reusing the store), so both fronts come from the same evaluations.
#   tests/bench/search_hv.sh BUILD/rn50-tune [extra tune options, e.g. --device none --val-limit 2000]
# Prints both hypervolumes (reference point: the budget's top-1, the baseline's bytes and 1.05x
# the slowest predicted latency), both evaluation counts and the two ratios.
set -eu
BIN=$1
shift
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_WAIT_POLICY=PASSIVE
DEVICE=cpu-local
[ -e "$SRC/configs/devices/cpu-local.yaml" ] || DEVICE=none
echo "search_hv: space $SRC/configs/spaces/default.yaml, device $DEVICE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
"$BIN" tune --objective size --budget 5% --device "$DEVICE" --space "$SRC/configs/spaces/default.yaml" --compare-exhaustive \
    --out "$OUT/run" --json "$@" >"$OUT/out" 2>"$OUT/err" || { tail -n 5 "$OUT/err"; exit 1; }
grep "staged global search" "$OUT/err"
json=$(tail -n 1 "$OUT/out")
get() { echo "$json" | sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }
sf=$(get staged_full_evaluations); gf=$(get grid_full_evaluations)
sh=$(get staged_hypervolume); gh=$(get grid_hypervolume)
awk -v sf="$sf" -v gf="$gf" -v sh="$sh" -v gh="$gh" -v secs=$(( $(date +%s) - start )) 'BEGIN {
    e = sf / gf; h = sh / gh;
    printf "search_hv: staged %d full evaluations, grid %d: ratio %.3f (target <= 0.25) %s\n", sf, gf, e, (e <= 0.25 ? "ok" : "MISSED");
    printf "search_hv: staged hypervolume %.6g, grid %.6g: ratio %.4f (target >= 0.99) %s\n", sh, gh, h, (h >= 0.99 ? "ok" : "MISSED");
    printf "search_hv: %d s wall\n", secs }'
