"""The DICOM data dictionary (tags, VRs, keywords, well-known UIDs) as package data.

Generated from pydicom's dictionary by ``tools/gen_dicom_dictionary.py`` so that the
engine's hot path never imports pydicom; a test keeps it equal to pydicom's.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def _data() -> dict[str, Any]:
    text = resources.files("imagedeid.policy").joinpath("data", "dicom_dictionary.json")
    doc: dict[str, Any] = json.loads(text.read_text("utf-8"))
    doc["_by_tag"] = {int(t, 16): (vr, kw) for t, (vr, kw) in doc["tags"].items()}
    doc["_by_keyword"] = {kw: int(t, 16) for t, (_vr, kw) in doc["tags"].items() if kw}
    doc["_repeaters"] = [
        (
            int(mask.replace("x", "0"), 16),
            int("".join("0" if c == "x" else "F" for c in mask), 16),
            vr,
            kw,
        )
        for mask, (vr, kw) in doc["repeaters"].items()
    ]
    doc["_uids"] = doc["well_known_uids"]
    return doc


def _entry(tag: int) -> tuple[str, str] | None:
    data = _data()
    found: tuple[str, str] | None = data["_by_tag"].get(tag)
    if found is not None:
        return found
    for value, mask, vr, kw in data["_repeaters"]:
        if tag & mask == value:
            return (vr, kw)
    return None


@cache
def dictionary_vr(tag: int) -> str:
    """The VR the dictionary gives a public tag ('' if unknown)."""
    entry = _entry(tag)
    return entry[0] if entry else ""


@cache
def keyword_of(tag: int) -> str:
    entry = _entry(tag)
    return entry[1] if entry else ""


@cache
def dictionary_vrs() -> dict[int, str]:
    """tag -> VR for every public tag with a fixed number (a plain dict, for hot loops)."""
    return {tag: vr for tag, (vr, _kw) in _data()["_by_tag"].items()}


def dictionary_tags() -> list[tuple[int, str]]:
    """(tag, VR) of every public tag with a fixed number."""
    return [(tag, vr) for tag, (vr, _kw) in _data()["_by_tag"].items()]


def tag_for_keyword(keyword: str) -> int | None:
    found: int | None = _data()["_by_keyword"].get(keyword)
    return found


def all_keywords() -> list[str]:
    return list(_data()["_by_keyword"])


def is_well_known_uid(uid: str) -> bool:
    return uid in _data()["_uids"]


def sop_class_name(uid: str) -> str:
    """The standard's name of a well-known UID ('' if not well known)."""
    name: str = _data()["_uids"].get(uid, "")
    return name


def is_image_storage_class(uid: str) -> bool:
    """Whether a SOP Class UID names an image storage class (whose instances carry pixels)."""
    name: str = _data()["_uids"].get(uid, "")
    return "Image Storage" in name and "Presentation" not in name
