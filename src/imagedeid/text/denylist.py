"""Remove identifying text while keeping the clinical words.

``build_cleaner(values)`` turns one file's identifying values into a cleaner that
(a) scrubs every form of those values out of any text (the deny-list), and
(b) for descriptors and structured content also removes what *looks* identifying:
dates, phone numbers, e-mail addresses, ID-like tokens and ``LAST^FIRST`` names.
"CT HEAD for John Smith" becomes "CT HEAD for".
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from imagedeid.model import MIN_SCAN_TERM, UNBOUNDED_SCAN_TERM, IdentifyingValues

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

_PATTERNS = re.compile(
    "|".join(
        [
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
            r"(?<!\w)\w+\^\w+(?:\^\w*)*",  # LAST^FIRST
            r"(?<!\d)(?:19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])(?!\d)",
            r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)?\d\d(?!\d)",
            r"(?i:(?<![a-z])(?:\d{1,2}\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
            r"[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d(?!\d))",
            r"(?<![\w+])\(?\d{3}\)?[\s.-]\d{3}[.-]\d{4}(?!\d)",  # phone: (555) 123-4567
            r"(?<![\w+])\d{3}[\s./-]\d{4}[\s./-]\d{4}(?!\d)",  # phone: 030 1234 5678
            r"(?<![\w+])\d{3,4}\s?/\s?\d{3}[\s.-]?\d{2,4}(?:[\s.-]\d{2})?(?!\d)",  # 555/123-4567
            r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\d)",  # +44 20 7946 0958
            r"(?<![\d-])\d{3}-\d{4}(?![\d-])",  # 555-1234
            r"(?i:(?<![a-z])(?:mrn|pid|id|acc|accession|ssn|nhs|no)\s*[:#.]?\s*[a-z]{0,3}\d[\w-]*)",
            r"(?<![\w])[A-Za-z]{0,4}\d{5,}[A-Za-z]{0,3}(?![\w])",  # ID-like: five or more digits
        ]
    )
)
_PATTERN_HINT = re.compile(r"[\d@^]")
_SPACES = re.compile(r"\s{2,}")


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
                if (len(w) >= 2 or _is_cjk(w[0])) and w.upper() not in _NAME_STOPWORDS:
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
    mi = int(m)
    if 1 <= mi <= 12:
        month = _MONTHS[mi - 1]
        mon = month[:3]
        forms.update({f"{d}-{mon}-{y}", f"{int(d)}-{mon}-{y}", f"{mon} {int(d)} {y}",
                      f"{d} {mon} {y}", f"{month} {int(d)} {y}"})  # fmt: skip
        forms.update(
            {
                f"{month} {int(d)}, {y}",
                f"{int(d)} {month} {y}",
                f"{month[:3]} {int(d)}, {y}",
                f"{int(d)} {month[:3]} {y}",
            }
        )
    return forms


def _joins(a: str, b: str) -> bool:
    """Whether two adjacent characters belong to one word (CJK has no word spaces)."""
    if a.isdigit() and b.isdigit():
        return True
    return a.isalpha() and b.isalpha() and not (_is_cjk(a) or _is_cjk(b))


def _bounded(text: str, start: int, end: int) -> bool:
    """A term must not be cut out of a longer word (letters) or number (digits)."""
    if start > 0 and _joins(text[start - 1], text[start]):
        return False
    return not (end < len(text) and _joins(text[end - 1], text[end]))


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# Words and numbers, split where letters meet digits; each CJK character is a token
# of its own, since those scripts do not put spaces between words.
_TOKEN = re.compile(rf"[^\W\d_{_CJK}]+|\d+|[{_CJK}]")
_CJK_RE = re.compile(f"[{_CJK}]")


def _is_cjk(char: str) -> bool:
    return bool(_CJK_RE.match(char))


_SEVEN_DIGITS = re.compile(r"\d(?:\D{0,3}\d){6}")
TermIndex = dict[str, tuple[str, ...]]  # first token of a lowercase term -> terms


def _index(terms: set[str]) -> TermIndex:
    by_first: dict[str, list[str]] = {}
    for term in {t.lower() for t in terms}:
        tokens = _TOKEN.findall(term)
        if tokens:  # a term of punctuation alone identifies nobody
            by_first.setdefault(tokens[0], []).append(term)
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in by_first.items()}


def _spans(text: str, index: TermIndex, digit_runs: tuple[str, ...]) -> list[tuple[int, int]]:
    low = text.lower()
    spans = []
    candidates = [t for tok in set(_TOKEN.findall(low)) if tok in index for t in index[tok]]
    if len(low) != len(text):  # case folding changed lengths: match on the text itself
        for term in candidates:
            pattern = re.compile(re.escape(term), re.IGNORECASE)
            spans += [m.span() for m in pattern.finditer(text) if _bounded(text, *m.span())]
        candidates = []
    for term in candidates:
        idx = low.find(term)
        while idx >= 0:
            end = idx + len(term)
            if _bounded(low, idx, end):
                spans.append((idx, end))
            idx = low.find(term, idx + 1)
    if digit_runs and _SEVEN_DIGITS.search(text):
        spans.extend(_digit_spans(text, digit_runs))
    return spans


_DIGIT_SEPARATORS = frozenset(" \t().+/-")


def _digit_spans(text: str, runs: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where a digit run appears with up to three separators between its digits:
    5551234567 ~ (555) 123-4567, 1234567 ~ 12 34 567; not inside a longer number."""
    where = [i for i, c in enumerate(text) if c.isdigit()]
    digits = "".join(text[i] for i in where)
    spans = []
    for run in runs:
        k = digits.find(run)
        while k >= 0:
            pos = where[k : k + len(run)]
            gaps_ok = all(
                b - a <= 4 and all(c in _DIGIT_SEPARATORS for c in text[a + 1 : b])
                for a, b in itertools.pairwise(pos)
            )
            start, end = pos[0], pos[-1] + 1
            alone = (start == 0 or not text[start - 1].isdigit()) and (
                end == len(text) or not text[end].isdigit()
            )
            if gaps_ok and alone:
                spans.append((start, end))
            k = digits.find(run, k + 1)
    return spans


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        out.append(text[pos : max(start, pos)])
        pos = end
    out.append(text[pos:])
    return "".join(out)


