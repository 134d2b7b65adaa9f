"""Conformance with PS3.15 Table E.1-1, generated from the table itself.

One test per concrete row under the basic profile, and one per option column on that
row under basic + that option alone (the date options with their date modes). Each
test builds a small instance holding the row's attribute with a non-empty value,
de-identifies it through bytes, and checks the outcome against the contract below,
restated here without any engine internals:

* the row's action is its basic code unless an option in force has a column on it;
* compound codes with a value: X/Z -> Z; X/D, Z/D, X/Z/D -> D; X/Z/U* -> U for UI, else Z;
* X absent; Z zero length; D a dummy by VR; K unchanged (ages of 90+ become 090Y);
  U a keyed ``2.25.`` UID; C cleaned (dates by the date mode, text of identifying words);
* PatientName and PatientID become the keyed patient pseudonym, AccessionNumber and
  StudyID a keyed 12-character token;
* sequences: X, X/D, X/Z and X/Z/D removed (Type 2 ones: X/Z emptied); Z emptied; others kept, items
  processed with the same table.

Also here: overlay (60xx) and curve (50xx) groups, private attributes and the safe
private dictionary, attributes the table does not list, and the attributes that
record the de-identification.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from functools import cache
from importlib import resources
from typing import Any

import pytest
from builders import ROOT, from_bytes, make_instance, patient_id, patient_name, to_bytes, uid
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.model import DateMode, Option
from imagedeid.policy.plan import Plan, compile_plan
from imagedeid.policy.profile import Profile, builtin_profile
from imagedeid.pseudonym import Pseudonymizer
from imagedeid.text import build_cleaner

METHOD = ("imagedeid conformance tests",)
PATIENT = 1
LAST, FIRST = patient_name(PATIENT)
CLINICAL = "CHEST"  # a clinical word that cleaning must keep


def _package_json(name: str) -> Any:
    text = resources.files("imagedeid.policy").joinpath("data", name).read_text("utf-8")
    return json.loads(text)


TABLE: list[dict[str, Any]] = _package_json("ps315_table_e1_1.json")["rows"]
SAFE_PRIVATE: list[dict[str, str]] = _package_json("safe_private.json")["entries"]
TABLE_TAGS = {row["tag"] for row in TABLE}
COLUMN_OPTION = {opt.table_column: opt for opt in Option}
FULL_DATES = Option.RETAIN_LONGITUDINAL_FULL_DATES.table_column
MODIFIED_DATES = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES.table_column

BINARY_VRS = frozenset(
    {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "US", "SS", "UL", "SL", "FL", "FD", "AT", "SV", "UV"}
)
FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
TOKEN_RE = re.compile(r"[A-Z0-9]{12}")
PERSON_RE = re.compile(r"ANON\^[A-Z0-9]{8}")
UID_RE = re.compile(r"2\.25\.[1-9][0-9]*")

# Binary rows that hold a date and time (cleaned by the date options).
TIMESTAMP_ROWS = frozenset({"00340007", "04000310"})
# Rows whose tag cannot be put in a data set (none today; every skip needs a reason here).
UNENCODABLE: dict[str, str] = {}
# Rows in the command group: dcmwrite refuses them, so the file is written by hand.
COMMAND_GROUP = "0000"
# Rows in the file meta group: the engine rebuilds the meta group from the data set.
META_GROUP = "0002"


# --- profiles -----------------------------------------------------------------------


def date_mode_for(column: str | None) -> list[tuple[DateMode, str]]:
    """The date modes an option column is tested under, with a test-id suffix."""
    if column == FULL_DATES:
        return [(DateMode.KEEP, "")]
    if column == MODIFIED_DATES:
        return [(DateMode.SHIFT, ""), (DateMode.YEAR, "-year")]
    return [(DateMode.REMOVE, "")]


@cache
def plan_for(columns: tuple[str, ...], mode: DateMode) -> Plan:
    profile = Profile(
        id="conformance-" + ("-".join(columns) or "basic").lower() + "-" + mode.value,
        version="1",
        description="basic profile plus the named option columns",
        options=frozenset(COLUMN_OPTION[c] for c in columns),
        date_mode=mode,
    )
    return compile_plan(profile)


# --- the contract, restated ----------------------------------------------------------


def table_action(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    """The row's code under basic + the given option columns; C beats K."""
    codes = [row["options"][c] for c in columns if c in row["options"]]
    if not codes:
        return str(row["basic"])
    return "C" if "C" in codes else "K"


