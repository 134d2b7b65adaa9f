"""Clean Pixel Data on the real files with burned-in text that pydicom, pydicom-data
and deid-data ship, with the default profile, as a new user would run it.

Tesseract (not rapidocr, which does the masking) reads the outputs; dciodvfy checks
that no new conformance error appears.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from test_dciodvfy import errors

import imagedeid
from imagedeid.model import FileResult, FileStatus
from imagedeid.pixels.codec import decode, display_frames
from imagedeid.pixels.ocr import load_engine
from imagedeid.pseudonym import ProjectKey

pytestmark = [pytest.mark.ocr, pytest.mark.slow]

# Strings burned into these images that identify a patient, a visit or a place.
BURNED_PHI = (
    "ZZZDOWNTIME",
    "MARY",
    "120907058",
    "00047431395",
    "CLEVELAND",
    "00079241539",
    "08/29/1951",
    "03/02/2017",
    "5/25/2011",
    "11-05-25",
    "BAPTIST",
    "630P630",
    "78F78",
    "44CG43",
    "4/14/2020",
)
DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
LONG_NUMBER = re.compile(r"\d{7,}")


def real_files() -> list[Path]:
    names = [
        "examples_palette.dcm",
        "examples_jpeg2k.dcm",
        "examples_ybr_color.dcm",
        "examples_overlay.dcm",
    ]
    paths = [Path(p) for n in names if (p := get_testdata_file(n, download=False))]
    for pattern in ("US1_*", "OBXXXX1A*"):
        paths += sorted(Path(p) for p in get_testdata_files(pattern))
    try:
        import deid_data
    except ImportError:
        return paths
    root = Path(deid_data.__file__).parent
    for name in ("RGB_IMAGE.dcm", "GREYSCALE_IMAGE.dcm"):
        paths += sorted(root.rglob(name))[:1]
    return paths


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, FileResult]]:
    root = tmp_path_factory.mktemp("real-burned-in")
    key = root / "k.key"
    key.write_text(ProjectKey(b"real-burned-in-key-0123456789abc").encode())
    key.chmod(0o600)
    results: list[FileResult] = []
    imagedeid.deidentify(
        real_files(), root / "out", key_file=key, workers=2, progress=results.append, environ={}
    )
    return {Path(r.input_path).name: (root / "out", r) for r in results}


def tesseract_text(path: Path) -> str:
    ds = pydicom.dcmread(path)
    decoded = decode(ds)
    frames = np.stack(list(display_frames(decoded, ds)))
    engine = load_engine("tesseract")
    return " ".join(w.text for frame in frames for w in engine.read(frame))


def test_every_real_file_is_released(released: dict) -> None:
    assert len(released) >= 14
    problems = {n: r.reason for n, (_o, r) in released.items() if r.status is not FileStatus.OK}
    assert problems == {}


def test_no_burned_in_phi_is_readable_in_the_released_images(released: dict) -> None:
    problems = []
    for name, (out, res) in sorted(released.items()):
        if res.status is not FileStatus.OK:
            continue
        text = tesseract_text(out / res.output_relpath)
        found = [w for w in BURNED_PHI if w.lower() in text.lower()]
        found += DATE.findall(text) + LONG_NUMBER.findall(text)
        if found:
            problems.append(f"{name}: {len(found)} PHI string(s) readable")
    assert problems == []


# Its annotations are in the overlay plane (removed with group 6000), not in the pixels.
TEXT_FREE = {"examples_overlay.dcm"}


def test_a_file_without_burned_in_text_keeps_its_pixels_byte_for_byte(released: dict) -> None:
    for name in TEXT_FREE:
        out, res = released[name]
        ds = pydicom.dcmread(out / res.output_relpath)
        assert ds.PixelData == pydicom.dcmread(res.input_path).PixelData
        assert "113101" not in {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
        assert "OverlayData" not in ds


def test_files_with_burned_in_text_are_redacted_and_say_so(released: dict) -> None:
    for name, (out, res) in released.items():
        if res.status is not FileStatus.OK or name in TEXT_FREE:
            continue
        assert res.pixels == "redacted", name
        ds = pydicom.dcmread(out / res.output_relpath)
        assert ds.BurnedInAnnotation == "NO"
        assert "113101" in {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}


def test_outputs_keep_their_syntax_or_say_why(released: dict) -> None:
    for name, (out, res) in released.items():
        if res.status is not FileStatus.OK:
            continue
        src = pydicom.dcmread(res.input_path, stop_before_pixels=True)
        ds = pydicom.dcmread(out / res.output_relpath)
        _ = ds.pixel_array  # decodes
        if ds.file_meta.TransferSyntaxUID != src.file_meta.TransferSyntaxUID:
            assert "Explicit VR Little Endian" in res.reason, name


@pytest.mark.external
@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy not on PATH")
def test_redacted_outputs_have_no_new_dciodvfy_error(released: dict) -> None:
    problems = []
    for name, (out, res) in released.items():
        if res.status is FileStatus.OK:
            new = errors(out / res.output_relpath) - errors(Path(res.input_path))
            if new:
                problems.append(f"{name}: {sorted(new)[:3]}")
    assert problems == []
