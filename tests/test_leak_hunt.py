"""Targeted attempts to smuggle identifying values through the engine.

Each test builds one input that hides a patient's identifying values somewhere a
de-identifier may overlook -- other letter cases and accents, other character sets,
other name orders, IDs, phones and birth dates written in other forms, nested SR
content, safe private tags, unknown or UN-encoded elements, deflated and big endian
files, the file meta, the preamble, padding, overlays and curves, UN sequences of
undefined length -- and asserts that the result is either

* refused with :class:`LeakDetectedError` or :class:`InputError` whose message and
  locations name none of the identifying values, or
* released as bytes (inflated where deflated) and as values (read back by pydicom)
  that hold none of them, in any letter case, in UTF-8, Latin-1 or JIS encoding.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, to_bytes
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.errors import ImageDeidError, InputError, LeakDetectedError
from imagedeid.pipeline.executors import SerialExecutor
from imagedeid.pipeline.run import RunRequest, run
from imagedeid.policy.plan import Plan
from imagedeid.policy.profile import builtin_profile
from imagedeid.pseudonym import ProjectKey, Pseudonymizer
from imagedeid.text import build_cleaner

METHOD = ("leak hunt",)


# --- checking -----------------------------------------------------------------------------


def _byte_forms(term: str) -> set[bytes]:
    forms: set[bytes] = set()
    for variant in {term, term.lower(), term.upper(), term.casefold(), term.title()}:
        for enc in ("utf-8", "latin-1", "iso2022_jp"):
            try:
                raw = variant.encode(enc)
            except UnicodeEncodeError:
                continue
            if enc == "iso2022_jp":  # the JIS bytes, without the escape sequences
                raw = raw.replace(b"\x1b$B", b"").replace(b"\x1b(B", b"")
            forms.add(raw.lower())
    return forms


def _text_values(ds: Dataset) -> list[str]:
    out: list[str] = []
    for elem in [*ds.file_meta, *ds.iterall()] if hasattr(ds, "file_meta") else ds.iterall():
        value = elem.value
        if isinstance(value, bytes):
            out.append(value.decode("latin-1"))
        elif isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            out.extend(str(v) for v in value)
        elif not isinstance(value, Sequence):
            out.append(str(value))
    return out


def _plain(data: bytes) -> bytes:
    """The released bytes, with a deflated data set inflated."""
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    if ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        start = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
        return data + zlib.decompress(data[start:], -zlib.MAX_WBITS)
    return data


def outcome(data: bytes, plan: Plan, pseud: Pseudonymizer, terms: list[str]) -> str:
    """'' when the input was refused cleanly or released clean; else what went wrong."""
    try:
        result = deidentify_part10(data, plan, pseud, build_cleaner, METHOD)
    except (LeakDetectedError, InputError) as exc:
        said = str(exc) + "|" + "|".join(getattr(exc, "locations", []))
        named = [t for t in terms if t.casefold() in said.casefold()]
        return f"refusal message names {named}" if named else ""
    except ImageDeidError as exc:
        return f"refused with {type(exc).__name__}, not LeakDetectedError/InputError"
    plain = _plain(result.data).lower()
    in_bytes = [t for t in terms if any(f in plain for f in _byte_forms(t))]
    ds = pydicom.dcmread(io.BytesIO(result.data))
    values = "\x00".join(_text_values(ds)).casefold()
    in_values = [t for t in terms if t.casefold() in values]
    found = sorted(set(in_bytes) | set(in_values))
    return f"released output holds {found}" if found else ""


def check(data: bytes, plan: Plan, pseud: Pseudonymizer, terms: list[str]) -> None:
    problem = outcome(data, plan, pseud, terms)
    assert not problem, problem


# --- building inputs ----------------------------------------------------------------------


def _le_explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b" "
    g, e = tag >> 16, tag & 0xFFFF
    if vr in (b"OB", b"OW", b"UN", b"UT", b"UC", b"UR", b"SQ"):
        return struct.pack("<HH2sHL", g, e, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", g, e, vr, len(value)) + value


def _le_implicit(tag: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b" "
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)) + value


def _item_undefined(body: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"


_SEQ_DELIM = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def with_raw(ds: Dataset, raw: dict[int, bytes]) -> bytes:
    """Serialise ``ds`` (explicit VR little endian) with raw element bytes spliced in by tag."""
    head = Dataset()
    head.file_meta = ds.file_meta
    out = bytearray(to_bytes(head))
    charset = ds.get("SpecificCharacterSet", "ISO_IR 6")
    encodings = pydicom.charset.convert_encodings(
        [charset] if isinstance(charset, str) else list(charset)
    )
    pieces: list[tuple[int, bytes]] = list(raw.items())
    for elem in ds:
        if " or " in elem.VR:
            elem.VR = "OW" if elem.tag == 0x7FE00010 else elem.VR.split(" or ")[0]
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem, encodings)
        pieces.append((int(elem.tag), fp.getvalue()))
    for _tag, chunk in sorted(pieces, key=lambda p: p[0]):
        out += chunk
    return bytes(out)


def sr_instance(patient: int, content: Sequence, **overrides: object) -> Dataset:
    ds = make_instance(patient=patient, modality="SR", **overrides)
    for kw in (
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PixelData",
    ):
        delattr(ds, kw)
    ds.SOPClassUID = BasicTextSRStorage
    ds.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = content
    return ds


def code(value: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = "DCM"
    c.CodeMeaning = meaning
    return c


def text_item(text: str, meaning: str = "Finding") -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([code("121071", meaning)])
    item.TextValue = text
    return item


def container(*children: Dataset) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "CONTAINER"
    item.ConceptNameCodeSequence = Sequence([code("111028", "Image Library")])
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(list(children))
    return item


def pname_item(name: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "HAS OBS CONTEXT"
    item.ValueType = "PNAME"
    item.ConceptNameCodeSequence = Sequence([code("121008", "Person Observer Name")])
    item.PersonName = name
    return item


# --- names: case, accents, character sets -----------------------------------------------

ACCENTED = "Müller^Jürgen"
ACCENT_VARIANTS = ["Jürgen Müller", "JÜRGEN MÜLLER", "jürgen müller", "Müller, Jürgen"]


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192"])
@pytest.mark.parametrize("variant", ACCENT_VARIANTS)
def test_accented_name_in_free_text(
    charset: str, variant: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=11, SpecificCharacterSet=charset, PatientName=ACCENTED)
    ds.ImageComments = f"Reviewed by {variant}"
    ds.StudyDescription = f"MRT Kopf für {variant}"
    check(to_bytes(ds), research_plan, pseud, ["Müller", "Jürgen"])


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192"])
@pytest.mark.parametrize("folded", ["Jurgen Muller", "JUERGEN MUELLER"])
def test_accent_folded_name_in_free_text(
    charset: str, folded: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """Systems downstream of a RIS often strip accents: the same name, other spelling."""
    ds = make_instance(patient=12, SpecificCharacterSet=charset, PatientName=ACCENTED)
    ds.ImageComments = f"Reviewed by {folded}"
    first, last = folded.split()
    check(to_bytes(ds), research_plan, pseud, [first, last])


@pytest.mark.parametrize("charset,encoding", [("ISO_IR 100", "latin-1"), ("ISO_IR 192", "utf-8")])
@pytest.mark.parametrize("written", ["MÜLLER^JÜRGEN", "müller^jürgen"])
def test_accented_name_in_kept_safe_private_binary(
    charset: str, encoding: str, written: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """GEMS_PARM_01 (0043,xx8B) is an OB the safe-private list keeps: only the final scan
    stands between its bytes and the release."""
    ds = make_instance(patient=13, SpecificCharacterSet=charset, PatientName=ACCENTED)
    block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    block.add_new(0x8B, "OB", b"\x01\x02fmri " + written.encode(encoding) + b" \x03\x04")
    check(to_bytes(ds), research_plan, pseud, ["Müller", "Jürgen"])


# --- names split, joined, hyphenated ----------------------------------------------------


@pytest.mark.parametrize(
    "name,text,terms",
    [
        ("van der Berg^Anna Maria", "seen with Anna Maria van der Berg", ["Berg", "Anna", "Maria"]),
        ("van der Berg^Anna Maria", "BERG, ANNA MARIA", ["Berg", "Anna", "Maria"]),
        ("van der Berg^Anna Maria", "Anna van der Berg", ["Berg", "Anna"]),
        ("Smith-Jones^Mary", "Mrs Smith Jones called", ["Smith", "Jones"]),
        ("Smith-Jones^Mary", "per Mary Smith", ["Smith"]),
        ("Smith^John", "file JOHNSMITH", ["Smith", "John"]),
        ("Smith^John", "SmithJohn_2024", ["Smith", "John"]),
        ("O'Brien^Sean", "Sean OBrien", ["Sean", "OBrien"]),
        ("Okonkwo^Bernard^Ade", "Bernard A. Okonkwo", ["Okonkwo", "Bernard"]),
    ],
)
def test_name_parts_in_free_text(
    name: str, text: str, terms: list[str], research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=14, PatientName=name)
    ds.ImageComments = text
    check(to_bytes(ds), research_plan, pseud, terms)


# --- ideographic and phonetic groups ------------------------------------------------------

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


@pytest.mark.parametrize("charset", [["", "ISO 2022 IR 87"], "ISO_IR 192"], ids=["jis", "utf8"])
@pytest.mark.parametrize(
    "text,terms",
    [
        ("山田 太郎 様", ["山田", "太郎"]),
        ("山田太郎様の検査", ["山田", "太郎"]),
        ("担当 山田様", ["山田"]),
        ("やまだ たろう", ["やまだ", "たろう"]),
        ("YAMADA TAROU", ["Yamada", "Tarou"]),
    ],
)
def test_ideographic_and_phonetic_names(
    charset: object, text: str, terms: list[str], research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=15, SpecificCharacterSet=charset, PatientName=JAPANESE)
    ds.ImageComments = text
    check(to_bytes(ds), research_plan, pseud, terms)


# --- IDs, phones, birth dates in free text ------------------------------------------------


def _in_field(ds: Dataset, field: str, text: str) -> None:
    if field == "SRTextValue":
        ds.ContentSequence = Sequence([container(text_item(text))])
    else:
        setattr(ds, field, text)


FIELDS = ["ImageComments", "StudyDescription", "SRTextValue"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "pid,written",
    [
        ("1234567", "MRN 12-34-567"),
        ("1234567", "prior 12 34 567"),
        ("1234567", "ref 123-4567"),
        ("MRN7300017", "mrn 730-0017"),
    ],
)
def test_patient_id_written_with_separators(
    field: str, pid: str, written: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=16, PatientID=pid)
    _in_field(ds, field, f"see {written} for details")
    digits = "".join(c for c in written if c.isdigit())
    check(to_bytes(ds), research_plan, pseud, [written.split(" ", 1)[1], digits])


PHONE_FORMS = [
    "555-123-4567",
    "555.123.4567",
    "555 123 4567",
    "(555)123-4567",
    "+1 555 123 4567",
    "5551234567",
    "555/123-4567",
    "555 / 123 45 67",
]


@pytest.mark.parametrize("field", ["AdditionalPatientHistory", "SRTextValue"])
@pytest.mark.parametrize("written", PHONE_FORMS)
def test_phone_number_formats(
    field: str, written: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=17, PatientTelephoneNumbers="(555) 123-4567")
    _in_field(ds, field, f"call daughter on {written} tomorrow")
    check(to_bytes(ds), research_plan, pseud, [written, "4567"])


BIRTH_FORMS = [
    "March 14, 1952",
    "14.03.1952",
    "1952-03-14",
    "14 March 1952",
    "14-Mar-1952",
    "3/14/1952",
    "Mar 14 1952",
    "14/03/52",
]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("written", BIRTH_FORMS)
def test_birth_date_forms(
    field: str, written: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=18, PatientBirthDate="19520314")
    _in_field(ds, field, f"DOB {written}; follow-up")
    check(to_bytes(ds), research_plan, pseud, [written])


STUDY_DATE_FORMS = [
    "2019-07-04",
    "07/04/2019",
    "7/4/2019",
    "4.7.2019",
    "2019-7-4",
    "04/07/19",
    "4 July 2019",
    "4th July 2019",
    "July 4th, 2019",
    "04-Jul-2019",
    "04-Jul-19",
    "04JUL2019",
    "July 4, 2019",
    "Jul 04, 2019",
]


@pytest.mark.parametrize("written", STUDY_DATE_FORMS)
def test_study_date_forms_in_sr_text_and_code_meanings(
    written: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """The file's own dates, not only the birth date, in the forms people write them: in
    SR text (cleaned) and in a code's meaning (outside the table: only scrubbed)."""
    ds = sr_instance(
        36, Sequence([text_item(f"Lesion stable since {written}.")]),
        StudyDate="20190704", ContentDate="20190704",
    )  # fmt: skip
    ds.ProcedureCodeSequence = Sequence([code("X1", f"CT {written}")])
    check(to_bytes(ds), research_plan, pseud, [written])


