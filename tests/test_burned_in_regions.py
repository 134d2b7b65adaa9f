"""The known burned-in regions library: generated data, and CTP's matching semantics.

The package file must equal what tools/gen_burned_in_regions.py makes from shared/
now (the generator runs in memory; nothing is rewritten). Signatures and rectangles
are also counted straight from the script with plain regexes, independently of the
generator. Tests that need shared/ skip when it is absent (e.g. in an sdist build).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword

from imagedeid.errors import PolicyError
from imagedeid.policy import regions
from imagedeid.policy.regions import Region, condition_from_json, evaluate, known_regions

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
SCRIPT = SHARED / "reference" / "ctp-burned-in-regions.script"
GENERATOR = REPO / "tools" / "gen_burned_in_regions.py"

needs_script = pytest.mark.skipif(not SCRIPT.exists(), reason="shared/ is absent")


def package_text(name: str) -> str:
    return resources.files("imagedeid.policy").joinpath("data", name).read_text("utf-8")


DATA = json.loads(package_text("burned_in_regions.json"))


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_burned_in_regions", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def rects(*boxes: tuple[int, int, int, int], rule: str) -> tuple[Region, ...]:
    return tuple(Region(x, y, w, h, rule) for x, y, w, h in boxes)


# --------------------------------------------------------------------------- #
# The data file against the source
# --------------------------------------------------------------------------- #


@needs_script
def test_package_data_equals_a_fresh_generation(gen: ModuleType) -> None:
    document = gen.build_regions(SHARED)
    assert gen.dump_json(document) == package_text("burned_in_regions.json")
    section = gen.render_readme_section(document)
    assert package_text("README.md").endswith("\n\n" + section)


@needs_script
def test_every_signature_and_rectangle_of_the_script_is_there() -> None:
    text = SCRIPT.read_text("utf-8")
    opening_lines = [n for n, line in enumerate(text.split("\n"), start=1) if "{" in line]
    boxes = re.findall(r"\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)", text)
    entries = DATA["entries"]
    assert text.count("{") == text.count("}") == len(entries) == 52
    assert [entry["line"] for entry in entries] == opening_lines
    assert [entry["rule"] for entry in entries] == [f"ctp:{n}" for n in range(1, 53)]
    flat = [tuple(box) for entry in entries for box in entry["regions"]]
    assert flat == [tuple(int(v) for v in box) for box in boxes]
    assert len(flat) == 62


@needs_script
def test_every_predicate_of_the_script_is_in_its_condition() -> None:
    text = SCRIPT.read_text("utf-8")
    scripts = re.findall(r"\{([^}]*)\}", text)

    def count(node: dict[str, Any]) -> int:
        if "attr" in node:
            return 1
        if "not" in node:
            return count(node["not"])
        return sum(count(child) for child in node.get("and", node.get("or", [])))

    for source, entry in zip(scripts, DATA["entries"], strict=True):
        calls = re.findall(r'\.\s*\w+\s*\(\s*"', source)
        assert count(entry["condition"]) == len(calls), entry["rule"]


def test_attributes_are_keywords_or_tags() -> None:
    names = regions.needed_keywords()
    for name in names:
        assert tag_for_keyword(name) is not None or re.fullmatch(r"[0-9a-f]{4},[0-9a-f]{4}", name)
    assert {"Manufacturer", "ManufacturerModelName", "Rows", "Columns", "Modality"} <= names
    # [0008,0070] / [0018,1030] became keywords; the overlay tag stays a tag
    assert {"ProtocolName", "6000,0022"} <= names
    assert not any(name.startswith(("[", "(")) for name in names)


def test_library_loads() -> None:
    sigs = regions.signatures()
    assert len(sigs) == 52 and DATA["match"] == "first"
    assert sigs[22].rule == "ctp:23" and sigs[22].line == 161
    assert "US" in sigs[22].description and "IU22" in sigs[22].description


# --------------------------------------------------------------------------- #
# Real entries
# --------------------------------------------------------------------------- #

IU22 = {"Modality": "US", "Manufacturer": "Philips Medical Systems"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("480", rects((0, 0, 640, 47), rule="ctp:21")),
        ("768", rects((0, 0, 1024, 75), rule="ctp:22")),
        ("600", rects((0, 0, 800, 59), rule="ctp:23")),
    ],
)
def test_philips_iu22_by_image_size(rows: str, expected: tuple[Region, ...]) -> None:
    header = {**IU22, "ManufacturerModelName": "iU22", "Rows": rows, "Columns": "1024"}
    assert known_regions(header) == expected


def test_model_name_is_matched_ignoring_case_as_a_substring() -> None:
    header = {"ManufacturerModelName": "IU22 xMATRIX", "Rows": "600"}
    assert known_regions(header) == rects((0, 0, 800, 59), rule="ctp:23")


def test_siemens_antares_has_three_rectangles() -> None:
    header = {
        "Modality": "US",
        "Manufacturer": "SIEMENS",
        "ManufacturerModelName": "ACUSON Antares",
        "Rows": "768",
        "Columns": "1024",
    }
    expected = rects((0, 0, 1024, 60), (200, 60, 20, 20), (800, 65, 104, 14), rule="ctp:32")
    assert known_regions(header) == expected


def test_atl_hdi_5000() -> None:
    header = {
        "Modality": "US",
        "Manufacturer": "ATL",
        "ManufacturerModelName": "HDI 5000",
        "Rows": "476",
        "Columns": "640",
    }
    assert known_regions(header) == rects((40, 0, 200, 40), (240, 0, 190, 16), rule="ctp:30")


def test_canon_cxdi_radiograph_top_and_bottom() -> None:
    header = {"Manufacturer": "Canon Inc.", "ManufacturerModelName": "CXDI-70C", "Rows": "2592"}
    assert known_regions(header) == rects((0, 0, 2208, 80), (0, 2512, 2208, 80), rule="ctp:46")


def test_philips_gemini_pet_written_with_tags() -> None:
    header = {
        "Modality": "PT",
        "Manufacturer": "Philips Medical Systems",
        "ManufacturerModelName": "GEMINI TF",
        "Rows": "445",
        "Columns": "493",
    }
    assert known_regions(header) == rects((0, 0, 140, 55), rule="ctp:15")


def test_siemens_overlay_graphics_by_repeating_group_tag() -> None:
    header = {"6000,0022": "Siemens MedCom Object Graphics"}
    assert known_regions(header) == rects((0, 0, 512, 90), rule="ctp:13")
    assert known_regions({"OverlayDescription": "Siemens MedCom Object Graphics"}) == ()


def test_mindray_reads_the_file_meta_case_sensitively() -> None:
    assert known_regions({"Modality": "US", "ImplementationVersionName": "MINDRAY_2.1"}) == (
        rects((0, 0, 1229, 69), rule="ctp:17")
    )
    assert known_regions({"Modality": "US", "ImplementationVersionName": "Mindray_2.1"}) == ()


def test_vitrea_or_inside_and() -> None:
    base = {"Manufacturer": "Vital Images, Inc.", "Rows": "1041"}
    for description in ("AAA stent", "Worksheet REPORT"):
        header = {**base, "SeriesDescription": description}
        assert known_regions(header) == rects((0, 0, 795, 150), rule="ctp:9")
    assert known_regions({**base, "SeriesDescription": "Thorax"}) == ()


def test_multi_valued_image_type_is_joined_with_backslashes() -> None:
    header = {
        "ImageType": "DERIVED\\SECONDARY\\SCREEN SAVE",
        "Modality": "NM",
        "Manufacturer": "SIEMENS NM",
        "Rows": "882",
    }
    assert known_regions(header) == rects((0, 0, 1132, 65), rule="ctp:49")


# --------------------------------------------------------------------------- #
# Non-matches
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "header",
    [
        {"ManufacturerModelName": "iU23", "Rows": "600"},  # wrong model
        {"ManufacturerModelName": "iU22", "Rows": "601"},  # wrong size
        {"ManufacturerModelName": "iU22", "Rows": "600.0"},  # Rows compared as text
        {"ManufacturerModelName": "iU22", "Rows": " 600"},
        {"ManufacturerModelName": "iU22"},  # Rows missing
        {"Rows": "600"},  # model missing
        {"ManufacturerModelName": "iU22", "Rows": "six hundred"},
        {},
    ],
)
def test_no_match(header: dict[str, str]) -> None:
    assert known_regions(header) == ()


def test_toshiba_aquilion_dose_needs_every_condition() -> None:
    header = {
        "Modality": "CT",
        "Manufacturer": "TOSHIBA",
        "ManufacturerModelName": "Aquilion ONE",
        "ImageType": "DERIVED\\SECONDARY",
        "Columns": "512",
        "Rows": "512",
        "WindowWidth": "1",
    }
    assert known_regions(header) == rects((0, 0, 410, 240), rule="ctp:12")
    for key in header:
        reduced = {k: v for k, v in header.items() if k != key}
        assert known_regions(reduced) == (), key
    assert known_regions({**header, "Modality": "ct"}) == ()  # equals is case-sensitive


# --------------------------------------------------------------------------- #
# First match wins, as in CTP
# --------------------------------------------------------------------------- #


def test_first_matching_signature_wins_even_over_a_more_specific_one() -> None:
    ge = {"BurnedInAnnotation": "YES", "Manufacturer": "GE MEDICAL SYSTEMS", "Rows": "512"}
    assert known_regions(ge) == rects((0, 0, 512, 25), rule="ctp:5")
    # ctp:6 (AVA Report) is shadowed by ctp:5 in CTP too
    assert known_regions({**ge, "SeriesDescription": "AVA Report"}) == known_regions(ge)
    # an earlier signature (ctp:2, Dose Report) beats both
    dose = {**ge, "SeriesDescription": "Dose Report"}
    assert known_regions(dose) == rects((0, 0, 512, 110), rule="ctp:2")


def test_adac_dual_detector_never_reaches_its_own_entry() -> None:
    adac = {"Manufacturer": "ADAC", "Rows": "832", "Columns": "1024"}
    expected = rects((0, 0, 1024, 80), (0, 762, 1024, 80), rule="ctp:50")
    assert known_regions({**adac, "ProtocolName": "DUAL DETECTOR"}) == expected


@needs_script
def test_the_generator_reports_the_shadowed_signatures(gen: ModuleType) -> None:
    assert gen.shadowed(DATA["entries"]) == [("ctp:6", "ctp:5"), ("ctp:51", "ctp:50")]


# --------------------------------------------------------------------------- #
# The condition language (generator parser + matcher), per CTP's DicomObject
# --------------------------------------------------------------------------- #


def holds(gen: ModuleType, script: str, header: dict[str, str]) -> bool:
    return evaluate(condition_from_json(gen.parse_condition(script, "test"), "test"), header)


A = 'Modality.equals("US")'
B = 'Manufacturer.contains("GE")'
C = 'Rows.equals("600")'


def test_precedence_not_over_and_over_or(gen: ModuleType) -> None:
    tree = gen.parse_condition(f"{A} + {B} * !{C}", "test")
    a, b, c = (gen.parse_condition(s, "test") for s in (A, B, C))
    assert tree == {"or": [a, {"and": [b, {"not": c}]}]}
    assert gen.parse_condition(f"!{A} * {B}", "test") == {"and": [{"not": a}, b]}
    assert gen.parse_condition(f"({A} + {B}) * {C}", "test") == {"and": [{"or": [a, b]}, c]}
    assert gen.parse_condition(f"!({A} + {B})", "test") == {"not": {"or": [a, b]}}
    assert gen.parse_condition(f"{A} * {B} * {C}", "test") == {"and": [a, b, c]}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"Modality": "US"}, True),
        ({"Manufacturer": "GE", "Rows": "512"}, True),
        ({"Manufacturer": "GE", "Rows": "600"}, False),
        ({"Manufacturer": "Philips"}, False),
    ],
)
def test_and_or_not_evaluate_like_ctp(
    gen: ModuleType, header: dict[str, str], expected: bool
) -> None:
    assert holds(gen, f"{A} + {B} * !{C}", header) is expected


def test_a_missing_element_reads_as_empty_text(gen: ModuleType) -> None:
    assert holds(gen, '!Manufacturer.contains("GE")', {}) is True
    assert holds(gen, 'Manufacturer.equals("")', {}) is True
    assert holds(gen, 'Manufacturer.containsIgnoreCase("")', {}) is True
    assert holds(gen, 'Manufacturer.startsWith("G")', {}) is False


def test_methods(gen: ModuleType) -> None:
    header = {"Manufacturer": "GE Medical", "Rows": "512"}
    assert holds(gen, 'Manufacturer.equalsIgnoreCase("ge medical")', header)
    assert holds(gen, 'Manufacturer.startsWithIgnoreCase("ge ")', header)
    assert holds(gen, 'Manufacturer.endsWith("dical")', header)
    assert not holds(gen, 'Manufacturer.endsWith("DICAL")', header)
    assert holds(gen, 'Manufacturer.endsWithIgnoreCase("DICAL")', header)
    assert holds(gen, 'Rows.isLessThan("1024")', header)
    assert holds(gen, 'Rows.isGreaterThan("96")', header)  # numeric, not text order
    assert not holds(gen, 'Rows.isLessThan("1024")', {"Rows": "abc"})
    assert not holds(gen, 'Rows.isLessThan("1024")', {})
    # CTP keeps only digits and dots: "-5" reads as 5
    assert not holds(gen, 'Rows.isLessThan("3")', {"Rows": "-5"})


def test_comments_constants_and_spacing(gen: ModuleType) -> None:
    script = '// leading\n Modality .equals ( "US" ) // note\n * true'
    assert holds(gen, script, {"Modality": "US"})
    assert not holds(gen, f"!{A} + false", {"Modality": "US"})
    # CTP reads an identifier up to the next ".": "true * Modality" is one name
    with pytest.raises(gen.SourceError):
        gen.parse_condition(f"true * {A}", "test")


def test_tags_are_normalised(gen: ModuleType) -> None:
    tree = gen.parse_condition('[0008,0070].contains("x") * [0019,10A3].equals("y")', "t")
    assert [part["attr"] for part in tree["and"]] == ["Manufacturer", "0019,10a3"]
    assert gen.parse_condition('[6002,0022].equals("z")', "t")["attr"] == "6002,0022"


@pytest.mark.parametrize(
    "script",
    [
        "",  # CTP: parse failure, the signature never matches
        f"!!{A}",  # CTP evaluates it as !A and ignores the rest
        f"{A} *",
        f"{A} {B}",
        f"({A}",
        '(0008,0070).equals("x")',  # "(" opens a group in CTP's language
        'Modality.equals(US)',  # unquoted: CTP false
        'Modality.matches("U.")',  # Java regex: not reproduced
        'Modality.sortOf("US")',
        'NoSuchKeyword.equals("US")',
        'Seq::Modality.equals("US")',
        '0009[GEMS]10.equals("US")',
    ],
)
def test_what_the_generator_refuses(gen: ModuleType, script: str) -> None:
    with pytest.raises(gen.SourceError):
        gen.parse_condition(script, "test")


@pytest.mark.parametrize("regions_text", ["(1,2,3)", "(-10,0,5,5)", "(0,0,0,5)", "(a,b,c,d)"])
def test_bad_regions_are_refused(gen: ModuleType, regions_text: str) -> None:
    with pytest.raises(gen.SourceError):
        gen.parse_regions(f"Vendor note {regions_text}", "test")


def test_damaged_condition_data_is_a_policy_error() -> None:
    with pytest.raises(PolicyError):
        condition_from_json({"attr": "Rows", "op": "eval", "value": "1"}, "test")
    with pytest.raises(PolicyError):
        condition_from_json({"xor": []}, "test")


# --------------------------------------------------------------------------- #
# Robustness and layering
# --------------------------------------------------------------------------- #


@given(
    st.dictionaries(
        st.sampled_from(sorted(regions.needed_keywords())),
        st.text(max_size=30) | st.sampled_from(["512", "600", "768", "1024", "US", "CT"]),
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow])  # CI machines are shared and busy
def test_odd_header_values_never_raise(header: dict[str, str]) -> None:
    result = known_regions(header)
    assert isinstance(result, tuple)
    assert all(isinstance(region, Region) for region in result)


def test_importing_the_matcher_loads_neither_numpy_nor_pydicom() -> None:
    code = (
        "import sys\n"
        "from imagedeid.policy.regions import known_regions\n"
        "known_regions({'Rows': '600'})\n"
        "print(sorted(m for m in ('numpy', 'pydicom') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
