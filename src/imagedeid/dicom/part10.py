"""One Part 10 file in, one de-identified Part 10 file out (as bytes). Pure: no I/O.

Parsing takes the lean raw path; files it cannot follow but pydicom can (invalid or
unordered elements) are normalised through pydicom first. Truncated or unreadable
files are refused, never repaired into a half file.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from imagedeid.dicom.container import (
    DICOMDIR_CLASS,
    Part10,
    build_meta,
    read_part10,
    write_part10,
)
from imagedeid.dicom.context import SPECIFIC_CHARACTER_SET, top_text
from imagedeid.dicom.engine import deidentify_elements
from imagedeid.dicom.pixeledit import apply_pixel_edit, decision_header, has_pixel_data
from imagedeid.dicom.rawcodec import RawParseError
from imagedeid.dicom.scan import find_leaks
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.errors import InputError, LeakDetectedError, UnorderedInputError
from imagedeid.model import ActionRecord, CleanerFactory, PixelEdit, PixelHook
from imagedeid.policy.dictionary import is_image_storage_class
from imagedeid.policy.plan import Plan
from imagedeid.pseudonym import Pseudonymizer

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# Parse failures that pydicom's tolerant reader may resolve without guessing at content.


@dataclass
class Deidentified:
    data: bytes
    relpath: str
    transfer_syntax: str
    records: list[ActionRecord] | None
    crosswalk: list[tuple[str, str, str]]
    normalised: bool
    pixel_edit: PixelEdit | None = None


def _name(value: str, fallback: str) -> str:
    cleaned = _SAFE_NAME.sub("_", value.strip())[:80]
    return cleaned or fallback


def parse_input(data: bytes) -> tuple[Part10, bool]:
    """Parse, taking pydicom's slow path for odd-but-complete files."""
    # Only element order qualifies: pydicom's tolerant reader guesses at lengths and VRs
    # in other cases, and a guess can hide the rest of the file inside one value.
    try:
        return read_part10(data), False
    except UnorderedInputError as exc:
        return read_part10(_normalise_with_pydicom(data, str(exc))), True


def _normalise_with_pydicom(data: bytes, reason: str) -> bytes:
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        for elem in ds.iterall():  # decode every value now: fail here, not half-way later
            _ = elem.value
        meta = ds.file_meta
        if "TransferSyntaxUID" not in meta:
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    except Exception as exc:  # pydicom raises many types for broken input
        raise InputError(
            f"{reason}; pydicom could not read it either ({type(exc).__name__})"
        ) from None
    return out.getvalue()


_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)


def _check_complete(part: Part10, meta_class: str) -> None:
    """An image whose pixel data is missing was cut short (often at an element boundary,
    which parses cleanly): refuse it rather than release a partial object."""
    tags = {el.tag for el in part.dataset}
    if any(t in tags for t in _PIXEL_TAGS):
        return
    image_class = is_image_storage_class(meta_class)
    if 0x00280010 in tags or image_class:
        raise InputError("an image without pixel data: the file looks cut short")


def deidentify_part10(
    data: bytes,
    plan: Plan,
    pseud: Pseudonymizer,
    make_cleaner: CleanerFactory,
    method: tuple[str, ...],
    *,
    records: bool = False,
    crosswalk: bool = False,
    check_leaks: bool = True,
    pixel_hook: PixelHook | None = None,
) -> Deidentified:
    """``pixel_hook`` (Clean Pixel Data) gets the input's decision attributes and the
    file's text cleaner, and returns new pixel data or None (pixels byte-identical)."""
    part, normalised = parse_input(data)
    meta_class = part.meta_text(0x00020002)
    if meta_class == DICOMDIR_CLASS:
        raise InputError(
            "a DICOMDIR holds paths and names of the originals; it is not "
            "de-identified (rebuild it from the output)"
        )
    _check_complete(part, meta_class)
    header: dict[str, str] | None = None
    if pixel_hook is not None and has_pixel_data(part.dataset):
        header = decision_header(part.dataset, _codec_of(part))  # before anything changes
        header.setdefault("SOPClassUID", meta_class)
    outcome = deidentify_elements(
        part.dataset, plan, pseud, make_cleaner, method, records=records, crosswalk=crosswalk
    )
    if not outcome.sop_uid:
        raise InputError("no SOP Instance UID (0008,0018): not a composite instance")
    sop_class = outcome.sop_class_uid or meta_class
    transfer_syntax = part.transfer_syntax
    edit = None
    if pixel_hook is not None and header is not None:
        edit = pixel_hook(header.get, outcome.cleaner)
        if edit is not None:
            outcome.elems = apply_pixel_edit(outcome.elems, edit, part.syntax)
            transfer_syntax = edit.transfer_syntax
    meta = build_meta(sop_class, outcome.sop_uid, transfer_syntax)
    try:
        ser = write_part10(meta, outcome.elems, part.syntax, part.deflated)
    except RawParseError as exc:  # a cleaned value no longer fits its VR's length field
        raise InputError(f"the output cannot be encoded ({exc})") from None
    leaks = (
        find_leaks(
            ser,
            outcome.cleaner.scan_terms,
            outcome.codec,
            outcome.generated,
            meta,
            outcome.elems,
            coded_ok=lambda tag: plan.rule_for(tag) is None,  # enumerated terms, not PHI
        )
        if check_leaks
        else []
    )
    if leaks:
        raise LeakDetectedError(
            f"identifying values survive at {', '.join(leaks[:10])}"
            + (f" and {len(leaks) - 10} more" if len(leaks) > 10 else ""),
            leaks,
        )
    relpath = "/".join(
        [
            _name(outcome.patient, "unknown-patient"),
            _name(outcome.study_uid, "unknown-study"),
            _name(outcome.series_uid, "unknown-series"),
            _name(outcome.sop_uid, "unknown-instance") + ".dcm",
        ]
    )
    return Deidentified(
        ser.to_bytes(),
        relpath,
        transfer_syntax,
        outcome.records,
        outcome.crosswalk,
        normalised,
        edit,
    )


def _codec_of(part: Part10) -> TextCodec:
    return TextCodec(top_text(part.dataset, SPECIFIC_CHARACTER_SET, TextCodec(""), "CS"))
