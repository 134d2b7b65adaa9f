"""The forms identifying values take in text: the terms a deny-list searches for.

``identity_terms(...)`` turns names (every component and order, spelling variants),
identifiers, places, phone numbers and birth dates into lowercase terms indexed by
their first token, the digit runs of long numbers, and the minimal set of terms the
byte scan searches the output for.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from imagedeid.model import MIN_SCAN_TERM, UNBOUNDED_SCAN_TERM

# Parts of names that are titles or suffixes, and would otherwise erase words like "MR".
_NAME_STOPWORDS = frozenset(
    {
        "DR",
        "MR",
        "MRS",
        "MS",
        "MISS",
        "JR",
        "SR",
        "MD",
        "PHD",
        "II",
        "III",
        "IV",
        "PROF",
        "REV",
        "DDS",
        "RN",
        "DO",
        "MX",
        "THE",
        "AND",
        "OF",
        "VAN",
        "VON",
        "DE",
        "LA",
        "LE",
        "DI",
        "DA",
    }
)
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe",
                         "Ü": "Ue"})  # fmt: skip


def spelling_variants(word: str) -> set[str]:
    """The ways a name is commonly re-typed: without accents, with German ue/oe/ae,
    without apostrophes, and each part of a hyphenated name."""
    out = {word}
    if not word.isascii():
        folded = "".join(
            c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)
        )
        out |= {folded, word.translate(_GERMAN)}
    for w in list(out):
        if "'" in w or "’" in w:
            out.add(w.replace("'", "").replace("’", ""))
        if "-" in w:
            out.update(p for p in w.split("-") if p)
    return {w for w in out if w}


def _name_terms(raw: str) -> set[str]:
    terms: set[str] = set()
    for group in raw.split("="):
        comps = [c.strip() for c in group.split("^")]
        words = [w for c in comps for w in re.split(r"[\s,.]+", c) if w]
        for word in words:
            for w in spelling_variants(word):
                if (len(w) >= 2 or is_cjk(w[0])) and w.upper() not in _NAME_STOPWORDS:
                    terms.add(w)
        named = [c for c in comps if c]
        if len(named) >= 2:
            last, first = named[0], named[1]
            terms.update(
                {
                    group.strip("^ "),
                    f"{first} {last}",
                    f"{last}, {first}",
                    f"{last} {first}",
                    f"{last},{first}",
                    f"{last}{first}",  # run together: JOHNSMITH, SmithJohn_2024
                    f"{first}{last}",
                }
            )
    return terms


def _ordinal(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def date_forms(value: str) -> set[str]:
    """Common written forms of a DA (or the date part of a DT) value."""
    v = value.strip()[:8]
    if len(v) != 8 or not (v.isascii() and v.isdigit()):
        return set()
    y, m, d = v[:4], v[4:6], v[6:8]
    forms = {
        v,
        f"{y}-{m}-{d}",
        f"{y}/{m}/{d}",
        f"{y}.{m}.{d}",
        f"{m}/{d}/{y}",
        f"{d}/{m}/{y}",
        f"{d}.{m}.{y}",
        f"{m}-{d}-{y}",
        f"{d}-{m}-{y}",
    }
    mi, di, yy = int(m), int(d), y[2:]
    forms |= {  # unpadded and two-digit-year forms: 7/4/2019, 4.7.2019, 2019-7-4, 04/07/19
        f"{mi}/{di}/{y}",
        f"{di}/{mi}/{y}",
        f"{di}.{mi}.{y}",
        f"{y}-{mi}-{di}",
        f"{m}/{d}/{yy}",
        f"{d}/{m}/{yy}",
        f"{d}.{m}.{yy}",
        f"{mi}/{di}/{yy}",
    }
    if 1 <= mi <= 12:
        month = _MONTHS[mi - 1]
        mon, th = month[:3], _ordinal(di)
        forms |= {
            f"{d}-{mon}-{y}",  # 04-Jul-2019
            f"{di}-{mon}-{y}",
            f"{d}-{mon}-{yy}",
            f"{di}-{month}-{y}",  # 4-July-2019
            f"{d}{mon}{y}",  # 04JUL2019
            f"{d} {mon} {y}",
            f"{di} {mon} {y}",
            f"{d} {month} {y}",  # 04 July 2019
            f"{di} {month} {y}",
            f"{di}{th} {month} {y}",  # 4th July 2019
            f"{mon} {di} {y}",
            f"{mon} {di}, {y}",
            f"{mon} {d}, {y}",  # Jul 04, 2019
            f"{month} {di} {y}",
            f"{month} {di}, {y}",  # July 4, 2019
            f"{month} {d}, {y}",
            f"{month} {di}{th}, {y}",  # July 4th, 2019
        }
    return forms


def _joins(a: str, b: str) -> bool:
    """Whether two adjacent characters belong to one word (CJK has no word spaces)."""
    if a.isdigit() and b.isdigit():
        return True
    return a.isalpha() and b.isalpha() and not (is_cjk(a) or is_cjk(b))


def bounded(text: str, start: int, end: int) -> bool:
    """A term must not be cut out of a longer word (letters) or number (digits)."""
    if start > 0 and _joins(text[start - 1], text[start]):
        return False
    return not (end < len(text) and _joins(text[end - 1], text[end]))


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# Words and numbers, split where letters meet digits; each CJK character is a token
# of its own, since those scripts do not put spaces between words.
TOKEN = re.compile(rf"[^\W\d_{_CJK}]+|\d+|[{_CJK}]")
_CJK_RE = re.compile(f"[{_CJK}]")


def is_cjk(char: str) -> bool:
    return bool(_CJK_RE.match(char))


TermIndex = dict[str, tuple[str, ...]]  # first token of a lowercase term -> terms


@lru_cache(maxsize=16384)
def _first_token(low: str) -> str:
    tokens = TOKEN.findall(low)
    return tokens[0] if tokens else ""


def index_terms(terms: set[str]) -> TermIndex:
    by_first: dict[str, list[str]] = {}
    for term in {t.lower() for t in terms}:
        first = _first_token(term)
        if first:  # a term of punctuation alone identifies nobody
            by_first.setdefault(first, []).append(term)
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in by_first.items()}


def _scan_candidates(terms: set[str] | frozenset[str]) -> set[str]:
    return {t for t in terms if len(t) >= 2 and len(t.encode("utf-8")) >= MIN_SCAN_TERM}


@lru_cache(maxsize=4096)
def _name_part(raw: str) -> tuple[frozenset[str], frozenset[str]]:
    """A name's terms and their minimal scan terms (a patient's and the staff's names
    recur in every study, so this is cached apart from the whole identity)."""
    terms = frozenset(_name_terms(raw))
    return terms, frozenset(_minimal(_scan_candidates(terms)))


@lru_cache(maxsize=4096)
def _date_part(value: str) -> tuple[frozenset[str], frozenset[str]]:
    terms = frozenset(date_forms(value))
    return terms, frozenset(_minimal(_scan_candidates(terms)))


@lru_cache(maxsize=512)
def identity_terms(
    names: tuple[str, ...],
    identifiers: tuple[str, ...],
    places: tuple[str, ...],
    phones: tuple[str, ...],
    birth_dates: tuple[str, ...],
) -> tuple[TermIndex, frozenset[str], frozenset[str]]:
    """Terms from who and where: the same for every file of a patient's study (cached)."""
    terms: set[str] = set()  # identifiers, places and phones
    digit_runs: set[str] = set()
    for ident in identifiers:
        ident = ident.strip()
        if len(ident) >= 3:
            terms.add(ident)
        digits = re.sub(r"\D", "", ident)
        if len(digits) >= 7:  # also written with spaces or dashes: 12 34 567
            digit_runs.add(digits)
    for place in places:
        place = place.strip()
        if len(place) >= 3:
            terms.add(place)
        for part in re.split(r"[,\n\r^;]+", place):
            part = part.strip()
            if len(part) >= 4 and part != place:
                terms.add(part)
    for phone in phones:
        digits = re.sub(r"\D", "", phone)
        if len(digits) >= 7:
            digit_runs.add(digits)
        if len(phone.strip()) >= 7:
            terms.add(phone.strip())
    scan = _scan_candidates(terms) | digit_runs
    # Names and dates bring many forms each; the scan terms a shorter one already
    # catches are dropped per name and per date first (cached: they recur in every
    # study), then over the whole. "Reported wherever the longer one is" is transitive,
    # so the result catches whatever the full set would.
    for part in [_name_part(n) for n in names] + [_date_part(d) for d in birth_dates]:
        terms |= part[0]
        scan |= part[1]
    terms = {t for t in terms if len(t) >= 2}
    return index_terms(terms), frozenset(digit_runs), frozenset(_minimal(scan))


