#!/usr/bin/env bash
# `rn50-tune tune` and `eval` on several ranks (Open MPI, issue 15) on a tiny search
# (configs/spaces/tiny.yaml: global, sensitivity, mixed and NSGA-II stages; small val and test
# prefixes): 1 and 3 ranks store the same figures (every column but the seconds) in the same
# order and give the same front; a worker killed with SIGKILL ends the job, and --resume on 2
# ranks gives the uninterrupted front without storing any key twice or recomputing what finished;
# a worker that cannot load the weights stops the run with its message on rank 0 and nothing in
# the store; eval's counts on 3 ranks equal one process's; profile refuses several ranks.
# Skipped (77) without mpirun, without Fashion-MNIST, or when the build has no MPI.
#   tests/cli_mpi.sh BUILD/rn50-tune SOURCE_DIR
set -u
BIN=$1
SRC=$2
command -v mpirun >/dev/null || { echo "skip: mpirun is not installed"; exit 77; }
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${RN50_FMNIST_DIR:-}" ]; then
    echo "skip: Fashion-MNIST is not installed"; exit 77
fi
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
MPI=(mpirun --oversubscribe --allow-run-as-root)
if "${MPI[@]}" -np 2 "$BIN" eval --help 2>&1 | grep -q "built without MPI"; then
    echo "skip: this rn50-tune was built without MPI"; exit 77
fi
T=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
fails=0
passes=0
ok() { if eval "$1"; then passes=$((passes + 1)); else echo "FAIL: $2"; fails=$((fails + 1)); fi; }
export OMP_WAIT_POLICY=PASSIVE
ARGS=(--objective size --budget 5% --device none --space "$SRC/configs/spaces/tiny.yaml" --val-limit 120 --test-limit 120
      --screen 60 --mixed-screen 60 --sens-images 32 --ladder 2 --generations 1 --offspring 2 --threads 1 --json)
