"""The package's policy data is what tools/gen_policy_data.py makes from shared/.

The generator is imported and run in memory (it has no output option, and the
committed files must not be rewritten by a test); its documents are compared with
the package files byte for byte. Independently of the generator, the table is also
compared row by row with the standard's JSON. Tests that need shared/ skip when it
is absent (e.g. in an sdist build).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

from imagedeid.model import Action, Option

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
TABLE_SOURCE = SHARED / "standard" / "ps3.15-table-e.1-1.json"
PRIVATE_SOURCE = SHARED / "reference" / "ctp-private-tag-dictionary.xml"
GENERATOR = REPO / "tools" / "gen_policy_data.py"

needs_table_source = pytest.mark.skipif(not TABLE_SOURCE.exists(), reason="shared/ is absent")
needs_all_sources = pytest.mark.skipif(
    not (TABLE_SOURCE.exists() and PRIVATE_SOURCE.exists()), reason="shared/ is absent"
)


def package_text(name: str) -> str:
    return resources.files("imagedeid.policy").joinpath("data", name).read_text("utf-8")


TABLE = json.loads(package_text("ps315_table_e1_1.json"))
SAFE = json.loads(package_text("safe_private.json"))
COLUMNS = {opt.table_column for opt in Option}


def load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_policy_data", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@needs_all_sources
def test_package_data_equals_a_fresh_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = load_generator(monkeypatch)
    report = gen.Report([])
    table = gen.build_table(SHARED, report)
    safe = gen.build_safe_private(SHARED, report)
    assert gen.dump_json(table) == package_text("ps315_table_e1_1.json")
    assert gen.dump_json(safe) == package_text("safe_private.json")
    assert package_text("README.md").startswith(gen.render_readme(table, safe))


def _normalise(tag: str) -> str:
    if tag.upper().startswith("(GGGG,EEEE)"):
        return "private"
    return re.sub(r"[(),]", "", tag).lower()


@needs_table_source
def test_table_rows_match_the_standard_json() -> None:
    source: list[dict[str, Any]] = json.loads(TABLE_SOURCE.read_text("utf-8"))
    ours = {row["tag"]: row for row in TABLE["rows"]}
    assert len(source) == len(ours) == 621
    for raw in source:
        row = ours[_normalise(raw["tag"])]
        assert row["basic"] == raw["basicProfile"], row["tag"]
        expected = {c: raw[c] for c in COLUMNS if c in raw}
        assert row["options"] == expected, row["tag"]
        unknown = set(raw) - COLUMNS - {"tag", "name", "id", "stdCompIOD", "basicProfile"}
        assert not unknown, f"{raw['tag']}: columns not accounted for: {sorted(unknown)}"


def test_table_shape() -> None:
    rows = TABLE["rows"]
    assert len(rows) == 621
    assert TABLE["edition"] == "2024e"
    tags = [row["tag"] for row in rows]
    assert tags == sorted(tags) and len(set(tags)) == len(tags)
    codes = {a.value for a in Action}
    for row in rows:
        assert re.fullmatch(r"[0-9a-fx]{8}|private", row["tag"]), row["tag"]
        assert row["basic"] in codes, row["tag"]
        assert set(row["options"]) <= COLUMNS, row["tag"]
        assert set(row["options"].values()) <= {"K", "C"}, row["tag"]


def test_every_option_column_is_used() -> None:
    used = Counter(col for row in TABLE["rows"] for col in row["options"])
    assert set(used) == COLUMNS
    assert (
        used[Option.RETAIN_LONGITUDINAL_FULL_DATES.table_column]
        == used[Option.RETAIN_LONGITUDINAL_MODIFIED_DATES.table_column]
    )


def test_keywords_and_vrs_come_from_the_dictionary() -> None:
    for row in TABLE["rows"]:
        if row["tag"] == "private" or "x" in row["tag"]:
            continue
        tag = int(row["tag"], 16)
        assert row["keyword"] == keyword_for_tag(tag), row["tag"]
        assert row["vr"] == dictionary_VR(tag), row["tag"]


def test_readme_names_source_and_edition() -> None:
    readme = package_text("README.md")
    assert "2024e" in readme and "innolitics" in readme and "621 rows" in readme


def test_safe_private_entries() -> None:
    entries = SAFE["entries"]
    assert entries
    keys = [(e["group"], e["creator"], e["element"]) for e in entries]
    assert len(set(keys)) == len(keys)
    for e in entries:
        assert e["disposition"] in ("K", "KB"), e
        assert re.fullmatch(r"[0-9a-f]{4}", e["group"]) and int(e["group"], 16) % 2 == 1, e
        assert re.fullmatch(r"[0-9a-f]{2}", e["element"]), e
        assert e["creator"] and e["creator"] == e["creator"].strip(), e
        assert re.fullmatch(r"[A-Z]{2}", e["vr"]), e
