#!/usr/bin/env bash
# `rn50-tune tune` from the command line on a tiny search (configs/spaces/tiny.yaml, val and test
# prefixes): every evaluation stored once, the outputs are there, a finished run resumes without
# computing, the finetune workflow keeps its files; bad options and misuse of the run directory are
# refused with exit 2. Killing and resuming is tests/cli_chaos.sh.
#   tests/cli_tune.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
. "$SRC/tests/tiny_tune.sh"

# A: uninterrupted, and the default-command form (first argument an option).
"$BIN" "${ARGS[@]}" --out "$T/a" >"$T/a.out" 2>"$T/a.err"
rc=$?
ok '[ $rc -eq 0 ]' "tiny tune run exits 0 (got $rc): $(tail -n 2 "$T/a.err")"
total=$(rows "$T/a")
computed_a=$(tail -n 1 "$T/a.out" | sed -n 's/.*"evaluations_computed":\([0-9]*\).*/\1/p')
ok '[ "$total" -gt 20 ] && [ "$total" = "$computed_a" ]' "every evaluation stored once (rows $total, computed $computed_a)"
for f in points.csv front.csv front.json summary.md chosen.safetensors chosen/config.yaml report.html; do
    ok '[ -s "$T/a/$f" ]' "output $f written"
done
ok 'grep -q "^id,workflow,config,top1_val,top1_test,bytes,latency_ms,latency_measured_ms,seconds" "$T/a/points.csv"' "points.csv columns"
ok 'grep -q "<pre>rn50-tune --objective size --budget 5% --device none" "$T/a/report.html"' "report.html written at the end of the run, with the run's command"
# Every front point's config file exists and every front point has a test accuracy.
while IFS=, read -r id wf config val test rest; do
    ok '[ -s "$T/a/$config" ]' "front config $config exists"
    ok '[ -n "$test" ]' "front point $id has a test accuracy"
done < <(tail -n +2 "$T/a/front.csv")
# The chosen model file evaluates.
"$BIN" eval --model rn50-fmnist --weights "$T/a/chosen.safetensors" --data fmnist --split val --limit 200 --json >"$T/e.out" 2>/dev/null
ok 'tail -n 1 "$T/e.out" | grep -q "\"top1\":"' "the chosen compressed model evaluates"

# B: killed and resumed: tests/cli_chaos.sh (20 kills across the stages of this same run).
# Resuming a finished run computes nothing.
"$BIN" tune "${ARGS[@]}" --out "$T/a" --resume >"$T/b3.out" 2>/dev/null
ok 'tail -n 1 "$T/b3.out" | grep -q "\"evaluations_computed\":0,"' "a finished run resumes without computing"

# C: the finetune workflow, tiny (1 epoch of 256 training images): with a 1 % budget the points
# that beat the chosen one but miss the budget are fine-tuned; each one's file is kept in
# finetune/ and evaluates to the top-1 the store holds; resuming the finished run trains nothing.
FT=("${ARGS[@]}" --budget 1% --workflows ptq,finetune --finetune-images 256 --finetune-points 2)
"$BIN" tune "${FT[@]}" --out "$T/f" >"$T/f.out" 2>"$T/f.err"
rc=$?
ok '[ $rc -eq 0 ]' "finetune run exits 0 (got $rc): $(tail -n 2 "$T/f.err")"
n_ft=0
while IFS=, read -r id wf config val test rest; do
    [ "$wf" = finetune ] || continue
    n_ft=$((n_ft + 1))
    name=$(basename "$config" .yaml)
    ok '[ -s "$T/f/$config" ] && [ -s "$T/f/finetune/$name.safetensors" ]' "fine-tuned point $name: config and file kept"
    got=$("$BIN" eval --model rn50-fmnist --weights "$T/f/finetune/$name.safetensors" --data fmnist --split val --limit 200 --json 2>/dev/null |
          tail -n 1 | sed -n 's/.*"top1":\([0-9.]*\).*/\1/p')
    ok 'awk -v a="$got" -v b="$val" "BEGIN { exit !(a != \"\" && a + 0 == b + 0) }"' "fine-tuned $name evaluates to its stored top-1 ($got vs $val)"
