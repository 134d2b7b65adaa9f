"""Generate imagedeid's known burned-in regions library from the RSNA CTP pixel script.

Input (read-only, never shipped with the package):

* ``shared/reference/ctp-burned-in-regions.script`` -- the "Burned-in Annotation
  Library", a script for the RSNA Clinical Trial Processor (CTP) DicomPixelAnonymizer.

Outputs (package data, committed to the repository):

* ``src/imagedeid/policy/data/burned_in_regions.json``
* the ``burned_in_regions.json`` section at the end of
  ``src/imagedeid/policy/data/README.md`` (everything from its heading on is rewritten;
  the text before it is kept as it is)

Run from the repository root::

    .venv/bin/python tools/gen_burned_in_regions.py [--shared PATH]

The script fails (exit status 1, message on stderr) on anything it does not
understand; no signature is ever dropped silently.

What CTP does, and so what this script reproduces (read in the CTP sources,
github.com/johnperry/CTP, and the MIRC wiki page "The CTP DICOM Pixel Anonymizer"):

* Splitting (``stdstages/anonymizer/dicom/PixelScript.java``, ``getSignatures``): every
  ``{...}`` (regex ``\\{[^\\}]*\\}``) is one signature; every ``(...)`` (regex
  ``\\([^\\)]*\\)``) between the end of a signature and the start of the next (or the end
  of the file) is one of its regions, ``(x,y,w,h)``; CTP skips, with a warning, a
  parenthesised text that does not split into four numbers -- here it is an error.
  All other text is comment ("Comments may not contain either braces or parentheses",
  wiki); here a stray brace is an error too.
* Matching (``PixelScript.getMatchingSignature`` and ``stdstages/DicomPixelAnonymizer.java``
  ``process``): the signatures are tried in file order and only the regions of the
  **first** matching signature are blanked; later signatures are not looked at, even
  when the first match has no regions. The wiki says the same: "blanks all the regions
  in the image associated with the first matching signature".
* The condition language (``objects/DicomObject.java``: ``matches``, ``expression``,
  ``parse``, ``pushOperator``, ``unstack``, ``Tokenizer``, ``Operator``, ``Operand``):
  ``*`` is AND, ``+`` is OR, ``!`` is a prefix NOT; precedence ``!`` > ``*`` > ``+``, binary
  operators left-associative, parentheses group; ``//`` starts a comment to the end of
  the line; ``true`` and ``false`` are constants. An operand starts with ``[`` or a
  letter and reads ``Identifier.method("value")``. The methods are ``equals``,
  ``equalsIgnoreCase``, ``matches`` (Java regex), ``contains``, ``containsIgnoreCase``,
  ``startsWith``, ``startsWithIgnoreCase``, ``endsWith``, ``endsWithIgnoreCase`` and the
  numeric ``isLessThan`` / ``isGreaterThan`` (both sides lowercased, every character but
  ``0-9`` and ``.`` removed, parsed as doubles; a parse failure is false). An unknown
  method or an unquoted value is false; a script that does not parse makes the whole
  signature false. This script refuses all three instead, and ``matches`` (a Java
  regex, which Python's ``re`` does not reproduce exactly).
* Element values (``DicomObject.getElementValue``): the identifier is a dcm4che keyword or a
  tag ``[gggg,eeee]``; the value is the element's string, multiple values joined with
  ``\\``; numbers (e.g. Rows, US) as decimal text, so ``Rows.equals("512")`` is a string
  comparison; group 0002 is read from the file meta information; only the top-level
  data set is read. A **missing (or unknown) element reads as the empty string**, and the
  predicate is then evaluated on ``""`` (so ``!X.contains("a")`` is true when X is absent).
* Regions (``Regions.java``, ``DICOMPixelAnonymizer.blankRegions``): ``(x,y,w,h)`` in
  pixels, clipped to the image; CTP blanks columns ``x..x+w`` and rows ``y..y+h``
  inclusive (one pixel more than ``w`` by ``h``). A negative x or y counts from the
  right or bottom edge; none occurs in the library, and this script refuses them.

Quirk refused here: CTP's operator stack evaluates ``!!A`` as ``!A`` and ignores the
left-over operator; a condition that leaves tokens unused is an error here.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import datadict

# The sibling generator's paths, JSON layout and command line (also when a test loads
# this file by path, with tools/ not on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy_data import DATA_DIR, dump_json, parse_args, write_text

GENERATED_BY = "tools/gen_burned_in_regions.py"

SOURCE_PATH = Path("reference") / "ctp-burned-in-regions.script"
OUTPUT = "burned_in_regions.json"
SOURCE = "RSNA CTP DicomPixelAnonymizer script, Burned-in Annotation Library"
README_HEADING = f"## `{OUTPUT}`"
RULE_PREFIX = "ctp:"

# The methods CTP's Operand knows, less "matches" (a Java regex).
STRING_METHODS = frozenset(
    {
        "equals",
        "equalsIgnoreCase",
        "contains",
        "containsIgnoreCase",
        "startsWith",
        "startsWithIgnoreCase",
        "endsWith",
        "endsWithIgnoreCase",
        "isLessThan",
        "isGreaterThan",
    }
)

_SIGNATURE_RE = re.compile(r"\{[^}]*\}")  # PixelScript: "\\{[^\\}]*\\}"
_PAREN_RE = re.compile(r"\([^)]*\)")  # PixelScript: "\\([^\\)]*\\)"
_REGION_RE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)")
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_TAG_RE = re.compile(r"\[\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\]")
_STARS_RE = re.compile(r"\s*\*{3,}\s*")

# CTP's Operator: ops = "?+*!", prec = {0,1,2,3}; "?" is the sentinel.
_PRECEDENCE = {"?": 0, "+": 1, "*": 2, "!": 3}
_BINARY = {"+": "or", "*": "and"}


class SourceError(Exception):
    """The script holds something this generator does not know how to convert."""


# --------------------------------------------------------------------------- #
# Attribute names
# --------------------------------------------------------------------------- #


def normalise_attribute(identifier: str, where: str) -> str:
    """A DICOM keyword, or ``gggg,eeee`` for private, repeating-group and unknown tags."""
    if _KEYWORD_RE.fullmatch(identifier):
        if datadict.tag_for_keyword(identifier) is None:
            raise SourceError(f"{where}: {identifier!r} is not a keyword in pydicom's dictionary")
        return identifier
    match = _TAG_RE.fullmatch(identifier)
    if match is None:
        raise SourceError(
            f"{where}: element {identifier!r} is neither a keyword nor a [gggg,eeee] tag "
            "(sequence paths and private block names are not supported)"
        )
    tag_text = f"{match.group(1)},{match.group(2)}".lower()
    tag = int(match.group(1) + match.group(2), 16)
    if (tag >> 16) % 2 == 1:
        return tag_text  # private: matched by number, exactly as CTP reads it
    keyword = datadict.keyword_for_tag(tag)
    if keyword and datadict.tag_for_keyword(keyword) == tag:
        return str(keyword)
    # Repeating groups (60xx overlays, 50xx curves) have keywords that do not name
    # the group, and unknown tags have none: keep the exact tag CTP reads.
    return tag_text


# --------------------------------------------------------------------------- #
# The condition language (a transcription of DicomObject.matches)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Token:
    kind: str  # "operand", "op", "lp", "rp", "end", "unknown"
    op: str = ""
    node: Any = None


class Tokenizer:
    def __init__(self, script: str, where: str) -> None:
        self.script = script
        self.where = where
        self.index = 0
        self.next = self._token()

    def consume(self) -> Token:
        token = self.next
        self.next = self._token()
        return token

    def expect(self, kind: str) -> None:
        if self.next.kind != kind:
            raise SourceError(
                f"{self.where}: {kind} expected but {self.next.kind} found at offset "
                f"{self.index}; CTP cannot parse this signature (it would never match)"
            )
        self.consume()

    def _skip_whitespace(self) -> None:
        script = self.script
        while self.index < len(script):
            char = script[self.index]
            if char == "/" and script.startswith("//", self.index):
                end = script.find("\n", self.index)
                self.index = len(script) if end < 0 else end + 1
            elif char.isspace():
                self.index += 1
            else:
                return

    def _char(self) -> str:
        if self.index < len(self.script):
            self.index += 1
            return self.script[self.index - 1]
        return ""

    def _field(self, delimiter: str) -> str:
        """CTP's Operand.getField: read up to ``delimiter`` outside double quotes."""
        text: list[str] = []
        in_quote = False
        while (char := self._char()) != "":
            if char == '"':
                in_quote = not in_quote
            if not in_quote and char == delimiter:
                break
            text.append(char)
        return "".join(text)

    def _token(self) -> Token:
        self._skip_whitespace()
        if self.index >= len(self.script):
            return Token("end")
        char = self.script[self.index]
        if char == "[" or char.isalpha():
            return Token("operand", node=self._operand())
        if char in "()":
            self.index += 1
            return Token("lp" if char == "(" else "rp")
        if char in "+*!":
            self.index += 1
            return Token("op", op=char)
        return Token("unknown", op=char)

    def _operand(self) -> dict[str, Any]:
        identifier = self._field(".").strip()
        if identifier in ("true", "false"):
            return {"const": identifier == "true"}
        method = self._field("(").strip()
        quoted = self._field(")").strip()
        label = f"{self.where}: {identifier}.{method}"
        if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            raise SourceError(f"{label}: the value is not a double-quoted string (CTP: false)")
        if method not in STRING_METHODS:
            raise SourceError(
                f"{label}: unknown or unsupported method; supported: {sorted(STRING_METHODS)}"
            )
        attr = normalise_attribute(identifier, self.where)
        return {"attr": attr, "op": method, "value": quoted[1:-1]}


