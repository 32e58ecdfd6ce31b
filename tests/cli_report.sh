#!/usr/bin/env bash
# `rn50-tune report RUN`: the page of the committed search runs (copied to a temporary directory)
# is rebuilt, then loaded in headless Chromium, which must report no console message (no script
# error, no Content-Security-Policy violation) and no request from the page (Chromium's network
# log; a control page with an external image proves the check sees one), and the page must show
# each section. Older runs without some inputs get a page that says so; a missing or damaged
# required file is exit 2 naming it, with nothing written.
#   tests/cli_report.sh BUILD/rn50-tune SOURCE_DIR
# Chromium comes from Debian (scripts/setup.sh installs it). Without it the test is skipped,
# except under CI (CI=true), where that is a failure.
set -u
BIN=$1
SRC=$2
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    if [ "${CI:-}" = true ]; then echo "FAIL: chromium is not installed (scripts/setup.sh installs it)"; exit 1; fi
    echo "skip: chromium is not installed (apt-get install chromium, as scripts/setup.sh does)"; exit 77
fi
command -v python3 >/dev/null || { echo "skip: python3 is not installed (reads Chromium's network log)"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { if eval "$1"; then passes=$((passes + 1)); else echo "FAIL: $2"; fails=$((fails + 1)); fi; }

# Loads file $1 in headless Chromium: DOM to $1.dom, console and log lines to $1.log, the URLs the
# page requested (one a line) to $1.net, a full-page screenshot to $1.png.
browse() {
    local page=$1 flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions --disable-sync
                          --disable-background-networking --disable-component-update --user-data-dir="$T/profile")
    timeout 90 "$CHROMIUM" "${flags[@]}" --enable-logging=stderr --v=0 --log-net-log="$page.netlog" --dump-dom \
        "file://$page" >"$page.dom" 2>"$page.log"
    timeout 90 "$CHROMIUM" "${flags[@]}" --hide-scrollbars --window-size=1280,6000 --screenshot="$page.png" \
        "file://$page" >/dev/null 2>&1
    # Requests the page made carry a file:// network isolation key; the browser's own (update
    # checks and the like) carry none.
    python3 - "$page.netlog" >"$page.net" <<'EOF'
import json, sys
text = open(sys.argv[1]).read().rstrip()
try:
    events = json.loads(text)["events"]
except ValueError:   # a log Chromium did not get to close
    events = json.loads(text.rstrip(",") + "]}")["events"]
urls = {e["params"]["url"] for e in events
        if "url" in e.get("params", {}) and "file://" in str(e["params"].get("network_isolation_key", ""))}
sys.stdout.write("".join(u + "\n" for u in sorted(urls)))
EOF
}

# The check itself sees a request: a control page that loads an external image.
printf '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>\n' >"$T/control.html"
browse "$T/control.html"
ok 'grep -q "127.0.0.1:9/x.png" "$T/control.html.net"' "the network check sees the control page's request ($(cat "$T/control.html.net"))"

for run in size-5p latency-5p; do
    cp -r "$SRC/results/search/$run" "$T/$run"
    rm -f "$T/$run/report.html"
    "$BIN" report "$T/$run" --json >"$T/$run.out" 2>"$T/$run.err"
    rc=$?
    ok '[ $rc -eq 0 ]' "$run: report exits 0 (got $rc): $(tail -n 2 "$T/$run.err")"
    ok 'tail -n 1 "$T/$run.out" | grep -q "^{\"command\":\"report\".*\"report\":\".*report.html\"}$"' "$run: --json last line"
    ok '[ -s "$T/$run/report.html" ] && [ ! -e "$T/$run/report.html.tmp" ]' "$run: report.html written whole"
    page=$T/$run/report.html
    browse "$page"
    ok '! grep -q "CONSOLE" "$page.log"' "$run: no console message: $(grep CONSOLE "$page.log" | head -n 3)"
    ok '[ ! -s "$page.net" ]' "$run: the page requests nothing: $(head -n 3 "$page.net")"
    ok 'grep -q "data-js=\"ok\"" "$page.dom"' "$run: the page's script ran"
    for id in summary plots sensitivity layers budget versions; do
        ok 'grep -q "<h2 id=\"$id\">" "$page.dom"' "$run: section $id shown"
    done
    ok '[ "$(grep -o "<svg class=\"plot\"" "$page.dom" | wc -l)" -eq 3 ]' "$run: three plots"
    ok '[ "$(grep -o "class=\"chosen\"" "$page.dom" | wc -l)" -ge 4 ]' "$run: the chosen point marked in the plots and tables"
    layers=$(sqlite3 "$T/$run/results.db" "select name from evals where stage = 'sensitivity'" | sed 's/^s-//; s/-[^-]*$//' | sort -u | wc -l)
    ok '[ "$layers" -gt 0 ] && [ "$(grep -o "<td class=\"layer\">" "$page.dom" | wc -l)" -eq "$layers" ]' "$run: heat map of the $layers measured layers"
    ok '[ "$(grep -o "class=\"pick\"" "$page.dom" | wc -l)" -eq "$layers" ]' "$run: the chosen choice marked on every measured layer"
    ok 'grep -q "Wilson" "$page.dom" && grep -q "Rule used by this run" "$page.dom"' "$run: the budget decision with its rule and interval"
    ok '[ -s "$page.png" ]' "$run: screenshot taken"
