#!/usr/bin/env bash
# cost_heldout.sh — held-out check of a cpu-local cost model (issue 6): N random configurations per
# model (one spec for the whole network, one per stage, or one per layer; random sparsities, bit
# widths, group sizes, int8), none of them in the designed profile the model was fitted on, are
# measured end to end on this machine (rn50-tune profile --random: warm-up, interleaved passes,
# medians) and predicted from their compression configs (rn50-tune cost predict --config). Prints
# the table, the mean absolute percentage error and the worst case per model and overall.
#
# usage: tests/bench/cost_heldout.sh [BIN] [N] [SEED]
#   BIN   the rn50-tune binary (default build/rn50-tune)
#   N     random configurations per model (default 20)
#   SEED  seed of the configurations (default 7; the designed profile's mixtures use another stream)
# environment: DEVICE (default cpu-local), MODELS (default "resnet50 rn50-fmnist"), SECONDS_PER_MODEL
#   (timing budget per model, default 100), KEEP=DIR (keep the measurements, configs and table there),
#   REUSE=1 (with KEEP: no new measurements, predict again, e.g. after a refit)
set -euo pipefail
BIN=${1:-build/rn50-tune}
N=${2:-20}
SEED=${3:-7}
DEVICE=${DEVICE:-cpu-local}
MODELS=${MODELS:-"resnet50 rn50-fmnist"}
# No OMP_WAIT_POLICY of our own: measure under the policy the profile was taken with (and the
# search will run with). PASSIVE makes every small layer wait for sleeping threads to wake (rn50-fmnist
# batch 1: ~6 ms against ~1.2 ms with the default policy, measured 2026-11-27).

if [ -n "${KEEP:-}" ]; then
    DIR=$KEEP
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d)
    trap 'rm -rf "$DIR"' EXIT
fi

# REUSE=1 with KEEP=DIR: compare again against the measurements already in DIR (after a refit).
if [ -z "${REUSE:-}" ]; then
    model_args=()
    for m in $MODELS; do model_args+=(--model "$m"); done
    "$BIN" profile --device "$DEVICE" "${model_args[@]}" --random "$N" --seed "$SEED" --configs-dir "$DIR" \
        --seconds "${SECONDS_PER_MODEL:-100}" --out "$DIR/heldout.csv" >&2
fi

# The statistic of the timed passes the device profile was fitted on (median, p10, min or quiet) is
# the one compared: column 8, 11, 12 or 13 of the measurements.
profile_yaml=${PROFILE_YAML:-$(dirname "$0")/../../configs/devices/$DEVICE.yaml}
STAT=$(sed -n 's/^statistic: *//p' "$profile_yaml" 2>/dev/null || true)
STAT=${STAT:-p10}
case $STAT in median) col=8 ;; p10) col=11 ;; min) col=12 ;; quiet) col=13 ;; *) echo "cost_heldout: unknown statistic $STAT" >&2; exit 1 ;; esac

# One line per configuration: model config spec measured predicted.
awk -F, -v c="$col" '!/^#/ && $3 == "network" { print $2, $1, $5, $c }' "$DIR/heldout.csv" |
while read -r model cfg spec measured; do
    json=$("$BIN" cost predict --device "$DEVICE" --model "$model" --config "$DIR/$model-$cfg.yaml" --json | tail -n 1)
    predicted=$(printf '%s\n' "$json" | sed -n 's/.*"latency_ms":\([-0-9.eE+]*\).*/\1/p')
    if [ -z "$predicted" ]; then
        echo "cost_heldout: no latency_ms from cost predict for $model $cfg: $json" >&2
        exit 1
    fi
    echo "$model $cfg $spec $measured $predicted"
done > "$DIR/table.txt"

machine=$(sed -n 's/^# cpu: //p' "$DIR/heldout.csv")
threads=$(sed -n 's/^# threads: //p' "$DIR/heldout.csv")
echo "cost_heldout: device $DEVICE on $machine, $threads threads, seed $SEED, $N random configurations per model, statistic $STAT of the timed passes"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); median run-queue delay per pass (ms, per configuration): $(awk -F, '!/^#/ && $3 == "network" { printf "%s ", $14 }' "$DIR/heldout.csv")"
awk '
    { ape = 100 * ($5 - $4) / $4; a = ape < 0 ? -ape : ape
      printf "%-12s %-4s %-22s measured %9.3f ms  predicted %9.3f ms  error %+7.2f %%\n", $1, $2, $3, $4, $5, ape
      n[$1]++; s[$1] += a; if (a > w[$1]) w[$1] = a
      N++; S += a; if (a > W) W = a }
    END {
      for (m in n) printf "%-12s MAPE %.2f %%, worst %.2f %% over %d configurations\n", m, s[m] / n[m], w[m], n[m]
      printf "all          MAPE %.2f %%, worst %.2f %% over %d configurations (targets: MAPE <= 5 %%, worst <= 15 %%)\n", S / N, W, N
    }' "$DIR/table.txt"
