#!/usr/bin/env bash
# coremltools compatibility (tests/coreml_compat.py): every example config and the committed
# search runs' exports, checked with coremltools 9.0's own code on the default model.
#   tests/cli_coreml.sh BUILD/rn50-tune SOURCE_DIR
# The venv comes from scripts/setup_coreml.sh (CT_PYTHON, default /opt/ct/bin/python). Without it
# the test is skipped, except under CI (CI=true), where that is a failure.
set -u
BIN=$1
SRC=$2
PY=${CT_PYTHON:-/opt/ct/bin/python}
if ! "$PY" -c 'import coremltools' 2>/dev/null; then
    if [ "${CI:-}" = true ]; then echo "FAIL: $PY has no coremltools (run scripts/setup_coreml.sh)"; exit 1; fi
    echo "skip: $PY has no coremltools (bash scripts/setup_coreml.sh makes it)"; exit 77
fi
# coremltools' progress bars and its 'Failed to load libcoremlpython' notes (no Core ML runtime
# on Linux) are noise here; the test prints its own lines.
OMP_NUM_THREADS=2 "$PY" "$SRC/tests/coreml_compat.py" "$BIN" "$SRC" 2> >(grep -v -e '%|' -e 'Failed to load' -e '^\s*$' -e 'Minimum required torch' >&2)
