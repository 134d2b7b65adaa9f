"""The Python API: a small typed façade over the pipeline.

>>> import imagedeid
>>> summary = imagedeid.deidentify(["in/"], "out/", key_file="project.key")  # doctest: +SKIP
>>> summary.exit_code                                                        # doctest: +SKIP
0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.errors import BackendUnavailableError, CrosswalkError, InputError
from imagedeid.io.files import create_key_file, load_key_file, read_bytes, read_text, resolve_key
from imagedeid.model import ActionRecord, FileResult
from imagedeid.pipeline.executors import Executor
from imagedeid.pipeline.run import RunRequest, RunSummary, method_description, run, state_dir_for
from imagedeid.policy.plan import compile_plan
from imagedeid.policy.profile import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    Profile,
    builtin_profile,
    parse_profile,
)
from imagedeid.pseudonym import ProjectKey, Pseudonymizer
from imagedeid.text import build_cleaner
from imagedeid.version import engine_build

__all__ = [
    "RunSummary",
    "deidentify",
    "describe_profile",
    "engine_build",
    "list_profiles",
    "load_profile",
    "new_key",
    "plan_file",
    "reidentify",
]

PathLike = str | os.PathLike[str]


def load_profile(profile: str | Profile = DEFAULT_PROFILE) -> Profile:
    """A built-in profile by name, or a YAML profile file by path."""
    if isinstance(profile, Profile):
        return profile
    if profile in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[profile]
    path = Path(profile)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return parse_profile(read_text(path, "profile"), str(path))
    return builtin_profile(profile)


def list_profiles() -> dict[str, str]:
    """Built-in profile names and what each does."""
    return {name: prof.description for name, prof in BUILTIN_PROFILES.items()}


def describe_profile(profile: str | Profile, rules: bool = False) -> dict[str, Any]:
    """A profile in full (id, version, options, overrides, content hash), and with
    ``rules`` every table rule it applies."""
    prof = load_profile(profile)
    doc = prof.describe()
    if rules:
        doc["rules"] = compile_plan(prof).describe()
    return doc


def new_key(path: PathLike) -> str:
    """Create a key file (mode 0600); returns its fingerprint."""
    return create_key_file(Path(path)).fingerprint


def _key(
    key_file: PathLike | None, environ: Mapping[str, str] | None, default: Path
) -> tuple[ProjectKey, str, bool]:
    env = dict(os.environ if environ is None else environ)
    return resolve_key(Path(key_file) if key_file is not None else None, env, default)


def deidentify(
    inputs: Sequence[PathLike],
    output: PathLike,
    *,
    profile: str | Profile = DEFAULT_PROFILE,
    key_file: PathLike | None = None,
    workers: int | None = None,
    report: PathLike | None = None,
    crosswalk: PathLike | None = None,
    executor: Executor | None = None,
    progress: Callable[[FileResult], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    environ: Mapping[str, str] | None = None,
    fsync: bool = False,
    review: bool = True,
) -> RunSummary:
    """De-identify every DICOM file under ``inputs`` into ``output``.

    Without a key file (or $IMAGEDEID_KEY_FILE / $IMAGEDEID_KEY) a new key is created in
    the state folder beside ``output``; ``summary.report["key"]`` says where. Under Clean
    Pixel Data, ``review`` writes thumbnails and review/index.html into that folder.
    """
    out = Path(output)
    state = state_dir_for(out)
    prof = load_profile(profile)  # a bad profile or input fails before any key is made
    if prof.pixels.enabled:
        from imagedeid.pixels.ocr import availability as ocr_availability  # pixel runs only

        ok, why = ocr_availability(prof.pixels.engine)
        if not ok:  # refuse the run rather than sequester every image one by one
            raise BackendUnavailableError(f"profile {prof.label} cleans pixel data: {why}")
    for p in inputs:
        if not Path(p).exists():
            raise InputError(f"{p}: no such file or folder")
    key, key_source, created = _key(key_file, environ, state / "project.key")
    req = RunRequest(
        inputs=tuple(Path(p) for p in inputs),
        output=out,
        profile=prof,
        key=key,
        state_dir=state,
        report_path=Path(report) if report is not None else state / "report.json",
        crosswalk_path=Path(crosswalk) if crosswalk is not None else None,
        workers=workers,
        executor=executor,
        fsync=fsync,
        key_source=key_source,
        key_created=created,
        review=review,
    )
    return run(req, progress=progress, on_total=on_total)


def plan_file(path: PathLike, profile: str | Profile = DEFAULT_PROFILE) -> list[ActionRecord]:
    """What would be done to each attribute of one file, and by which rule (no values)."""
    prof = load_profile(profile)
    # A throwaway key: the plan shows actions and rules, never pseudonyms.
    key = ProjectKey(b"imagedeid-plan-preview-key-only!")
    result = deidentify_part10(
        read_bytes(Path(path)),
        compile_plan(prof),
        Pseudonymizer(key),
        build_cleaner,
        method_description(prof),
        records=True,
        check_leaks=False,
    )
    return list(result.records or [])


def pixel_plan(path: PathLike, profile: str | Profile = DEFAULT_PROFILE) -> str:
    """What Clean Pixel Data would do with one file's pixels, and why (from its header)."""
    import pydicom

    from imagedeid.pixels.decide import dataset_header, decide

    prof = load_profile(profile)
    if not prof.pixels.enabled:
        return f"pixel data untouched: profile {prof.label} does not clean pixel data"
    try:
        ds = pydicom.dcmread(Path(path), stop_before_pixels=True, force=True)
    except Exception as exc:  # pydicom raises many types for broken input
        raise InputError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if "SOPClassUID" not in ds and "MediaStorageSOPClassUID" in ds.file_meta:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID

    decision = decide(dataset_header(ds), prof.pixels)
    verb = "examined for burned-in text" if decision.examine else "not examined"
    return f"pixel data {verb} ({decision.reason}); mode {prof.pixels.mode.value}"


def reidentify(pseudonym: str, crosswalk: PathLike, key_file: PathLike) -> list[tuple[str, str]]:
    """Look a pseudonym up in the encrypted crosswalk: (kind, original) pairs."""
    if not Path(crosswalk).is_file():
        raise CrosswalkError(f"{crosswalk}: no such crosswalk file")
    from imagedeid.io.crosswalk import Crosswalk

    cw = Crosswalk(Path(crosswalk), load_key_file(Path(key_file)))
    try:
        return cw.lookup(pseudonym)
    finally:
        cw.close()
