#!/usr/bin/env bash
# Crash recovery: a tiny `tune` killed with SIGKILL at 20 random moments across its stages, resumed
# after each kill, ends with the front of an uninterrupted run; no evaluation is stored twice or
# lost, and the store passes SQLite's integrity check after every kill. Also: a second process on a
# run directory that is in use is refused.
#   tests/cli_chaos.sh BUILD/rn50-tune SOURCE_DIR
# RN_CHAOS_SEED picks the moments (printed, so a failure can be replayed); RN_CHAOS_KILLS their
# number (default 20).
set -u
BIN=$1
SRC=$2
. "$SRC/tests/tiny_tune.sh"
SEED=${RN_CHAOS_SEED:-$(date +%s)}
KILLS=${RN_CHAOS_KILLS:-20}
echo "chaos: seed $SEED (RN_CHAOS_SEED=$SEED replays these moments), $KILLS kills"
RANDOM=$SEED
# The progress index of the last progress line ("[stage] K/M evaluations ..."): every evaluation,
# computed or read back from the store, moves it on, so it says where in the whole run we are.
progress() { grep -o '\] [0-9]*/' "$1" 2>/dev/null | tail -n 1 | tr -dc 0-9; }

# The uninterrupted run.
"$BIN" tune "${ARGS[@]}" --out "$T/a" >"$T/a.out" 2>"$T/a.err"
rc=$?
ok '[ $rc -eq 0 ]' "uninterrupted run exits 0 (got $rc): $(tail -n 2 "$T/a.err")"
total=$(rows "$T/a")
[ "${total:-0}" -gt 10 ] || { echo "FAIL: the uninterrupted run stored ${total:-no} evaluations"; exit 1; }

# The moments: most at a random progress index (then a random 0-0.9 s more, so a kill lands inside
# an evaluation as often as between two), sorted so the run moves on between kills; the last two
# after every evaluation, while the outputs are written.
targets=()
for ((i = 0; i < KILLS - 2; i++)); do targets+=($((1 + RANDOM % total))); done
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -n)
targets+=(end end)

first=1
killed=0
missed=0
# One try: start (resuming after the first), wait for the moment, kill. Sets landed=1 when the kill
# hit a running process.
try_kill() {
    local target=$1 delay=$2 resume=(--resume)
    [ $first = 1 ] && resume=()
    "$BIN" tune "${ARGS[@]}" --out "$T/b" "${resume[@]}" >"$T/b.out" 2>"$T/b.err" &
    pid=$!
    # Wait for the moment (or the end of the run: then this kill missed).
    for _ in $(seq 6000); do
        kill -0 $pid 2>/dev/null || break
        if [ "$target" = end ]; then grep -q "^tune: chosen" "$T/b.err" && break
        else [ "$(progress "$T/b.err")" -ge "$target" ] 2>/dev/null && break; fi
        sleep 0.01
    done
    sleep "$delay"
    landed=0
    if kill -9 $pid 2>/dev/null; then landed=1; wait $pid 2>/dev/null; else wait $pid; fi
    pid=
}
for target in "${targets[@]}"; do
    delay=$(printf '0.%d' $((RANDOM % 10)))
    [ "$target" = end ] && delay=$(printf '0.%02d' $((RANDOM % 30)))
    # A fast machine can finish the rest of the run inside the delay, and then the moment never
    # came. Such a try is undone (the run directory as it was before it, as if the process had
    # never started) and the moment tried again with no delay, up to three times; a miss that
    # stays is counted.
    rm -rf "$T/b.before"
    [ -e "$T/b" ] && cp -a "$T/b" "$T/b.before"
    for attempt in 1 2 3 4; do
        try_kill "$target" "$delay"
        [ $landed = 1 ] && break
        echo "chaos: the run ended before the moment $target + ${delay} s (try $attempt)"
        [ $attempt = 4 ] && break
        rm -rf "$T/b"
        [ -e "$T/b.before" ] && cp -a "$T/b.before" "$T/b"
        delay=0
    done
    first=0
    if [ $landed = 1 ]; then
        killed=$((killed + 1))
        echo "chaos: kill $killed at progress $target + ${delay} s: stage $(grep -o '\[[a-z-]*\]' "$T/b.err" | tail -n 1), $(rows "$T/b" 2>/dev/null || echo 0) of $total stored"
    else
        missed=$((missed + 1))
    fi
    if [ -e "$T/b/results.db" ]; then
        ok '[ "$(sqlite3 "$T/b/results.db" "pragma integrity_check")" = ok ]' "store intact after the kill at $target"
        ok '[ "$(dups "$T/b")" = 0 ]' "no evaluation stored twice after the kill at $target"
    fi
done
ok '[ $killed -ge $((KILLS - 2)) ]' "at least $((KILLS - 2)) of the $KILLS kills landed while the run was running (got $killed, $missed missed after 4 tries)"

before=$(rows "$T/b" 2>/dev/null || echo 0)
resume=(--resume)
[ -e "$T/b/results.db" ] || resume=()
"$BIN" tune "${ARGS[@]}" --out "$T/b" "${resume[@]}" >"$T/b.out" 2>"$T/b.err"
rc=$?
ok '[ $rc -eq 0 ]' "the last resume exits 0 (got $rc): $(tail -n 2 "$T/b.err")"
computed=$(tail -n 1 "$T/b.out" | sed -n 's/.*"evaluations_computed":\([0-9]*\).*/\1/p')
ok '[ "$(rows "$T/b")" = "$total" ]' "every evaluation stored once: $(rows "$T/b") rows against $total uninterrupted"
ok '[ $((before + ${computed:-0})) -eq "$total" ]' "nothing finished recomputed: $before stored + ${computed:-?} computed = $total"
ok '[ "$(dups "$T/b")" = 0 ]' "no evaluation stored twice"
ok '[ "$(sqlite3 "$T/b/results.db" "pragma integrity_check")" = ok ]' "PRAGMA integrity_check passes on the store"
ok 'diff <(front "$T/a") <(front "$T/b") >/dev/null' "the same front as the uninterrupted run"
ok 'diff <(points "$T/a") <(points "$T/b") >/dev/null' "the same points as the uninterrupted run"
for f in front.json summary.md chosen.safetensors chosen/config.yaml report.html; do
    ok '[ -s "$T/b/$f" ]' "output $f written after the last resume"
done
ok '[ -z "$(find "$T/b" -name "*.tmp")" ]' "no temporary file left behind: $(find "$T/b" -name '*.tmp' | head -n 3)"

# Two processes on one run directory: the second is refused while the first holds it, and
# touches nothing.
"$BIN" tune "${ARGS[@]}" --out "$T/c" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do [ -e "$T/c/results.db" ] && break; sleep 0.05; done
"$BIN" tune "${ARGS[@]}" --out "$T/c" --resume >"$T/c2.out" 2>"$T/c2.err"
rc=$?
ok '[ $rc -eq 2 ] && grep -q "in use by another rn50-tune process (pid $pid)" "$T/c2.err"' \
   "a second process on a run in use is refused with exit 2 naming the first (got $rc: $(head -c 300 "$T/c2.err"))"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
"$BIN" tune "${ARGS[@]}" --out "$T/c" --resume --val-limit 150 >/dev/null 2>"$T/c3.err"
ok '! grep -q "in use" "$T/c3.err"' "the lock goes with a killed process (next start is not refused as in use)"

echo "cli_chaos: $passes passed, $fails failed (seed $SEED)"
[ $fails -eq 0 ]
