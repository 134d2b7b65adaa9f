"""DICOM data sets at the level of raw elements: the element, the syntaxes, the writer.

Untouched elements keep where their original bytes lie and are copied as is;
pixel data is never decoded; private blocks that are dropped are never decoded.
The reader is :mod:`imagedeid.dicom.rawparse`. Explicit and implicit VR little
endian, explicit VR big endian and the deflated syntax (the caller inflates and
deflates).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
LONG_VR_STR = frozenset(v.decode() for v in LONG_VRS)
UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
VALID_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)
_LONG_LE = struct.Struct("<L")
_LONG_BE = struct.Struct(">L")


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


def forget_encoding(items: list[list[Elem]]) -> None:
    """Items read in another syntax than the stream's must be re-encoded, never copied."""
    for item in items:
        for el in item:
            el.buf = None
            if el.items is not None:
                forget_encoding(el.items)


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
