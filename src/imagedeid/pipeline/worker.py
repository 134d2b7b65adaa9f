"""What runs inside a worker: read, de-identify, scan, write -- one task at a time.

A failure of one input is data (a FileResult with status and reason), never an
exception that stops the batch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.errors import (
    ImageDeidError,
    InputError,
    LeakDetectedError,
    NotDicomError,
    OutputError,
    UnsafeOutputError,
)
from imagedeid.io.files import read_bytes, write_new_file
from imagedeid.model import FileResult, FileStatus
from imagedeid.pipeline.tasks import Task, WorkerSettings
from imagedeid.policy.dictionary import dictionary_vrs
from imagedeid.policy.plan import Plan, compile_plan
from imagedeid.pseudonym import Pseudonymizer
from imagedeid.text import build_cleaner

_STATE: tuple[WorkerSettings, Plan, Pseudonymizer] | None = None


def warm_up(settings: WorkerSettings) -> None:
    """Compile the plan and load the data dictionary (both cached per process). Called
    before workers are forked, so that they inherit both instead of each building its own."""
    compile_plan(settings.profile)
    dictionary_vrs()


def init_worker(settings: WorkerSettings) -> None:
    global _STATE
    warm_up(settings)  # the data dictionary now, not on the first file
    _STATE = (settings, compile_plan(settings.profile), Pseudonymizer(settings.key))


def run_task(task: Task) -> list[FileResult]:
    assert _STATE is not None, "init_worker was not called in this process"
    settings, plan, pseud = _STATE
    return [
        process_file(Path(p), k, settings, plan, pseud)
        for p, k in zip(task.paths, task.journal_keys, strict=True)
    ]


def _write(relpath: str, data: bytes, settings: WorkerSettings) -> tuple[str, str]:
    """Write without ever overwriting. Another input with the same SOP Instance UID but
    different content (say, another transfer syntax) goes beside it, named by content."""
    final = settings.output / relpath
    if write_new_file(final, data, settings.staging, settings.fsync):
        return relpath, ""
    if read_bytes(final) == data:
        return relpath, "identical output already present"
    digest = hashlib.sha256(data).hexdigest()[:12]
    alt = relpath[: -len(".dcm")] + f".{digest}.dcm"
    write_new_file(settings.output / alt, data, settings.staging, settings.fsync)
    return alt, "SOP Instance UID shared with a different input; written under a content name"


# What each refusal means for the batch: (status, reason code). Most specific first.
_OUTCOME_ORDER: tuple[tuple[type[ImageDeidError], FileStatus, str], ...] = (
    (NotDicomError, FileStatus.NOT_DICOM, "not-dicom"),
    (LeakDetectedError, FileStatus.QUARANTINED, "leak-detected"),
    (UnsafeOutputError, FileStatus.QUARANTINED, "unsafe-output"),
    (InputError, FileStatus.FAILED, "bad-input"),
    (OutputError, FileStatus.FAILED, "write-failed"),
)


def _outcome(exc: ImageDeidError) -> tuple[FileStatus, str]:
    for cls, status, code in _OUTCOME_ORDER:
        if isinstance(exc, cls):
            return status, code
    return FileStatus.FAILED, "refused"


def process_file(
    path: Path, journal_key: str, settings: WorkerSettings, plan: Plan, pseud: Pseudonymizer
) -> FileResult:
    name = str(path)
    try:
        data = read_bytes(path)
        result = deidentify_part10(
            data, plan, pseud, build_cleaner, settings.method, crosswalk=settings.crosswalk
        )
        relpath, note = _write(result.relpath, result.data, settings)
        if result.normalised:
            note = ", ".join(filter(None, ["normalised through pydicom", note]))
        return FileResult(
            name,
            FileStatus.OK,
            relpath,
            note,
            transfer_syntax=result.transfer_syntax,
            journal_key=journal_key,
            crosswalk=tuple(result.crosswalk),
        )
    except ImageDeidError as exc:
        status, code = _outcome(exc)
        return FileResult(name, status, reason=str(exc), reason_code=code, journal_key=journal_key)
    except Exception as exc:  # an engine bug must not stop the batch or leak a value
        return FileResult(
            name,
            FileStatus.FAILED,
            reason=f"internal error ({type(exc).__name__}); please report it",
            reason_code="internal-error",
            journal_key=journal_key,
        )
