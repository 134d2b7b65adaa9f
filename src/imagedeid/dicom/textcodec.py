"""Decode and encode text element values with the data set's Specific Character Set."""

from __future__ import annotations

from pydicom.charset import convert_encodings, decode_bytes, encode_string

_PN_DELIMS = {0x5E, 0x3D}  # '^' and '='
_TEXT_DELIMS = {0x5C}  # '\\'


class TextCodec:
    """Pure-ASCII values take a fast path; everything else goes through pydicom's codecs."""

    __slots__ = ("_ascii_only", "encodings")

    def __init__(self, specific_character_set: str) -> None:
        terms = (
            [t.strip() for t in specific_character_set.split("\\")]
            if specific_character_set
            else []
        )
        self.encodings: list[str] = convert_encodings(terms or ["ISO_IR 6"])
        self._ascii_only = self.encodings == ["iso8859"] or self.encodings == ["utf_8"]

    def decode(self, value: bytes | memoryview, vr: str) -> str:
        raw = bytes(value)
        if raw.isascii():
            text = raw.decode("ascii")
        else:
            delims = _PN_DELIMS if vr == "PN" else _TEXT_DELIMS
            text = decode_bytes(raw, self.encodings, delims)
        return text.rstrip("\x00 ")

    def encode(self, text: str, vr: str) -> bytes:
        raw = text.encode("ascii") if text.isascii() else encode_string(text, self.encodings)
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
        return raw
