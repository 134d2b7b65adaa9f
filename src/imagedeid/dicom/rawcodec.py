"""A lean reader and writer of DICOM data sets at the level of raw elements.

Untouched elements keep where their original bytes lie and are copied as is;
pixel data is never decoded; private blocks that are dropped are never decoded.
Handles explicit and implicit VR little endian, explicit VR big endian and the
deflated syntax (inflated by the caller). Anything this reader cannot follow
raises :class:`RawParseError`, and the caller may take pydicom's slow path.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from imagedeid.policy.dictionary import dictionary_vrs
from imagedeid.policy.plan import dictionary_vr

LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
LONG_VR_STR = frozenset(v.decode() for v in LONG_VRS)
UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
_VALID_VR = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)


_VR_NAMES = {v: v.decode("ascii") for v in _VALID_VR}
_EXPL_LE = struct.Struct("<HH2sH")
_EXPL_BE = struct.Struct(">HH2sH")
_IMPL_LE = struct.Struct("<HHL")
_IMPL_BE = struct.Struct(">HHL")
_LONG_LE = struct.Struct("<L")
_LONG_BE = struct.Struct(">L")


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


def _check_value(tag: int, vr: str, value: bytes | memoryview) -> None:
    """Refuse text values that cannot be what their VR says (often a length that
    swallowed the following elements, whose headers always hold NUL bytes): such a file
    is not parsed the way its writer meant. The parser calls this only for a value
    that holds a NUL byte or is longer than its VR allows (binary VRs it checks itself)."""
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


class RawParseError(Exception):
    """The bytes do not follow the DICOM encoding this reader expects."""


class UnorderedElementError(RawParseError):
    """Elements out of ascending order: complete, but only a reordering reader follows it."""


@dataclass(frozen=True, slots=True)
class Syntax:
    little: bool
    explicit: bool


EXPLICIT_LE = Syntax(True, True)
IMPLICIT_LE = Syntax(True, False)
EXPLICIT_BE = Syntax(False, True)


class Elem:
    """One element. ``value`` is bytes for plain values, list of item lists for SQ.

    An element read from a file and not changed since keeps where its original
    encoding lies (``buf[start:end]``); the encoder copies those bytes as they are,
    and a run of such elements as one span."""

    __slots__ = ("buf", "end", "items", "start", "tag", "undefined", "value", "vr")

    def __init__(
        self,
        tag: int,
        vr: str,
        value: bytes | memoryview = b"",
        items: list[list[Elem]] | None = None,
        buf: memoryview | None = None,
        start: int = -1,
        end: int = -1,
        undefined: bool = False,
    ) -> None:
        self.tag = tag
        self.vr = vr
        self.value = value
        self.items = items
        self.buf = buf  # the source the original encoding lies in, while unchanged
        self.start = start
        self.end = end
        self.undefined = undefined  # undefined length (encapsulated pixel data)

    @property
    def unchanged(self) -> bool:
        """Whether the element still has its original encoding (copied as is)."""
        return self.buf is not None

    def set_value(self, value: bytes) -> None:
        self.value = value
        self.buf = None

    def set_items(self, items: list[list[Elem]]) -> None:
        self.items = items
        self.buf = None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid, never shows values
        return f"Elem({self.tag:08X}, {self.vr})"


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


# Values up to this many bytes are copied out of the buffer (cheaper than a view and
# read as bytes downstream); longer ones (pixel data, bulk data) stay views.
_COPY_LIMIT = 512
# Text VRs the parser checks: the longest value each may hold without a closer look.
_TEXT_CHECK = {**_TEXT_LIMIT, **dict.fromkeys(_LONG_TEXT, UNDEFINED)}


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
    unpack_explicit = (_EXPL_LE if little else _EXPL_BE).unpack_from
    unpack_implicit = (_IMPL_LE if little else _IMPL_BE).unpack_from
    unpack_long = (_LONG_LE if little else _LONG_BE).unpack_from
    explicit = syntax.explicit
    known_vr = dictionary_vrs().get
    vr_names = _VR_NAMES
    long_vrs = LONG_VR_STR
    binary_size = _BINARY_SIZE.get
    text_check = _TEXT_CHECK.get
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
            vr = vr_names.get(vrb)
            if vr is None:
                raise RawParseError(f"invalid VR at byte {pos}")
            if vr in long_vrs:
                if pos + 12 > end:
                    raise RawParseError(f"truncated element header at byte {pos}")
                (length,) = unpack_long(data, pos + 8)
                pos += 12
            else:
                pos += 8
        else:
            g, e, length = unpack_implicit(data, pos)
            tag = g << 16 | e
            if g == 0xFFFE:
                if tag == ITEM_DELIM and stop_at_delim:
                    return elems, pos + 8
                raise RawParseError(f"unexpected item tag at byte {pos}")
            pos += 8
            vr = _vr_for_implicit(tag)
        if tag <= last_tag:
            raise UnorderedElementError(f"element {tag:08X} out of ascending order at byte {start}")
        last_tag = tag
        if vr == "SQ" or (length == UNDEFINED and vr == "UN"):
            # An undefined-length UN is a sequence encoded implicit VR little endian.
            item_syntax = syntax if vr == "SQ" else IMPLICIT_LE
            items, pos = _parse_items(data, view, pos, end, length, item_syntax, depth)
            if item_syntax != syntax:
                forget_encoding(items)
            append(Elem(tag, "SQ", b"", items, view if vr == "SQ" else None, start, pos))
            continue
        if vr == "UN" and not g & 1 and dictionary_vr(tag) == "SQ" and pos + length <= end:
            # A sequence stored as UN with a defined length: its items are implicit VR LE.
            un_items: list[list[Elem]] | None
            try:
                un_items, _ = _parse_items(
                    data, view, pos, pos + length, length, IMPLICIT_LE, depth
                )
            except RawParseError:
                un_items = None  # left opaque; the engine refuses to keep an unreadable one
            if un_items is not None:
                if syntax != IMPLICIT_LE:
                    forget_encoding(un_items)
                pos += length
                append(Elem(tag, "SQ", items=un_items))
                continue
        if length == UNDEFINED:
            if vr not in ("OB", "OW"):
                raise RawParseError(f"undefined length on non-sequence {tag:08X}")
            vstart = pos
            pos = _skip_fragments(data, pos, end, syntax)
            vr = vr if explicit else "OB"  # encapsulated data is OB whatever the dictionary says
            append(Elem(tag, vr, view[vstart:pos], None, view, start, pos, True))
            continue
        vend = pos + length
        if vend > end:
            raise RawParseError(f"element {tag:08X} runs past the end of the data")
        value = data[pos:vend] if length <= _COPY_LIMIT else view[pos:vend]
        source: memoryview | None = view
        if not g & 1:
            if explicit and vr != "UN":
                expected = known_vr(tag, "")
                if expected and expected != vr and " or " not in expected:
                    vr, source = expected, None  # re-encoded under the VR the attribute has
            if length:
                size = binary_size(vr)
                if size is not None:
                    if length % size:
                        raise RawParseError(
                            f"element {tag:08X}: length {length} does not fit VR {vr}"
                        )
                else:
                    limit = text_check(vr)
                    if limit is not None and (length > limit or data.find(b"\x00", pos, vend) >= 0):
                        _check_value(tag, vr, value)
        append(Elem(tag, vr, value, None, source, start, vend))
        pos = vend
    if stop_at_delim:
        raise RawParseError("item without delimiter")
    return elems, pos


def forget_encoding(items: list[list[Elem]]) -> None:
    """Items read in another syntax than the stream's must be re-encoded, never copied."""
    for item in items:
        for el in item:
            el.buf = None
            if el.items is not None:
                forget_encoding(el.items)


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


