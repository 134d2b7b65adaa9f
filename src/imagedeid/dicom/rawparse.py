"""The raw element reader: bytes to :class:`~imagedeid.dicom.rawcodec.Elem` lists.

Handles explicit and implicit VR little endian, explicit VR big endian and the
deflated syntax (inflated by the caller). Anything this reader cannot follow
raises :class:`RawParseError`, and the caller may take pydicom's slow path.
Values that cannot be what their VR says are refused: a reader that accepted them
would read the file another way than its writer meant.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from imagedeid.dicom.rawcodec import (
    IMPLICIT_LE,
    ITEM,
    ITEM_DELIM,
    LONG_VR_STR,
    PIXEL_DATA,
    SEQ_DELIM,
    UNDEFINED,
    VALID_VRS,
    Elem,
    RawParseError,
    Syntax,
    UnorderedElementError,
    forget_encoding,
)
from imagedeid.policy.dictionary import dictionary_vrs
from imagedeid.policy.plan import dictionary_vr

_EXPL_LE = struct.Struct("<HH2sH").unpack_from
_EXPL_BE = struct.Struct(">HH2sH").unpack_from
_IMPL_LE = struct.Struct("<HHL").unpack_from
_IMPL_BE = struct.Struct(">HHL").unpack_from
_LONG_LE = struct.Struct("<L").unpack_from
_LONG_BE = struct.Struct(">L").unpack_from

# Fixed-size binary VRs: a length that is not a multiple of the size is malformed.
_BINARY_SIZE = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "SV": 8,
                "UV": 8, "OW": 2, "OF": 4, "OD": 8, "OL": 4, "OV": 8}  # fmt: skip
# Text VRs: the most bytes one value may hold (the standard's limit, with slack for
# the vendors that overrun it); a value that swallowed the next elements is far longer.
_TEXT_LIMIT = {"AE": 64, "AS": 16, "CS": 64, "DA": 32, "DS": 64, "DT": 64, "IS": 48,
               "TM": 64, "UI": 128, "SH": 64, "LO": 256, "PN": 1024}  # fmt: skip
_LONG_TEXT = frozenset({"LT", "ST", "UT", "UC", "UR"})
# Control characters a short text value may not hold (ESC starts ISO 2022 code
# extensions); checked in full on values longer than their VR allows.
_BAD_SHORT = re.compile(rb"[\x00-\x1a\x1c-\x1f]")
# Per VR, what the parser checks: (binary size, 0 if none; longest text value without
# a closer look, -1 if none).
_CHECKS: dict[str, tuple[int, int]] = {
    vr.decode(): (
        _BINARY_SIZE.get(vr.decode(), 0),
        UNDEFINED if vr.decode() in _LONG_TEXT else _TEXT_LIMIT.get(vr.decode(), -1),
    )
    for vr in VALID_VRS
}
_NO_CHECK = (0, -1)
# Explicit VR: the VR's bytes -> (VR, header length, binary size, text limit).
_EXPLICIT_VRS: dict[bytes, tuple[str, int, int, int]] = {
    vr: (vr.decode(), 12 if vr.decode() in LONG_VR_STR else 8, *_CHECKS[vr.decode()])
    for vr in VALID_VRS
}
# Values up to this many bytes are copied out of the buffer (cheaper than a view and
# read as bytes downstream); longer ones (pixel data, bulk data) stay views.
_COPY_LIMIT = 512


def _check_value(tag: int, vr: str, value: bytes | memoryview) -> None:
    """Refuse a text value that holds NUL bytes before its end, or one longer than its
    VR allows that holds a value too long or control bytes (often a length that
    swallowed the following elements, whose headers always hold NUL bytes). Called
    only for a value that holds a NUL byte or is longer than its VR's limit."""
    raw = bytes(value)
    nul = raw.find(b"\x00")
    if nul >= 0 and raw[nul:].strip(b"\x00 "):  # NUL padding at the end is allowed
        raise RawParseError(f"element {tag:08X}: NUL bytes inside a {vr} value")
    limit = _TEXT_LIMIT.get(vr)
    if limit is not None and len(raw) > limit:
        if max(map(len, raw.split(b"\\"))) > limit:
            raise RawParseError(f"element {tag:08X}: a value is too long for VR {vr}")
        if _BAD_SHORT.search(raw.rstrip(b"\x00 ")):
            raise RawParseError(f"element {tag:08X}: control bytes in a {vr} value")


