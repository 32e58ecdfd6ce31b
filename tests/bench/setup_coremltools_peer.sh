#!/usr/bin/env bash
# The venv of tests/bench/coremltools_peer.py (a benchmark, not a dependency of rn50-tune):
# coremltools.optimize.torch needs torch >= 2.1 and Debian has 1.13, so this is a venv of its own
# on Debian's Python 3.11 with PyPI's torch 2.7.0 (coremltools 9.0's highest tested torch) and
# torchvision 0.22.0, used on the CPU, coremltools 9.0 and scikit-learn. PyPI's Linux torch wheel
# pulls its CUDA libraries (about 3 GB to download, 5.6 GB on disk); nothing here uses them.
# VENV defaults to /opt/ct-torch2; an existing one that imports everything is kept.
set -euo pipefail
VENV=${VENV:-/opt/ct-torch2}
if "$VENV/bin/python" -c 'import coremltools.optimize.torch, torchvision, yaml; import coremltools; assert coremltools.__version__ == "9.0"' 2>/dev/null; then
    echo "setup_coremltools_peer: $VENV is ready"
    exit 0
fi
/usr/bin/python3 -m venv "$VENV"
"$VENV/bin/pip" install --no-input torch==2.7.0 torchvision==0.22.0 coremltools==9.0 pyyaml scikit-learn
"$VENV/bin/python" -c 'import coremltools, torch; print("setup_coremltools_peer: coremltools", coremltools.__version__, "torch", torch.__version__)'