def test_email_in_scrub_only_attributes(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=37)
    ds.Manufacturer = "Acme philo.z@example.org"
    ds.ProcedureCodeSequence = Sequence([code("X1", "CT contact philo.z@example.org")])
    check(to_bytes(ds), research_plan, pseud, ["philo.z@example.org"])


@pytest.mark.parametrize("vr", [b"LO", b"UN"])
@pytest.mark.parametrize("text", [b"Dr Oswalda Vortigern 2019-07-04", b"Oswalda Vortigern"])
def test_text_in_a_safe_private_slot_listed_as_a_number(
    vr: bytes, text: bytes, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """GEMS_PETD_01 (0009,xx06) is listed safe as SL: the dictionary vouches for a
    number there, not for text someone wrote into it, whatever its length."""
    ds = make_instance(patient=38, StudyDate="20190704")
    ds.private_block(0x0009, "GEMS_PETD_01", create=True)
    data = with_raw(ds, {0x00091006: _le_explicit(0x00091006, vr, text)})
    check(data, research_plan, pseud, ["Oswalda", "Vortigern", "2019-07-04"])


@pytest.mark.parametrize(
    "creator,tag,vr,value,term",
    [
        ("GEMS_PARM_01", 0x0043100B, b"DS", b"Vortigern", "Vortigern"),  # listed DS: digits
        ("GEMS_PETD_01", 0x00091006, b"SL", b"Oswalda", "Oswalda"),  # 7 bytes: no whole SL
        ("GEMS_PETD_01", 0x000910DD, b"US", b"Nguyen", "Nguyen"),  # short text, whole USs
        ("GEMS_PETD_01", 0x00091006, b"SL", b"55512345", "55512345"),  # digits: a phone
        # a long printable run before binary padding (once took cubic time to check)
        ("GEMS_PETD_01", 0x00091006, b"SL", b"Nguyen  " * 750 + b"\0" * 4, "Nguyen"),
    ],
    ids=["DS-text", "SL-odd-text", "US-short-text", "SL-digits", "SL-long-padded-text"],
)
@pytest.mark.timeout(120)  # a hang guard, not a speed check
def test_safe_private_value_not_of_its_listed_type_is_removed(
    creator: str,
    tag: int,
    vr: bytes,
    value: bytes,
    term: str,
    research_plan: Plan,
    pseud: Pseudonymizer,
) -> None:
    ds = make_instance(patient=39)
    ds.private_block(tag >> 16, creator, create=True)
    check(with_raw(ds, {tag: _le_explicit(tag, vr, value)}), research_plan, pseud, [term])


# --- structured content -------------------------------------------------------------------


def test_name_in_sr_text_at_depth_three(research_plan: Plan, pseud: Pseudonymizer) -> None:
    deep = container(container(text_item("Patient Bernard Okonkwo seen by Greta Abernathy")))
    ds = sr_instance(
        19, Sequence([deep, pname_item("Abernathy^Greta")]), PatientName="Okonkwo^Bernard"
    )
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "Abernathy", "Greta"])


