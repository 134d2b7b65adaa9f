"""Every file pydicom ships (its test files and, where installed, its data store) in one run:
each input is either released as a file pydicom reads, with its pixel data byte for byte,
or reported with a reason that names no value. The run itself never crashes."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from builders import header_only_profile
from pydicom.data import get_testdata_files
from pydicom.uid import UID_dictionary

import imagedeid
from imagedeid.model import FileResult, FileStatus
from imagedeid.pseudonym import ProjectKey

# The header engine over every shipped file; Clean Pixel Data on the real burned-in
# files is tests/test_pixels_real_files.py (OCR over ~120 files would take minutes).
HEADER_ONLY = header_only_profile()

TEXT_VRS = ("PN", "LO", "SH", "LT", "ST", "UT", "UC", "AE", "DA", "DT", "TM", "UI")
# Attributes imagedeid writes itself: a leak can never be found in them.
OWN_TAGS = ("(0012,0062)", "(0012,0063)", "(0012,0064)", "(0028,0303)")


def shipped_files() -> list[Path]:
    return sorted(Path(f) for f in get_testdata_files() if os.path.isfile(f))


@dataclass
class Run:
    output: Path
    summary: object
    results: dict[Path, FileResult]
    report_text: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("pydicom-files")
    key = root / "k.key"
    key.write_text(ProjectKey(b"pydicom-files-key-0123456789abcd").encode())
    key.chmod(0o600)
    results: list[FileResult] = []
    summary = imagedeid.deidentify(
        shipped_files(),
        root / "out",
        profile=HEADER_ONLY,
        key_file=key,
        workers=2,
        progress=results.append,
        environ={},
    )
    return Run(
        root / "out",
        summary,
        {Path(r.input_path): r for r in results},
        summary.report_path.read_text(),
    )


def read_input(path: Path) -> pydicom.Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, force=True)
        except Exception:
            return None


def values_of(ds: pydicom.Dataset) -> set[str]:
    """String values of the input worth not echoing in a reason (4+ characters)."""
    out: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for el in ds.iterall():
                if el.VR in TEXT_VRS and el.value not in (None, ""):
                    value = el.value
                    vals = value if isinstance(value, pydicom.multival.MultiValue) else [value]
                    out.update(s for v in vals if len(s := str(v).strip()) >= 4)
        except Exception:
            pass
    return out


def test_one_run_over_every_shipped_file_accounts_for_each(run: Run) -> None:
    files = shipped_files()
    assert len(files) > 80
    assert sorted(run.results) == files
    assert run.summary.report["inputs"] == len(files)
    assert sum(run.summary.counts.values()) == len(files)
    assert run.summary.exit_code == (
        0
        if all(r.status is FileStatus.OK for r in run.results.values())
        else 1
    )


def test_released_files_read_back_with_identical_pixel_data(run: Run) -> None:
    problems = []
    compared = 0
    for path, res in run.results.items():
        if res.status is not FileStatus.OK:
            continue
        out_path = run.output / res.output_relpath
        try:
            out = pydicom.dcmread(out_path)
            for el in out.iterall():
                _ = el.value
        except Exception as exc:
            problems.append(f"{path.name}: output unreadable ({type(exc).__name__}: {exc})")
            continue
        if "TransferSyntaxUID" not in out.file_meta:
            problems.append(f"{path.name}: output has no Transfer Syntax UID")
        src = read_input(path)
        if src is None or "PixelData" not in src:
            continue
        if "PixelData" not in out:
            problems.append(f"{path.name}: pixel data dropped")
        elif out.PixelData != src.PixelData:
            problems.append(f"{path.name}: pixel data changed")
        else:
            compared += 1
    assert problems == []
    assert compared > 60


def test_no_input_uid_survives_in_released_files(run: Run) -> None:
    """Every instance UID of the input is replaced, at any depth and whatever the VR
    encoding (a sequence stored as UN included); only the standard's own UIDs stay."""
    problems = []
    for path, res in run.results.items():
        if res.status is not FileStatus.OK:
            continue
        src = read_input(path)
        assert src is not None, path.name
        found: dict[str, str] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for el in src.iterall():
                if el.VR != "UI":
                    continue
                vals = el.value if isinstance(el.value, pydicom.multival.MultiValue) else [el.value]
                for v in vals:
                    uid = str(v).strip("\x00 ")
                    if len(uid) > 8 and uid not in UID_dictionary:
                        found[uid] = el.keyword or str(el.tag)
        data = (run.output / res.output_relpath).read_bytes()
        kept = sorted({kw for uid, kw in found.items() if uid.encode() in data})
        if kept:
            problems.append(f"{path.name}: original {', '.join(kept)} kept")
    assert problems == []


def test_refused_files_have_a_value_free_reason(run: Run) -> None:
    problems = []
    for path, res in run.results.items():
        if res.status is FileStatus.OK:
            continue
        if not res.reason.strip() or not res.reason_code:
            problems.append(f"{path.name}: no reason")
            continue
        if str(path) in res.reason or str(path.parent) in res.reason:
            problems.append(f"{path.name}: reason names the input path")
        src = read_input(path)
        if src is not None:
            echoed = sorted(v for v in values_of(src) if v in res.reason)
            if echoed:
                problems.append(f"{path.name}: reason repeats {len(echoed)} input value(s)")
    assert problems == []


def test_report_names_no_input_path(run: Run) -> None:
    report = json.loads(run.report_text)
    assert len(report["failures"]) == sum(
        1 for r in run.results.values() if r.status is not FileStatus.OK
    )
    for path in run.results:
        assert str(path) not in run.report_text


def test_no_file_is_quarantined_for_a_value_imagedeid_wrote_itself(run: Run) -> None:
    """The final leak scan must not flag imagedeid's own de-identification attributes
    (e.g. the method code meanings), which hold no input value."""
    flagged = sorted(
        f"{path.name}: {res.reason}"
        for path, res in run.results.items()
        if res.status is FileStatus.QUARANTINED and any(t in res.reason for t in OWN_TAGS)
    )
    assert flagged == []


def test_nothing_partial_in_output(run: Run) -> None:
    stray = [p for p in run.output.rglob("*") if p.is_file() and p.suffix != ".dcm"]
    assert stray == []
    released = {r.output_relpath for r in run.results.values() if r.status is FileStatus.OK}
    on_disk = {str(p.relative_to(run.output)) for p in run.output.rglob("*.dcm")}
    assert on_disk == released