def resolve(code: str, vr: str, has_value: bool = True) -> str:
    """A compound code for a non-sequence element."""
    if code == "X/Z/U*":
        return "U" if vr == "UI" else "Z"
    if code == "X/Z":
        return "Z"
    if code in ("Z/D", "X/Z/D"):
        return "D" if has_value else "Z"
    if code == "X/D":
        return "D" if has_value else "X"
    return code


TYPE2_SEQUENCES = {"00400555"}  # Acquisition Context Sequence


def sequence_outcome(code: str, tag: str) -> str:
    """X/Z and X/Z/D remove a sequence (an empty Type 3 sequence is invalid) unless it
    is a Type 2 one, which is emptied; Z always empties."""
    if code in ("X", "X/D"):
        return "removed"
    if code in ("X/Z", "X/Z/D"):
        return "emptied" if tag in TYPE2_SEQUENCES else "removed"
    if code == "Z":
        return "emptied"
    return "recursed"


def shifted(da: str, days: int) -> str:
    day = dt.date(int(da[:4]), int(da[4:6]), int(da[6:8])) + dt.timedelta(days=days)
    return day.strftime("%Y%m%d")


# --- building inputs ------------------------------------------------------------------


def sample_value(vr: str, tag: str, action: str) -> Any:
    """A non-empty, valid value for ``vr``; identifying text where the action cleans."""
    if action == "C" and vr in (*FREE_TEXT_VRS, "AE"):
        return f"{CLINICAL} {LAST}"  # 16 characters: fits SH and AE
    if action == "C" and vr == "CS":
        return f"{CLINICAL} {LAST.upper()}"
    if action == "C" and vr in BINARY_VRS and tag in TIMESTAMP_ROWS:
        return b"\x00\x00\x01\x8f\x3a\x5c\x10\x00"  # a 2024 PTP timestamp, no text
    if action == "C" and vr in BINARY_VRS:
        return b"ID:" + LAST.encode("ascii") + b"\x01"  # even length, identifying bytes
    values: dict[str, Any] = {
        "AE": f"AE{tag.upper()}",
        "AS": "095Y",
        "CS": f"CS_{tag.upper()}",
        "DA": "20150607",
        "DS": "12.5",
        "DT": "20150607123000.123456",
        "IS": "42",
        "LO": f"VALUE {tag.upper()}",
        "LT": f"VALUE {tag.upper()}",
        "PN": "Quenby^Xavier",
        "SH": f"V{tag.upper()}",
        "ST": f"VALUE {tag.upper()}",
        "TM": "123000",
        "UC": f"VALUE {tag.upper()}",
        "UI": f"{ROOT}77.{int(tag, 16)}",
        "UR": "http://example.org/a",
        "US": 4,
        "UT": f"VALUE {tag.upper()}",
    }
    if vr in values:
        return values[vr]
    if vr in BINARY_VRS:
        return b"\x01\x02\x03\x04"
    raise AssertionError(f"no sample value for VR {vr} ({tag})")


def sequence_item() -> Dataset:
    item = Dataset()
    item.CodeValue = "T-A0100"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = "Brain"
    item.ReferencedSOPInstanceUID = uid(PATIENT, 1, 1, 4242)
    return item


def hand_written(ds: Dataset) -> bytes:
    """Part 10 bytes for a data set pydicom's dcmwrite refuses (command group elements)."""
    fp = DicomBytesIO()
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return bytes(fp.getvalue())