def test_person_name_content_items(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = sr_instance(
        20,
        Sequence([container(pname_item("Okonkwo^Bernard"), pname_item("Abernathy^Greta"))]),
        PatientName="Okonkwo^Bernard",
    )
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "Abernathy", "Greta"])


def test_acquisition_context_sequence(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=21, PatientName="Okonkwo^Bernard", PatientBirthDate="19520314")
    ctx_text = text_item("sedated; Bernard Okonkwo DOB 14.03.1952")
    ctx_name = pname_item("Okonkwo^Bernard")
    ctx_code = Dataset()
    ctx_code.ValueType = "CODE"
    ctx_code.ConceptNameCodeSequence = Sequence([code("121071", "Subject")])
    ctx_code.ConceptCodeSequence = Sequence([code("99X", "Okonkwo Bernard")])
    ds.AcquisitionContextSequence = Sequence([ctx_text, ctx_name, ctx_code])
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "14.03.1952"])


# --- private, unknown and UN-encoded elements ---------------------------------------------


@pytest.mark.parametrize(
    "creator,group,element,vr",
    [
        ("GEMS_IDEN_01", 0x0009, 0x02, "SH"),
        ("GEMS_PETD_01", 0x0009, 0x37, "LO"),
        ("GEMS_ACQU_01", 0x0019, 0x9C, "LO"),
        ("GEMS_PARM_01", 0x0043, 0x0B, "DS"),
    ],
)
def test_name_in_safe_private_text(
    creator: str, group: int, element: int, vr: str, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=22, PatientName="Okonkwo^Bernard", PatientID="QX7731")
    block = ds.private_block(group, creator, create=True)
    block.add_new(element, vr if vr != "DS" else "LO", "OKONKWO BERNARD QX7731")
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "QX7731"])


