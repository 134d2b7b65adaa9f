"""The task model: a task is a reference to inputs (one file today; a series later),
never a data set, so it is cheap to send to a worker process or a remote engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from imagedeid.policy.profile import Profile
from imagedeid.pseudonym import ProjectKey


@dataclass(frozen=True, slots=True)
class Task:
    kind: str  # "file" (one instance); "series" is reserved for volume work
    paths: tuple[str, ...]
    journal_keys: tuple[str, ...]


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs; frozen and picklable."""

    profile: Profile
    key: ProjectKey
    output: Path
    staging: Path
    method: tuple[str, ...]
    crosswalk: bool
    fsync: bool = False
    review_dir: Path | None = None  # thumbnails of redacted and sequestered images
    ocr_threads: int = 0  # threads per OCR engine; 0: the runtime's default
    output_dir: str = field(init=False, repr=False, compare=False)  # str(output), made once

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", os.fspath(self.output))
