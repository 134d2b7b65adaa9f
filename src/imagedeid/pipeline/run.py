"""Orchestrate a run: discover inputs, skip what the journal says is done, dispatch
tasks to an executor, record results, write the crosswalk and the report.

The report holds counts, reasons, the profile id and hash, the key fingerprint and
versions -- no PHI. Inputs are named by keyed ids; the id -> path list for the
operator goes to a separate file in the state folder, never into the report.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagedeid.errors import ImageDeidError, InputError
from imagedeid.io.files import (
    file_signature,
    is_nonempty_file,
    iter_inputs,
    make_dir,
    replace_text,
    reset_dir,
    write_json_atomic,
)
from imagedeid.io.journal import Journal
from imagedeid.io.shared_names import (
    CONTENT_NAME_NOTE,
    RENAMED_NOTE,
    digest_at,
    final_name,
    settle_shared_name,
)
from imagedeid.model import FileResult, FileStatus
from imagedeid.pipeline.executors import Executor, ProcessExecutor, SerialExecutor
from imagedeid.pipeline.tasks import Task, WorkerSettings
from imagedeid.policy.profile import Profile
from imagedeid.pseudonym import ProjectKey
from imagedeid.version import __version__, distribution_version, engine_build

if TYPE_CHECKING:
    from imagedeid.io.crosswalk import Crosswalk

SUCCESS = frozenset({FileStatus.OK, FileStatus.SKIPPED_DONE})


@dataclass(frozen=True)
class RunRequest:
    inputs: tuple[Path, ...]
    output: Path
    profile: Profile
    key: ProjectKey
    state_dir: Path
    report_path: Path
    crosswalk_path: Path | None = None
    workers: int | None = None
    executor: Executor | None = None
    fsync: bool = False
    key_source: str = ""
    key_created: bool = False
    review: bool = True  # thumbnails and review.html for redacted/sequestered images


@dataclass
class RunSummary:
    report: dict[str, Any]
    report_path: Path
    failures_path: Path
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def exit_code(self) -> int:
        return 0 if all(FileStatus(s) in SUCCESS for s in self.counts) else 1


def state_dir_for(output: Path) -> Path:
    """Where journal, staging, default key and report live: beside OUTPUT, not inside."""
    out = output.resolve()
    return out.parent / f"{out.name}.imagedeid"


def method_description(profile: Profile) -> tuple[str, ...]:
    return (
        f"imagedeid {__version__}",
        f"profile {profile.label}",
        f"profile {profile.content_hash[:40]}",
    )


def _input_id(key: ProjectKey, text: str) -> str:
    """A keyed id that names an input in the journal and the report, never its path."""
    digest = hmac.new(key.purpose_key("journal"), text.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:32]


def _journal_key(key: ProjectKey, path: str, profile: Profile) -> str:
    """Keyed id of (input, size, mtime, profile): another profile redoes every input."""
    return _input_id(key, "|".join([*map(str, file_signature(path)), profile.content_hash]))


def _unreadable(path: str, key: ProjectKey, exc: OSError) -> FileResult:
    return FileResult(
        path,
        FileStatus.FAILED,
        reason=f"cannot be read ({exc.strerror or type(exc).__name__})",
        reason_code="unreadable",
        journal_key=_input_id(key, path),
    )


def _check_paths(req: RunRequest) -> None:
    out = req.output.resolve()
    for inp in req.inputs:
        if not inp.exists():
            raise InputError(f"{inp}: no such file or folder")
        real = inp.resolve()
        if real == out or real.is_relative_to(out):
            raise InputError(f"{inp}: an input may not be the output folder or inside it")
    if req.crosswalk_path is not None and req.crosswalk_path.resolve().is_relative_to(out):
        raise InputError("the crosswalk must be kept outside the output folder")
    if req.report_path.resolve().is_relative_to(out):
        raise InputError("the report must be written outside the output folder")


class _Tasks:
    """One task per input to do; knows how many (executors size their batches by it)."""

    def __init__(self, todo: list[tuple[str, str]]) -> None:
        self.todo = todo

    def __iter__(self) -> Iterator[Task]:
        return (Task("file", (p,), (k,)) for p, k in self.todo)

    def __length_hint__(self) -> int:
        return len(self.todo)


def _settle_shared_names(
    req: RunRequest,
    settings: WorkerSettings,
    journal: Journal,
    sharing: list[FileResult],
    skipped: list[FileResult],
    todo: list[tuple[str, str]],
    failed: set[str],
) -> tuple[list[FileResult], int]:
    """Inputs that share a SOP Instance UID but differ in content: give the plain name to
    the lowest content, whichever was written first (io.shared_names), record the final
    names in the journal and return the results that changed, marked ``renamed``, and
    how many groups could not be settled (their outputs stay where they are).

    Each member's content digest is made durable in the journal before any rename, so a
    settle cut short anywhere is finished by the next run, by content."""
    groups = {res.shared_name for res in sharing} | set(journal.shared)
    if not groups:
        return [], 0
    members: dict[str, set[str]] = {plain: set(journal.shared.get(plain, ())) for plain in groups}
    for res in sharing:
        members[res.shared_name].add(res.journal_key)
    entries = journal.latest(set().union(*members.values()), groups)
    for key, entry in entries.items():  # the input that wrote the plain name first
        if entry["out"] in members:
            members[entry["out"]].add(key)
    digests: dict[str, str] = {}
    for plain in sorted(groups):
        for key in sorted(k for k in members[plain] if k in entries):
            entry = entries[key]
            sha = entry.get("sha") or digest_at(req.output / entry["out"])
            if sha:
                digests[key] = sha
                if not entry.get("sha"):
                    journal.record_done(key, entry["out"], plain, entry.get("detail"), sha)
    journal.sync()  # every digest on disk before the first rename
    known = {res.journal_key: res for res in (*skipped, *sharing)}
    paths = {k: p for p, k in todo}
    renamed: list[FileResult] = []
    unsettled = 0
    for plain in sorted(groups):
        keys = sorted(k for k in members[plain] if k in digests)
        try:
            lowest = settle_shared_name(
                req.output, plain, {digests[k] for k in keys}, settings.staging, settings.fsync
            )
        except ImageDeidError:  # one group left as written; the others go on
            unsettled += 1
            continue
        for key in keys:
            new = final_name(plain, digests[key], lowest)
            if new == entries[key]["out"]:
                continue
            journal.record_done(key, new, plain, entries[key].get("detail"), digests[key])
            if key in known:
                res = replace(
                    known[key], output_relpath=new, reason=_renamed(known[key].reason), renamed=True
                )
                renamed.append(res)
            elif key in paths and key not in failed:  # written this run, then renamed
                renamed.append(_from_journal(paths[key], key, new, plain, entries[key]))
        journal.flush()
    return renamed, unsettled


def _journal_detail(res: FileResult) -> dict[str, Any] | None:
    """What the journal keeps of a released input, to report it again if it is renamed."""
    detail = {
        "reason": res.reason,
        "transfer_syntax": res.transfer_syntax,
        "pixels": res.pixels,
        "pixel_boxes": res.pixel_boxes,
        "ocr_seconds": res.ocr_seconds,
        "review": list(res.review),
    }
    return {k: v for k, v in detail.items() if v} or None


def _renamed(reason: str) -> str:
    """A result's note once its output was renamed: the other notes stay (a re-encoded
    syntax, say); the one about the name it had is replaced."""
    notes = [n for n in reason.split(", ") if n and n != CONTENT_NAME_NOTE]
    return ", ".join([*notes, RENAMED_NOTE])


def _from_journal(path: str, key: str, out: str, plain: str, entry: dict[str, Any]) -> FileResult:
    detail = dict(entry.get("detail") or {})
    detail["review"] = tuple(detail.get("review", ()))
    detail["reason"] = _renamed(str(detail.get("reason", "")))
    return FileResult(
        path, FileStatus.OK, out, journal_key=key, shared_name=plain, renamed=True, **detail
    )


def _pixel_report(
    req: RunRequest,
    counts: Counter[str],
    boxes: int,
    ocr_seconds: float,
    review_dir: Path | None,
) -> dict[str, Any] | None:
    pixels = req.profile.pixels
    if not pixels.enabled:
        return None
    return {
        "clean_pixel_data": pixels.mode.value,
        "engine": pixels.engine,
        "files": dict(sorted(counts.items())),
        "boxes_masked": boxes,
        "ocr_seconds": round(ocr_seconds, 2),
        "review_page": str(review_dir / "index.html")
        if review_dir is not None and (counts["redacted"] or counts["sequestered"])
        else None,
    }


def run(
    req: RunRequest,
    progress: Callable[[FileResult], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunSummary:
    _check_paths(req)
    started = time.time()
    staging = req.state_dir / "staging"
    reset_dir(staging)  # leftovers of a crashed run
    make_dir(req.output)
    journal = Journal(req.state_dir / "journal.jsonl")
    crosswalk: Crosswalk | None = None
    if req.crosswalk_path:  # sqlite3 and cryptography load only for a run that keeps one
        from imagedeid.io.crosswalk import Crosswalk

        crosswalk = Crosswalk(req.crosswalk_path, req.key)
    failures_path = req.state_dir / "failures.tsv"
    review_dir = req.state_dir / "review" if req.review and req.profile.pixels.enabled else None
    if review_dir is not None:
        make_dir(review_dir)
    settings = WorkerSettings(
        req.profile,
        req.key,
        req.output.resolve(),
        staging,
        method_description(req.profile),
        crosswalk is not None,
        req.fsync,
        review_dir,
        0 if req.workers == 1 else 1,
    )
    exclude = [req.output, req.state_dir]  # an OUTPUT inside an INPUT folder is not re-read
    todo: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    syntaxes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    failure_paths: list[str] = []
    skipped: list[FileResult] = []
    pixel_counts: Counter[str] = Counter()
    pixel_boxes = 0
    ocr_seconds = 0.0
    reviewed: list[FileResult] = []
    sharing: list[FileResult] = []  # written beside another output of the same instance
    renamed: list[FileResult] = []
    unsettled = 0
    for path in iter_inputs(list(req.inputs), exclude):
        try:
            jkey = _journal_key(req.key, path, req.profile)
        except OSError as exc:  # a dangling link, a file gone since the walk: one bad input
            skipped.append(_unreadable(path, req.key, exc))
            continue
        done_out = journal.done.get(jkey)
        if done_out is not None and is_nonempty_file(req.output / done_out):
            skipped.append(FileResult(path, FileStatus.SKIPPED_DONE, done_out, journal_key=jkey))
        else:
            todo.append((path, jkey))
    if on_total is not None:
        on_total(len(todo) + len(skipped))
    executor = req.executor or (
        SerialExecutor() if req.workers == 1 else ProcessExecutor(req.workers)
    )

    def results() -> Iterator[FileResult]:
        yield from skipped
        tasks = _Tasks(todo)
        for batch in executor.map_tasks(settings, tasks):
            yield from batch
            journal.flush()  # once per batch: a crash loses at most the lines in flight

    try:
        for res in results():
            counts[res.status.value] += 1
            if res.pixels:
                pixel_counts[res.pixels] += 1
                pixel_boxes += res.pixel_boxes
                ocr_seconds += res.ocr_seconds
            if res.review:
                reviewed.append(res)
            if res.status is FileStatus.OK:
                journal.record_done(
                    res.journal_key, res.output_relpath, res.shared_name, _journal_detail(res)
                )
                if res.shared_name:
                    sharing.append(res)
                syntaxes[res.transfer_syntax] += 1
                if crosswalk is not None and res.crosswalk:
                    crosswalk.add(res.crosswalk)
            elif res.status not in SUCCESS:
                reasons[res.reason_code] += 1
                failures.append(
                    {
                        "input_id": res.journal_key,
                        "status": res.status.value,
                        "reason_code": res.reason_code,
                        "reason": res.reason,
                    }
                )
                failure_paths.append(
                    f"{res.journal_key}\t{res.status.value}\t{res.reason_code}\t{res.input_path}"
                )
            if progress is not None:
                progress(res)
        failed = {f["input_id"] for f in failures}
        renamed, unsettled = _settle_shared_names(
            req, settings, journal, sharing, skipped, todo, failed
        )
        if progress is not None:
            for res in renamed:
                progress(res)
    finally:
        journal.close()
        if crosswalk is not None:
            crosswalk.close()
    elapsed = time.time() - started
    processed = sum(counts.values()) - counts[FileStatus.SKIPPED_DONE.value]
    report = {
        "tool": "imagedeid",
        "version": __version__,
        "versions": {
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
            "pydicom": distribution_version("pydicom"),
            "engine": engine_build(),
        },
        "profile": req.profile.describe(),
        "key_fingerprint": req.key.fingerprint,
        "key": {
            "source": req.key_source,
            "created": req.key_created,
            "fingerprint": req.key.fingerprint,
        },
        "output": str(req.output.resolve()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(elapsed, 3),
        "files_per_second": round(processed / elapsed, 1) if elapsed > 0 else None,
        "inputs": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
        "failures_by_reason": dict(sorted(reasons.items())),
        "failures": failures,
        "failure_paths_file": str(failures_path) if failures else None,
        "transfer_syntaxes": dict(sorted(syntaxes.items())),
        "outputs_renamed": len(renamed),
        "shared_names_unsettled": unsettled,
        "crosswalk": str(req.crosswalk_path) if req.crosswalk_path else None,
        "pixels": _pixel_report(req, pixel_counts, pixel_boxes, ocr_seconds, review_dir),
    }
    if review_dir is not None:
        from imagedeid.pipeline.review import review_page  # html loads only for pixel runs

        replace_text(
            review_dir / "index.html",
            review_page(reviewed, req.profile.label) if reviewed else None,
        )
    replace_text(
        failures_path,
        "input_id\tstatus\treason_code\tpath\n" + "\n".join(failure_paths) + "\n"
        if failure_paths
        else None,
    )
    write_json_atomic(req.report_path, report)
    return RunSummary(report, req.report_path, failures_path, counts)