done
[ -n "${RN_REPORT_SHOTS:-}" ] && cp "$T"/size-5p/report.html.png "$RN_REPORT_SHOTS/size-5p.png" && cp "$T"/latency-5p/report.html.png "$RN_REPORT_SHOTS/latency-5p.png"

# An older run: no sensitivity rows, no chosen config file, no provenance. The page says so.
cp -r "$SRC/results/search/size-5p" "$T/old"
sqlite3 "$T/old/results.db" "delete from evals where stage = 'sensitivity'"
rm -f "$T/old/configs/m-7abdd06b80.yaml"
"$BIN" report "$T/old" >"$T/old.out" 2>"$T/old.err"
rc=$?
ok '[ $rc -eq 0 ]' "older run: report exits 0: $(tail -n 1 "$T/old.err")"
ok 'grep -q "no sensitivity evaluations" "$T/old/report.html"' "older run: the heat map section says why it is empty"
ok 'grep -q "m-7abdd06b80.yaml" "$T/old/report.html" && grep -q "Not available" "$T/old/report.html"' "older run: the per-layer section names the missing config"
ok 'grep -q "did not record its command line" "$T/old/report.html"' "older run: the missing provenance is said"

# Bad input: exit 2, the message names what is missing, nothing written.
"$BIN" report "$T/nonexistent" >/dev/null 2>"$T/e1"
rc=$?
ok '[ $rc -eq 2 ] && grep -q "nonexistent: no such run directory" "$T/e1"' "missing run directory: exit 2 naming it ($(cat "$T/e1"))"
for f in front.json points.csv results.db; do
    mkdir -p "$T/partial-$f"
    cp "$SRC/results/search/size-5p/"{front.json,points.csv,results.db} "$T/partial-$f/"
    rm "$T/partial-$f/$f"
    "$BIN" report "$T/partial-$f" >/dev/null 2>"$T/e-$f"
    rc=$?
    ok '[ $rc -eq 2 ] && grep -q "partial-$f/$f: missing" "$T/e-$f"' "run without $f: exit 2 naming it ($(cat "$T/e-$f"))"
    ok '[ ! -e "$T/partial-$f/report.html" ] && [ ! -e "$T/partial-$f/report.html.tmp" ]' "run without $f: nothing written"
done
mkdir -p "$T/bad"
cp "$SRC/results/search/size-5p/"{front.json,points.csv} "$T/bad/"
echo "not a database" >"$T/bad/results.db"
"$BIN" report "$T/bad" >/dev/null 2>"$T/e-db"
rc=$?
ok '[ $rc -eq 2 ] && grep -q "bad/results.db" "$T/e-db" && [ ! -e "$T/bad/report.html" ]' "a results.db that is not one: exit 2 naming it ($(cat "$T/e-db"))"
cp "$SRC/results/search/size-5p/results.db" "$T/bad/"
echo "id,workflow" >"$T/bad/points.csv"
"$BIN" report "$T/bad" >/dev/null 2>"$T/e-csv"
rc=$?
ok '[ $rc -eq 2 ] && grep -q "points.csv" "$T/e-csv" && [ ! -e "$T/bad/report.html" ]' "a damaged points.csv: exit 2 naming it ($(cat "$T/e-csv"))"
"$BIN" report >/dev/null 2>"$T/e-none"
rc=$?
ok '[ $rc -eq 2 ] && grep -q "RUN_DIR: required" "$T/e-none"' "no run directory: exit 2"
"$BIN" report "$T/old" --bogus >/dev/null 2>"$T/e-opt"
rc=$?
ok '[ $rc -eq 2 ] && grep -q -- "--bogus: unknown option" "$T/e-opt"' "unknown option: exit 2"
"$BIN" report --help | grep -q "usage: rn50-tune report RUN_DIR"
rc=$?
ok '[ $rc -eq 0 ]' "--help"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