def base_instance(**overrides: Any) -> Dataset:
    """make_instance, but the institution's address is not also the patient's: a kept
    InstitutionAddress would otherwise (rightly) be refused as the patient's address."""
    return make_instance(patient=PATIENT, InstitutionAddress="7 Infirmary Row", **overrides)


def build_input(row: dict[str, Any], action: str, has_value: bool = True) -> bytes:
    tag, vr = row["tag"], row["vr"]
    ds = base_instance()
    if tag.startswith(META_GROUP):
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return to_bytes(ds)
    if vr == "SQ":
        ds.add_new(int(tag, 16), "SQ", Sequence([sequence_item()] if has_value else []))
    else:
        ds.add_new(int(tag, 16), vr, sample_value(vr, tag, action) if has_value else None)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return hand_written(ds) if tag.startswith(COMMAND_GROUP) else to_bytes(ds)


# --- reading outputs ------------------------------------------------------------------


def read(data: bytes) -> Dataset:
    with warnings.catch_warnings():  # command-group elements make pydicom guess the VR mode
        warnings.simplefilter("ignore", UserWarning)
        return from_bytes(data)


def raw(ds: Dataset, tag: int) -> bytes:
    """The element's value bytes as stored (pydicom has not converted it yet)."""
    elem = ds.get_item(tag)
    if not isinstance(elem, RawDataElement):  # pydicom converts some elements as it reads
        assert elem.is_empty, f"{tag:08x} was converted; compare its value instead"
        return b""
    return bytes(elem.value or b"")


def text(ds: Dataset, tag: int) -> str:
    elem = ds.get_item(tag)
    if not isinstance(elem, RawDataElement):  # e.g. private creators, read to resolve tags
        return str(elem.value if elem.value is not None else "")
    return raw(ds, tag).decode("latin-1").rstrip(" \x00")


def where(ds: Dataset, tag: int) -> Dataset:
    return ds.file_meta if tag >> 16 == 2 else ds


# --- checks ---------------------------------------------------------------------------


def check_element(
    outcome: str,
    row: dict[str, Any],
    inp: Dataset,
    out: Dataset,
    pseud: Pseudonymizer,
    mode: DateMode,
) -> None:
    tag, vr, kw = int(row["tag"], 16), row["vr"], row["keyword"]
    src, dst = where(inp, tag), where(out, tag)
    if outcome == "X":
        assert tag not in dst, f"{kw} should be removed"
        return
    assert tag in dst, f"{kw} should be present (action {outcome})"
    old = str(src[tag].value) if tag >> 16 == 2 else text(src, tag)
    new = str(dst[tag].value) if tag >> 16 == 2 else text(dst, tag)
    patient = pseud.patient_id("id:" + str(inp.PatientID))
    if kw in ("PatientName", "PatientID") and outcome in ("Z", "D"):
        assert new == patient
    elif kw in ("AccessionNumber", "StudyID") and outcome in ("Z", "D"):
        assert new == pseud.identifier(old)
    elif outcome == "Z":
        assert raw(dst, tag) == b"", f"{kw} should be zero length"
    elif outcome == "K":
        assert new == ("090Y" if vr == "AS" else old)  # the sample age is 95 years
        if vr in BINARY_VRS:
            assert raw(dst, tag) == raw(src, tag)
    elif outcome == "U":
        assert new == pseud.uid(old)
    elif outcome == "D":
        check_dummy(vr, kw, old, new, raw(dst, tag))
    elif outcome == "C":
        check_clean(vr, old, new, raw(src, tag), raw(dst, tag), pseud, str(inp.PatientID), mode)
    else:
        raise AssertionError(f"unexpected outcome {outcome}")


ID_LIKE = re.compile(r"ID|Number|Serial|Station|Title|Identifier|UID")