def _vr_for_implicit(tag: int) -> str:
    if tag >> 16 & 1:
        return "UN"
    vr = dictionary_vr(tag)
    if not vr:
        return "UN"
    if " or " in vr:  # e.g. "US or SS", "OB or OW": the raw bytes are copied regardless
        return vr.split(" or ")[-1] if tag == PIXEL_DATA else vr.split(" or ")[0]
    return vr


def parse(data: bytes, pos: int, end: int, syntax: Syntax, depth: int = 0) -> list[Elem]:
    """Parse elements from ``data[pos:end]`` (defined length)."""
    elems, pos = _parse(data, memoryview(data), pos, end, syntax, depth, stop_at_delim=False)
    return elems


def _parse(
    data: bytes,
    view: memoryview,
    pos: int,
    end: int,
    syntax: Syntax,
    depth: int,
    stop_at_delim: bool,
) -> tuple[list[Elem], int]:
    if depth > 32:
        raise RawParseError("sequences nested deeper than 32 levels")
    little = syntax.little
    unpack_explicit = _EXPL_LE if little else _EXPL_BE
    unpack_implicit = _IMPL_LE if little else _IMPL_BE
    unpack_long = _LONG_LE if little else _LONG_BE
    explicit = syntax.explicit
    known_vr = dictionary_vrs().get
    explicit_vr = _EXPLICIT_VRS.get
    checks = _CHECKS.get
    elems: list[Elem] = []
    append = elems.append
    last_tag = -1
    while pos < end:
        if pos + 8 > end:
            raise RawParseError(f"truncated element header at byte {pos}")
        start = pos
        if explicit:
            g, e, vrb, length = unpack_explicit(data, pos)
            tag = g << 16 | e
            if g == 0xFFFE:
                if tag == ITEM_DELIM and stop_at_delim:
                    return elems, pos + 8
                raise RawParseError(f"unexpected item tag at byte {pos}")
            info = explicit_vr(vrb)
            if info is None:
                raise RawParseError(f"invalid VR at byte {pos}")
            vr, header, size, limit = info
            if header == 12:
                if pos + 12 > end:
                    raise RawParseError(f"truncated element header at byte {pos}")
                (length,) = unpack_long(data, pos + 8)
            pos += header
        else:
            g, e, length = unpack_implicit(data, pos)
            tag = g << 16 | e
            if g == 0xFFFE:
                if tag == ITEM_DELIM and stop_at_delim:
                    return elems, pos + 8
                raise RawParseError(f"unexpected item tag at byte {pos}")
            pos += 8
            vr = _vr_for_implicit(tag)
            size, limit = checks(vr, _NO_CHECK)
        if tag <= last_tag:
            raise UnorderedElementError(f"element {tag:08X} out of ascending order at byte {start}")
        last_tag = tag
        if length == UNDEFINED or vr == "SQ" or vr == "UN":
            pos = _special(data, view, start, pos, end, tag, vr, length, syntax, depth, append)
            continue
        vend = pos + length
        if vend > end:
            raise RawParseError(f"element {tag:08X} runs past the end of the data")
        value = data[pos:vend] if length <= _COPY_LIMIT else view[pos:vend]
        source: memoryview | None = view
        if not g & 1:
            if explicit:
                expected = known_vr(tag, vr)
                if expected != vr and " or " not in expected:
                    vr, source = expected, None  # re-encoded under the VR the attribute has
                    size, limit = checks(vr, _NO_CHECK)
            if length:
                if size:
                    if length % size:
                        raise RawParseError(
                            f"element {tag:08X}: length {length} does not fit VR {vr}"
                        )
                elif limit >= 0 and (length > limit or data.find(b"\x00", pos, vend) >= 0):
                    _check_value(tag, vr, value)
        append(Elem(tag, vr, value, None, source, start, vend))
        pos = vend
    if stop_at_delim:
        raise RawParseError("item without delimiter")
    return elems, pos