_HEAD_LE = struct.Struct("<HH").pack
_HEAD_BE = struct.Struct(">HH").pack
_SHORT_LE = struct.Struct("<H").pack
_SHORT_BE = struct.Struct(">H").pack


def encode(elems: list[Elem], syntax: Syntax, out: list[bytes | memoryview]) -> None:
    """Append the encoding of ``elems`` to ``out`` (chunks, to be joined). Elements
    that kept their original encoding and lie next to each other in their source go
    out as one span of it."""
    little = syntax.little
    explicit = syntax.explicit
    hdr_tag = _HEAD_LE if little else _HEAD_BE
    pack_short = _SHORT_LE if little else _SHORT_BE
    pack_long = (_LONG_LE if little else _LONG_BE).pack
    run: memoryview | None = None  # the source of the pending span of original bytes
    run_start = run_end = 0
    for el in elems:
        src = el.buf
        if src is not None:
            if src is run and el.start == run_end:
                run_end = el.end
                continue
            if run is not None:
                out.append(run[run_start:run_end])
            run, run_start, run_end = src, el.start, el.end
            continue
        if run is not None:
            out.append(run[run_start:run_end])
            run = None
        tag = el.tag
        head = hdr_tag(tag >> 16, tag & 0xFFFF)
        vr = el.vr
        if el.items is not None:
            if explicit:
                out.append(head + b"SQ\x00\x00" + pack_long(UNDEFINED))
            else:
                out.append(head + pack_long(UNDEFINED))
            for item in el.items:
                out.append(hdr_tag(0xFFFE, 0xE000) + pack_long(UNDEFINED))
                encode(item, syntax, out)
                out.append(hdr_tag(0xFFFE, 0xE00D) + pack_long(0))
            out.append(hdr_tag(0xFFFE, 0xE0DD) + pack_long(0))
            continue
        value = el.value
        length = UNDEFINED if el.undefined else len(value)
        if explicit:
            if vr in LONG_VR_STR:
                out.append(head + vr.encode("ascii") + b"\x00\x00" + pack_long(length))
            else:
                if length > 0xFFFF:
                    raise RawParseError(f"value of {tag:08X} too long for VR {vr}")
                out.append(head + vr.encode("ascii") + pack_short(length))
        else:
            out.append(head + pack_long(length))
        out.append(value)
    if run is not None:
        out.append(run[run_start:run_end])
