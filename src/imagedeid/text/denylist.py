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
from collections.abc import Set as AbstractSet
from functools import lru_cache

from imagedeid.model import IdentifyingValues
from imagedeid.text.terms import TOKEN, TermIndex, bounded, identity_terms

# An e-mail address identifies someone wherever it stands: even attributes that are only
# scrubbed of the file's own values (codes' meanings, the manufacturer) lose it.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z][\w-]*")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
# Dates as people write them. Scrubbing removes them too (attributes outside the table,
# a code's meaning) wherever the profile does not keep dates: a file's own dates may be
# written in any of these forms, and one date costs one pattern, not forty terms.
_DATES = re.compile(
    "|".join(
        [
            r"(?<!\d)(?:19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])(?!\d)",
            # 2019-7-4
            rf"(?<!\d)(?:19|20)\d\d(?P<sep>[-/.])(?:0?[1-9]|1[0-2])(?P=sep){_DAY}(?!\d)",
            rf"(?<!\d){_DAY}[-/.]{_DAY}[-/.](?:19|20)?\d\d(?!\d)",  # 07/04/2019, 4.7.19
            rf"(?i:(?<![a-z\d]){_MONTH}[\s-]*{_DAY}(?:st|nd|rd|th)?,?[\s-]*(?:19|20)\d\d(?!\d))",
            rf"(?i:(?<![a-z\d]){_DAY}(?:st|nd|rd|th)?[\s-]*{_MONTH}[\s-]*(?:19|20)?\d\d(?!\d))",
        ]
    )
)
_DIGIT = re.compile(r"\d")
_PATTERNS = re.compile(
    "|".join(
        [
            _EMAIL.pattern,
            r"(?<!\w)\w+\^\w+(?:\^\w*)*",  # LAST^FIRST
            _DATES.pattern,
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
# Connectors and titles a cut-out name leaves hanging ("for", "by", "ref", "Dr."). Titles
# only as written in mixed case: "MR." and "DR." in capitals end sentences about an MR
# exam or diabetic retinopathy, and "on", "at", "re", "ms" are clinical abbreviations.
_HANGING_WORD = re.compile(
    r"(?i:for|by|of|to|from|with|per|and|attn|ref)\.?|(?:Dr|Mr|Mrs|Ms|Prof)\.?"
)
_TAIL_PUNCT = " ,;:-"
# Every pattern below starts only where a run begins ((?<!...)), so a text of thousands
# of spaces or commas costs linear time, never quadratic.
_GAP = re.compile(r"(?<!\s)\s+(?=[.,;:!?](?:\s|$))")  # "Seen by ." : a cut before a stop
_EMPTY_BRACKETS = re.compile(r"(?<!\s)\s*(?:\(\s*\)|\[\s*\]|\{\s*\}|<\s*>)")  # "CT (<name>)"
_COMMA_STOP = re.compile(r"(?<![,;:])[,;:]+\s*(?=[.!?])")  # "Seen, ." -> "Seen."
_COMMA_RUN = re.compile(r"([,;:])(?:\s*[,;:])+")  # "CT, , MR" -> "CT, MR"


def _drop_hanging(text: str) -> str:
    """``text`` without the connectors and titles hanging at its end ("CT HEAD for" ->
    "CT HEAD"); a word at the very start stays. Walks back word by word: linear."""
    end = len(text)
    while True:
        while end and (text[end - 1] in _TAIL_PUNCT or text[end - 1].isspace()):
            end -= 1
        start = end
        while start and not text[start - 1].isspace():
            start -= 1
        if start == 0 or _HANGING_WORD.fullmatch(text, start, end) is None:
            return text[:end]
        end = start


def _close_gaps(text: str) -> str:
    """Each gap a cut left before punctuation goes, with the words left hanging before
    it: "Seen by . Normal." -> "Seen. Normal." """
    out, pos = [], 0
    for gap in _GAP.finditer(text):
        out.append(_drop_hanging(text[pos : gap.start()]))
        pos = gap.end()
    out.append(text[pos:])
    return "".join(out)


_SEVEN_DIGITS = re.compile(r"\d(?:\D{0,3}\d){6}")


def _spans(text: str, index: TermIndex, digit_runs: tuple[str, ...]) -> list[tuple[int, int]]:
    low = text.lower()
    spans = []
    candidates = [t for tok in set(TOKEN.findall(low)) if tok in index for t in index[tok]]
    if len(low) != len(text):  # case folding changed lengths: match on the text itself
        for term in candidates:
            pattern = re.compile(re.escape(term), re.IGNORECASE)
            spans += [m.span() for m in pattern.finditer(text) if bounded(text, *m.span())]
        candidates = []
    for term in candidates:
        idx = low.find(term)
        while idx >= 0:
            end = idx + len(term)
            if bounded(low, idx, end):
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


# A deny-list remembers its answers for up to this many texts of up to this length
# (the texts of a series repeat); memory stays small however many files are seen.
_MEMO_SIZE = 512
_MEMO_TEXT = 512


class DenyList:
    """The text half of a cleaner: one set of identifying values as terms, shared by the
    files that carry the same values (a series, often a study). It remembers its answers:
    the same text always cleans the same way, and a series repeats its texts."""

    __slots__ = ("_cleaned", "_dates", "_digit_runs", "_index", "_scrubbed")

    def __init__(self, index: TermIndex, digit_runs: frozenset[str], dates: bool = False) -> None:
        self._index = index
        self._dates = dates  # the profile does not keep dates: scrubbing removes them
        self._digit_runs = tuple(sorted(digit_runs, key=lambda t: (-len(t), t)))
        self._scrubbed: dict[str, str] = {}
        self._cleaned: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"DenyList({sum(map(len, self._index.values()))} terms)"

    def scrub(self, text: str) -> str:
        out = self._scrubbed.get(text)
        if out is None:
            spans = _spans(text, self._index, self._digit_runs)
            if "@" in text:
                spans += [m.span() for m in _EMAIL.finditer(text)]
            if self._dates and _DIGIT.search(text):
                spans += [m.span() for m in _DATES.finditer(text)]
            out = _tidy(_cut(text, spans), text) if spans else text
            _remember(self._scrubbed, text, out)
        return out

    def clean(self, text: str) -> str:
        out = self._cleaned.get(text)
        if out is None:
            out = self.scrub(text)
            if _PATTERN_HINT.search(out):  # every pattern needs a digit, '@' or '^'
                out = _tidy(_PATTERNS.sub("", out), text)
            _remember(self._cleaned, text, out)
        return out


def _remember(memo: dict[str, str], text: str, out: str) -> None:
    if len(text) <= _MEMO_TEXT:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[text] = out


class DenyListCleaner:
    """A per-file text cleaner: a (shared) deny-list and the file's own scan terms.
    Holds originals in memory only; never prints them."""

    __slots__ = ("_deny", "_scan_terms")

    def __init__(self, deny: DenyList, scan_terms: AbstractSet[str]) -> None:
        self._deny = deny
        self._scan_terms = tuple(sorted(scan_terms))

    def __repr__(self) -> str:
        return f"DenyListCleaner({self._deny!r})"

    @property
    def scan_terms(self) -> tuple[str, ...]:
        return self._scan_terms

    def scrub(self, text: str) -> str:
        return self._deny.scrub(text)

    def clean(self, text: str) -> str:
        return self._deny.clean(text)


def _tidy(new: str, old: str) -> str:
    """The text once spans were cut out of it: spaces closed up, and no connector, title,
    empty bracket or stray comma left where a cut was. Each repair is made only where the
    original text had nothing of the kind itself."""
    if new == old:
        return old
    out = _SPACES.sub(" ", new).strip(_TAIL_PUNCT)
    tail_cut = new[-1:].isspace() and not old[-1:].isspace()  # the text's tail was cut out
    for _ in range(4):  # one repair can expose another: "(<name>) for <name>."
        before = out
        if not _EMPTY_BRACKETS.search(old):
            out = _EMPTY_BRACKETS.sub("", out)
        if not _GAP.search(old):
            out = _close_gaps(out)
        if not _COMMA_STOP.search(old):
            out = _COMMA_STOP.sub("", out)
        if not _COMMA_RUN.search(old):
            out = _COMMA_RUN.sub(r"\1", out)
        if tail_cut or (out != before and before.startswith(out)):  # a repair cut the tail
            out = _drop_hanging(out)  # "CT HEAD for <name>" -> "CT HEAD"
        out = out.strip(_TAIL_PUNCT)
        if out == before:
            break
    return out


@lru_cache(maxsize=32)
def _deny_list(
    identity: tuple[tuple[str, ...], ...], dates: frozenset[str]
) -> tuple[DenyList, frozenset[str]]:
    """The deny-list and the scan terms of a file's identity and dates (cached: the
    files of a series share them)."""
    index, digit_runs, scan_base = identity_terms(*identity)
    if dates:
        index = dict(index)
        for d in dates:
            index[d] = tuple(sorted({*index.get(d, ()), d}, key=len, reverse=True))
    return DenyList(index, digit_runs, bool(dates)), scan_base | dates


def build_cleaner(values: IdentifyingValues) -> DenyListCleaner:
    identity = (
        tuple(values.names), tuple(values.identifiers), tuple(values.places),
        tuple(values.phones), tuple(values.birth_dates),
    )  # fmt: skip
    dates = {d.strip()[:8] for d in values.dates}  # the DICOM form is what a header carries
    deny, scan_base = _deny_list(
        identity, frozenset(d for d in dates if len(d) == 8 and d.isdigit())
    )
    # Original UIDs are searched for in the output bytes; in free text they are rare
    # enough that the byte scan (which quarantines) is the right guard.
    return DenyListCleaner(deny, scan_base | {u for u in values.uids if len(u) >= 8})
