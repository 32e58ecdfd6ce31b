#!/usr/bin/env bash
# imagefolder: data end to end, against torchvision and PyTorch (tests/fixtures/imagefolder_check.py
# with Debian's /usr/bin/python3; skipped, exit 77, without PIL/torchvision):
#   - labels, files and splits as torchvision.datasets.ImageFolder, both layouts, disjoint splits,
#     class-balanced prefixes of the evaluation order;
#   - logits of a torchvision-architecture network (tests/data/rn18w8-imagenet) on grey, CMYK,
#     progressive, RGBA and palette files of many sizes equal PyTorch's on torchvision's transforms;
#   - the default model on PNGs of the first 300 Fashion-MNIST test images gives the IDX path's
#     logits bit for bit (the full 10,000 give 93.40 % either way: README);
#   - the crop cache: reused, rebuilt when stale (a file changed) or foreign (not ours);
#   - bad input: truncated / non-image files, empty class folder, no class folders, class count
#     against the model: message, exit 2, nothing written; --skip-bad counts in the log and JSON.
#   tests/cli_imagefolder.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
PY=/usr/bin/python3
CHK=$SRC/tests/fixtures/imagefolder_check.py
if ! [ -x "$PY" ] || ! "$PY" -c 'import PIL, torchvision' 2>/dev/null; then
    echo "cli_imagefolder: /usr/bin/python3 with PIL and torchvision not available: skipped"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RN50_CACHE_DIR=$T/cache
fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
M="--model $SRC/tests/data/rn18w8-imagenet.yaml --weights $SRC/tests/data/rn18w8-imagenet.safetensors"
# The fixture network's model file with preprocessing keys (resize 54 for its 48x48 input).
sed 's/^name: .*/name: rn18w8-imagenet/' "$SRC/tests/data/rn18w8-imagenet.yaml" >"$T/model.yaml"
printf 'resize: 54\ncrop: [48, 48]\nmean: [0.485, 0.456, 0.406]\nstd: [0.229, 0.224, 0.225]\ninterpolation: bilinear\n' >>"$T/model.yaml"
M="--model $T/model.yaml --weights $SRC/tests/data/rn18w8-imagenet.safetensors"

run() { "$BIN" "$@" >"$T/out" 2>"$T/err"; }
py() { "$PY" "$CHK" "$@" >"$T/pyout" 2>&1 && { cat "$T/pyout"; ok; } || { cat "$T/pyout"; bad "imagefolder_check $*"; }; }

"$PY" "$CHK" make "$T/tree" || { echo "cannot make fixtures"; exit 1; }
"$PY" "$CHK" make-flat "$T/flat" || exit 1

# ---- listing, splits, logits ----
if run infer $M --data imagefolder:$T/tree --split test --output "$T/test.npy" --paths "$T/test.tsv" --threads 2; then ok; else bad "infer test: $(cat "$T/err")"; fi
grep -q "preprocessed into" "$T/err" && ok || bad "first run did not report building the cache"
py list "$T/tree" test "$T/test.tsv"
py logits "$T/model.yaml" "$SRC/tests/data/rn18w8-imagenet.safetensors" "$T/test.tsv" "$T/test.npy"
for s in val train; do
    run infer $M --data imagefolder:$T/tree --split $s --val-per-class 2 --output "$T/$s.npy" --paths "$T/$s.tsv" || bad "infer $s: $(cat "$T/err")"
    py list "$T/tree" $s "$T/$s.tsv" 2
done
py disjoint "$T/val.tsv" "$T/train.tsv"
for s in train val test; do
    run infer $M --data imagefolder:$T/flat --split $s --output "$T/f$s.npy" --paths "$T/f$s.tsv" || bad "flat infer $s: $(cat "$T/err")"
    py list "$T/flat" $s "$T/f$s.tsv"
done
py disjoint "$T/ftrain.tsv" "$T/fval.tsv" "$T/ftest.tsv"
# 5 class folders for a 10-class model: refused.
run infer --model rn50-fmnist --data imagefolder:$T/flat --split val --output "$T/x.npy"
[ $? -eq 2 ] && grep -q "5 class folders, but the model has 10 classes" "$T/err" && ok || bad "class count: $(cat "$T/err")"
[ -e "$T/x.npy" ] && bad "x.npy written" || ok

