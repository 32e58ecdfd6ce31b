# Sourced by the command-line tests that run the tiny search (cli_tune.sh, cli_chaos.sh,
# cli_diskfull.sh): skips without Fashion-MNIST or the sqlite3 program, a temporary folder $T
# removed at exit (with the background run $pid, if any), the ok() counter, the tiny search's
# options and readers of a run's store and fronts. Expects BIN and SRC set.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${RN50_FMNIST_DIR:-}" ]; then
    echo "skip: Fashion-MNIST is not installed"; exit 77
fi
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
T=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
fails=0
passes=0
ok() { if eval "$1"; then passes=$((passes + 1)); else echo "FAIL: $2"; fails=$((fails + 1)); fi; }
export OMP_WAIT_POLICY=PASSIVE
ARGS=(--objective size --budget 5% --device none --space "$SRC/configs/spaces/tiny.yaml" --val-limit 200 --test-limit 200
      --screen 100 --mixed-screen 100 --sens-images 64 --ladder 2 --generations 1 --offspring 2 --threads 2 --json)
rows() { sqlite3 "$1/results.db" "select count(*) from evals"; }
dups() { sqlite3 "$1/results.db" "select count(*) - count(distinct key) from evals"; }
front() { cut -d, -f1-8 "$1/front.csv"; }
points() { cut -d, -f1-8 "$1/points.csv"; }