class DenyListCleaner:
    """A per-file text cleaner. Holds originals in memory only; never prints them."""

    __slots__ = ("_digit_runs", "_index", "_scan_terms")

    def __init__(self, index: TermIndex, digit_runs: frozenset[str], scan_terms: set[str]) -> None:
        self._index = index
        self._digit_runs = tuple(sorted(digit_runs, key=lambda t: (-len(t), t)))
        self._scan_terms = tuple(sorted(scan_terms))

    def __repr__(self) -> str:
        return f"DenyListCleaner({sum(map(len, self._index.values()))} terms)"

    @property
    def scan_terms(self) -> tuple[str, ...]:
        return self._scan_terms

    def scrub(self, text: str) -> str:
        spans = _spans(text, self._index, self._digit_runs)
        if not spans:
            return text
        return _tidy(_cut(text, spans), text)

    def clean(self, text: str) -> str:
        scrubbed = self.scrub(text)
        if not _PATTERN_HINT.search(scrubbed):  # every pattern needs a digit, '@' or '^'
            return scrubbed
        return _tidy(_PATTERNS.sub("", scrubbed), text)


def _tidy(new: str, old: str) -> str:
    if new == old:
        return old
    return _SPACES.sub(" ", new).strip(" ,;:-")


@lru_cache(maxsize=512)
def _identity_terms(
    names: tuple[str, ...],
    identifiers: tuple[str, ...],
    places: tuple[str, ...],
    phones: tuple[str, ...],
    birth_dates: tuple[str, ...],
) -> tuple[TermIndex, frozenset[str], frozenset[str]]:
    """Terms from who and where: the same for every file of a patient's study (cached)."""
    terms: set[str] = set()
    digit_runs: set[str] = set()
    for name in names:
        terms |= _name_terms(name)
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
    for date in birth_dates:
        terms |= date_forms(date)
    terms = {t for t in terms if len(t) >= 2}
    scan = _minimal({t for t in terms if len(t.encode("utf-8")) >= MIN_SCAN_TERM} | digit_runs)
    return _index(terms), frozenset(digit_runs), frozenset(scan)


def _implies(short: str, long: str) -> bool:
    """Whether every place the byte scan reports ``long``, it also reports ``short``."""
    low_s, low_l = short.lower(), long.lower()
    idx = low_l.find(low_s)
    while idx >= 0:
        end = idx + len(low_s)
        inner = idx > 0 and end < len(low_l)
        if len(low_s) >= UNBOUNDED_SCAN_TERM or (
            (inner or len(low_l) < UNBOUNDED_SCAN_TERM) and _bounded(low_l, idx, end)
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


def build_cleaner(values: IdentifyingValues) -> DenyListCleaner:
    index, digit_runs, scan_base = _identity_terms(
        tuple(values.names), tuple(values.identifiers), tuple(values.places),
        tuple(values.phones), tuple(values.birth_dates),
    )  # fmt: skip
    scan = set(scan_base)
    dates = {d.strip()[:8] for d in values.dates}  # the DICOM form is what a header carries
    dates = {d for d in dates if len(d) == 8 and d.isdigit()}
    if dates:
        index = dict(index)
        for d in dates:
            index[d] = tuple(sorted({*index.get(d, ()), d}, key=len, reverse=True))
        scan |= dates
    # Original UIDs are searched for in the output bytes; in free text they are rare
    # enough that the byte scan (which quarantines) is the right guard.
    scan |= {u for u in values.uids if len(u) >= 8}
    return DenyListCleaner(index, digit_runs, scan)