def _implies(short: str, long: str) -> bool:
    """Whether every place the byte scan reports ``long``, it also reports ``short``."""
    low_s, low_l = short.lower(), long.lower()
    if low_s == low_l:  # the same term, whatever its case: the same reports
        return True
    idx = low_l.find(low_s)
    while idx >= 0:
        end = idx + len(low_s)
        inner = idx > 0 and end < len(low_l)
        # The scan measures terms in bytes, in the file's encoding: a short term's bytes
        # are at least its characters; a long term is surely bounded only if ASCII.
        surely_bounded = len(low_l) < UNBOUNDED_SCAN_TERM and low_l.isascii()
        if len(low_s) >= UNBOUNDED_SCAN_TERM or (
            (inner or surely_bounded) and bounded(low_l, idx, end)
        ):
            return True
        idx = low_l.find(low_s, idx + 1)
    return False


def _minimal(scan: set[str]) -> set[str]:
    """Drop scan terms that a shorter scan term already catches (fewer byte searches)."""
    ordered = sorted(scan, key=len)
    lows = [t.lower() for t in ordered]
    kept: list[int] = []
    for i, low in enumerate(lows):
        if not any(lows[k] in low and _implies(ordered[k], ordered[i]) for k in kept):
            kept.append(i)
    return {ordered[i] for i in kept}
