"""Properties that hold for any input, checked with Hypothesis.

* no identifying input string survives anywhere in the output bytes;
* same key gives byte-identical output, another key other pseudonyms and UIDs;
* UID references between instances stay consistent;
* a patient's date intervals survive the shift exactly;
* de-identifying an output again still yields a readable file without PHI;
* every output re-reads with pydicom, in every transfer syntax.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pydicom
from builders import from_bytes, make_instance, to_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.policy.plan import compile_plan
from imagedeid.policy.profile import builtin_profile
from imagedeid.pseudonym import ProjectKey, Pseudonymizer
from imagedeid.text import build_cleaner

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHOD = ("imagedeid property tests",)
SECRET = b"property-test-key-0123456789abcd"
PROFILES = ("basic", "research", "safe-harbor")

# Mixed-case letters and digits: never part of DICOM boilerplate, dummies or pseudonyms.
word = st.from_regex(r"[A-Za-z]{3,6}[0-9]{1,3}[A-Za-z]{1,4}", fullmatch=True)
profiles = st.sampled_from(PROFILES)
numbers = st.integers(min_value=1, max_value=60)


def deidentify(data: bytes, profile: str, secret: bytes = SECRET) -> bytes:
    plan = compile_plan(builtin_profile(profile))
    pseud = Pseudonymizer(ProjectKey(secret))
    return deidentify_part10(data, plan, pseud, build_cleaner, METHOD).data


def reread(data: bytes) -> Dataset:
    ds = pydicom.dcmread(io.BytesIO(data))
    for elem in ds.iterall():  # decode every value: a bad one fails here
        _ = elem.value
    return ds


@st.composite
def phi_instances(draw: Any) -> tuple[Dataset, list[str]]:
    """An instance whose identifying values are all random words; returns it and them."""
    family, given_name, pid, other_id, inst, street, acc, proc_id = (draw(word) for _ in range(8))
    area, exchange = draw(st.integers(100, 999)), draw(st.integers(100, 999))
    phone = f"{area}-{exchange}-{draw(st.integers(1000, 9999))}"
    address = f"{draw(st.integers(1, 999))} {street} Road"
    ds = make_instance(
        patient=draw(numbers),
        PatientName=f"{family}^{given_name}",
        PatientID=pid,
        OtherPatientIDs=other_id,
        AccessionNumber=acc,
        InstitutionName=f"{inst} Clinic",
        InstitutionAddress=address,
        PatientAddress=address,
        PatientTelephoneNumbers=phone,
        StudyDescription=f"CT HEAD for {given_name} {family}",
        SeriesDescription=f"AXIAL 5MM {pid}",
        ImageComments=f"seen by {given_name} {family}, call {phone}, lives at {address}",
        AdditionalPatientHistory=f"{family} reports headache",
    )
    block = ds.private_block(0x0029, "ACME_PHI_1")
    block.add_new(0x10, "LO", f"{family}^{given_name}")
    block.add_new(0x11, "LO", pid)
    item = ds.RequestAttributesSequence[0]
    item.RequestedProcedureDescription = f"CT HEAD for {family}"
    item.RequestedProcedureID = proc_id
    item.PatientID = other_id
    phi = [family, given_name, pid, other_id, inst, street, acc, proc_id, phone]
    return ds, [*phi, phone.replace("-", "")]


@SETTINGS
@given(case=phi_instances(), profile=profiles)
def test_no_identifying_string_survives(case: tuple[Dataset, list[str]], profile: str) -> None:
    ds, phi = case
    data = to_bytes(ds)
    assert all(s.encode("ascii") in data for s in phi[:-1]), "every value is in the input"
    out = deidentify(data, profile)
    low = out.lower()
    survivors = [s for s in phi if s.lower().encode("ascii") in low]
    assert survivors == []
    if profile != "basic":
        assert "CT HEAD" in from_bytes(out).StudyDescription


@SETTINGS
@given(
    case=phi_instances(),
    profile=profiles,
    secrets=st.lists(st.binary(min_size=16, max_size=48), min_size=2, max_size=2, unique=True),
)
def test_same_key_same_output_other_key_other_pseudonyms(
    case: tuple[Dataset, list[str]], profile: str, secrets: list[bytes]
) -> None:
    data = to_bytes(case[0])
    first, second = secrets
    assert deidentify(data, profile, first) == deidentify(data, profile, first)
    a, b = (
        from_bytes(deidentify(data, profile, first)),
        from_bytes(deidentify(data, profile, second)),
    )
    for keyword in (
        "PatientID",
        "PatientName",
        "AccessionNumber",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "FrameOfReferenceUID",
    ):
        assert str(a.data_element(keyword).value) != str(b.data_element(keyword).value), keyword
    ref = "ReferencedImageSequence"
    assert a[ref][0].ReferencedSOPInstanceUID != b[ref][0].ReferencedSOPInstanceUID


@SETTINGS
@given(patient=numbers, study=numbers, instance=numbers, profile=profiles)
def test_uid_references_stay_consistent(
    patient: int, study: int, instance: int, profile: str
) -> None:
    target = make_instance(patient, study, series=1, instance=instance)
    source = make_instance(patient, study, series=2, instance=instance + 1)
    source.ReferencedImageSequence[0].ReferencedSOPInstanceUID = target.SOPInstanceUID
    source.ReferencedImageSequence[0].ReferencedSOPClassUID = target.SOPClassUID
    out_target = from_bytes(deidentify(to_bytes(target), profile))
    out_source = from_bytes(deidentify(to_bytes(source), profile))
    new_ref = out_source.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert new_ref == out_target.SOPInstanceUID != target.SOPInstanceUID
    assert out_source.StudyInstanceUID == out_target.StudyInstanceUID != target.StudyInstanceUID
    assert out_source.SeriesInstanceUID != out_target.SeriesInstanceUID
    assert out_source.PatientID == out_target.PatientID
    assert out_target.file_meta.MediaStorageSOPInstanceUID == out_target.SOPInstanceUID


def _da(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _day(da: str) -> dt.date:
    return dt.date(int(da[:4]), int(da[4:6]), int(da[6:8]))


dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31))


def _dated(patient: int, study: int, day: dt.date) -> Dataset:
    da = _da(day)
    return make_instance(
        patient,
        study,
        StudyDate=da,
        SeriesDate=da,
        AcquisitionDate=da,
        ContentDate=da,
        AcquisitionDateTime=da + "093000.5",
    )


@SETTINGS
@given(patient=numbers, first=dates, second=dates)
def test_two_studies_keep_interval(patient: int, first: dt.date, second: dt.date) -> None:
    outs = [
        from_bytes(deidentify(to_bytes(_dated(patient, study, day)), "research"))
        for study, day in ((1, first), (2, second))
    ]
    new = [_day(o.StudyDate) for o in outs]
    assert new[1] - new[0] == second - first
    shift = (new[0] - first).days
    assert shift < 0 and shift % 7 == 0, "a whole number of weeks into the past"
    for out, day in zip(outs, (first, second), strict=True):
        for keyword in ("SeriesDate", "AcquisitionDate", "ContentDate"):
            assert _day(out.data_element(keyword).value) - day == dt.timedelta(days=shift)
        assert out.AcquisitionDateTime == _da(day + dt.timedelta(days=shift)) + "093000.5"


@SETTINGS
@given(patient=numbers, day=dates)
def test_safe_harbor_keeps_only_the_year(patient: int, day: dt.date) -> None:
    out = from_bytes(deidentify(to_bytes(_dated(patient, 1, day)), "safe-harbor"))
    assert out.StudyDate == f"{day.year}0101"
    assert out.AcquisitionDateTime == str(day.year)


@SETTINGS
@given(case=phi_instances(), profile=profiles)
def test_deidentifying_twice_still_clean(case: tuple[Dataset, list[str]], profile: str) -> None:
    ds, phi = case
    once = deidentify(to_bytes(ds), profile)
    twice = deidentify(once, profile)
    reread(twice)
    low = twice.lower()
    assert [s for s in phi if s.lower().encode("ascii") in low] == []
    assert from_bytes(twice).PatientIdentityRemoved == "YES"


SYNTAXES = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
)


@SETTINGS
@given(
    patient=numbers,
    syntax=st.sampled_from(SYNTAXES),
    modality=st.sampled_from(("CT", "MR", "US", "CR", "NM")),
    profile=profiles,
)
def test_output_rereads(patient: int, syntax: str, modality: str, profile: str) -> None:
    data = to_bytes(make_instance(patient, modality=modality, transfer_syntax=syntax))
    out = reread(deidentify(data, profile))
    assert out.file_meta.TransferSyntaxUID == syntax
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPClassUID == out.SOPClassUID
    assert out.Modality == modality
    assert out.PixelData == from_bytes(data).PixelData
    assert out.PatientIdentityRemoved == "YES"
