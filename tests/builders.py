"""Test builders: synthetic, PHI-laden DICOM instances made in code, round-tripped to bytes.

``make_instance(patient=1, study=2, series=1, instance=3)`` gives a small CT instance
whose identifying values are derived from the numbers, so tests can state what must
not survive (``phi_strings(patient=1, study=2)``) and what must stay consistent.
"""

from __future__ import annotations

import io
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's example root, fine for tests

FIRST_NAMES = ["Alice", "Bernard", "Chiara", "Dmitri", "Esther", "Farouk", "Greta", "Hiroshi"]
LAST_NAMES = [
    "Whitfield",
    "Okonkwo",
    "Lindqvist",
    "Marchetti",
    "Castellanos",
    "Przybylski",
    "Abernathy",
    "Villanueva",
]


def patient_name(patient: int) -> tuple[str, str]:
    return LAST_NAMES[patient % len(LAST_NAMES)] + str(patient), FIRST_NAMES[
        patient % len(FIRST_NAMES)
    ]


def uid(*parts: int) -> str:
    return ROOT + ".".join(str(p) for p in parts)


def patient_id(patient: int) -> str:
    return f"MRN{7300000 + patient * 17}"


def study_date(patient: int, study: int) -> str:
    return f"20{10 + study:02d}{(patient % 12) + 1:02d}{(patient % 27) + 1:02d}"


def phi_strings(patient: int, study: int = 1) -> list[str]:
    last, first = patient_name(patient)
    return [
        last,
        first,
        f"{last}^{first}",
        patient_id(patient),
        f"ACC{patient:03d}{study:03d}X9",
        f"555-01{patient:02d}-{study:04d}",
        f"{patient} Elm Street Springfield",
        "Saint Hildegard Hospital",
        f"Dr{patient}Referrer",
        f"SN-{patient:04d}-77Q",
        f"19{40 + patient % 50:02d}0{1 + patient % 9}15",
        study_date(patient, study),
        uid(patient, study),
        uid(patient, study, 1),
        uid(patient, study, 1, 1),
    ]


def make_instance(
    patient: int = 1,
    study: int = 1,
    series: int = 1,
    instance: int = 1,
    modality: str = "CT",
    transfer_syntax: str = ExplicitVRLittleEndian,
    **overrides: Any,
) -> Dataset:
    last, first = patient_name(patient)
    date = study_date(patient, study)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.BurnedInAnnotation = "NO"  # as CT scanners write it; pixel tests build their own
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(patient, study, series, instance)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = "101500"
    ds.SeriesTime = "102000"
    ds.AccessionNumber = f"ACC{patient:03d}{study:03d}X9"
    ds.Modality = modality
    ds.Manufacturer = "ACME Imaging"
    ds.InstitutionName = "Saint Hildegard Hospital"
    ds.InstitutionAddress = f"{patient} Elm Street Springfield"
    ds.ReferringPhysicianName = f"Dr{patient}Referrer^Paula"
    ds.StationName = f"CTSTATION{patient:02d}"
    ds.StudyDescription = f"CT HEAD W/O CONTRAST for {first} {last}"
    ds.SeriesDescription = f"AXIAL 5MM {patient_id(patient)}"
    ds.OperatorsName = f"Tech{patient}^Sam"
    ds.PatientName = f"{last}^{first}"
    ds.PatientID = patient_id(patient)
    ds.PatientBirthDate = f"19{40 + patient % 50:02d}0{1 + patient % 9}15"
    ds.PatientSex = "F" if patient % 2 else "M"
    ds.PatientAge = f"{40 + patient % 60:03d}Y"
    ds.PatientAddress = f"{patient} Elm Street Springfield"
    ds.PatientTelephoneNumbers = f"555-01{patient:02d}-{study:04d}"
    ds.AdditionalPatientHistory = f"call {first} at 555-01{patient:02d}-{study:04d}"
    ds.DeviceSerialNumber = f"SN-{patient:04d}-77Q"
    ds.StudyInstanceUID = uid(patient, study)
    ds.SeriesInstanceUID = uid(patient, study, series)
    ds.FrameOfReferenceUID = uid(patient, study, series, 0)
    ds.StudyID = f"S{study}"
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.ImageComments = f"Reviewed by {first} {last}"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = uid(patient, study, series, instance + 1000)
    ds.ReferencedImageSequence = Sequence([ref])
    req = Dataset()
    req.RequestedProcedureDescription = f"CT HEAD for {last}"
    req.RequestedProcedureID = f"RP{patient_id(patient)}"
    ds.RequestAttributesSequence = Sequence([req])
    block = ds.private_block(0x0029, "ACME_PHI_1", create=True)
    block.add_new(0x10, "LO", f"{last}^{first}")
    block.add_new(0x11, "LO", patient_id(patient))
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(32))
    for keyword, value in overrides.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def from_bytes(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def fresh_uid() -> str:
    return str(generate_uid())


def header_only_profile():  # type: ignore[no-untyped-def]
    """research without Clean Pixel Data: for tests of the header engine over many files
    (OCR over them would take minutes; pixel tests have their own modules)."""
    from dataclasses import replace

    from imagedeid.model import PixelSettings
    from imagedeid.policy.profile import BUILTIN_PROFILES

    return replace(BUILTIN_PROFILES["research"], id="research-headers", pixels=PixelSettings())
