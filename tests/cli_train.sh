#!/usr/bin/env bash
# `rn50-tune train` from the command line: Ctrl-C (SIGINT) leaves a usable checkpoint and a
# non-zero exit, --resume finishes the run, and the output weights evaluate.
#   tests/cli_train.sh BUILD/rn50-tune SOURCE_DIR
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

M=$SRC/tests/data/rn50w8-small.yaml
ARGS=(--model "$M" --data fmnist --train-limit 1024 --val-limit 128 --batch 32 --epochs 2 --threads 2 --out "$T/w.safetensors")
"$BIN" train "${ARGS[@]}" >"$T/out1" 2>"$T/err1" &
pid=$!
# Interrupt once the run is under way (its first progress or epoch line), at most 60 s.
for _ in $(seq 600); do
    [ -s "$T/w.ckpt.safetensors" ] || grep -q "epoch 1/2" "$T/err1" 2>/dev/null && break
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
ok '[ $rc -ne 0 ]' "interrupted train exits non-zero (got $rc)"
ok 'grep -q "interrupted" "$T/err1"' "interrupted train says so"
ok '[ -s "$T/w.ckpt.safetensors" ]' "checkpoint written on SIGINT"
"$BIN" train "${ARGS[@]}" --resume "$T/w.ckpt.safetensors" --json >"$T/out2" 2>"$T/err2"
rc=$?
ok '[ $rc -eq 0 ]' "resumed train exits 0 (got $rc): $(tail -n 1 "$T/err2")"
ok 'grep -q "resumed from" "$T/err2"' "resume is reported"
ok 'tail -n 1 "$T/out2" | grep -q "\"epochs_done\":2"' "resumed run completes 2 epochs"
ok '[ -s "$T/w.safetensors" ]' "best weights written"
"$BIN" eval --model "$M" --weights "$T/w.safetensors" --data fmnist --split val --limit 256 --json >"$T/out3" 2>/dev/null
ok 'tail -n 1 "$T/out3" | grep -q "\"top1\":"' "trained weights evaluate"
# A checkpoint of another model is refused with a message naming it.
"$BIN" train --model rn50-fmnist --data fmnist --train-limit 64 --epochs 1 --out "$T/x.safetensors" \
    --resume "$T/w.ckpt.safetensors" 2>"$T/err4"
ok '[ $? -eq 2 ] && grep -q "checkpoint of model" "$T/err4"' "resume refuses another model's checkpoint"
echo "cli_train: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
