"""The last line of defence: scan the serialized output for the input's identifying values.

Every form of every identifying value (the deny-list terms, original UIDs, original
dates unless kept) is searched for, case-insensitively, in the exact bytes that would
be written -- preamble, file meta, nested sequences, private and binary values; for
a deflated syntax, the inflated data set. Encapsulated (compressed) pixel data is
searched for terms of six or more characters (shorter byte strings occur in codec
streams by chance), since JPEG COM and APPn segments carry text. Native pixel data
is copied byte for byte and holds sample values, never text; it is left to the
burned-in text engine and not searched here. A hit inside a value the pseudonymizer
generated is a coincidence, not a leak; any other hit is reported by tag path --
never by value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from functools import lru_cache

from imagedeid.dicom.container import Serialized
from imagedeid.dicom.context import DEID_TAGS
from imagedeid.dicom.rawcodec import PIXEL_DATA, Elem
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.model import UNBOUNDED_SCAN_TERM, format_tag

PIXEL_MIN_TERM = 6


def _coded_coincidence(value: bytes, patterns: set[bytes]) -> bool:
    """A coded string (CS) outside the table holds defined terms such as PERFUSION or
    TEXT. When a name happens to be such a word, the hit is a whole one-word value and
    nothing else; anything more (two names, digits, a partial word) is a leak."""
    for comp in value.split(b"\\"):
        comp = comp.strip(b" \x00")
        hits = [p for p in patterns if p in comp]
        if hits and not (hits == [comp] and comp.isalpha()):
            return False
    return True


# Attributes imagedeid writes itself (method, codes, flags, implementation name).
OURS = DEID_TAGS | {0x00020012, 0x00020013}


def _flat(el: Elem) -> bytes:
    if el.items is None:
        return bytes(el.value).lower()
    return b"".join(_flat(child) for item in el.items for child in item)


def _forms(term: str, codec: TextCodec) -> set[bytes] | frozenset[bytes]:
    if term.isascii():
        return _ascii_form(term)
    forms = set()
    for variant in {term, term.lower(), term.upper(), term.title()}:  # bytes.lower is ASCII-only
        forms.add(variant.encode("utf-8").lower())
        with contextlib.suppress(UnicodeError, LookupError, ValueError):
            forms.add(codec.encode(variant, "LO").rstrip(b" ").lower())
    return forms


@lru_cache(maxsize=8192)
def _ascii_form(term: str) -> frozenset[bytes]:
    return frozenset({term.encode("ascii").lower()})


def _bounded(blob: bytes, start: int, term: bytes) -> bool:
    """Short alphabetic or numeric terms must not be part of a longer word or number."""
    if len(term) >= UNBOUNDED_SCAN_TERM:
        return True
    end = start + len(term)
    # No negative slice bounds: mypyc's compiled bytes slice does not clamp them.
    before = blob[start - 1 : start] if start > 0 else b""
    after = blob[end : end + 1]
    first, last = term[:1], term[len(term) - 1 :] if term else b""
    if (first.isdigit() and before.isdigit()) or (first.isalpha() and before.isalpha()):
        return False
    return not ((last.isdigit() and after.isdigit()) or (last.isalpha() and after.isalpha()))


def _hits(blob: bytes, patterns: Iterable[bytes]) -> set[bytes]:
    found = set()
    for pat in patterns:
        idx = blob.find(pat)
        while idx >= 0:
            if _bounded(blob, idx, pat):
                found.add(pat)
                break
            idx = blob.find(pat, idx + 1)
    return found


def find_leaks(
    ser: Serialized,
    terms: Iterable[str],
    codec: TextCodec,
    generated: set[str],
    meta: list[Elem],
    dataset: list[Elem],
    coded_ok: Callable[[int], bool] = lambda tag: False,
) -> list[str]:
    """Return the tag paths where identifying values survive (empty list: clean)."""
    patterns: set[bytes] = set()
    for term in terms:
        patterns |= _forms(term, codec)
    if not patterns:
        return []
    chunks = ser.plain_chunks
    pixel_ids = ser.pixel_chunk_ids
    text = b"".join([c for i, c in enumerate(chunks) if i not in pixel_ids]).lower()
    found = _hits(text, patterns)
    if ser.pixel_encapsulated:  # codec streams carry text segments (JPEG COM, APPn)
        long_patterns = [p for p in patterns if len(p) >= PIXEL_MIN_TERM and p not in found]
        for i in pixel_ids:
            found |= _hits(bytes(chunks[i]).lower(), long_patterns)
    if not found:
        return []
    gen_lower = sorted((g.lower() for g in generated), key=len, reverse=True)
    real: list[str] = []
    coded: list[str] = []
    _locate(dataset, found, gen_lower, "", real, coded, coded_ok)
    _locate(meta, found, gen_lower, "", real, coded, coded_ok)
    if not real and not coded and _hits(_strip_generated(text, gen_lower), found):
        real.append("(serialized bytes outside element values)")
    return real


def _strip_generated(value: bytes, gen_lower: list[str]) -> bytes:
    low = value.lower()
    for g in gen_lower:
        gb = g.encode("utf-8")
        if gb in low:
            low = low.replace(gb, b"\x00")
    return low


def _locate(
    elems: list[Elem],
    found: set[bytes],
    gen_lower: list[str],
    prefix: str,
    real: list[str],
    coded: list[str],
    coded_ok: Callable[[int], bool],
) -> None:
    """Tag paths of elements holding a hit. Hits in coded strings (CS) of attributes the
    table does not list -- enumerated terms such as ValueType TEXT -- are not leaks."""
    for el in elems:
        if el.tag in OURS and not prefix:
            if any(p in _flat(el) for p in found):
                coded.append(format_tag(el.tag))  # text imagedeid wrote itself, e.g. option names
            continue
        if el.items is not None:
            here = f"{prefix}{format_tag(el.tag)}"
            for i, item in enumerate(el.items):
                _locate(item, found, gen_lower, f"{here}[{i}]>", real, coded, coded_ok)
            continue
        value = bytes(el.value).lower()
        wanted = found if el.tag != PIXEL_DATA else {p for p in found if len(p) >= PIXEL_MIN_TERM}
        if not any(p in value for p in wanted):
            continue
        if not _hits(_strip_generated(value, gen_lower), wanted):
            continue
        here = f"{prefix}{format_tag(el.tag)}"
        if el.vr == "CS" and coded_ok(el.tag) and _coded_coincidence(value, wanted):
            coded.append(here)
        else:
            real.append(here)
