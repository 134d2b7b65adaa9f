"""What runs inside a worker: read, de-identify, scan, write -- one task at a time.

A failure of one input is data (a FileResult with status and reason), never an
exception that stops the batch.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.errors import (
    ImageDeidError,
    InputError,
    LeakDetectedError,
    NotDicomError,
    OutputError,
    PixelReviewError,
    UnsafeOutputError,
)
from imagedeid.io.files import read_bytes, write_new_file
from imagedeid.io.shared_names import CONTENT_NAME_NOTE, content_digest, content_name
from imagedeid.model import FileResult, FileStatus, HeaderLookup, PixelEdit, TextCleaner
from imagedeid.pipeline.tasks import Task, WorkerSettings

if TYPE_CHECKING:
    from imagedeid.pixels.clean import PixelResult
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
        process_file(p, k, settings, plan, pseud)
        for p, k in zip(task.paths, task.journal_keys, strict=True)
    ]


def _write(relpath: str, data: bytes, settings: WorkerSettings) -> tuple[str, str, str]:
    """Write without ever overwriting: (name written, note, shared plain name or "").

    Another input with the same SOP Instance UID but other content (say, another
    transfer syntax) goes beside it under a content name; the run settles at its end
    which content keeps the plain name (io.shared_names)."""
    output = settings.output_dir
    final = os.path.join(output, relpath)
    if write_new_file(final, data, settings.staging, settings.fsync):
        return relpath, "", ""
    if read_bytes(final) == data:  # one content, nothing to settle (yet: an input with
        return relpath, "identical output already present", ""  # other content would be)
    alt = content_name(relpath, content_digest(data))
    written = write_new_file(os.path.join(output, alt), data, settings.staging, settings.fsync)
    if not written and read_bytes(os.path.join(output, alt)) != data:  # 48 bits agree: refuse
        raise OutputError(f"{alt}: another output holds this content name")
    return alt, CONTENT_NAME_NOTE, relpath


# What each refusal means for the batch: (status, reason code). Most specific first.
_OUTCOME_ORDER: tuple[tuple[type[ImageDeidError], FileStatus, str], ...] = (
    (NotDicomError, FileStatus.NOT_DICOM, "not-dicom"),
    (LeakDetectedError, FileStatus.QUARANTINED, "leak-detected"),
    (PixelReviewError, FileStatus.QUARANTINED, "pixel-review"),
    (UnsafeOutputError, FileStatus.QUARANTINED, "unsafe-output"),
    (InputError, FileStatus.FAILED, "bad-input"),
    (OutputError, FileStatus.FAILED, "write-failed"),
)


def _outcome(exc: ImageDeidError) -> tuple[FileStatus, str]:
    for cls, status, code in _OUTCOME_ORDER:
        if isinstance(exc, cls):
            return status, code
    return FileStatus.FAILED, "refused"


class _PixelStep:
    """The Clean Pixel Data hook for one file; keeps the engine's result for the report."""

    def __init__(self, data: bytes, settings: WorkerSettings) -> None:
        self.data = data
        self.settings = settings
        self.result: PixelResult | None = None

    def __call__(self, header: HeaderLookup, cleaner: TextCleaner) -> PixelEdit | None:
        from imagedeid.pixels.clean import clean_pixels  # numpy and OCR load only when used

        result = clean_pixels(
            self.data,
            header,
            cleaner,
            self.settings.profile.pixels,
            threads=self.settings.ocr_threads,
            review=self.settings.review_dir is not None,
        )
        self.result = result
        return result.edit


def _save_review(
    review: object | None, journal_key: str, settings: WorkerSettings
) -> tuple[str, ...]:
    """Write the thumbnails (before, after) into the review folder, named by input id."""
    if review is None or settings.review_dir is None:
        return ()
    names = []
    for part in ("before", "after"):
        png = getattr(review, part, None)
        if png:
            name = f"{journal_key[:20]}-{part}.png"
            try:
                write_new_file(settings.review_dir / name, png, settings.staging, False)
            except (OSError, ImageDeidError):  # a missing thumbnail never fails the file
                continue
            names.append(name)
    return tuple(names)


def process_file(
    path: str, journal_key: str, settings: WorkerSettings, plan: Plan, pseud: Pseudonymizer
) -> FileResult:
    step: _PixelStep | None = None
    try:
        data = read_bytes(path)
        step = _PixelStep(data, settings) if settings.profile.pixels.enabled else None
        result = deidentify_part10(
            data,
            plan,
            pseud,
            build_cleaner,
            settings.method,
            crosswalk=settings.crosswalk,
            pixel_hook=step,
        )
        relpath, note, group = _write(result.relpath, result.data, settings)
        if result.normalised:
            note = ", ".join(filter(None, ["normalised through pydicom", note]))
        pixels = getattr(step, "result", None)
        if result.pixel_edit is not None and result.pixel_edit.note:
            note = ", ".join(filter(None, [note, result.pixel_edit.note]))
        return FileResult(
            path,
            FileStatus.OK,
            relpath,
            note,
            transfer_syntax=result.transfer_syntax,
            journal_key=journal_key,
            crosswalk=tuple(result.crosswalk),
            pixels=getattr(pixels, "status", ""),
            pixel_boxes=len(result.pixel_edit.boxes) if result.pixel_edit else 0,
            ocr_seconds=round(float(getattr(pixels, "ocr_seconds", 0.0)), 4),
            review=_save_review(getattr(pixels, "review", None), journal_key, settings),
            shared_name=group,
        )
    except PixelReviewError as exc:
        return FileResult(
            path,
            FileStatus.QUARANTINED,
            reason=str(exc),
            reason_code="pixel-review",
            journal_key=journal_key,
            pixels="sequestered",
            review=_save_review(exc.review, journal_key, settings),
        )
    except ImageDeidError as exc:
        status, code = _outcome(exc)
        return FileResult(path, status, reason=str(exc), reason_code=code, journal_key=journal_key)
    except Exception as exc:  # an engine bug must not stop the batch or leak a value
        return FileResult(
            path,
            FileStatus.FAILED,
            reason=f"internal error ({type(exc).__name__}); please report it",
            reason_code="internal-error",
            journal_key=journal_key,
        )
