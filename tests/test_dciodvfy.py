"""De-identification must not make a valid object invalid: dicom3tools' ``dciodvfy`` reports
no error for an output that it does not also report for the input."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from builders import header_only_profile
from pydicom.data import get_testdata_file

import imagedeid
from imagedeid.model import FileResult, FileStatus
from imagedeid.pseudonym import ProjectKey

pytestmark = [
    pytest.mark.external,
    pytest.mark.skipif(
        shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not on PATH"
    ),
]

FILES = [
    "CT_small.dcm",  # CT, explicit VR little endian
    "MR_small.dcm",  # MR
    "rtplan.dcm",  # RT Plan, nested sequences
    "rtstruct.dcm",  # RT Structure Set
    "rtdose.dcm",  # RT Dose, multi-frame, implicit VR
    "JPEG-lossy.dcm",  # JPEG baseline, encapsulated
    "SC_rgb_jpeg_gdcm.dcm",  # secondary capture, JPEG
    "reportsi.dcm",  # Basic Text SR
    "test-SR.dcm",  # Comprehensive SR with coded content
    "eCT_Supplemental.dcm",  # enhanced CT multi-frame (pydicom's data store, if present)
]


def normalise(line: str) -> str:
    """An error message with its values and UIDs blanked, so input and output compare."""
    line = re.sub(r"= <[^>]*>", "= <value>", line)
    line = re.sub(r'"[^"]*"', '"<value>"', line)
    line = re.sub(r"(UID\s+)[0-9.]+", r"\1<uid>", line)
    line = re.sub(r"\b\d+(?:\.\d+){2,}\b", "<uid>", line)
    return re.sub(r"\s+", " ", line).strip()


def errors(path: Path) -> set[str]:
    res = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, errors="replace"
    )
    lines = (res.stdout + res.stderr).splitlines()
    return {normalise(line) for line in lines if line.startswith("Error")}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, FileResult]]:
    root = tmp_path_factory.mktemp("dciodvfy")
    paths = [p for name in FILES if (p := get_testdata_file(name, download=False))]
    key = root / "k.key"
    key.write_text(ProjectKey(b"dciodvfy-key-0123456789abcdef-01").encode())
    key.chmod(0o600)
    results: list[FileResult] = []
    imagedeid.deidentify(  # the header engine; pixel-cleaned outputs: test_pixels_real_files
        paths,
        root / "out",
        profile=header_only_profile(),
        key_file=key,
        workers=1,
        progress=results.append,
        environ={},
    )
    return {Path(r.input_path).name: (root / "out", r) for r in results}


@pytest.mark.parametrize("name", FILES)
def test_output_has_no_new_dciodvfy_error(
    name: str, released: dict[str, tuple[Path, FileResult]]
) -> None:
    if name not in released:
        pytest.skip(f"{name} is not installed with this pydicom")
    out_dir, res = released[name]
    assert res.status is FileStatus.OK, res.reason
    source = Path(res.input_path)
    new = sorted(errors(out_dir / res.output_relpath) - errors(source))
    assert new == []
