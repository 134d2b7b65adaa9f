#!/usr/bin/env bash
# Install the peer de-identification tools that run_bench.py compares imagedeid against.
#
# Creates benchmarks/.peers/venv (git-ignored) with python3.11 and installs pinned peers:
#   dicognito==0.19.0        invoked as `python -m dicognito` (its console script is broken)
#   deid (0.4.x)             invoked through its Python API (benchmarks/peer_deid.py)
#   dicom-anonymizer (2.1.x) invoked through its `dicom-anonymizer` console script
#
# Idempotent: when the venv already holds the pinned versions it does nothing.
# Needs PyPI only while installing; nothing is fetched when the benchmark runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.peers/venv"
python_bin="${PYTHON:-python3.11}"
requirements=(
    "dicognito==0.19.0"
    "deid>=0.4,<0.5"
    "dicom-anonymizer>=2.1,<2.2"
)

installed() {
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "${requirements[@]}" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

if installed; then
    echo "setup_peers: peers already installed in $venv"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup_peers: creating $venv with $python_bin"
    mkdir -p "$here/.peers"
    "$python_bin" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --quiet --upgrade pip packaging
"$venv/bin/python" -m pip install --quiet "${requirements[@]}"

installed || { echo "setup_peers: pinned peers not installed as expected" >&2; exit 1; }
"$venv/bin/python" -m pip list 2>/dev/null | grep -i -E '^(dicognito|deid|dicom[-_]anonymizer|pydicom) '
echo "setup_peers: done"
