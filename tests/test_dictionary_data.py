"""The packaged DICOM dictionary is pydicom's, so the hot path may skip importing pydicom."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_dictionary_equals_a_fresh_build_from_pydicom() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from gen_dicom_dictionary import build
    finally:
        sys.path.pop(0)
    packaged = json.loads(
        resources.files("imagedeid.policy").joinpath("data", "dicom_dictionary.json").read_text()
    )
    assert packaged == json.loads(json.dumps(build())), (
        "pydicom's dictionary changed: run tools/gen_dicom_dictionary.py"
    )


def test_the_engine_does_not_import_pydicom_for_a_plain_file() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests'); from builders import make_instance, to_bytes;"
        "data = to_bytes(make_instance()); "
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('pydicom')];"
        "from imagedeid.dicom.part10 import deidentify_part10;"
        "from imagedeid.policy.plan import compile_plan;"
        "from imagedeid.policy.profile import builtin_profile;"
        "from imagedeid.pseudonym import ProjectKey, Pseudonymizer;"
        "from imagedeid.text import build_cleaner;"
        "deidentify_part10(data, compile_plan(builtin_profile('research')),"
        " Pseudonymizer(ProjectKey(b'k' * 32)), build_cleaner, ('t',));"
        "print(sorted(m for m in sys.modules if m.startswith('pydicom')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