def test_name_in_unknown_public_tag(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=23, PatientName="Okonkwo^Bernard")
    data = with_raw(ds, {0x00180099: _le_explicit(0x00180099, b"LO", b"Okonkwo^Bernard")})
    check(data, research_plan, pseud, ["Okonkwo", "Bernard"])


def test_other_patient_names(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=24, PatientName="Okonkwo^Bernard")
    ds.OtherPatientNames = ["Okonkwo^Bernard", "Smythe^Bernie"]
    ds.ImageComments = "aka Bernie Smythe"
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Smythe", "Bernie"])


def test_un_encoded_public_elements(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=25)
    for kw in ("PatientName", "ImageComments", "StudyDescription", "PatientID"):
        delattr(ds, kw)
    raw = {
        0x00100010: _le_explicit(0x00100010, b"UN", b"Okonkwo^Bernard"),
        0x00100020: _le_explicit(0x00100020, b"UN", b"QX7731"),
        0x00081030: _le_explicit(0x00081030, b"UN", b"CT for Bernard Okonkwo"),
        0x00204000: _le_explicit(0x00204000, b"UN", b"Okonkwo QX7731 reviewed"),
        0x00080104: _le_explicit(0x00080104, b"UN", b"Okonkwo Bernard"),
    }
    check(with_raw(ds, raw), research_plan, pseud, ["Okonkwo", "Bernard", "QX7731"])


