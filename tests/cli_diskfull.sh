#!/usr/bin/env bash
# Write failures: the program runs under a file-size limit (ulimit -f, with SIGXFSZ ignored, so a
# write past it fails with EFBIG as a full disk fails with ENOSPC) while it writes a compressed
# model, decoded fp32 weights, a run's store and a run's outputs. Each ends with exit 3 and a
# message naming the file; the files that were there before are unchanged, no temporary is left,
# and a run's stored evaluations survive: resuming without the limit computes only what was
# missing and ends with the front of an uninterrupted run.
#   tests/cli_diskfull.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
. "$SRC/tests/tiny_tune.sh"
# Runs the program with every file it writes limited to $1 KiB; its stdout and stderr go through
# a pipe to $2 (written by cat, outside the limit). Sets rc to the program's exit status.
limited() {
    local kib=$1 log=$2
    shift 2
    (trap '' XFSZ; ulimit -f "$kib"; exec "$BIN" "$@") 2>&1 | cat >"$log"
    rc=${PIPESTATUS[0]}
}
no_tmp() { [ -z "$(find "$1" -name '*.tmp')" ]; }

# A compressed model over an existing one: refused whole, the old file kept byte for byte.
M=$T/m
mkdir -p "$M"
"$BIN" compress --model rn50-fmnist --config "$SRC/configs/compress/palettize-4bit.yaml" --out "$M/p.safetensors" >/dev/null 2>&1
ok '[ -s "$M/p.safetensors" ]' "a compressed model written without a limit"
sum=$(cksum <"$M/p.safetensors")
limited 64 "$T/c.log" compress --model rn50-fmnist --config "$SRC/configs/compress/palettize-2bit.yaml" --out "$M/p.safetensors"
ok '[ $rc -eq 3 ] && grep -q "p.safetensors.tmp failed: File too large" "$T/c.log"' "compress under a 64 KiB limit: exit 3 naming the file (got $rc: $(head -c 200 "$T/c.log"))"
ok '[ "$(cksum <"$M/p.safetensors")" = "$sum" ]' "the existing compressed model is unchanged"
ok 'no_tmp "$M"' "no temporary left after the failed compress"

# Decoded fp32 weights (a torchvision state_dict, about 3 MB) past a 1 MiB limit, beside a
# compressed model that fits: the weights file is not left half-written.
limited 1024 "$T/w.log" compress --model rn50-fmnist --config "$SRC/configs/compress/palettize-2bit.yaml" --out "$M/p2.safetensors" --dequantized "$M/dq.safetensors"
ok '[ $rc -eq 3 ] && grep -q "dq.safetensors" "$T/w.log"' "decoded weights under a 1 MiB limit: exit 3 naming the file (got $rc: $(head -c 200 "$T/w.log"))"
ok '[ ! -e "$M/dq.safetensors" ]' "no half-written weights file"
ok 'no_tmp "$M"' "no temporary left after the failed weights write"

# The uninterrupted tiny run: the reference.
"$BIN" tune "${ARGS[@]}" --out "$T/a" >"$T/a.out" 2>"$T/a.err"
ok '[ $? -eq 0 ]' "the uninterrupted tiny run exits 0: $(tail -n 2 "$T/a.err")"
total=$(rows "$T/a")

# The store past a 24 KiB limit, part-way through the search: the stored evaluations are intact
# and resuming finishes the run.
limited 24 "$T/s.log" tune "${ARGS[@]}" --out "$T/s"
ok '[ $rc -eq 3 ] && grep -Eq "results.db: cannot store an evaluation: .*(File too large|file-size limit)" "$T/s.log"' \
   "tune with the store past 24 KiB: exit 3 naming the store and the reason (got $rc: $(tail -n 1 "$T/s.log"))"
stored=$(rows "$T/s")
ok '[ "$stored" -gt 0 ] && [ "$stored" -lt "$total" ]' "stopped part-way: $stored of $total evaluations stored"
ok '[ "$(sqlite3 "$T/s/results.db" "pragma integrity_check")" = ok ]' "the store passes its integrity check after the failed write"
"$BIN" tune "${ARGS[@]}" --out "$T/s" --resume >"$T/s2.out" 2>"$T/s2.err"
ok '[ $? -eq 0 ]' "resumed without the limit: exit 0 ($(tail -n 1 "$T/s2.err"))"
computed=$(tail -n 1 "$T/s2.out" | sed -n 's/.*"evaluations_computed":\([0-9]*\).*/\1/p')
ok '[ $((stored + ${computed:-0})) -eq "$total" ] && [ "$(rows "$T/s")" = "$total" ] && [ "$(dups "$T/s")" = 0 ]' \
   "nothing stored lost or computed twice: $stored stored + ${computed:-?} computed = $total"
ok 'diff <(front "$T/a") <(front "$T/s") >/dev/null' "the resumed run's front equals the uninterrupted one"

# The outputs past a 1 MiB limit once every evaluation is stored (the chosen model file is the
# largest): exit 3, every evaluation kept, and a resume writes the outputs computing nothing.
limited 1024 "$T/o.log" tune "${ARGS[@]}" --out "$T/o"
ok '[ $rc -eq 3 ] && grep -q "File too large" "$T/o.log"' "tune with its outputs past 1 MiB: exit 3 with the reason (got $rc: $(tail -n 1 "$T/o.log"))"
ok '[ "$(rows "$T/o")" = "$total" ]' "every evaluation stored before the failed output ($(rows "$T/o") of $total)"
ok 'no_tmp "$T/o"' "no temporary left in the run directory: $(find "$T/o" -name '*.tmp' | head -n 3)"
"$BIN" tune "${ARGS[@]}" --out "$T/o" --resume >"$T/o2.out" 2>"$T/o2.err"
ok '[ $? -eq 0 ] && tail -n 1 "$T/o2.out" | grep -q "\"evaluations_computed\":0,"' "resumed without the limit: outputs written, nothing computed"
ok 'diff <(front "$T/a") <(front "$T/o") >/dev/null && diff <(points "$T/a") <(points "$T/o") >/dev/null' "the same front and points as the uninterrupted run"
ok '[ -s "$T/o/chosen.safetensors" ] && [ -s "$T/o/report.html" ]' "the chosen model and the report are written after the resume"

echo "cli_diskfull: $passes passed, $fails failed"
[ $fails -eq 0 ]