# ---- the crop cache ----
run infer $M --data imagefolder:$T/tree --split test --output "$T/test2.npy" --paths "$T/test2.tsv"
grep -q "preprocessed into" "$T/err" && bad "second run rebuilt the cache: $(cat "$T/err")" || ok
cmp -s "$T/test.npy" "$T/test2.npy" && ok || bad "logits from the reused cache differ"
f=$(sed -n 2p "$T/test.tsv" | cut -f4)
"$PY" -c "from PIL import Image; im = Image.open('$f').convert('RGB'); im.rotate(90, expand=True).save('$f', format=im.format or 'PNG') if False else Image.open('$f').convert('RGB').transpose(Image.FLIP_LEFT_RIGHT).save('$f', 'JPEG' if '$f'.lower().endswith(('jpg', 'jpeg')) else 'PNG')"
run infer $M --data imagefolder:$T/tree --split test --output "$T/test3.npy"
grep -q "stale" "$T/err" && ok || bad "a changed file did not make the cache stale: $(cat "$T/err")"
cache=$(ls "$RN50_CACHE_DIR"/*.crops | head -1)
for c in "$RN50_CACHE_DIR"/*.crops; do printf 'garbage, not a crop cache' >"$c"; done
run infer $M --data imagefolder:$T/tree --split test --output "$T/test4.npy"
grep -q "not a crop cache" "$T/err" && ok || bad "a foreign cache was not detected: $(cat "$T/err")"
cmp -s "$T/test3.npy" "$T/test4.npy" && ok || bad "rebuilt cache gives other logits"

# ---- bad input ----
expect2() {   # expect2 NEEDLE OUT ARGS...: exit 2 (or $CODE), NEEDLE in the one-line message, OUT not written
    local needle=$1 out=$2
    shift 2
    run "$@"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    if [ $rc -ne "${CODE:-2}" ] || ! grep -qF -- "$needle" "$T/err" || [ "$lines" -ne 1 ]; then
        bad "rn50-tune $* -> exit $rc, $lines lines, want '$needle' in: $(cat "$T/err")"
    else ok; fi
    [ -e "$out" ] || [ -e "$out.tmp" ] && bad "$out left behind" || ok
}
cp -r "$T/tree" "$T/bad"
head -c 700 "$(ls "$T"/bad/val/apple/*.jpg | head -1)" >"$T/bad/val/apple/cut.jpg"
expect2 "cut.jpg: truncated JPEG" "$T/b.npy" infer $M --data imagefolder:$T/bad --split test --output "$T/b.npy"
ls "$RN50_CACHE_DIR" | grep -qv '\.crops$' && bad "a half-built cache was left: $(ls "$RN50_CACHE_DIR")" || ok
run infer $M --data imagefolder:$T/bad --split test --output "$T/b.npy" --skip-bad --json
[ $? -eq 0 ] && grep -q "1 bad image(s) skipped" "$T/err" && grep -q '"skipped":1' "$T/out" && ok || bad "--skip-bad: $(cat "$T/err" "$T/out")"
rm "$T/bad/val/apple/cut.jpg"
echo "plain text" >"$T/bad/val/date/text.png"
expect2 "text.png: not a JPEG or PNG image" "$T/b2.npy" infer $M --data imagefolder:$T/bad --split test --output "$T/b2.npy"
rm "$T/bad/val/date/text.png"
mkdir "$T/bad/val/empty" "$T/bad/train/empty"
expect2 "class folder 'empty' has no image file" "$T/b3.npy" infer $M --data imagefolder:$T/bad --split test --output "$T/b3.npy"
mkdir -p "$T/none/x"
expect2 "no class folders" "$T/b4.npy" infer $M --data imagefolder:$T/none/x --split test --output "$T/b4.npy"
CODE=3 expect2 "missing: cannot read folder" "$T/b5.npy" infer $M --data imagefolder:$T/missing --split test --output "$T/b5.npy"

# ---- npy: one pair for every split is refused by the search; a pair per split is taken ----
"$PY" -c "
import numpy as np
r = np.random.default_rng(5)
for n in ('a', 'b'):
    np.save('$T/%s_x.npy' % n, r.standard_normal((4, 1, 28, 28)).astype(np.float32)); np.save('$T/%s_y.npy' % n, np.arange(4))"
expect2 "val and test would be the same images" "$T/run1/results.db" tune --data "npy:$T/a_x.npy,$T/a_y.npy" --out "$T/run1" --device none
expect2 "val and test would be the same images" "$T/run2/results.db" tune --data "npy:val=$T/a_x.npy,$T/a_y.npy;test=$T/a_x.npy,$T/a_y.npy" --out "$T/run2" --device none
expect2 "no pair for split 'test'" "$T/e.npy" infer --model rn50-fmnist --data "npy:val=$T/a_x.npy,$T/a_y.npy" --split test --output "$T/e.npy"
run infer --model rn50-fmnist --data "npy:val=$T/a_x.npy,$T/a_y.npy;test=$T/b_x.npy,$T/b_y.npy" --split test --output "$T/pb.npy" && ok || bad "npy per split: $(cat "$T/err")"
run infer --model rn50-fmnist --input "$T/b_x.npy" --output "$T/pb2.npy" && cmp -s "$T/pb.npy" "$T/pb2.npy" && ok || bad "npy test pair is not the test file"

# ---- Fashion-MNIST PNGs against the IDX path ----
FM=${RN50_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -e "$FM/t10k-images-idx3-ubyte.gz" ] || [ -e "$FM/t10k-images-idx3-ubyte" ]; then
    "$PY" "$SRC/tests/fixtures/make_fmnist_folder.py" "$FM" "$T/fm" 300
    run infer --model rn50-fmnist --data imagefolder:$T/fm --split test --output "$T/fm.npy" --paths "$T/fm.tsv" --batch 100 || bad "fmnist png: $(cat "$T/err")"
    run infer --model rn50-fmnist --data fmnist --split test --limit 300 --output "$T/idx.npy" --batch 100 || bad "fmnist idx: $(cat "$T/err")"
    "$PY" "$CHK" idx-order "$T/fm.tsv" "$T/order.npy"
    py same "$T/fm.npy" "$T/idx.npy" "$T/order.npy"
else
    echo "cli_imagefolder: no Fashion-MNIST in $FM: the PNG/IDX comparison is skipped"
fi

echo "cli_imagefolder: $passes passed, $fails failed"
[ $fails -eq 0 ]
