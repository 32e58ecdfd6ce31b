#!/usr/bin/env bash
# `rn50-tune finetune` from the command line on a tiny model and a few images: DKM + scheduled
# pruning writes a compressed file that eval loads and that reproduces the reported top-1; a run
# stopped part-way (--max-steps) and resumed gives the same file as an uninterrupted run (masks,
# centroids and momentum travel in the checkpoint); bad configs are refused with exit 2.
#   tests/cli_finetune.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${RN50_FMNIST_DIR:-}" ]; then
    echo "skip: Fashion-MNIST is not installed"; exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { if eval "$1"; then passes=$((passes + 1)); else echo "FAIL: $2"; fails=$((fails + 1)); fi; }
field() { grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2; }

M=$SRC/tests/data/rn50w8-small.yaml
cat >"$T/joint.yaml" <<'EOF'
pruning:
  global_config:
    target_sparsity: 0.75
    weight_threshold: 1024
    scheduler: {update_steps: [0, 4, 8], power: 3}
palettization:
  global_config:
    n_bits: 2
    granularity: per_grouped_channel
    group_size: 8
    algorithm: dkm
    weight_threshold: 1024
    milestone: 2
EOF
ARGS=(--model "$M" --config "$T/joint.yaml" --data fmnist --train-limit 256 --val-limit 128 --batch 32 --epochs 2 --threads 2 --no-test)

"$BIN" finetune "${ARGS[@]}" --out "$T/a.safetensors" --json >"$T/out1" 2>"$T/err1"
rc=$?
ok '[ $rc -eq 0 ]' "finetune exits 0 (got $rc): $(tail -n 1 "$T/err1")"
ok 'tail -n 1 "$T/out1" | grep -q "\"epochs_done\":2"' "finetune runs 2 epochs"
ok 'tail -n 1 "$T/out1" | grep -q "\"max_lut_values\":[1-4],"' "at most 4 values per 2-bit LUT"
sp=$(tail -n 1 "$T/out1" | field sparsity)
ok 'awk -v s="$sp" "BEGIN { exit !(s > 0.74 && s < 0.76) }"' "sparsity 0.75 after the schedule (got $sp)"
val=$(tail -n 1 "$T/out1" | field top1_val)
"$BIN" eval --model "$M" --weights "$T/a.safetensors" --data fmnist --split val --limit 128 --json >"$T/out2" 2>/dev/null
ev=$(tail -n 1 "$T/out2" | field top1)
ok 'awk -v a="$val" -v b="$ev" "BEGIN { exit !(a == b) }"' "eval of the file reproduces finetune's val top-1 ($val vs $ev)"

# Stopped after 5 steps (mid first epoch, between two mask updates), then resumed.
"$BIN" finetune "${ARGS[@]}" --out "$T/b.safetensors" --max-steps 5 >"$T/out3" 2>"$T/err3"
ok '[ $? -eq 0 ] && [ -s "$T/b.ckpt.safetensors" ]' "a stopped run leaves a checkpoint"
"$BIN" finetune "${ARGS[@]}" --out "$T/b.safetensors" --resume "$T/b.ckpt.safetensors" --json >"$T/out4" 2>"$T/err4"
rc=$?
ok '[ $rc -eq 0 ] && grep -q "resumed from" "$T/err4"' "resume completes (rc $rc): $(tail -n 1 "$T/err4")"
ok 'cmp -s "$T/a.safetensors" "$T/b.safetensors"' "resumed run writes the same file as the uninterrupted one"

# A checkpoint of plain training has no fine-tuning state.
"$BIN" train --model "$M" --data fmnist --train-limit 64 --val-limit 32 --batch 32 --epochs 1 --threads 2 \
    --out "$T/w.safetensors" >/dev/null 2>&1
"$BIN" finetune "${ARGS[@]}" --out "$T/c.safetensors" --resume "$T/w.ckpt.safetensors" 2>"$T/err5"
ok '[ $? -eq 2 ] && grep -q "no fine-tuning state" "$T/err5"' "resume refuses a train checkpoint"

# Bad input: a post-training algorithm, a missing --config.
printf 'palettization:\n  global_config: {n_bits: 2}\n' >"$T/kmeans.yaml"
"$BIN" finetune --model "$M" --config "$T/kmeans.yaml" --out "$T/d.safetensors" 2>"$T/err6"
ok '[ $? -eq 2 ] && grep -q "algorithm: dkm" "$T/err6"' "kmeans palettization is refused with a hint"
"$BIN" finetune --model "$M" --out "$T/d.safetensors" 2>"$T/err7"
ok '[ $? -eq 2 ] && grep -q -- "--config: required" "$T/err7"' "--config is required"
"$BIN" finetune --help | grep -q "usage: rn50-tune finetune"
ok '[ $? -eq 0 ]' "--help"
echo "cli_finetune: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