def _push_operator(op: str, ops: list[str], out: list[Token]) -> None:
    while _PRECEDENCE[ops[-1]] >= _PRECEDENCE[op]:  # Operator.isHigherThan: p >= q.p
        out.append(Token("op", op=ops.pop()))
    ops.append(op)


def _parse(t: Tokenizer, ops: list[str], out: list[Token]) -> None:
    if t.next.kind == "operand":
        out.append(t.consume())
    elif t.next.kind == "lp":
        t.consume()
        ops.append("?")
        _expression(t, ops, out)
        t.expect("rp")
        ops.pop()
    elif t.next.kind == "op" and t.next.op == "!":
        _push_operator("!", ops, out)
        t.consume()
        _parse(t, ops, out)
    else:
        shown = t.next.op or t.next.kind
        raise SourceError(
            f"{t.where}: unexpected {shown!r} at offset {t.index}; "
            "CTP cannot parse this signature (it would never match)"
        )


def _expression(t: Tokenizer, ops: list[str], out: list[Token]) -> None:
    _parse(t, ops, out)
    while t.next.kind == "op" and t.next.op in _BINARY:
        _push_operator(t.next.op, ops, out)
        t.consume()
        _parse(t, ops, out)
    while ops[-1] != "?":
        out.append(Token("op", op=ops.pop()))


