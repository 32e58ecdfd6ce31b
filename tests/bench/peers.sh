#!/bin/sh
# Peer benchmarks: ONNX Runtime (PyPI's onnxruntime), PyTorch 1.13 (Debian) and our engine, side by side
# in one run on 2 threads, so the ratios in SPEC §8 are measured on the same machine and load.
#
#   tests/bench/peers.sh [resnet50|rn50-fmnist] [path/to/rn50-tune]   (defaults: resnet50, build/rn50-tune)
#
#   resnet50     torchvision ResNet50, 3x224x224: batch 1 median latency, batch 8 throughput.
#   rn50-fmnist  ResNet-50 topology width 16, small stem, 1x28x28: inference batch 1 and 500,
#                plus PyTorch training throughput at batch 128 (SGD momentum, cross-entropy).
#
# Environment: REPS_SCALE (multiply every rep count, default 1), RN50_PEER_CACHE (where the
# exported ONNX files live, default ~/.cache/rn50-tune-peers; ResNet50's is ~100 MB, so not in git),
# ORT_PYTHON (an interpreter with PyPI's onnxruntime and numpy, default /opt/ort/bin/python; make it
# with `python3 -m venv /opt/ort && /opt/ort/bin/pip install onnxruntime numpy`: benchmark-only).
# Weights are random (fixed seed): timing does not depend on their values.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODEL=${1:-resnet50}
BIN=${2:-${RN50_TUNE:-$ROOT/build/rn50-tune}}
PY=${PYTHON:-/usr/bin/python3}   # Debian's interpreter has PyTorch; the pyenv python3 does not
THREADS=2
SCALE=${REPS_SCALE:-1}
CACHE=${RN50_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rn50-tune-peers}

case "$MODEL" in
    resnet50)    CHW=3,224,224 ;;
    rn50-fmnist) CHW=1,28,28 ;;
    *) echo "usage: $0 [resnet50|rn50-fmnist] [rn50-tune binary]" >&2; exit 2 ;;
esac

ORT_PY=${ORT_PYTHON:-/opt/ort/bin/python}
if ! "$ORT_PY" -c 'import onnxruntime, numpy' 2>/dev/null; then
    echo "NOTE: $ORT_PY lacks onnxruntime (python3 -m venv /opt/ort && /opt/ort/bin/pip install onnxruntime numpy): ORT rows fail" >&2
fi

# Export once per model; re-export when the exporter changes.
mkdir -p "$CACHE"
ONNX=$CACHE/$MODEL.onnx
if [ ! -s "$ONNX" ] || [ "$HERE/peer_torch.py" -nt "$ONNX" ]; then
    "$PY" "$HERE/peer_torch.py" export "$MODEL" "$ONNX.tmp" >/dev/null && mv "$ONNX.tmp" "$ONNX"
fi

RES=$(mktemp "${TMPDIR:-/tmp}/peers.XXXXXX")
trap 'rm -f "$RES" "$RES.out" "$RES.err"' EXIT INT TERM

reps() { echo $(( $1 * SCALE )); }

# record LABEL CMD...: run a benchmark and keep its last stdout line, which must be a JSON object.
# A failing peer is recorded as such instead of aborting the whole comparison.
record() {
    label=$1; shift
    printf '  %-20s ' "$label"
    if "$@" >"$RES.out" 2>"$RES.err" && out=$(tail -n 1 "$RES.out") && [ "${out#\{}" != "$out" ]; then
        printf '%s\t%s\n' "$label" "$out" >>"$RES"; echo "$out"
    else
        printf '%s\t{"error": "failed"}\n' "$label" >>"$RES"
        echo "failed: $(tail -n 2 "$RES.err" | tr '\n' ' ')"
    fi
}

ort()   { record "$1" "$ORT_PY" "$HERE/peer_ort.py" "$ONNX" "$CHW" --batch "$2" --reps "$(reps "$3")" --warmup "$4" --threads "$THREADS"; }
torch() { record "$1" "$PY" "$HERE/peer_torch.py" "$2" "$MODEL" --batch "$3" --reps "$(reps "$4")" --warmup "$5"; }
ours()  {
    if [ -x "$BIN" ]; then
        record "$1" "$BIN" bench --model "$MODEL" --batch "$2" --threads "$THREADS" --reps "$(reps "$3")" --json ${4:-}
    else
        printf '%s\t{"error": "not built"}\n' "$1" >>"$RES"
    fi
}

echo "$MODEL on $THREADS threads; $(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg)"
[ -x "$BIN" ] || echo "NOTE: $BIN not found: our engine's column is skipped"

if [ "$MODEL" = resnet50 ]; then
    # batch 1: median latency over ~30 reps; batch 8: throughput (fewer reps, each is ~0.2-0.5 s)
    ort   "ort b1"     1 30 3;   torch "torch b1" infer 1 30 3;   ours "ours b1" 1 30
    ort   "ort b8"     8 10 2;   torch "torch b8" infer 8 6 1;    ours "ours b8" 8 10
else
    ort   "ort b1"     1 100 10; torch "torch b1" infer 1 50 5;   ours "ours b1" 1 100
    ort   "ort b500" 500 5 1;    torch "torch b500" infer 500 3 1; ours "ours b500" 500 5
    # Training step throughput. Our engine's bench is assumed to take --train for this;
    # if it does not, the row says "failed" and the ratio is left out.
    torch "torch train b128" train 128 5 2
    ours  "ours train b128" 128 5 --train
fi

"$PY" "$HERE/peer_table.py" "$MODEL" "$RES"