def test_patient_name_with_wrong_explicit_vr(research_plan: Plan, pseud: Pseudonymizer) -> None:
    """Old converters write PatientName as LO: the name is still the name."""
    ds = make_instance(patient=26)
    del ds.PatientName
    ds.StudyDescription = "CT for Bernard Okonkwo"
    raw = {0x00100010: _le_explicit(0x00100010, b"LO", b"Okonkwo^Bernard")}
    check(with_raw(ds, raw), research_plan, pseud, ["Okonkwo", "Bernard"])


def test_name_in_coded_string_not_in_table(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=27, PatientName="Okonkwo^Bernard")
    ds.BodyPartExamined = "OKONKWO BERNARD"
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard"])


def test_un_sequence_of_undefined_length_with_nested_items(
    research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=28, PatientName="Okonkwo^Bernard", PatientID="QX7731")
    del ds.RequestAttributesSequence
    inner = _item_undefined(
        _le_implicit(0x00100010, b"Okonkwo^Bernard")
        + _le_implicit(0x00100020, b"QX7731")
        + _le_implicit(0x00401002, b"pain; Bernard Okonkwo QX7731")
    )
    nested_seq = struct.pack("<HHL", 0x0040, 0xA730, 0xFFFFFFFF) + inner + _SEQ_DELIM
    outer = _item_undefined(_le_implicit(0x00321060, b"CT for Okonkwo Bernard") + nested_seq)
    un_seq = struct.pack("<HH2sHL", 0x0040, 0x0275, b"UN", 0, 0xFFFFFFFF) + outer + _SEQ_DELIM
    private_seq = (
        _le_explicit(0x00290010, b"LO", b"ACME_UNKNOWN_9")
        + struct.pack("<HH2sHL", 0x0029, 0x1001, b"UN", 0, 0xFFFFFFFF)
        + _item_undefined(_le_implicit(0x00100010, b"Okonkwo^Bernard"))
        + _SEQ_DELIM
    )
    del ds[0x00290010]
    del ds[0x00291010]
    del ds[0x00291011]
    data = with_raw(ds, {0x00400275: un_seq, 0x00290010: private_seq})
    check(data, research_plan, pseud, ["Okonkwo", "Bernard", "QX7731"])


