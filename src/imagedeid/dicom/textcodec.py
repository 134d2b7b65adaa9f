"""Decode and encode text element values with the data set's Specific Character Set.

ASCII values take a fast path. Single-byte character sets and UTF-8 map straight to
Python codecs; code extensions (ISO 2022 escape sequences, multi-valued Specific
Character Set) go through pydicom's charset module, imported only then.
"""

from __future__ import annotations

from typing import Any

# DICOM defined terms -> Python codecs (PS3.3 C.12.1.1.2), the single-byte and UTF-8 ones.
_SIMPLE = {
    "": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3", "ISO_IR 110": "iso8859_4", "ISO_IR 144": "iso_ir_144",
    "ISO_IR 127": "iso_ir_127", "ISO_IR 126": "iso_ir_126", "ISO_IR 138": "iso_ir_138",
    "ISO_IR 148": "iso_ir_148", "ISO_IR 166": "iso_ir_166", "ISO_IR 192": "utf_8",
    "ISO_IR 13": "shift_jis", "GB18030": "gb18030", "GBK": "gbk",
}  # fmt: skip
_PN_DELIMS = {0x5E, 0x3D}  # '^' and '='
_TEXT_DELIMS = {0x5C}  # '\\'


class TextCodec:
    __slots__ = ("_pydicom", "_simple", "encodings")

    def __init__(self, specific_character_set: str) -> None:
        terms = (
            [t.strip() for t in specific_character_set.split("\\")]
            if specific_character_set
            else []
        )
        self.encodings = terms or ["ISO_IR 6"]
        self._simple = _SIMPLE.get(terms[0]) if len(terms) <= 1 and terms else "ascii"
        self._pydicom: Any = None

    def _charset(self) -> Any:
        if self._pydicom is None:
            from pydicom import charset

            self._pydicom = (charset, charset.convert_encodings(self.encodings))
        return self._pydicom

    def decode(self, value: bytes | memoryview, vr: str) -> str:
        raw = value if type(value) is bytes else bytes(value)
        if raw.isascii() and b"\x1b" not in raw:  # ISO 2022 text is 7-bit with escapes
            return raw.decode("ascii").rstrip("\x00 ")
        if self._simple is not None and self._simple != "ascii":
            text = raw.decode(self._simple, errors="replace")
        else:
            charset, encodings = self._charset()
            delims = _PN_DELIMS if vr == "PN" else _TEXT_DELIMS
            text = charset.decode_bytes(raw, encodings, delims)
        return text.rstrip("\x00 ")

    def encode(self, text: str, vr: str) -> bytes:
        if text.isascii():
            raw = text.encode("ascii")
        elif self._simple is not None and self._simple != "ascii":
            raw = text.encode(self._simple, errors="replace")
        else:
            charset, encodings = self._charset()
            raw = charset.encode_string(text, encodings)
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
        return raw if type(raw) is bytes else bytes(raw)
