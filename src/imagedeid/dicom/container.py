"""DICOM Part 10 files as bytes: preamble, file meta group, data set (maybe deflated).

``read_part10(data)`` parses bytes already read by the io layer; ``write_part10``
returns the output as chunks, plus which chunks are pixel data, so the leak scan
can read the exact bytes that will be written.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from imagedeid.dicom.rawcodec import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    PIXEL_DATA,
    Elem,
    RawParseError,
    Syntax,
    UnorderedElementError,
    encode,
    forget_encoding,
)
from imagedeid.dicom.rawparse import parse
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.errors import InputError, NotDicomError, UnorderedInputError

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
IMPLEMENTATION_CLASS_UID = "2.25.180260805050071789694304898490658793274"
IMPLEMENTATION_VERSION = "IMAGEDEID_010"
_ASCII = TextCodec("")
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")


class Part10:
    """A parsed file. ``buffer`` is a view of the bytes the elements' encodings lie in.
    (A plain class: mypyc, which compiles this module, cannot make a dataclass field of
    a memoryview.)"""

    __slots__ = ("buffer", "dataset", "deflated", "meta", "syntax", "transfer_syntax")

    def __init__(
        self,
        buffer: memoryview,
        meta: list[Elem],
        dataset: list[Elem],
        transfer_syntax: str,
        syntax: Syntax,
        deflated: bool,
    ) -> None:
        self.buffer = buffer
        self.meta = meta
        self.dataset = dataset
        self.transfer_syntax = transfer_syntax
        self.syntax = syntax
        self.deflated = deflated

    def meta_text(self, tag: int) -> str:
        for el in self.meta:
            if el.tag == tag:
                return _ASCII.decode(el.value, "UI")
        return ""


def syntax_for(transfer_syntax: str) -> Syntax:
    if transfer_syntax == IMPLICIT_VR_LE:
        return IMPLICIT_LE
    if transfer_syntax == EXPLICIT_VR_BE:
        return EXPLICIT_BE
    return EXPLICIT_LE


def _looks_explicit(buf: memoryview, pos: int) -> bool:
    vr = bytes(buf[pos + 4 : pos + 6])
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


def read_part10(data: bytes) -> Part10:
    """Parse a Part 10 file (or a bare data set). Raises NotDicomError / InputError."""
    data = bytes(data)  # the parser slices values out of it (a no-op for bytes)
    buf = memoryview(data)
    if len(data) == 0:
        raise NotDicomError("the file is empty")
    if len(data) >= 132 and data[128:132] == b"DICM":
        pos = 132
    elif len(data) >= 8 and data[0:2] in (b"\x02\x00", b"\x08\x00") and data[3:4] == b"\x00":
        pos = 0  # no preamble: a bare meta group or data set
    elif len(data) >= 8 and data[0:2] == b"\x00\x08" and data[2:3] == b"\x00":
        dataset = _parse_or_fail(data, 0, EXPLICIT_BE)  # bare big endian data set
        return Part10(memoryview(data), [], dataset, EXPLICIT_VR_BE, EXPLICIT_BE, False)
    else:
        raise NotDicomError("no DICM prefix and no recognisable DICOM element at the start")
    meta: list[Elem] = []
    if len(data) >= pos + 6 and data[pos : pos + 2] == b"\x02\x00":
        end = pos
        while end + 8 <= len(data) and data[end : end + 2] == b"\x02\x00":
            end += _meta_element_length(buf, end)
        if end > len(data):
            raise InputError("the file meta information is truncated")
        try:
            meta = parse(data, pos, end, EXPLICIT_LE)
        except (RawParseError, struct.error) as exc:
            raise InputError(f"the file meta information is malformed ({exc})") from None
        pos = end
    ts = ""
    for el in meta:
        if el.tag == 0x00020010:
            ts = _ASCII.decode(el.value, "UI")
    if not ts:
        ts = EXPLICIT_VR_LE if _looks_explicit(buf, pos) else IMPLICIT_VR_LE
    elif not _UID_RE.fullmatch(ts):  # it goes into the output meta and the report
        raise InputError("the Transfer Syntax UID (0002,0010) is not a UID")
    deflated = ts == DEFLATED_LE
    if deflated:
        try:
            inflated = zlib.decompress(bytes(buf[pos:]), -zlib.MAX_WBITS)
        except zlib.error:
            raise InputError("the deflated data set cannot be inflated") from None
        data, buf, pos = inflated, memoryview(inflated), 0
    syntax = syntax_for(ts)
    if syntax is EXPLICIT_LE and len(buf) > pos and not _looks_explicit(buf, pos):
        # The meta says explicit VR but the data set is implicit: read what the bytes
        # are, then write every element anew in explicit VR, as the meta says.
        dataset = _parse_or_fail(data, pos, IMPLICIT_LE)
        forget_encoding([dataset])
        return Part10(buf, meta, dataset, ts, EXPLICIT_LE, deflated)
    return Part10(buf, meta, _parse_or_fail(data, pos, syntax), ts, syntax, deflated)


def _parse_or_fail(data: bytes, pos: int, syntax: Syntax) -> list[Elem]:
    # One name per except clause: mypyc (which compiles this module) types a shared
    # name by its first clause, and a RawParseError in it becomes a TypeError.
    try:
        return parse(data, pos, len(data), syntax)
    except UnorderedElementError as unordered:
        raise UnorderedInputError(f"the data set is malformed ({unordered})") from None
    except RawParseError as malformed:
        raise InputError(f"the data set is malformed ({malformed})") from None
    except struct.error:
        raise InputError("the data set is malformed (an element header is cut short)") from None


def _meta_element_length(buf: memoryview, pos: int) -> int:
    vr = bytes(buf[pos + 4 : pos + 6])
    if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
        return 12 + int.from_bytes(buf[pos + 8 : pos + 12], "little")
    return 8 + int.from_bytes(buf[pos + 6 : pos + 8], "little")


def _ui(tag: int, value: str) -> Elem:
    return Elem(tag, "UI", _ASCII.encode(value, "UI"))


def build_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> list[Elem]:
    return [
        Elem(0x00020001, "OB", b"\x00\x01"),
        _ui(0x00020002, sop_class),
        _ui(0x00020003, sop_instance),
        _ui(0x00020010, transfer_syntax),
        _ui(0x00020012, IMPLEMENTATION_CLASS_UID),
        Elem(0x00020013, "SH", _ASCII.encode(IMPLEMENTATION_VERSION, "SH")),
    ]


@dataclass
class Serialized:
    """The output file as chunks. ``plain`` is what a reader sees once inflated."""

    file_chunks: list[bytes | memoryview]
    plain_chunks: list[bytes | memoryview]
    pixel_chunk_ids: frozenset[int]
    pixel_encapsulated: bool = False

    def to_bytes(self) -> bytes:
        return b"".join(self.file_chunks)


def write_part10(
    meta: list[Elem], dataset: list[Elem], syntax: Syntax, deflated: bool
) -> Serialized:
    meta_chunks: list[bytes | memoryview] = []
    encode(meta, EXPLICIT_LE, meta_chunks)
    meta_body = b"".join(meta_chunks)
    group_length = b"\x02\x00\x00\x00UL\x04\x00" + len(meta_body).to_bytes(4, "little")
    head = b"\x00" * 128 + b"DICM" + group_length + meta_body
    body: list[bytes | memoryview] = []
    split = next((i for i, el in enumerate(dataset) if el.tag >= PIXEL_DATA), len(dataset))
    encode(dataset[:split], syntax, body)
    start = len(body)
    has_pixels = split < len(dataset) and dataset[split].tag == PIXEL_DATA
    if has_pixels:
        encode(dataset[split : split + 1], syntax, body)
    pixel_ids = set(range(start, len(body)))
    encapsulated = has_pixels and dataset[split].undefined
    encode(dataset[split + 1 if has_pixels else split :], syntax, body)
    plain = [head, *body]
    if deflated:
        comp = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = comp.compress(b"".join(body)) + comp.flush()
        if len(packed) % 2:
            packed += b"\x00"
        return Serialized([head, packed], plain, frozenset(i + 1 for i in pixel_ids), encapsulated)
    return Serialized(plain, plain, frozenset(i + 1 for i in pixel_ids), encapsulated)
