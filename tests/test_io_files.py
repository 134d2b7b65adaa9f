"""Atomic output files: whole or absent, never overwritten, nothing left behind."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagedeid.errors import OutputError
from imagedeid.io import files


@pytest.fixture(params=["unnamed", "staged"])
def way(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both ways of writing: an unnamed file linked in (O_TMPFILE), and the fallback for
    file systems without it, a named file in the staging folder."""
    saved = files._UNNAMED[0]
    if request.param == "unnamed" and not saved:
        pytest.skip("this file system or platform has no O_TMPFILE")
    files._UNNAMED[0] = request.param == "unnamed"
    files._KNOWN_DIRS.clear()
    yield request.param
    files._UNNAMED[0] = saved


def test_creates_the_file_and_its_folders(tmp_path: Path, way: str) -> None:
    final = tmp_path / "out" / "a" / "b" / "x.dcm"
    assert files.write_new_file(final, b"DICM" * 1000, tmp_path / "staging")
    assert final.read_bytes() == b"DICM" * 1000
    assert final.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_never_overwrites(tmp_path: Path, way: str) -> None:
    final = tmp_path / "x.dcm"
    final.write_bytes(b"first")
    assert not files.write_new_file(final, b"second", tmp_path / "staging")
    assert final.read_bytes() == b"first"


def test_leaves_no_temporary_file(tmp_path: Path, way: str) -> None:
    staging = tmp_path / "staging"
    for i in range(5):
        files.write_new_file(tmp_path / "out" / f"{i}.dcm", bytes([i]) * 10, staging)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i}.dcm" for i in range(5)]
    assert not staging.exists() or not list(staging.iterdir())
    if way == "unnamed":
        assert not staging.exists()  # the staging folder is not even made


def test_a_file_system_without_unnamed_files_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not files._UNNAMED[0]:
        pytest.skip("this file system or platform has no O_TMPFILE")
    real_open = files.os.open

    def refuse_tmpfile(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & files._O_TMPFILE == files._O_TMPFILE:
            raise OSError(files.errno.EOPNOTSUPP, "not supported")
        return real_open(path, flags, mode)

    monkeypatch.setattr(files.os, "open", refuse_tmpfile)
    try:
        assert files.write_new_file(tmp_path / "x.dcm", b"data", tmp_path / "staging")
        assert files._UNNAMED[0] is False
    finally:
        files._UNNAMED[0] = True
    assert (tmp_path / "x.dcm").read_bytes() == b"data"


def test_an_unwritable_folder_is_an_output_error(tmp_path: Path, way: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OutputError, match="cannot be written"):
        files.write_new_file(blocker / "x.dcm", b"data", tmp_path / "staging")


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(params=["exclusive-rename", "lock"])
def no_hard_links(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A file system with neither unnamed files nor hard links (exFAT on a USB drive):
    the staged file is renamed into place, by an exclusive rename where there is one,
    else under the staging folder's lock."""

    def refuse_link(*args: object, **kwargs: object) -> None:
        raise OSError(files.errno.EPERM, "Operation not permitted")

    saved = files._UNNAMED[0]
    files._UNNAMED[0] = False
    monkeypatch.setattr(files.os, "link", refuse_link)
    if request.param == "lock":
        monkeypatch.setattr(files, "_RENAMEAT2", [None])
    elif files._find_renameat2() is None:
        pytest.skip("this platform has no renameat2")
    yield request.param
    files._UNNAMED[0] = saved


def test_without_hard_links_an_existing_file_is_never_replaced(
    tmp_path: Path, no_hard_links: str
) -> None:
    final, staging = tmp_path / "out" / "x.dcm", tmp_path / "staging"
    assert files.write_new_file(final, b"first", staging)
    assert not files.write_new_file(final, b"second", staging)
    assert final.read_bytes() == b"first"
    assert [p.name for p in staging.iterdir() if not p.name.startswith(".")] == []


def _race(final: Path, staging: Path, data: bytes, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put((data, files.write_new_file(final, data, staging)))


def test_without_hard_links_writers_racing_for_one_name_lose_nothing_silently(
    tmp_path: Path, no_hard_links: str
) -> None:
    """Checking that a name is free and then renaming onto it lets two writers both
    'succeed' while one output vanishes: exactly one writer may win each name."""
    context = multiprocessing.get_context("fork")
    writers = 6
    for attempt in range(12):
        final, staging = tmp_path / f"{attempt}" / "x.dcm", tmp_path / "staging"
        files.write_new_file(tmp_path / f"{attempt}" / "made.dcm", b"", staging)
        barrier, results = context.Barrier(writers), context.Queue()
        procs = [
            context.Process(target=_race, args=(final, staging, b"w%d" % n, barrier, results))
            for n in range(writers)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        winners = [data for data, won in outcomes if won]
        assert len(winners) == 1, f"attempt {attempt}: {len(winners)} writers won one name"
        assert final.read_bytes() == winners[0]