def check_dummy(vr: str, kw: str, old: str, new: str, new_raw: bytes) -> None:
    if vr in BINARY_VRS:
        assert new_raw and set(new_raw) == {0}, "binary dummies are zero bytes"
        return
    expected = {
        "DA": "19000101",
        "TM": "000000.00",
        "DT": "19000101000000",
        "IS": "0",
        "DS": "0",
        "LT": "ANONYMIZED",
        "ST": "ANONYMIZED",
        "UT": "ANONYMIZED",
        "CS": "ANONYMIZED",
    }
    if vr in expected:
        assert new == expected[vr]
    elif vr == "PN":
        assert PERSON_RE.fullmatch(new), "a person dummy is ANON^ + 8 characters"
    elif vr in ("LO", "SH", "AE", "UC") and ID_LIKE.search(kw):
        assert TOKEN_RE.fullmatch(new), "an identifier dummy is a 12-character keyed token"
    elif vr in ("LO", "SH", "AE", "UC"):
        assert new == "ANONYMIZED", "a descriptive dummy carries no information"
    elif vr == "UI":
        assert UID_RE.fullmatch(new)
    assert new and new != old, "a dummy is non-empty and differs from the input"


def check_clean(
    vr: str,
    old: str,
    new: str,
    old_raw: bytes,
    new_raw: bytes,
    pseud: Pseudonymizer,
    pid: str,
    mode: DateMode,
) -> None:
    shift = pseud.date_shift_days("id:" + pid)
    if vr == "DA":
        want = {DateMode.SHIFT: shifted(old, shift), DateMode.YEAR: old[:4] + "0101"}
        assert new == want.get(mode, old)
    elif vr == "DT":
        want = {DateMode.SHIFT: shifted(old[:8], shift) + old[8:], DateMode.YEAR: old[:4]}
        assert new == want.get(mode, old)
    elif vr == "TM":
        assert new == ("000000.00" if mode is DateMode.YEAR else old)
    elif vr == "UI":
        assert new == pseud.uid(old)
    elif vr in FREE_TEXT_VRS:
        assert CLINICAL.lower() in new.lower(), "clinical words are kept"
        assert LAST.lower() not in new.lower(), "identifying words are removed"
    elif vr in ("AE", "CS"):
        assert LAST.lower() not in new.lower(), "identifying words are removed"
    elif vr in BINARY_VRS:
        assert new_raw != old_raw, "the original bytes do not survive cleaning"
    else:
        raise AssertionError(f"no clean expectation for VR {vr}")


def check_sequence(
    outcome: str, row: dict[str, Any], out: Dataset, columns: tuple[str, ...], pseud: Pseudonymizer
) -> None:
    tag, kw = int(row["tag"], 16), row["keyword"]
    if outcome == "removed":
        assert tag not in out, f"{kw} should be removed"
        return
    assert tag in out, f"{kw} should be present"
    items = out[tag].value
    if outcome == "emptied":
        assert len(items) == 0, f"{kw} should have zero items"
        return
    assert len(items) == 1
    item = items[0]
    assert item.CodeValue == "T-A0100" and item.CodeMeaning == "Brain"
    ref = uid(PATIENT, 1, 1, 4242)
    expected = ref if Option.RETAIN_UIDS.table_column in columns else pseud.uid(ref)
    assert item.ReferencedSOPInstanceUID == expected, "items follow the same table"


def deidentify(data: bytes, plan: Plan, pseud: Pseudonymizer) -> Dataset:
    result = deidentify_part10(data, plan, pseud, build_cleaner, METHOD)
    return read(result.data)


# --- the generated cases --------------------------------------------------------------


def concrete(row: dict[str, Any]) -> bool:
    return row["tag"] != "private" and "x" not in row["tag"]


