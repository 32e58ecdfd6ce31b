#!/usr/bin/env bash
# Command-line behaviour on bad input: every case must exit non-zero with a one-line message that
# names the file or option and what was expected, and leave no output file behind.
#   tests/cli_errors.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
DATA=$SRC/tests/data
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
PY=python3

# expect CODE NEEDLE -- ARGS...: exit status CODE, stderr one line containing NEEDLE.
expect() {
    local code=$1 needle=$2
    shift 3
    "$BIN" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$rc" -ne "$code" ] || ! grep -qF -- "$needle" "$T/err" || [ "$lines" -ne 1 ]; then
        echo "FAIL: rn50-tune $* -> exit $rc (want $code), $lines stderr lines, want '$needle' in:"
        sed 's/^/    /' "$T/err"
        fails=$((fails + 1))
    else
        passes=$((passes + 1))
    fi
}

# no_file PATH: the command must not have left PATH (or PATH.tmp) behind.
no_file() {
    if [ -e "$1" ] || [ -e "$1.tmp" ]; then
        echo "FAIL: $1 was left behind"
        fails=$((fails + 1))
    else
        passes=$((passes + 1))
    fi
}

M=$DATA/rn50w8-imagenet
MS=$DATA/rn50w8-small
W=$M.safetensors
edit() { $PY "$SRC/tests/fixtures/st_edit.py" "$W" "$T/$1.safetensors" "${@:2}"; }
edit truncated truncate 5
edit hugeheader hugeheader
edit badjson badjson
edit outside outside
edit overlap overlap
edit missing drop layer2.0.bn1.running_var
edit extra add layer9.0.conv1.weight
edit dtype dtype fc.weight I64

infer() { expect "$1" "$2" -- infer --model $M.yaml --weights "$3" --input $M.input.npy --output "$T/y.npy"; no_file "$T/y.npy"; }
infer 2 "truncated.safetensors" "$T/truncated.safetensors"
infer 2 "hugeheader.safetensors" "$T/hugeheader.safetensors"
infer 2 "invalid JSON" "$T/badjson.safetensors"
infer 2 "outside.safetensors" "$T/outside.safetensors"
infer 2 "overlap.safetensors" "$T/overlap.safetensors"
infer 2 "tensor 'layer2.0.bn1.running_var' is missing" "$T/missing.safetensors"
infer 2 "unexpected tensor 'layer9.0.conv1.weight'" "$T/extra.safetensors"
infer 2 "tensor 'fc.weight' has dtype I64, expected F32" "$T/dtype.safetensors"
infer 2 "tensor 'conv1.weight' has shape [8, 1, 3, 3], model rn50w8-imagenet expects [8, 3, 7, 7]" $MS.safetensors
infer 3 "no-such.safetensors" "$T/no-such.safetensors"

# Malformed and mismatched .npy inputs.
printf 'not a numpy file at all' >"$T/bad.npy"
expect 2 "bad.npy" -- infer --model $M.yaml --weights $W --input "$T/bad.npy" --output "$T/y.npy"
no_file "$T/y.npy"
head -c 100 $M.input.npy >"$T/short.npy"
expect 2 "short.npy" -- infer --model $M.yaml --weights $W --input "$T/short.npy" --output "$T/y.npy"
no_file "$T/y.npy"
expect 2 "expected float32 [N, 3, 64, 64]" -- infer --model $M.yaml --weights $W --input $MS.input.npy --output "$T/y.npy"
no_file "$T/y.npy"
# An unwritable output leaves nothing behind either.
expect 3 "$T/nodir/y.npy" -- infer --model $M.yaml --weights $W --input $M.input.npy --output "$T/nodir/y.npy"

