"""Inputs that share a SOP Instance UID but differ in content (one instance exported in
three transfer syntaxes, say): the output tree must not depend on which was written
first -- not on input order, not on the number of workers, not on a crash between."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, to_bytes
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

import imagedeid
from imagedeid.errors import OutputError
from imagedeid.io import shared_names
from imagedeid.io.shared_names import content_name, final_name, settle_shared_name
from imagedeid.model import FileResult, FileStatus
from imagedeid.pseudonym import ProjectKey

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}


# --- settle_shared_name on its own --------------------------------------------------------


def place(root: Path, contents: dict[str, bytes]) -> None:
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def test_lowest_content_takes_the_plain_name_and_nothing_is_lost(tmp_path: Path) -> None:
    a, b, c = sorted([b"first", b"second", b"third"], key=sha, reverse=True)  # a highest
    plain = "p/s/r/1.2.3.dcm"
    place(tmp_path, {plain: a, content_name(plain, sha(b)): b, content_name(plain, sha(c)): c})
    lowest = settle_shared_name(tmp_path, plain, {sha(a), sha(b), sha(c)}, tmp_path / "s")
    assert lowest == sha(c)
    assert final_name(plain, sha(a), lowest) == content_name(plain, sha(a))
    assert final_name(plain, sha(c), lowest) == plain
    assert tree(tmp_path) == {
        plain: c,
        content_name(plain, sha(a)): a,
        content_name(plain, sha(b)): b,
    }
    before = tree(tmp_path)
    assert settle_shared_name(tmp_path, plain, {sha(a), sha(c)}, tmp_path / "s") == sha(c)
    assert tree(tmp_path) == before


def test_a_settled_group_is_left_alone(tmp_path: Path) -> None:
    low, high = sorted([b"one", b"two"], key=sha)
    plain = "x/1.dcm"
    place(tmp_path, {plain: low, content_name(plain, sha(high)): high})
    before = tree(tmp_path)
    assert settle_shared_name(tmp_path, plain, {sha(high)}, tmp_path) == sha(low)
    assert tree(tmp_path) == before


def test_a_content_name_holding_other_bytes_is_never_overwritten(tmp_path: Path) -> None:
    low, high = sorted([b"one", b"two"], key=sha)
    plain = "x/1.dcm"
    squatter = content_name(plain, sha(high))
    place(tmp_path, {plain: high, squatter: b"something else", content_name(plain, sha(low)): low})
    before = tree(tmp_path)
    with pytest.raises(OutputError):
        settle_shared_name(tmp_path, plain, {sha(low), sha(high)}, tmp_path / "s")
    assert tree(tmp_path) == before


def test_content_name_keeps_the_folder_and_suffix() -> None:
    assert content_name("a/b/2.25.7.dcm", "0123456789abcdef" * 4) == "a/b/2.25.7.0123456789ab.dcm"


# --- whole runs ------------------------------------------------------------------------------


@pytest.fixture
def exports(tmp_path: Path) -> list[Path]:
    """One instance in three transfer syntaxes plus an exact copy of one, in four folders."""
    folders = []
    for i, syntax in enumerate((*SYNTAXES, SYNTAXES[0])):
        folder = tmp_path / "exports" / f"disk{i}"
        folder.mkdir(parents=True)
        (folder / "image.dcm").write_bytes(to_bytes(make_instance(transfer_syntax=syntax)))
        folders.append(folder)
    return folders


def release(inputs: list[Path], out: Path, workers: int = 1) -> dict[str, FileResult]:
    key = out.parent / "k.key"
    if not key.exists():
        key.write_text(ProjectKey(b"shared-names-key-0123456789abcde").encode(), "ascii")
        key.chmod(0o600)
    results: dict[str, FileResult] = {}
    summary = imagedeid.deidentify(
        inputs,
        out,
        key_file=key,
        workers=workers,
        progress=lambda r: results.__setitem__(r.input_path, r),
        environ={},
        review=False,
    )
    assert summary.exit_code == 0
    return results


def plain_name(names: dict[str, bytes]) -> str:
    """The one name that is not a content name (content names are 13 characters longer)."""
    return min(names, key=len)


def test_tree_does_not_depend_on_input_order_or_workers(
    exports: list[Path], tmp_path: Path
) -> None:
    runs = {  # each content written first once
        f"first{i}": release(exports[i:] + exports[:i], tmp_path / f"first{i}")
        for i in range(len(SYNTAXES))
    }
    runs["parallel"] = release(exports[::-1], tmp_path / "parallel", workers=2)
    want = tree(tmp_path / "first0")
    assert len(want) == len(SYNTAXES)  # the exact copy shares its twin's output
    plain = plain_name(want)
    assert sha(want[plain]) == min(map(sha, want.values()))
    assert {content_name(plain, sha(d)) for n, d in want.items() if n != plain} == set(want) - {
        plain
    }
    for name, results in runs.items():
        assert tree(tmp_path / name) == want, name
        assert set(results) == {str(p / "image.dcm") for p in exports}
        assert {r.output_relpath for r in results.values()} == set(want)


def test_every_result_names_its_own_output(exports: list[Path], tmp_path: Path) -> None:
    for name, order in (("forward", exports), ("backward", exports[::-1])):
        out = tmp_path / name
        for res in release(order, out).values():
            assert res.status is FileStatus.OK
            written = pydicom.dcmread(out / res.output_relpath)
            source = pydicom.dcmread(res.input_path)
            assert written.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
            assert res.transfer_syntax == source.file_meta.TransferSyntaxUID  # renamed ones too


def test_journal_names_the_final_outputs_so_a_rerun_skips_all(
    exports: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = release(exports[::-1], out)
    before = tree(out)
    again = release(exports, out)
    assert {r.status for r in again.values()} == {FileStatus.SKIPPED_DONE}
    assert {p: r.output_relpath for p, r in again.items()} == {
        p: r.output_relpath for p, r in first.items()
    }
    assert tree(out) == before
    report = json.loads((tmp_path / "out.imagedeid" / "report.json").read_text())
    assert report["outputs_renamed"] == 0


def order_that_must_move(exports: list[Path], tmp_path: Path) -> list[Path]:
    """The exports in an order whose first input (the one that takes the plain name
    while the run goes) is not the lowest content, so the end of the run must rename;
    released once into ``tmp_path / "clean"`` to find out, which tests compare with."""
    clean = release(exports, tmp_path / "clean")
    plain = plain_name(tree(tmp_path / "clean"))
    first = next(p for p in exports if clean[str(p / "image.dcm")].output_relpath != plain)
    return [first, *(p for p in exports if p != first)]


def release_cut_off(
    inputs: list[Path],
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    replace: Callable[[object, object], None],
) -> None:
    """Release ``inputs`` into ``out`` with the end-of-run renames going through
    ``replace``, which interrupts the run (KeyboardInterrupt, as Ctrl-C would)."""
    with monkeypatch.context() as patched:
        patched.setattr(shared_names.os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            release(inputs, out)


def test_a_run_cut_off_while_settling_is_finished_by_the_next(
    exports: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = order_that_must_move(exports, tmp_path)

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the holder got its content name

    release_cut_off(order, tmp_path / "cut", monkeypatch, crash)
    results = release(order, tmp_path / "cut")
    assert tree(tmp_path / "cut") == tree(tmp_path / "clean")
    for res in results.values():
        assert (tmp_path / "cut" / res.output_relpath).is_file()


def test_a_run_cut_off_right_after_a_rename_is_finished_by_the_next(
    exports: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the plain name changed hands but before the journal said so."""
    order = order_that_must_move(exports, tmp_path)
    real_replace = os.replace

    def rename_then_crash(src: object, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    release_cut_off(order, tmp_path / "cut", monkeypatch, rename_then_crash)
    for _ in range(2):  # the rerun finishes the job, and one more changes nothing
        results = release(order, tmp_path / "cut")
        assert tree(tmp_path / "cut") == tree(tmp_path / "clean")
        for res in results.values():
            written = pydicom.dcmread(tmp_path / "cut" / res.output_relpath)
            source = pydicom.dcmread(res.input_path)
            assert written.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID


def test_a_group_that_cannot_be_settled_is_reported_and_the_run_finishes(
    exports: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def refuse(src: object, dst: object) -> None:
        if str(tmp_path / "full") + os.sep not in str(dst):  # the report, the journal
            return real_replace(src, dst)  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    order = order_that_must_move(exports, tmp_path)
    monkeypatch.setattr(shared_names.os, "replace", refuse)
    results = release(order, tmp_path / "full")
    report = json.loads((tmp_path / "full.imagedeid" / "report.json").read_text())
    assert report["shared_names_unsettled"] == 1
    for res in results.values():  # every output is still where its result says
        assert (tmp_path / "full" / res.output_relpath).is_file()


def test_exact_copies_alone_make_no_group_to_settle(tmp_path: Path) -> None:
    """The same file exported twice (or redone after a crash) is one content: later runs
    have nothing to settle and do not re-read the journal for it."""
    data = to_bytes(make_instance())
    for folder in ("a", "b"):
        (tmp_path / "exports" / folder).mkdir(parents=True)
        (tmp_path / "exports" / folder / "image.dcm").write_bytes(data)
    results = release([tmp_path / "exports"], tmp_path / "out")
    assert len(tree(tmp_path / "out")) == 1
    assert {r.output_relpath for r in results.values()} == set(tree(tmp_path / "out"))
    journal = (tmp_path / "out.imagedeid" / "journal.jsonl").read_text()
    assert '"shared"' not in journal