def _cases() -> list[Any]:
    cases = []
    for row in TABLE:
        if not concrete(row):
            continue
        marks = (
            [pytest.mark.skip(reason=UNENCODABLE[row["tag"]])] if row["tag"] in UNENCODABLE else []
        )
        cases.append(pytest.param(row, (), DateMode.REMOVE, id=f"{row['tag']}-basic", marks=marks))
        for column in sorted(row["options"]):
            for mode, suffix in date_mode_for(column):
                cases.append(
                    pytest.param(
                        row, (column,), mode, id=f"{row['tag']}-{column}{suffix}", marks=marks
                    )
                )
    return cases


@pytest.mark.parametrize(("row", "columns", "mode"), _cases())
def test_row(
    row: dict[str, Any], columns: tuple[str, ...], mode: DateMode, pseud: Pseudonymizer
) -> None:
    code = table_action(row, columns)
    vr = row["vr"]
    action = code if vr == "SQ" else resolve(code, vr)
    data = build_input(row, action)
    out = deidentify(data, plan_for(columns, mode), pseud)
    if vr == "SQ":
        check_sequence(sequence_outcome(code, row["tag"]), row, out, columns, pseud)
    else:
        check_element(action, row, read(data), out, pseud, mode)


def _empty_cases() -> list[Any]:
    return [
        pytest.param(row, id=f"{row['tag']}-basic-empty")
        for row in TABLE
        if concrete(row)
        and "/" in row["basic"]
        and row["vr"] != "SQ"
        and not row["tag"].startswith((META_GROUP, COMMAND_GROUP))
    ]


@pytest.mark.parametrize("row", _empty_cases())
def test_compound_code_on_empty_value(row: dict[str, Any], pseud: Pseudonymizer) -> None:
    """Z/D and X/Z/D give zero length, X/D removes, X/Z zeroes, when there is no value."""
    tag = int(row["tag"], 16)
    outcome = resolve(row["basic"], row["vr"], has_value=False)
    out = deidentify(
        build_input(row, outcome, has_value=False), plan_for((), DateMode.REMOVE), pseud
    )
    if outcome == "X":
        assert tag not in out
    else:
        assert outcome == "Z" and tag in out and raw(out, tag) == b""


def test_every_concrete_row_is_exercised() -> None:
    concrete_rows = [row for row in TABLE if concrete(row)]
    assert len(concrete_rows) == len(TABLE) - 4  # 50xxxxxx, 60xx3000, 60xx4000, private
    assert set(UNENCODABLE) <= {row["tag"] for row in concrete_rows}
    for row in concrete_rows:
        assert row["vr"], f"{row['tag']}: no VR, cannot build a value"
        if row["tag"] not in UNENCODABLE and row["vr"] != "SQ":
            assert sample_value(row["vr"], row["tag"], "K") not in (None, "", b"")


def test_no_row_has_keep_and_clean_from_two_options() -> None:
    """No row of this edition has K and C from two non-date options; if one appears, the
    generated tests above only try one option at a time, so flag it for a dedicated test."""
    for row in TABLE:
        codes = {
            code for col, code in row["options"].items() if col not in (FULL_DATES, MODIFIED_DATES)
        }
        assert codes != {"K", "C"}, f"{row['tag']}: K and C from two options; add a C-beats-K test"


def test_research_profile_applies_clean_descriptors_and_characteristics(
    pseud: Pseudonymizer,
) -> None:
    """Options combine: under research, a descriptor is cleaned and a characteristic kept."""
    ds = base_instance(PatientSex="F", PatientAge="095Y")
    out = deidentify(to_bytes(ds), compile_plan(builtin_profile("research")), pseud)
    assert out.PatientSex == "F" and out.PatientAge == "090Y"
    assert "CT HEAD" in out.StudyDescription and LAST not in out.StudyDescription


def test_date_shift_is_whole_weeks_into_the_past(pseud: Pseudonymizer) -> None:
    for patient in range(1, 30):
        shift = pseud.date_shift_days("id:" + patient_id(patient))
        assert shift % 7 == 0 and 364 <= -shift <= 3647