done < <(tail -n +2 "$T/f/points.csv")
ok '[ $n_ft -ge 1 ]' "at least one point fine-tuned ($n_ft)"
ok 'grep -q "dkm" "$T/f/configs/"ft-*.yaml' "fine-tuned configs use DKM palettization"
"$BIN" tune "${FT[@]}" --out "$T/f" --resume >"$T/f2.out" 2>"$T/f2.err"
ok 'tail -n 1 "$T/f2.out" | grep -q "\"evaluations_computed\":0," && ! grep -q "epochs of" "$T/f2.err"' "a finished finetune run resumes without training"

# L: the latency objective on cpu-local with per-layer W8A8 and pruning (calib: pruning refits on
# calibration data): the front, the chosen point and the best global points are measured side by
# side, and the temporary model files are gone after.
printf 'quantization:\n  w8a8: true\nworkflows: [ptq, calib]\nper_layer:\n  sparsity: [0.9]\nleave_alone: ["layer[123]\\\\..*", "conv1", "fc"]\n' >"$T/lat.yaml"
LAT=(--objective latency --budget 5% --device cpu-local --space "$T/lat.yaml" --val-limit 200 --test-limit 200
     --screen 100 --mixed-screen 100 --sens-images 64 --ladder 2 --generations 1 --offspring 2 --threads 2 --json)
"$BIN" "${LAT[@]}" --out "$T/l" >"$T/l.out" 2>"$T/l.err"
rc=$?
ok '[ $rc -eq 0 ]' "latency tune run exits 0 (got $rc): $(tail -n 2 "$T/l.err")"
ok 'grep -q "measuring [0-9]* points side by side" "$T/l.err"' "front latencies measured side by side"
n_unmeasured=$(tail -n +2 "$T/l/front.csv" | awk -F, '$8 == "" || $8 + 0 <= 0' | wc -l)
ok '[ "$n_unmeasured" -eq 0 ] && [ "$(tail -n +2 "$T/l/front.csv" | wc -l)" -ge 1 ]' "every front point has a measured latency ($n_unmeasured without)"
ok '[ ! -e "$T/l/measure" ]' "the measured model files are removed"
ok 'grep -q "reconstruct: true" "$T/l/configs/"s-*prune90.yaml' "per-layer pruning sensitivities use reconstruct"

# Misuse and bad options: exit 2 with a message naming the problem.
err() {   # err EXPECTED_FRAGMENT ARGS...
    local frag=$1; shift
    "$BIN" "$@" >"$T/x.out" 2>"$T/x.err"
    local r=$?
    ok '[ $r -eq 2 ] && grep -q -- "$frag" "$T/x.err"' "'$*' exits 2 naming '$frag' (got $r: $(head -c 300 "$T/x.err"))"
}
err "add --resume" tune "${ARGS[@]}" --out "$T/a"
err "no run in" tune "${ARGS[@]}" --out "$T/none" --resume
err "val_images" tune "${ARGS[@]/--val-limit/--test-limit}" --val-limit 150 --out "$T/a" --resume
err "--workflows 'ptq,dkm'" --objective size --workflows ptq,dkm --out "$T/c"
err "--finetune-epochs" --objective size --finetune-epochs 0 --out "$T/c"
err "--budget '5'" --objective size --budget 5 --out "$T/c"
err "expected size, latency or accuracy" --objective speed --out "$T/c"
printf 'palettization:\n  n_bits: [3, 12]\n' >"$T/bad.yaml"
err "bad.yaml:2: palettization.n_bits" --objective size --space "$T/bad.yaml" --out "$T/c"
ok '[ ! -e "$T/c/results.db" ]' "refused runs leave no results"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