# Models, datasets and options.
expect 2 "unknown model" -- eval --model resnet49 --data fmnist
printf 'block: bottleneck\nlayers: [3, 4, 6, 3]\nwidth: 8\nstem: small\nin_channels: 1\nclasses: 10\ninput: [28, 28]\ncolor: blue\n' >"$T/m.yaml"
expect 2 "m.yaml:8: unknown key 'color'" -- bench --model "$T/m.yaml"
expect 3 "install Debian's dataset-fashion-mnist" -- eval --model $MS.yaml --weights $MS.safetensors --data "fmnist:$T/none"
expect 2 "--data" -- eval --model $MS.yaml --weights $MS.safetensors --data imagenet
expect 2 "--split" -- eval --model $MS.yaml --weights $MS.safetensors --data fmnist --split dev
expect 2 "--batch: 'abc' is not an integer" -- bench --model rn50-fmnist --batch abc
expect 2 "--batch: '0' is not an integer in 1..65536" -- bench --model rn50-fmnist --batch 0
expect 2 "--threads: '2x' is not an integer" -- bench --model rn50-fmnist --threads 2x
expect 2 "--reps: missing value" -- bench --model rn50-fmnist --reps
expect 2 "--limit: '-5' is not an integer" -- eval --model rn50-fmnist --data fmnist --limit -5
expect 2 "--frobnicate: unknown option" -- eval --model rn50-fmnist --frobnicate
expect 2 "--model: required" -- bench
expect 2 "--input: required" -- infer --model $M.yaml --weights $W --output "$T/y.npy"
expect 2 "--weights: required for model resnet50" -- infer --model resnet50 --input $M.input.npy --output "$T/y.npy"
expect 2 "unknown command 'train-all'" -- train-all

# Compression configs and commands.
C=$SRC/configs/compress
printf 'palettization:\n  global_config:\n    n_bits: 4\n    nbits: 3\n' >"$T/bad.yaml"
expect 2 "bad.yaml:4" -- size --model resnet50 --config "$T/bad.yaml"
expect 3 "no-such.yaml" -- size --model resnet50 --config "$T/no-such.yaml"
expect 2 "--out: required" -- compress --model $MS.yaml --weights $MS.safetensors --config $C/palettize-4bit.yaml
expect 2 "bad.yaml:4" -- compress --model $MS.yaml --weights $MS.safetensors --config "$T/bad.yaml" --out "$T/c.safetensors"
no_file "$T/c.safetensors"
expect 2 "finetune" -- compress --model $MS.yaml --weights $MS.safetensors --config $C/palettize-2bit-dkm.yaml --out "$T/c.safetensors"
no_file "$T/c.safetensors"
expect 2 "bad.yaml:4" -- eval --model $MS.yaml --weights $MS.safetensors --data fmnist --config "$T/bad.yaml"
if "$BIN" size --model resnet50 --config $C/palettize-4bit.yaml --json | tail -n 1 |
    grep '"bytes":[0-9]*,"mib":12\.' | grep -q '"layers":\[{"name":"conv1","scheme":"lut4",'; then
    passes=$((passes + 1)); else echo "FAIL: size --json"; fails=$((fails + 1)); fi
# compress -> infer on the compressed file gives the logits eval --config computes in memory.
"$BIN" compress --model $MS.yaml --weights $MS.safetensors --config $C/palettize-4bit.yaml --out "$T/c.safetensors" \
    --dequantized "$T/dq.safetensors" >/dev/null 2>&1
"$BIN" infer --model $MS.yaml --weights "$T/c.safetensors" --input $MS.input.npy --output "$T/yc.npy" 2>/dev/null
"$BIN" infer --model $MS.yaml --weights "$T/dq.safetensors" --input $MS.input.npy --output "$T/yd.npy" 2>/dev/null
if [ -s "$T/yc.npy" ] && [ -s "$T/yd.npy" ]; then passes=$((passes + 1)); else echo "FAIL: compress + infer"; fails=$((fails + 1)); fi

# Every command answers --help with its usage and exit 0.
for c in eval infer bench train compress size; do
    if "$BIN" $c --help | grep -q "usage: rn50-tune $c"; then passes=$((passes + 1)); else echo "FAIL: $c --help"; fails=$((fails + 1)); fi
done

# The good path writes the logits, and --json prints one JSON object last.
"$BIN" infer --model $M.yaml --weights $W --input $M.input.npy --output "$T/y.npy" --json >"$T/out" 2>/dev/null
if [ -s "$T/y.npy" ] && tail -n 1 "$T/out" | grep -q '^{"command":"infer",.*"n":3,.*}$'; then
    passes=$((passes + 1))
else
    echo "FAIL: good infer"; fails=$((fails + 1))
fi

echo "cli_errors: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