# --- wildcard rows: overlays (60xx) and curves (50xx) ---------------------------------


ALL_PROFILES = [
    pytest.param(lambda name=name: compile_plan(builtin_profile(name)), id=name)
    for name in ("basic", "research", "safe-harbor")
] + [pytest.param(lambda: plan_for(("cleanGraphOpt",), DateMode.REMOVE), id="cleanGraphOpt")]


def add_overlays(ds: Dataset) -> None:
    for group in (0x6000, 0x6002, 0x601E):
        g = group << 16
        ds.add_new(g | 0x0010, "US", 4)
        ds.add_new(g | 0x0011, "US", 4)
        ds.add_new(g | 0x0022, "LO", f"overlay of {FIRST}")
        ds.add_new(g | 0x0040, "CS", "G")
        ds.add_new(g | 0x0050, "SS", [1, 1])
        ds.add_new(g | 0x0100, "US", 1)
        ds.add_new(g | 0x0102, "US", 0)
        ds.add_new(g | 0x3000, "OW", b"\xff\x00")
        ds.add_new(g | 0x4000, "LT", f"burned note {LAST}")


def add_curves(ds: Dataset) -> None:
    for group in (0x5000, 0x5002):
        g = group << 16
        ds.add_new(g | 0x0005, "US", 1)
        ds.add_new(g | 0x0010, "US", 2)
        ds.add_new(g | 0x0020, "CS", "TAC")
        ds.add_new(g | 0x0022, "LO", f"curve of {LAST}")
        ds.add_new(g | 0x0103, "US", 0)
        ds.add_new(g | 0x3000, "OB", b"\x01\x02\x03\x04")


@pytest.mark.parametrize("make_plan", ALL_PROFILES)
def test_overlay_groups_removed(make_plan: Any, pseud: Pseudonymizer) -> None:
    ds = base_instance()
    add_overlays(ds)
    out = deidentify(to_bytes(ds), make_plan(), pseud)
    assert [e.tag for e in out if e.tag.group & 0xFF00 == 0x6000] == []


@pytest.mark.parametrize("make_plan", ALL_PROFILES)
def test_curve_groups_removed(make_plan: Any, pseud: Pseudonymizer) -> None:
    ds = base_instance()
    add_curves(ds)
    out = deidentify(to_bytes(ds), make_plan(), pseud)
    assert [e.tag for e in out if e.tag.group & 0xFF00 == 0x5000] == []


def test_wildcard_rows_are_in_the_table() -> None:
    wild = {row["tag"]: row for row in TABLE if "x" in row["tag"]}
    assert set(wild) == {"50xxxxxx", "60xx3000", "60xx4000"}
    assert all(row["basic"] == "X" for row in wild.values())


# --- private attributes ---------------------------------------------------------------


def safe_entry(disposition: str, vrs: tuple[str, ...]) -> dict[str, str]:
    return next(e for e in SAFE_PRIVATE if e["disposition"] == disposition and e["vr"] in vrs)


def unlisted_element(group: str, creator: str) -> int:
    listed = {
        int(e["element"], 16)
        for e in SAFE_PRIVATE
        if e["group"] == group and e["creator"] == creator
    }
    return next(low for low in range(0x01, 0x100) if low not in listed)


PRIVATE_VALUES = {
    "SH": "SAFEVAL",
    "LO": "SAFEVAL",
    "DS": "1.25",
    "IS": "7",
    "SL": 123456,
    "SS": -12,
    "US": 9,
    "UL": 77,
    "FL": 1.5,
    "FD": 2.5,
    "CS": "SAFE",
    "ST": "SAFEVAL",
}


def add_private(ds: Dataset, entry: dict[str, str], block: int) -> int:
    """Put ``entry`` in the block ``block`` of its group; returns the element's tag."""
    group = int(entry["group"], 16)
    ds.add_new((group << 16) | block, "LO", entry["creator"])
    tag = (group << 16) | (block << 8) | int(entry["element"], 16)
    ds.add_new(tag, entry["vr"], PRIVATE_VALUES[entry["vr"]])
    return tag