# Every stored figure but the seconds, in row order.
figures() { sqlite3 "$1/results.db" "select id, key, config_hash, split, n_images, workflow, stage, name, config, correct, lost, gained,
                                     printf('%.17g', loss), bytes from evals order by id"; }
rows() { sqlite3 "$1/results.db" "select count(*) from evals"; }
dups() { sqlite3 "$1/results.db" "select count(*) - count(distinct key) from evals"; }
front() { cut -d, -f1-8 "$1/front.csv"; }
computed() { tail -n 1 "$1" | sed -n 's/.*"evaluations_computed":\([0-9]*\).*/\1/p'; }

# A: one rank (under mpirun); B: three ranks.
"${MPI[@]}" -np 1 "$BIN" tune "${ARGS[@]}" --out "$T/a" >"$T/a.out" 2>"$T/a.err"
rc=$?
ok '[ $rc -eq 0 ]' "1-rank run exits 0 (got $rc): $(tail -n 2 "$T/a.err")"
"${MPI[@]}" -np 3 "$BIN" tune "${ARGS[@]}" --out "$T/b" >"$T/b.out" 2>"$T/b.err"
rc=$?
ok '[ $rc -eq 0 ]' "3-rank run exits 0 (got $rc): $(tail -n 2 "$T/b.err")"
total=$(rows "$T/a")
ok '[ "$total" -gt 20 ]' "the tiny search stores its evaluations ($total)"
ok 'diff <(figures "$T/a") <(figures "$T/b") >/dev/null' "1 and 3 ranks store the same figures in the same order"
ok 'diff <(front "$T/a") <(front "$T/b") >/dev/null' "1 and 3 ranks give the same front"
ok 'diff <(cut -d, -f1-6 "$T/a/points.csv") <(cut -d, -f1-6 "$T/b/points.csv") >/dev/null' "the same points"
ok 'grep -q "tune: 3 ranks: .* candidates in .* batches" "$T/b.err"' "the 3-rank run reports how it spread the candidates"
ok 'grep -q "bytes and .* s per candidate" "$T/b.err"' "and its communication per candidate"
ok '[ "$(grep -c "^tune: \[" "$T/b.err")" -gt 0 ] && [ "$(grep -c "^tune: objective" "$T/b.err")" = 1 ]' "only rank 0 prints"

# C: three ranks, a worker (rank 1) killed with SIGKILL part-way; then resumed on two ranks.
"${MPI[@]}" -np 3 "$BIN" tune "${ARGS[@]}" --out "$T/c" >"$T/c.out" 2>"$T/c.err" &
pid=$!
half=$((total / 2))
for _ in $(seq 900); do
    [ "$(grep -c "computed" "$T/c.err" 2>/dev/null)" -ge "$half" ] && break
    sleep 0.1
done
worker=
for d in /proc/[0-9]*; do   # mpirun's children (no pgrep on a bare machine), rank 1 among them
    [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$pid" ] || continue
    grep -qz '^OMPI_COMM_WORLD_RANK=1$' "$d/environ" 2>/dev/null && worker=${d#/proc/}
done
ok '[ -n "$worker" ]' "found rank 1 among mpirun's children"
[ -n "$worker" ] && kill -9 "$worker"
wait $pid
rc=$?
pid=
ok '[ $rc -ne 0 ]' "a killed worker ends the job with a non-zero exit (got $rc)"
before=$(rows "$T/c")
ok '[ "$before" -gt 0 ] && [ "$before" -lt "$total" ]' "killed part-way ($before of $total evaluations stored)"
"${MPI[@]}" -np 2 "$BIN" tune "${ARGS[@]}" --out "$T/c" --resume >"$T/c2.out" 2>"$T/c2.err"
rc=$?
ok '[ $rc -eq 0 ]' "resumed on 2 ranks exits 0 (got $rc): $(tail -n 2 "$T/c2.err")"
ok '[ "$(dups "$T/c")" = 0 ]' "no key stored twice"
ok '[ $((before + $(computed "$T/c2.out"))) -eq "$total" ]' "nothing finished recomputed: $before stored + $(computed "$T/c2.out") computed = $total"
ok 'diff <(figures "$T/a") <(figures "$T/c") >/dev/null' "killed and resumed: the same stored figures as uninterrupted"
ok 'diff <(front "$T/a") <(front "$T/c") >/dev/null' "killed and resumed: the uninterrupted front"

# D: ranks 1 and 2 cannot see the weights (another project directory): rank 0 says so, naming
# the rank, every rank ends, and the store holds nothing.
"${MPI[@]}" -np 1 "$BIN" tune "${ARGS[@]}" --out "$T/d" : -np 2 env RN50_TUNE_HOME="$T/nowhere" "$BIN" tune "${ARGS[@]}" --out "$T/d" \
    >"$T/d.out" 2>"$T/d.err"
rc=$?
ok '[ $rc -ne 0 ]' "a worker's error ends the run with a non-zero exit (got $rc)"
ok 'grep -q "^rn50-tune: error: rank 1: $T/nowhere/.*weights" "$T/d.err"' "rank 0 prints the worker's message: $(grep error "$T/d.err" | head -n 1)"
ok '[ "$(grep -c "rn50-tune: error" "$T/d.err")" = 1 ]' "one error line (rank 0's)"
ok '[ ! -e "$T/d/results.db" ]' "no store written"

# E: eval on 3 ranks counts as one process does.
E=(eval --model rn50-fmnist --data fmnist --split val --limit 300 --config "$SRC/configs/compress/palettize-4bit.yaml" --json)
"$BIN" "${E[@]}" --threads 1 >"$T/e1.out" 2>/dev/null
"${MPI[@]}" -np 3 "$BIN" "${E[@]}" >"$T/e3.out" 2>/dev/null
counts() { tail -n 1 "$1" | sed -n 's/.*"top1":\([^,]*\),"top5":\([^,]*\),"n":\([0-9]*\).*/\1 \2 \3/p'; }
ok '[ -n "$(counts "$T/e1.out")" ] && [ "$(counts "$T/e1.out")" = "$(counts "$T/e3.out")" ]' "eval: top-1, top-5 and n on 3 ranks equal 1 process ($(counts "$T/e1.out") / $(counts "$T/e3.out"))"
ok 'tail -n 1 "$T/e3.out" | grep -q "\"ranks\":3"' "eval reports its ranks"

# F: profile stays on one rank and says so.
"${MPI[@]}" -np 2 "$BIN" profile --help >"$T/f.out" 2>"$T/f.err"
rc=$?
ok '[ $rc -ne 0 ] && grep -q "profile runs on one rank only" "$T/f.err"' "profile refuses several ranks (got $rc)"

echo "cli_mpi: $passes passed, $fails failed"
[ $fails -eq 0 ]
