"""Is a piece of burned-in text PHI? The file's own deny-list, the text patterns, OCR
patterns for names, dates, times, IDs and phones, and an allow-list of technical labels.

A token that is neither PHI by rule nor a known technical label counts as PHI: the
allow-list decides what is kept, so an unknown word is masked (fail closed).
"""

from __future__ import annotations

import re

from imagedeid.model import TextCleaner
from imagedeid.policy.labels import technical_labels

_TOKEN = re.compile(r"[^\s:;,/|()\[\]{}<>=*\"'^_]+")
_EDGE = re.compile(r"^[.\-+~#@!?]+|[.\-~#@!?]+$")
_PATTERNS = (
    re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}"),  # dates
    re.compile(r"\b(\d{4}\s+\d{1,2}\s+\d{1,2}|\d{1,2}\s+\d{1,2}\s+\d{4})\b"),  # 1961 04 19
    re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*(am|pm)?\b", re.I),  # times
    re.compile(r"\d{5,}"),  # MRNs, accession numbers, phone numbers
    re.compile(r"\b[a-z]+\s*,\s*[a-z]+", re.I),  # LAST,FIRST
    re.compile(r"\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}"),  # phones
    re.compile(
        r"\b(dob|d\.o\.b|mrn|id|pid|acc|acc#|accession|patient|pt|name|born|age|sex)\b", re.I
    ),
)


def is_phi(text: str, cleaner: TextCleaner) -> bool:
    """True when ``text`` (one OCR box) may identify someone."""
    stripped = text.strip()
    if not stripped:
        return True  # detected but unreadable: cannot be cleared
    if cleaner.clean(stripped) != stripped:
        return True
    if any(p.search(stripped) for p in _PATTERNS):
        return True
    labels = technical_labels()
    for raw in _TOKEN.findall(stripped):
        for token in raw.split("-"):
            token = _EDGE.sub("", token)
            if token and not labels.is_technical(token):
                return True
    return False
