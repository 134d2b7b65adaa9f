"""Scenario tests of a whole run through the Python API, named after what a user does.

One folder tree of synthetic, PHI-laden instances (folder and file names carry the
patients' names and record numbers) is released once per module; most tests read
that release. Runs are serial except where two workers are the point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from builders import (
    make_instance,
    patient_id,
    patient_name,
    phi_strings,
    study_date,
    to_bytes,
)
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

import imagedeid
from imagedeid.api import reidentify
from imagedeid.errors import CrosswalkError, ImageDeidError, InputError
from imagedeid.model import FileResult
from imagedeid.pipeline.executors import SerialExecutor
from imagedeid.pseudonym import ProjectKey

PATIENTS = (1, 2, 3)
STUDIES = (1, 2)
INSTANCES = (1, 2)


# --- helpers ----------------------------------------------------------------------------


def write_key(path: Path, secret: bytes) -> Path:
    path.write_text(ProjectKey(secret).encode(), encoding="ascii")
    path.chmod(0o600)
    return path


def input_folder(patient: int, study: int) -> str:
    last, first = patient_name(patient)
    return f"{last}, {first} ({patient_id(patient)})/{study_date(patient, study)} study {study}"


def build_tree(root: Path) -> dict[Path, tuple[int, int, int]]:
    """Patients' names and MRNs in folder and file names, as a scanner export would have."""
    made = {}
    for p in PATIENTS:
        last, _ = patient_name(p)
        for s in STUDIES:
            folder = root / input_folder(p, s)
            folder.mkdir(parents=True)
            for i in INSTANCES:
                path = folder / f"{last}_{i}.dcm"
                path.write_bytes(to_bytes(make_instance(p, s, 1, i)))
                made[path] = (p, s, i)
    return made


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()
    }


def tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for f in sorted(root.rglob("*")):
        if f.is_file():
            st = f.stat()
            out[str(f)] = (hashlib.sha256(f.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode)
    return out


def all_phi() -> list[str]:
    return sorted({s for p in PATIENTS for st in STUDIES for s in phi_strings(p, st)})


def phi_found(blob: bytes) -> list[str]:
    low = blob.lower()
    return [s for s in all_phi() if s.lower().encode("latin-1") in low]


def run_api(
    inputs: list[Path], output: Path, key: Path, **kwargs
) -> tuple[object, list[FileResult]]:
    results: list[FileResult] = []
    kwargs.setdefault("workers", 1)
    summary = imagedeid.deidentify(
        inputs, output, key_file=key, progress=results.append, environ={}, **kwargs
    )
    return summary, results


@dataclass
class Release:
    root: Path
    inputs: Path
    output: Path
    state: Path
    key: Path
    crosswalk: Path
    made: dict[Path, tuple[int, int, int]]
    summary: object
    results: list[FileResult]
    before: dict[str, tuple[str, int, int]]

    def outputs_by_input(self) -> dict[tuple[int, int, int], pydicom.Dataset]:
        out = {}
        for res in self.results:
            out[self.made[Path(res.input_path)]] = pydicom.dcmread(self.output / res.output_relpath)
        return out


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    root = tmp_path_factory.mktemp("scenario")
    inputs = root / "exports"
    made = build_tree(inputs)
    before = tree_state(inputs)
    key = write_key(root / "project.key", b"scenario-key-0123456789abcdef-01")
    output = root / "released"
    crosswalk = root / "private" / "crosswalk.sqlite"
    summary, results = run_api(
        [inputs], output, key, crosswalk=crosswalk, executor=SerialExecutor()
    )
    return Release(
        root,
        inputs,
        output,
        root / "released.imagedeid",
        key,
        crosswalk,
        made,
        summary,
        results,
        before,
    )


# --- a clean release ---------------------------------------------------------------------


def test_release_of_named_folders_succeeds(release: Release) -> None:
    assert release.summary.exit_code == 0
    assert release.summary.counts == {"ok": len(release.made)}
    assert sorted(Path(r.input_path) for r in release.results) == sorted(release.made)
    assert len(list(release.output.rglob("*.dcm"))) == len(release.made)


def test_no_phi_in_output_bytes(release: Release) -> None:
    for rel, data in tree_bytes(release.output).items():
        assert phi_found(data) == [], rel


def test_no_phi_in_output_paths(release: Release) -> None:
    for path in release.output.rglob("*"):
        rel = str(path.relative_to(release.output)).encode()
        assert phi_found(rel) == [], rel


def test_no_phi_or_input_path_in_report_or_journal(release: Release) -> None:
    report_file = release.state / "report.json"
    journal = release.state / "journal.jsonl"
    docs = {
        "report.json": report_file.read_bytes(),
        "summary.report": json.dumps(release.summary.report).encode(),
        "journal.jsonl": journal.read_bytes(),
    }
    for name, blob in docs.items():
        assert phi_found(blob) == [], name
        for path in release.made:
            assert str(path).encode() not in blob, name
            assert path.parent.name.encode() not in blob, name


def test_crosswalk_file_holds_no_plain_phi(release: Release) -> None:
    assert release.crosswalk.is_file()
    assert phi_found(release.crosswalk.read_bytes()) == []
    assert stat.S_IMODE(release.crosswalk.stat().st_mode) == 0o600


def test_each_patient_gets_one_distinct_patient_id(release: Release) -> None:
    ids: dict[int, set[str]] = {}
    for (p, _s, _i), ds in release.outputs_by_input().items():
        ids.setdefault(p, set()).add(str(ds.PatientID))
    assert all(len(v) == 1 for v in ids.values()), ids
    flat = [next(iter(v)) for v in ids.values()]
    assert len(set(flat)) == len(PATIENTS)
    assert all(pid and pid not in {patient_id(p) for p in PATIENTS} for pid in flat)


def test_output_folders_are_patient_study_series(release: Release) -> None:
    for res in release.results:
        ds = pydicom.dcmread(release.output / res.output_relpath)
        parts = Path(res.output_relpath).parts
        assert parts == (
            str(ds.PatientID),
            str(ds.StudyInstanceUID),
            str(ds.SeriesInstanceUID),
            f"{ds.SOPInstanceUID}.dcm",
        )


def test_each_study_keeps_one_study_uid(release: Release) -> None:
    uids: dict[tuple[int, int], set[str]] = {}
    for (p, s, _i), ds in release.outputs_by_input().items():
        uids.setdefault((p, s), set()).add(str(ds.StudyInstanceUID))
    assert all(len(v) == 1 for v in uids.values()), uids
    assert len({next(iter(v)) for v in uids.values()}) == len(PATIENTS) * len(STUDIES)


def test_two_studies_keep_their_interval(release: Release) -> None:
    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    outs = release.outputs_by_input()
    for p in PATIENTS:
        first, second = outs[(p, 1, 1)], outs[(p, 2, 1)]
        original = day(study_date(p, 2)) - day(study_date(p, 1))
        assert day(second.StudyDate) - day(first.StudyDate) == original
        assert first.StudyDate != study_date(p, 1)
        for ds in (first, second):
            assert ds.SeriesDate == ds.StudyDate == ds.AcquisitionDate == ds.ContentDate


def test_study_description_keeps_clinical_words(release: Release) -> None:
    for ds in release.outputs_by_input().values():
        assert "CT HEAD" in str(ds.StudyDescription)


def test_pixel_data_is_byte_identical(release: Release) -> None:
    for (p, s, i), ds in release.outputs_by_input().items():
        assert ds.PixelData == make_instance(p, s, 1, i).PixelData


def test_inputs_are_never_modified(release: Release) -> None:
    assert tree_state(release.inputs) == release.before


def test_nothing_partial_or_foreign_in_output(release: Release) -> None:
    for path in release.output.rglob("*"):
        if path.is_file():
            assert path.suffix == ".dcm" and not path.name.startswith("."), path
            assert ".tmp" not in path.name
            pydicom.dcmread(path)
    assert not (release.output / "report.json").exists()


def test_report_records_profile_key_versions_and_counts(release: Release) -> None:
    report = json.loads((release.state / "report.json").read_text())
    assert report["profile"]["id"] == "research"
    assert report["profile"]["content_hash"].startswith("sha256:")
    fingerprint = ProjectKey.decode(release.key.read_text(), "k").fingerprint
    assert report["key_fingerprint"] == fingerprint
    assert report["version"] == imagedeid.__version__
    assert report["versions"]["pydicom"] == pydicom.__version__
    assert report["versions"]["python"]
    assert report["counts"] == {"ok": len(release.made)}
    assert report["failures_by_reason"] == {}
    assert report["failures"] == []


# --- reruns, keys and workers -----------------------------------------------------------


def test_rerun_skips_finished_inputs(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "released"
    run_api([release.inputs], out, release.key)
    first = tree_bytes(out)
    summary, _ = run_api([release.inputs], out, release.key)
    assert summary.exit_code == 0
    assert summary.counts == {"already-done": len(release.made)}
    assert summary.report["counts"] == {"already-done": len(release.made)}
    assert tree_bytes(out) == first


def test_same_key_gives_identical_output_trees(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "again"
    summary, _ = run_api([release.inputs], out, release.key)
    assert summary.exit_code == 0
    assert tree_bytes(out) == tree_bytes(release.output)


def test_one_or_two_workers_give_identical_trees(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    summary, results = run_api([release.inputs], out, release.key, workers=2)
    assert summary.exit_code == 0
    assert len(results) == len(release.made)
    assert tree_bytes(out) == tree_bytes(release.output)


def test_other_key_gives_other_pseudonyms(release: Release, tmp_path: Path) -> None:
    other = write_key(tmp_path / "other.key", b"another-key-0123456789abcdef-xyz")
    out = tmp_path / "other"
    summary, results = run_api([release.inputs], out, other)
    assert summary.exit_code == 0
    ours = release.outputs_by_input()
    for res in results:
        theirs = pydicom.dcmread(out / res.output_relpath)
        mine = ours[release.made[Path(res.input_path)]]
        for kw in (
            "PatientID",
            "AccessionNumber",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "StudyDate",
        ):
            assert theirs.data_element(kw).value != mine.data_element(kw).value, kw
        assert theirs.PixelData == mine.PixelData
    assert not set(tree_bytes(out)) & set(tree_bytes(release.output))


def test_key_from_environment_matches_key_file(release: Release, tmp_path: Path) -> None:
    by_file = {"IMAGEDEID_KEY_FILE": str(release.key)}
    by_value = {"IMAGEDEID_KEY": release.key.read_text()}
    for n, env in enumerate((by_file, by_value)):
        out = tmp_path / f"env{n}"
        summary = imagedeid.deidentify([release.inputs], out, workers=1, environ=env)
        assert summary.exit_code == 0
        assert summary.report["key"]["created"] is False
        assert tree_bytes(out) == tree_bytes(release.output)
        assert not (tmp_path / f"env{n}.imagedeid" / "project.key").exists()


def test_run_without_key_creates_one_beside_output(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "nokey"
    summary = imagedeid.deidentify([release.inputs], out, workers=1, environ={})
    key = tmp_path / "nokey.imagedeid" / "project.key"
    assert summary.report["key"]["created"] is True
    assert summary.report["key"]["source"] == str(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not any(p.name == "project.key" for p in out.rglob("*"))
    imagedeid.deidentify([release.inputs], tmp_path / "nokey2", key_file=key, workers=1)
    assert tree_bytes(tmp_path / "nokey2") == tree_bytes(out)


# --- crosswalk --------------------------------------------------------------------------


def test_crosswalk_reidentifies_patient_id(release: Release) -> None:
    outs = release.outputs_by_input()
    for p in PATIENTS:
        pseudonym = str(outs[(p, 1, 1)].PatientID)
        rows = reidentify(pseudonym, release.crosswalk, release.key)
        assert ("PatientID", patient_id(p)) in rows
        study_uid = str(outs[(p, 2, 1)].StudyInstanceUID)
        assert ("StudyInstanceUID", make_instance(p, 2).StudyInstanceUID) in reidentify(
            study_uid, release.crosswalk, release.key
        )


def test_crosswalk_with_wrong_key_fails(release: Release, tmp_path: Path) -> None:
    wrong = write_key(tmp_path / "wrong.key", b"wrong-key-0123456789abcdef-01234")
    pseudonym = str(next(iter(release.outputs_by_input().values())).PatientID)
    with pytest.raises(CrosswalkError) as info:
        reidentify(pseudonym, release.crosswalk, wrong)
    assert patient_id(1) not in str(info.value)


def test_crosswalk_inside_output_is_refused(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="crosswalk"):
        run_api([release.inputs], out, release.key, crosswalk=out / "xw.sqlite")
    assert not out.exists() or not any(out.rglob("*"))


# --- bad inputs -------------------------------------------------------------------------


def _strip_transfer_syntax(data: bytes) -> bytes:
    """The same file without (0002,0010), group length fixed."""
    at = data.find(b"\x02\x00\x10\x00UI")
    length = int.from_bytes(data[at + 6 : at + 8], "little")
    out = data[:at] + data[at + 8 + length :]
    group_length = int.from_bytes(out[140:144], "little") - (8 + length)
    return out[:140] + group_length.to_bytes(4, "little") + out[144:]


def test_bad_inputs_are_reported_and_good_files_still_released(tmp_path: Path) -> None:
    inputs = tmp_path / "Okonkwo1, Bernard"
    inputs.mkdir()
    good = to_bytes(make_instance(1, 1, 1, 1))
    (inputs / "good.dcm").write_bytes(good)
    (inputs / "good2.dcm").write_bytes(to_bytes(make_instance(2, 1, 1, 1)))
    bad = {
        "notes.txt": b"Patient Okonkwo1 Bernard MRN7300017 called back\n",
        "empty.dcm": b"",
        "truncated.dcm": good[: len(good) // 2],
        "truncated_pixels.dcm": good[:-10],
        "random.dcm": hashlib.sha256(b"seed").digest() * 100,
        "no_transfer_syntax_big_endian.dcm": _strip_transfer_syntax(
            to_bytes(make_instance(3, 1, 1, 1, transfer_syntax=ExplicitVRBigEndian))
        ),
    }
    for name, data in bad.items():
        (inputs / name).write_bytes(data)
    key = write_key(tmp_path / "k.key", b"bad-input-key-0123456789abcdef-0")
    out = tmp_path / "out"
    summary, results = run_api([inputs], out, key)
    assert summary.exit_code == 1
    by_name = {Path(r.input_path).name: r for r in results}
    assert set(by_name) == {"good.dcm", "good2.dcm", *bad}
    for name in ("good.dcm", "good2.dcm"):
        assert by_name[name].status.value == "ok"
        assert (out / by_name[name].output_relpath).is_file()
    for name in bad:
        res = by_name[name]
        assert res.status.value in ("not-dicom", "failed", "quarantined"), name
        assert res.reason and res.reason_code, name
        assert phi_found(res.reason.encode()) == [], name
        assert name not in res.reason and str(inputs) not in res.reason, name
    report = json.loads(summary.report_path.read_text())
    assert len(report["failures"]) == len(bad)
    assert sum(report["failures_by_reason"].values()) == len(bad)
    assert all(f["reason"] and f["reason_code"] for f in report["failures"])
    assert str(inputs) not in summary.report_path.read_text()
    assert "Okonkwo1" not in summary.report_path.read_text()
    tsv = summary.failures_path.read_text()
    assert all(str(inputs / name) in tsv for name in bad)
    assert len(list(out.rglob("*.dcm"))) == 2
    assert [p for p in out.rglob("*") if p.is_file() and p.suffix != ".dcm"] == []


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_little_endian_file_without_transfer_syntax_is_refused_or_released_correctly(
    tmp_path: Path, syntax: str
) -> None:
    """Where the file meta lacks (0002,0010) but the encoding is unambiguous, a release must
    carry the right Transfer Syntax UID; otherwise the input must be reported."""
    src = tmp_path / "in" / "x.dcm"
    src.parent.mkdir()
    original = make_instance(4, 1, 1, 1, transfer_syntax=syntax)
    src.write_bytes(_strip_transfer_syntax(to_bytes(original)))
    key = write_key(tmp_path / "k.key", b"bad-input-key-0123456789abcdef-0")
    summary, (res,) = run_api([src.parent], tmp_path / "out", key)
    if res.status.value == "ok":
        ds = pydicom.dcmread(tmp_path / "out" / res.output_relpath)
        assert ds.file_meta.TransferSyntaxUID == syntax
        assert ds.PixelData == original.PixelData
        assert ds.Modality == "CT" and ds.Rows == 4
    else:
        assert summary.exit_code == 1 and res.reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file with mode 000")
def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.dcm").write_bytes(to_bytes(make_instance(1)))
    locked = inputs / "locked.dcm"
    locked.write_bytes(to_bytes(make_instance(2)))
    locked.chmod(0)
    try:
        key = write_key(tmp_path / "k.key", b"bad-input-key-0123456789abcdef-0")
        summary, results = run_api([inputs], tmp_path / "out", key)
    finally:
        locked.chmod(0o600)
    assert summary.exit_code == 1
    by_name = {Path(r.input_path).name: r for r in results}
    assert by_name["good.dcm"].status.value == "ok"
    assert by_name["locked.dcm"].status.value == "failed" and by_name["locked.dcm"].reason
    assert str(inputs) not in summary.report_path.read_text()


def test_broken_symlink_in_input_is_reported_not_fatal(tmp_path: Path) -> None:
    """A dangling link in an export folder (a moved study) is one bad input, not a crash."""
    inputs = tmp_path / "Okonkwo1, Bernard"
    inputs.mkdir()
    (inputs / "good.dcm").write_bytes(to_bytes(make_instance(1)))
    (inputs / "moved.dcm").symlink_to(tmp_path / "gone" / "moved.dcm")
    key = write_key(tmp_path / "k.key", b"bad-input-key-0123456789abcdef-0")
    try:
        summary, results = run_api([inputs], tmp_path / "out", key)
    except ImageDeidError as exc:
        pytest.fail(f"the run stopped on one bad input: {exc}")
    except OSError as exc:
        pytest.fail(f"the run crashed with {type(exc).__name__} on one bad input")
    assert summary.exit_code == 1
    by_name = {Path(r.input_path).name: r for r in results}
    assert by_name["good.dcm"].status.value == "ok"
    assert by_name["moved.dcm"].reason
    assert "Okonkwo1" not in summary.report_path.read_text()


def test_usage_error_leaves_nothing_in_output(tmp_path: Path) -> None:
    key = write_key(tmp_path / "k.key", b"bad-input-key-0123456789abcdef-0")
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.dcm").write_bytes(to_bytes(make_instance(1)))
    with pytest.raises(InputError, match="missing"):
        run_api([src, tmp_path / "missing"], tmp_path / "out", key)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_shifted_date_equal_to_another_original_date_is_not_a_leak(tmp_path: Path) -> None:
    """A study date shifted onto the very day of another date in the file (a prior exam,
    an instance creation date years before) is the engine's own output."""
    key = write_key(tmp_path / "k.key", b"shift-coincidence-key-0123456789")
    first = tmp_path / "first"
    first.mkdir()
    (first / "a.dcm").write_bytes(to_bytes(make_instance(3)))
    imagedeid.deidentify([first], tmp_path / "o1", key_file=key, workers=1, environ={})
    shifted = pydicom.dcmread(next((tmp_path / "o1").rglob("*.dcm"))).StudyDate
    second = tmp_path / "second"
    second.mkdir()
    (second / "a.dcm").write_bytes(to_bytes(make_instance(3, InstanceCreationDate=shifted)))
    summary = imagedeid.deidentify([second], tmp_path / "o2", key_file=key, workers=1, environ={})
    assert summary.counts == {"ok": 1}
