"""Swap cleaned pixel data into a de-identified data set (the pixel engine's PixelEdit).

The rest of the data set keeps its encoding; only (7FE0,0010), the attributes the edit
names, the transfer syntax and the Clean Pixel Data code change.
"""

from __future__ import annotations

import struct

from imagedeid.dicom.context import top_text
from imagedeid.dicom.rawcodec import Elem, Syntax
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.errors import InputError
from imagedeid.model import CLEAN_PIXEL_DATA_CODE, CLEAN_PIXEL_DATA_MEANING, PixelEdit
from imagedeid.policy.dictionary import dictionary_vr, tag_for_keyword

PIXEL_DATA = 0x7FE00010
# Extended Offset Table and its lengths describe the old fragments: stale after an edit.
_STALE = frozenset({0x7FE00001, 0x7FE00002})
BITS_ALLOCATED = 0x00280100
METHOD_CODES = 0x00120064
_SEQ_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
# The header values the pixel engine decides from, read before the header is changed.
DECISION_KEYWORDS = ("Modality", "SOPClassUID", "ImageType", "BurnedInAnnotation")
_BINARY = {"US": "H", "SS": "h", "UL": "L", "SL": "l"}


def decision_header(elems: list[Elem], codec: TextCodec) -> dict[str, str]:
    out = {}
    for keyword in DECISION_KEYWORDS:
        tag = tag_for_keyword(keyword)
        if tag is not None:
            value = top_text(elems, tag, codec, dictionary_vr(tag))
            if value:
                out[keyword] = value
    return out


def has_pixel_data(elems: list[Elem]) -> bool:
    return any(el.tag == PIXEL_DATA for el in elems)


def apply_pixel_edit(elems: list[Elem], edit: PixelEdit, syntax: Syntax) -> list[Elem]:
    """A new element list with the edit applied (``elems`` is sorted by tag)."""
    codec = TextCodec("")
    changed: dict[int, Elem] = {}
    for keyword, value in edit.attributes:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise InputError(f"the pixel engine named an unknown attribute {keyword}")
        vr = dictionary_vr(tag).split(" or ")[0]
        if vr in _BINARY:
            order = "<" if syntax.little else ">"
            raw = struct.pack(order + _BINARY[vr], int(value))
        else:
            raw = codec.encode(value, vr)
        changed[tag] = Elem(tag, vr, raw)
    bits = _bits_allocated(elems, changed, syntax)
    out = []
    for el in elems:
        if el.tag in _STALE:
            continue
        if el.tag in changed:
            out.append(changed.pop(el.tag))
        elif el.tag == PIXEL_DATA:
            if edit.encapsulated:
                out.append(Elem(PIXEL_DATA, "OB", edit.value + _SEQ_DELIMITER, undefined=True))
            else:
                out.append(Elem(PIXEL_DATA, "OW" if bits > 8 else "OB", edit.value))
        elif el.tag == METHOD_CODES and el.items is not None:
            out.append(Elem(METHOD_CODES, "SQ", items=[*el.items, _code_item(codec)]))
        else:
            out.append(el)
    out.extend(changed.values())
    out.sort(key=lambda el: el.tag)
    return out


def _bits_allocated(elems: list[Elem], changed: dict[int, Elem], syntax: Syntax) -> int:
    el = changed.get(BITS_ALLOCATED) or next((e for e in elems if e.tag == BITS_ALLOCATED), None)
    if el is None or len(el.value) < 2:
        return 16
    return int(struct.unpack("<H" if syntax.little else ">H", bytes(el.value[:2]))[0])


def _code_item(codec: TextCodec) -> list[Elem]:
    return [
        Elem(0x00080100, "SH", codec.encode(CLEAN_PIXEL_DATA_CODE, "SH")),
        Elem(0x00080102, "SH", codec.encode("DCM", "SH")),
        Elem(0x00080104, "LO", codec.encode(CLEAN_PIXEL_DATA_MEANING, "LO")),
    ]