def _combine(name: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for part in (left, right):
        parts.extend(part.get(name, [part]))
    return {name: parts}


def _unstack(stack: list[Token], where: str) -> dict[str, Any]:
    """CTP's unstack, building the tree instead of the value (operands in source order)."""
    if not stack:
        raise SourceError(f"{where}: operator without operand")
    token = stack.pop()
    if token.kind == "operand":
        node: dict[str, Any] = token.node
        return node
    if token.op == "!":
        return {"not": _unstack(stack, where)}
    right = _unstack(stack, where)
    left = _unstack(stack, where)
    return _combine(_BINARY[token.op], left, right)


def parse_condition(script: str, where: str) -> dict[str, Any]:
    tokenizer = Tokenizer(script, where)
    ops = ["?"]
    out: list[Token] = []
    _expression(tokenizer, ops, out)
    tokenizer.expect("end")
    tree = _unstack(out, where)
    if out:
        raise SourceError(f"{where}: CTP would ignore part of this condition (e.g. '!!')")
    return tree


def condition_attributes(node: dict[str, Any]) -> set[str]:
    if "attr" in node:
        return {node["attr"]}
    if "not" in node:
        return condition_attributes(node["not"])
    children = node.get("and", node.get("or", []))
    return set().union(*(condition_attributes(child) for child in children))


# --------------------------------------------------------------------------- #
# The script file
# --------------------------------------------------------------------------- #


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def section_titles(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, title) of each title framed by lines of asterisks."""
    titles = []
    for i in range(1, len(lines) - 1):
        framed = _STARS_RE.fullmatch(lines[i - 1]) and _STARS_RE.fullmatch(lines[i + 1])
        if framed and lines[i].strip():
            titles.append((i + 1, " ".join(lines[i].split())))
    return titles


def parse_regions(text: str, where: str) -> list[list[int]]:
    regions = []
    for match in _PAREN_RE.finditer(text):
        region = _REGION_RE.fullmatch(match.group())
        if region is None:
            raise SourceError(
                f"{where}: {match.group()!r} is not a region (x,y,w,h) of non-negative "
                "integers (CTP would skip it with a warning, or count negative x/y from "
                "the right/bottom edge)"
            )
        x, y, w, h = (int(value) for value in region.groups())
        if w == 0 or h == 0:
            raise SourceError(f"{where}: region {match.group()!r} is empty")
        regions.append([x, y, w, h])
    return regions


def comment_before(text: str, start: int, end: int, titles: list[tuple[int, str]]) -> str:
    """The free text before a signature (vendor, model), after any section heading."""
    first = line_of(text, start)
    headings = [number for number, _ in titles if first <= number <= line_of(text, end)]
    skip_to = headings[-1] + 1 if headings else 0  # the heading and the asterisks under it
    kept = []
    for number, line in enumerate(text[start:end].split("\n"), start=first):
        cleaned = " ".join(_PAREN_RE.sub(" ", line).split())
        if number > skip_to and cleaned and not _STARS_RE.fullmatch(cleaned):
            kept.append(cleaned)
    return " / ".join(kept)


def build_regions(shared: Path) -> dict[str, Any]:
    path = shared / SOURCE_PATH
    raw = path.read_bytes()
    text = raw.decode("utf-8").replace("\r\n", "\n")
    titles = section_titles(text.split("\n"))
    matches = list(_SIGNATURE_RE.finditer(text))
    if not matches:
        raise SourceError(f"{path}: no signature found")

    entries: list[dict[str, Any]] = []
    previous_end = 0
    for index, match in enumerate(matches):
        line = line_of(text, match.start())
        rule = f"{RULE_PREFIX}{index + 1}"
        where = f"{SOURCE_PATH.as_posix()} line {line} ({rule})"
        next_start = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        region_text = text[match.end() : next_start]
        script = match.group()[1:-1]
        if "{" in script or "}" in text[previous_end : match.start()] or "{" in region_text:
            raise SourceError(f"{where}: unbalanced brace in or before this signature")
        if "}" in region_text:
            raise SourceError(f"{where}: stray '}}' after this signature")
        entries.append(
            {
                "rule": rule,
                "line": line,
                "section": next((t for n, t in reversed(titles) if n < line), ""),
                "comment": comment_before(text, previous_end, match.start(), titles),
                "script": " ".join(script.split()),
                "condition": parse_condition(script, where),
                "regions": parse_regions(region_text, where),
            }
        )
        # the comment of the next signature starts after this one's last region
        ends = [paren.end() for paren in _PAREN_RE.finditer(region_text)]
        previous_end = match.end() + (ends[-1] if ends else 0)

    return {
        "source": SOURCE,
        "source_file": f"shared/{SOURCE_PATH.as_posix()}",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "generated_by": GENERATED_BY,
        "match": "first",
        "entries": entries,
    }


# --------------------------------------------------------------------------- #
# Analysis, README and output
# --------------------------------------------------------------------------- #


def _conjuncts(node: dict[str, Any]) -> set[str] | None:
    """The predicates of a pure AND of predicates (as JSON text), else None."""
    parts = node.get("and", [node])
    if not all("attr" in part for part in parts):
        return None
    return {json.dumps(part, sort_keys=True) for part in parts}


def shadowed(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(later, earlier) pairs where the earlier signature matches whenever the later one does.

    Only pure conjunctions are compared: an earlier signature whose predicates are a
    subset of a later one's always wins, so the later one can never apply (first match).
    """
    found = []
    for i, later in enumerate(entries):
        later_set = _conjuncts(later["condition"])
        if later_set is None:
            continue
        for earlier in entries[:i]:
            earlier_set = _conjuncts(earlier["condition"])
            if earlier_set is not None and earlier_set <= later_set:
                found.append((later["rule"], earlier["rule"]))
                break
    return found


def render_readme_section(document: dict[str, Any]) -> str:
    entries = document["entries"]
    n_regions = sum(len(entry["regions"]) for entry in entries)
    attributes = sorted(set().union(*(condition_attributes(e["condition"]) for e in entries)))
    shadow_lines = "\n".join(
        f"- `{later}` (line {_line(entries, later)}) can never apply: `{earlier}` "
        f"(line {_line(entries, earlier)}) matches every image it matches."
        for later, earlier in shadowed(entries)
    )
    attribute_list = textwrap.fill(
        f"Conditions read {len(attributes)} attributes: "
        + ", ".join(f"`{a}`" for a in attributes)
        + ".",
        width=84,
    )
    return f"""{README_HEADING}

Generated by `{GENERATED_BY}`; do not edit by hand. Regenerate from
the repository root with

    .venv/bin/python {GENERATED_BY}            # reads ../shared
    .venv/bin/python {GENERATED_BY} --shared PATH

Known regions of burned-in annotation, converted from
`{document["source_file"]}` (sha256 `{document["source_sha256"][:16]}...`):
the "Burned-in Annotation Library", a script for the RSNA Clinical Trial Processor
(CTP) DicomPixelAnonymizer, compiled by RSNA (MIRC project) from users'
contributions; only its facts (which header values go with which pixel rectangles)
are carried over here. It is not complete: an image that matches no entry may
still carry burned-in text.

{len(entries)} signatures with {n_regions} rectangles, in the script's order.
{attribute_list}

- `rule`: `ctp:N`, the N-th signature of the script (1-based); `line`: the line of
  its opening brace; `section` and `comment`: the script's headings and notes
  before it (vendor, model), for people only.
- `script`: the signature's text, whitespace collapsed.
- `condition`: a tree of `{{"and": [...]}}`, `{{"or": [...]}}`, `{{"not": node}}`,
  `{{"const": true|false}}` and predicates `{{"attr", "op", "value"}}`. `attr` is a
  DICOM keyword, or `gggg,eeee` (lowercase hex) for private, repeating-group (60xx)
  and unknown tags; `[gggg,eeee]` references to standard tags became keywords.
  `op` is a CTP method: `equals`, `equalsIgnoreCase`, `contains`,
  `containsIgnoreCase`, `startsWith`(`IgnoreCase`), `endsWith`(`IgnoreCase`),
  `isLessThan`, `isGreaterThan`.
- `regions`: `[x, y, w, h]` in pixels, top-left origin.

CTP semantics kept (from CTP's `PixelScript.java`, `DicomObject.java`,
`DicomPixelAnonymizer.java`): only the **first** matching signature applies
(`"match": "first"`); a missing element reads as the empty string; values are
compared as text (multiple values joined with `\\`, Rows as `"512"`); group 0002
elements come from the file meta information; only top-level elements are read.
CTP blanks `x..x+w` by `y..y+h` inclusive, one pixel more each way than `w` by `h`.

Signatures that can never apply under first-match (an earlier one always wins):

{shadow_lines or "- none"}
"""


def _line(entries: list[dict[str, Any]], rule: str) -> int:
    return next(int(entry["line"]) for entry in entries if entry["rule"] == rule)


def readme_with_section(current: str, section: str) -> str:
    """``current`` up to this generator's heading (or all of it), then ``section``."""
    head = current.split(f"\n{README_HEADING}\n", 1)[0] if current else ""
    head = head.rstrip("\n")
    return f"{head}\n\n{section}" if head else section


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__)
    try:
        document = build_regions(args.shared)
    except (SourceError, OSError, UnicodeDecodeError) as exc:
        print(f"gen_burned_in_regions: {exc}", file=sys.stderr)
        return 1

    readme_path = DATA_DIR / "README.md"
    current = readme_path.read_text("utf-8") if readme_path.exists() else ""
    write_text(DATA_DIR / OUTPUT, dump_json(document))
    write_text(readme_path, readme_with_section(current, render_readme_section(document)))

    entries = document["entries"]
    for later, earlier in shadowed(entries):
        print(f"note: {later} can never apply, {earlier} (earlier) matches all it matches")
    n_regions = sum(len(entry["regions"]) for entry in entries)
    print(f"wrote {DATA_DIR / OUTPUT}: {len(entries)} signatures, {n_regions} rectangles")
    print(f"wrote {readme_path} (section {README_HEADING})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