def private_input() -> tuple[bytes, dict[str, int]]:
    ds = base_instance()  # holds an unlisted ACME_PHI_1 block in (0029,0010)
    keep = safe_entry("K", ("SH", "LO"))
    keep_number = next(
        e
        for e in SAFE_PRIVATE
        if e["disposition"] == "K"
        and e["vr"] in ("SL", "SS", "US", "UL")
        and (e["group"], e["creator"]) != (keep["group"], keep["creator"])
        and e["group"] != "0029"
    )
    blank = next(
        e
        for e in SAFE_PRIVATE
        if e["disposition"] == "KB"
        and e["vr"] in ("DS", "SL", "SS")
        and e["group"] not in (keep["group"], keep_number["group"], "0029")
    )
    tags = {
        "keep": add_private(ds, keep, 0x12),  # not the first block: matched by creator
        "keep_number": add_private(ds, keep_number, 0x10),
        "blank": add_private(ds, blank, 0x10),
    }
    group = int(keep["group"], 16)
    tags["unlisted"] = (group << 16) | 0x1200 | unlisted_element(keep["group"], keep["creator"])
    ds.add_new(tags["unlisted"], "LO", "NOT IN DICTIONARY")
    tags["orphan"] = (group << 16) | 0x1301  # block 0x13 has no creator
    ds.add_new(tags["orphan"], "LO", "ORPHAN")
    tags["keep_creator"] = (group << 16) | 0x0012
    tags["blank_creator"] = (int(blank["group"], 16) << 16) | 0x0010
    tags["acme_creator"] = 0x00290010
    tags["acme"] = 0x00291010
    ds.RequestAttributesSequence[0].add_new((group << 16) | 0x0012, "LO", keep["creator"])
    ds.RequestAttributesSequence[0].add_new(tags["keep"], keep["vr"], PRIVATE_VALUES[keep["vr"]])
    return to_bytes(ds), tags


def test_private_removed_under_basic(pseud: Pseudonymizer) -> None:
    data, _ = private_input()
    out = deidentify(data, compile_plan(builtin_profile("basic")), pseud)
    assert [e.tag for e in out.iterall() if e.tag.is_private] == []


@pytest.mark.parametrize(
    "make_plan",
    [
        pytest.param(
            lambda: plan_for(("rtnSafePrivOpt",), DateMode.REMOVE), id="private-rtnSafePrivOpt"
        ),
        pytest.param(lambda: compile_plan(builtin_profile("research")), id="private-research"),
    ],
)
def test_safe_private_retained(make_plan: Any, pseud: Pseudonymizer) -> None:
    data, tags = private_input()
    inp = read(data)
    out = deidentify(data, make_plan(), pseud)
    for name in ("keep", "keep_number"):
        assert tags[name] in out and raw(out, tags[name]) == raw(inp, tags[name]), name
    assert tags["blank"] in out and raw(out, tags["blank"]) == b"", "KB keeps the element, blank"
    for name in ("unlisted", "orphan", "acme", "acme_creator"):
        assert tags[name] not in out, f"{name} should be removed"
    assert text(out, tags["keep_creator"]) == text(inp, tags["keep_creator"])
    assert text(out, tags["blank_creator"]) == text(inp, tags["blank_creator"])
    kept_private = {e.tag for e in out if e.tag.is_private}
    expected = {tags[n] for n in ("keep", "keep_number", "blank", "keep_creator", "blank_creator")}
    expected.add((tags["keep_number"] & 0xFFFF0000) | 0x0010)
    assert kept_private == expected, "no other private element or creator survives"


def test_safe_private_inside_kept_sequence(pseud: Pseudonymizer) -> None:
    data, tags = private_input()
    out = deidentify(data, compile_plan(builtin_profile("research")), pseud)
    item = out.RequestAttributesSequence[0]
    assert tags["keep"] in item and tags["keep_creator"] in item


