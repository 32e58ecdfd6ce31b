#!/usr/bin/env bash
# Runs every libFuzzer harness of BUILD_DIR (a -DRN_FUZZ=ON build) over its seed corpus in
# tests/fuzz/corpus/NAME for SECONDS each, and prints per harness the executions, the time and
# the coverage (libFuzzer's final `cov:`). New inputs go to a scratch directory, never into the
# committed corpus; a crash, leak, timeout (> 1 s per input) or out-of-memory input is kept in
# BUILD_DIR/fuzz-artifacts/ and makes the script exit non-zero after the last harness.
#     tests/fuzz/run.sh build-fuzz 20
set -uo pipefail
if [ $# -ne 2 ]; then
    echo "usage: tests/fuzz/run.sh BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
secs=$2
src=$(cd "$(dirname "$0")" && pwd)
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

shopt -s nullglob
harnesses=("$build"/fuzz_*)
if [ ${#harnesses[@]} -eq 0 ]; then
    echo "run.sh: no fuzz_* harness in $build (configure with -DCMAKE_C_COMPILER=clang -DRN_FUZZ=ON, build target fuzz)" >&2
    exit 2
fi
failed=()
printf '%-14s %10s %8s %8s %6s %s\n' harness execs seconds exec/s cov result
for bin in "${harnesses[@]}"; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    seeds="$src/corpus/$name"
    if [ ! -d "$seeds" ]; then
        echo "run.sh: no seed corpus $seeds" >&2
        failed+=("$name")
        continue
    fi
    mkdir -p "$scratch/$name"
    log="$artifacts/$name.log"
    # One second an input, except compress: it really palettizes and prunes a small network (k-means
    # per tensor), 3 to 26 inputs a second under ASan, and some valid configs take over a second.
    timeout=1
    [ "$name" = compress ] && timeout=10
    "$bin" "$scratch/$name" "$seeds" -max_total_time="$secs" -timeout=$timeout -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (exit $rc; see $log)"
        failed+=("$name")
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5
    fi
    printf '%-14s %10s %8s %8s %6s %s\n' "$name" "${execs:--}" "${took:--}" "${rate:--}" "${cov:--}" "$result"
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "run.sh: failed: ${failed[*]} (inputs kept in $artifacts)" >&2
    exit 1
fi