# --- transfer syntaxes --------------------------------------------------------------------


@pytest.mark.parametrize("ts", [DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_other_transfer_syntaxes(ts: str, research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(
        patient=29, transfer_syntax=ts, PatientName="Okonkwo^Bernard", PatientID="QX7731"
    )
    ds.ImageComments = "OKONKWO, BERNARD (QX7731) reviewed"
    ds.ContentSequence = Sequence([container(text_item("Bernard Okonkwo"))])
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "QX7731"])


# --- file meta, preamble, padding, graphics -----------------------------------------------


def test_file_meta_and_preamble(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=30, PatientName="Okonkwo^Bernard")
    ds.file_meta.SourceApplicationEntityTitle = "OKONKWO_WS"
    ds.file_meta.PrivateInformationCreatorUID = "1.2.3.4"
    ds.file_meta.PrivateInformation = b"patient Okonkwo^Bernard "
    ds.preamble = (b"Okonkwo^Bernard " * 8)[:128]
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard"])


def test_dataset_trailing_padding(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=31, PatientName="Okonkwo^Bernard")
    ds.add_new(0xFFFCFFFC, "OB", b"Okonkwo^Bernard QX7731 " * 4)
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard", "QX7731"])


def test_overlay_and_curve_groups(research_plan: Plan, pseud: Pseudonymizer) -> None:
    ds = make_instance(patient=32, PatientName="Okonkwo^Bernard")
    for group in (0x6000, 0x6002):
        ds.add_new(group << 16 | 0x0010, "US", 4)
        ds.add_new(group << 16 | 0x0011, "US", 4)
        ds.add_new(group << 16 | 0x0022, "LO", "Okonkwo Bernard overlay")
        ds.add_new(group << 16 | 0x1500, "LO", "OKONKWO")
        ds.add_new(group << 16 | 0x3000, "OW", b"Okonkwo^Bernard ")
        ds.add_new(group << 16 | 0x4000, "LT", "drawn for Bernard Okonkwo")
    ds.add_new(0x50000005, "US", 2)
    ds.add_new(0x50000022, "LO", "curve of Okonkwo Bernard")
    ds.add_new(0x50002500, "LO", "Okonkwo")
    ds.add_new(0x50003000, "OW", b"Okonkwo^Bernard ")
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "Bernard"])


# --- messages and reports -----------------------------------------------------------------


class _VanishingExecutor:
    """Deletes each input just before it is read, as another process might."""

    def map_tasks(self, settings, tasks):  # type: ignore[no-untyped-def]
        def gone():  # type: ignore[no-untyped-def]
            for task in tasks:
                for p in task.paths:
                    Path(p).unlink()
                yield task

        return SerialExecutor().map_tasks(settings, gone())


def test_report_never_names_an_input_path(tmp_path: Path) -> None:
    """Input folders are often named after patients; the report names inputs by keyed id."""
    folder = tmp_path / "in" / "OKONKWO_BERNARD_QX7731"
    folder.mkdir(parents=True)
    (folder / "img1.dcm").write_bytes(to_bytes(make_instance(patient=33)))
    out = tmp_path / "out"
    state = tmp_path / "out.imagedeid"
    summary = run(
        RunRequest(
            inputs=(tmp_path / "in",),
            output=out,
            profile=builtin_profile("research"),
            key=ProjectKey(b"leak-hunt-key-0123456789abcdef01"),
            state_dir=state,
            report_path=state / "report.json",
            executor=_VanishingExecutor(),  # type: ignore[arg-type]
        )
    )
    report = summary.report_path.read_text(encoding="utf-8")
    assert json.loads(report)["inputs"] == 1
    assert "okonkwo" not in report.lower(), "the report carries an input path"


def test_ids_in_jpeg_comment_of_encapsulated_pixel_data(
    research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """A JPEG COM segment is text any viewer's 'info' shows: not burned-in pixels."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    ds = make_instance(
        patient=34,
        transfer_syntax=JPEGBaseline8Bit,
        PatientName="Okonkwo^Bernard",
        PatientID="QX7731",
    )
    comment = b"Pt OKONKWO B / QX7731 "
    frame = b"\xff\xd8\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + b"\xff\xd9"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    check(to_bytes(ds), research_plan, pseud, ["Okonkwo", "QX7731"])