def test_private_row_is_the_only_private_rule() -> None:
    rows = [row for row in TABLE if row["tag"] == "private"]
    assert (
        len(rows) == 1 and rows[0]["basic"] == "X" and rows[0]["options"] == {"rtnSafePrivOpt": "C"}
    )


# --- attributes the table does not list -----------------------------------------------


def not_in_table(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None and f"{tag:08x}" not in TABLE_TAGS, f"{keyword} is in the table"
    return int(tag)


@pytest.mark.parametrize("profile", ["basic", "research", "safe-harbor"])
def test_attributes_not_in_table(profile: str, pseud: Pseudonymizer) -> None:
    ds = base_instance()
    ds.add_new(not_in_table("SliceThickness"), "DS", "5.0")
    ds.add_new(not_in_table("BodyPartExamined"), "CS", "HEAD")
    private_class = ROOT + "555.1"
    ds.ReferencedImageSequence[0].ReferencedSOPClassUID = private_class
    ds.add_new(not_in_table("VolumeFrameOfReferenceUID"), "UI", ROOT + "555.2")
    ds.add_new(not_in_table("TargetFrameOfReferenceUID"), "UI", CTImageStorage)  # well known
    ds.add_new(not_in_table("EvaluatorName"), "PN", "Quenby^Xavier")
    ds.add_new(not_in_table("TextValue"), "UT", f"nodule seen, {FIRST} {LAST} informed")
    ds.add_new(0x00440099, "LO", "UNKNOWN TAG VALUE")
    assert keyword_for_tag(0x00440099) == ""
    out = deidentify(to_bytes(ds), compile_plan(builtin_profile(profile)), pseud)
    assert out.SliceThickness == "5.0" and out.BodyPartExamined == "HEAD"
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == private_class
    assert out.VolumeFrameOfReferenceUID == pseud.uid(ROOT + "555.2")
    assert out.TargetFrameOfReferenceUID == CTImageStorage
    assert "EvaluatorName" not in out
    assert 0x00440099 not in out
    assert "nodule seen" in out.TextValue
    assert FIRST not in out.TextValue and LAST not in out.TextValue


# --- the attributes that record the de-identification ---------------------------------


def _record_cases() -> list[Any]:
    cases = [
        pytest.param(builtin_profile(name), id=name)
        for name in ("basic", "research", "safe-harbor")
    ]
    for column in sorted(COLUMN_OPTION):
        for mode, suffix in date_mode_for(column):
            cases.append(pytest.param(plan_for((column,), mode).profile, id=f"{column}{suffix}"))
    return cases


@pytest.mark.parametrize("profile", _record_cases())
def test_deidentification_is_recorded(profile: Profile, pseud: Pseudonymizer) -> None:
    ds = base_instance(PatientIdentityRemoved="NO")
    out = deidentify(to_bytes(ds), compile_plan(profile), pseud)
    assert out.PatientIdentityRemoved == "YES"
    assert str(out.DeidentificationMethod)
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert sorted(codes) == sorted(["113100", *(opt.value for opt in profile.options)])
    assert all(
        item.CodingSchemeDesignator == "DCM" for item in out.DeidentificationMethodCodeSequence
    )
    assert not {"113101", "113102"} & set(codes)
    longitudinal = {
        DateMode.REMOVE: "REMOVED",
        DateMode.SHIFT: "MODIFIED",
        DateMode.YEAR: "MODIFIED",
        DateMode.KEEP: "UNMODIFIED",
    }[profile.date_mode]
    assert out.LongitudinalTemporalInformationModified == longitudinal


def test_vr_of_every_row_matches_the_dictionary() -> None:
    for row in TABLE:
        if concrete(row):
            assert row["vr"] == dictionary_VR(int(row["tag"], 16)), row["tag"]
