#!/usr/bin/env bash
# The coremltools environment of scripts/coreml_deploy.py and the compat test
# (tests/coreml_compat.py): a venv on Debian's Python 3.11 that sees Debian's PyTorch 1.13 and
# torchvision (--system-site-packages), with coremltools 9.0 (converts a traced torch 1.13 model
# on Linux; coremltools.optimize.torch itself needs torch >= 2.1 and is not used) and
# scikit-learn, which its palettize_weights k-means needs. numpy stays Debian's (PyTorch 1.13 is
# built against numpy 1.x; scipy 1.13 is the last to accept numpy 1.24). Run as root after
# scripts/setup.sh. VENV defaults to /opt/ct; an existing one that imports everything is kept.
set -euo pipefail
VENV=${VENV:-/opt/ct}
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends python3-venv python3-torch python3-torchvision python3-numpy python3-yaml
if "$VENV/bin/python" -c 'import coremltools, sklearn, torch, yaml; assert coremltools.__version__ == "9.0"' 2>/dev/null; then
    echo "setup_coreml: $VENV is ready"
    exit 0
fi
/usr/bin/python3 -m venv --system-site-packages "$VENV"
NUMPY=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
"$VENV/bin/pip" install --no-input coremltools==9.0 scikit-learn==1.5.2 scipy==1.13.1 "numpy==$NUMPY"
"$VENV/bin/python" -c 'import coremltools, sklearn, torch; print("setup_coreml: coremltools", coremltools.__version__, "torch", torch.__version__)'