def _special(
    data: bytes,
    view: memoryview,
    start: int,
    pos: int,
    end: int,
    tag: int,
    vr: str,
    length: int,
    syntax: Syntax,
    depth: int,
    append: Callable[[Elem], None],
) -> int:
    """Sequences, UN values and undefined lengths (encapsulated pixel data): append
    the element that starts at ``start`` (its value at ``pos``); return where it ends."""
    if vr == "SQ" or (length == UNDEFINED and vr == "UN"):
        # An undefined-length UN is a sequence encoded implicit VR little endian.
        item_syntax = syntax if vr == "SQ" else IMPLICIT_LE
        items, pos = _parse_items(data, view, pos, end, length, item_syntax, depth)
        if item_syntax != syntax:
            forget_encoding(items)
        append(Elem(tag, "SQ", b"", items, view if vr == "SQ" else None, start, pos))
        return pos
    if vr == "UN" and not tag >> 16 & 1 and dictionary_vr(tag) == "SQ" and pos + length <= end:
        # A sequence stored as UN with a defined length: its items are implicit VR LE.
        un_items: list[list[Elem]] | None
        try:
            un_items, _ = _parse_items(data, view, pos, pos + length, length, IMPLICIT_LE, depth)
        except RawParseError:
            un_items = None  # left opaque; the engine refuses to keep an unreadable one
        if un_items is not None:
            if syntax != IMPLICIT_LE:
                forget_encoding(un_items)
            append(Elem(tag, "SQ", items=un_items))
            return pos + length
    if length == UNDEFINED:
        if vr not in ("OB", "OW"):
            raise RawParseError(f"undefined length on non-sequence {tag:08X}")
        vstart = pos
        pos = _skip_fragments(data, pos, end, syntax)
        vr = vr if syntax.explicit else "OB"  # encapsulated data is OB whatever the dictionary says
        append(Elem(tag, vr, view[vstart:pos], None, view, start, pos, True))
        return pos
    # A UN value (no checks: its bytes are never read as text).
    vend = pos + length
    if vend > end:
        raise RawParseError(f"element {tag:08X} runs past the end of the data")
    append(
        Elem(
            tag,
            vr,
            data[pos:vend] if length <= _COPY_LIMIT else view[pos:vend],
            None,
            view,
            start,
            vend,
        )
    )
    return vend


_ITEM_LE = struct.Struct("<HHL").unpack_from
_ITEM_BE = struct.Struct(">HHL").unpack_from


def _parse_items(
    data: bytes,
    view: memoryview,
    pos: int,
    end: int,
    length: int,
    syntax: Syntax,
    depth: int,
) -> tuple[list[list[Elem]], int]:
    unpack = _ITEM_LE if syntax.little else _ITEM_BE
    seq_end = end if length == UNDEFINED else pos + length
    if seq_end > end:
        raise RawParseError(f"sequence runs past the end of the data at byte {pos}")
    items: list[list[Elem]] = []
    while pos < seq_end:
        if pos + 8 > seq_end:
            raise RawParseError(f"truncated item header at byte {pos}")
        g, e, ilen = unpack(data, pos)
        tag = g << 16 | e
        pos += 8
        if tag == SEQ_DELIM:
            if length != UNDEFINED:
                raise RawParseError("sequence delimiter in a defined-length sequence")
            return items, pos
        if tag != ITEM:
            raise RawParseError(f"expected an item at byte {pos - 8}")
        if ilen == UNDEFINED:
            item, pos = _parse(data, view, pos, seq_end, syntax, depth + 1, stop_at_delim=True)
        else:
            if pos + ilen > seq_end:
                raise RawParseError(f"item runs past its sequence at byte {pos}")
            item, _ = _parse(data, view, pos, pos + ilen, syntax, depth + 1, stop_at_delim=False)
            pos += ilen
        items.append(item)
    if length == UNDEFINED:
        raise RawParseError("sequence without delimiter")
    return items, pos


def _skip_fragments(data: bytes, pos: int, end: int, syntax: Syntax) -> int:
    unpack = _ITEM_LE if syntax.little else _ITEM_BE
    while pos + 8 <= end:
        g, e, flen = unpack(data, pos)
        tag = g << 16 | e
        pos += 8
        if tag == SEQ_DELIM:
            return pos
        if tag != ITEM or flen == UNDEFINED or pos + flen > end:
            raise RawParseError(f"malformed pixel data fragment at byte {pos - 8}")
        pos += flen
    raise RawParseError("encapsulated pixel data without sequence delimiter")
