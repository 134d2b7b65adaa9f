"""Generate a synthetic, PHI-injected DICOM corpus and a manifest of what was injected.

Importable (tests add ``benchmarks/`` to ``sys.path``) and runnable::

    python benchmarks/phi_corpus.py OUT_DIR --patients 50 --studies 2 --files-per-series 4 --seed 0

Writes ``OUT_DIR/dicom/<LAST>_<FIRST>_<MRN>/study<k>_<YYYYMMDD>/series<m>/IM<nnnn>.dcm`` and
``OUT_DIR/manifest.json``. Depends on pydicom and the standard library only.

Every file is a copy of one of pydicom's shipped test files (its pixel data byte for byte)
with a synthetic patient written over the header, including in places that
de-identification tools often miss: descriptions, comments, request sequences, references
to other instances and studies, and private tags (with a nested private sequence).
Everything is deterministic for a given seed. All people, places and numbers are made up
from the small word lists below (the names are deliberately rare so that a tool's own
replacement names do not collide with them); phone numbers use the fictional 555-01xx range
and e-mail addresses the reserved ``example.*`` domains.

Manifest (``MANIFEST_FORMAT``), per patient:

* ``identifiers``: category -> list of injected strings that must not survive
  de-identification (``name``, ``id``, ``accession``, ``birthdate``, ``date``, ``address``,
  ``phone``, ``email``, ``institution``, ``staff``, ``device``, ``uid``); see
  ``identifying_strings``. ``birthdate`` and ``date`` are only meaningful against the
  patient's own files (other tools' shifted dates can coincide with them).
* ``studies``: original StudyInstanceUID, date, time and the list of files; each file has
  its relative path, template, SHA-256 of its pixel data, original dates and times, the
  clinical words its descriptors should keep, the original UIDs it references, and a
  ``fingerprint`` (its SliceLocation, unique in the corpus) for matching outputs back to
  inputs after a tool has replaced UIDs and names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

MANIFEST_FORMAT = "imagedeid-phi-corpus/1"
PRIVATE_CREATOR = "ACME_PHI_1"  # made up; no safe-private list knows it
SAFE_PRIVATE_CREATOR = "GEMS_ACQU_01"  # CTP keeps (0019,xx1E) DisplayFieldOfView
SAFE_PRIVATE_ELEMENT = 0x1E
SAFE_PRIVATE_VALUE = "250.000000"
FINGERPRINT_BASE = -1000.0  # SliceLocation of file k is FINGERPRINT_BASE - SLICE_STEP * k
SLICE_STEP = 1.25

# fmt: off
SURNAMES = (
    "Quillfeather", "Brightwater", "Vandermeulen", "Thistlewood", "Marchbanks", "Fairweather",
    "Oakenfold", "Ravenscroft", "Winterbourne", "Ashcombe", "Blackthorne", "Cresswell",
    "Everleigh", "Fotheringham", "Gallowglass", "Hollingsworth", "Ingleby", "Kettleborough",
    "Larkwhistle", "Mossbridge", "Nettlefold", "Pennyfeather", "Quarrington", "Rookwood",
    "Saltonstall", "Tregarthen", "Underhay", "Verity-Moorcroft", "Wolstenholme", "Yarborough",
    "Zouchmere", "Ambleforth", "Birtwhistle", "Cholmondley", "Drinkwater", "Elderkin",
)
GIVEN_NAMES = (
    "Odalys", "Xanthippe", "Ignatius", "Persephone", "Leopoldina", "Bartholomew", "Eudoxia",
    "Ebenezer", "Octavia", "Percival", "Wilhelmina", "Ambrose", "Clementine", "Lysander",
    "Philomena", "Barnaby", "Seraphina", "Leocadia", "Florian", "Euphemia", "Horatio",
    "Anselm", "Lucasta", "Tiberius", "Ottoline", "Casimir", "Imogen", "Leander", "Zenobia",
    "Evander", "Ozias", "Crispin", "Araminta", "Guinevere", "Peregrine", "Domitilla",
)
STAFF_SURNAMES = (  # disjoint from the patients' names, so leaks are attributed right
    "Wetherspoon", "Ashdown-Pryce", "Blenkinsop", "Crabtree-Vane", "Dunsford", "Eversholt",
    "Fennimore", "Grimsditch", "Hartopp", "Inchbald", "Jellicoe", "Kingscote", "Lethbridge",
    "Mainwaring", "Nethercott", "Ormerod",
)
STAFF_GIVEN_NAMES = (
    "Aldous", "Benedetta", "Cosimo", "Drusilla", "Eustace", "Fenella", "Gideon", "Hermione",
    "Isidore", "Jocasta", "Kenelm", "Lavinia", "Mungo", "Nerissa", "Oriel", "Petronella",
)
STREET_WORDS = (
    "Juniperhill", "Copperbeech", "Larkspur", "Foxglove", "Wrenfield", "Hawthornden",
    "Mossgiel", "Bramblewood", "Kingfisher", "Thornbury", "Cloudberry", "Windlesham",
)
STREET_KINDS = ("Lane", "Road", "Court", "Terrace", "Way", "Crescent")
CITIES = (  # (city, state, first three digits of the ZIP code)
    ("Wrenbury Falls", "OR", "973"), ("Harrowgate", "VT", "056"),
    ("Pellston Ridge", "MI", "497"), ("Quarry Hollow", "PA", "169"),
    ("Saltmarsh Bay", "ME", "046"), ("Elmstead Crossing", "KS", "675"),
)
INSTITUTIONS = (  # (name, station-name code)
    ("St. Aldric Memorial Hospital", "SAM"),
    ("Blackfen Imaging Center", "BIC"),
    ("Northmoor Regional Medical Center", "NRM"),
    ("Kestrel Valley Community Clinic", "KVC"),
)
ETHNIC_GROUPS = ("Hispanic", "Not Hispanic", "Declined", "Unknown")
EMAIL_DOMAINS = ("example.org", "example.net", "example.com")
# fmt: on


@dataclass(frozen=True)
class SeriesKind:
    template: str  # a file name in pydicom's test data
    description: str  # the clinical words a de-identified SeriesDescription should keep


@dataclass(frozen=True)
class StudyKind:
    code: str
    description: str  # the clinical words a de-identified StudyDescription should keep
    body_part: str
    series: tuple[SeriesKind, ...]


STUDY_KINDS = (
    StudyKind(
        "CT",
        "CT HEAD W/O CONTRAST",
        "HEAD",
        (
            SeriesKind("CT_small.dcm", "AXIAL 5MM"),
            SeriesKind("693_J2KI.dcm", "CORONAL MPR 3MM"),
            SeriesKind("SC_rgb_jpeg_dcmtk.dcm", "DOSE REPORT"),
        ),
    ),
    StudyKind(
        "MR",
        "MR BRAIN W/WO CONTRAST",
        "BRAIN",
        (
            SeriesKind("MR_small.dcm", "AX T1 SE"),
            SeriesKind("MR_small_RLE.dcm", "AX T2 FLAIR"),
            SeriesKind("MR_small_jp2klossless.dcm", "DWI B1000"),
        ),
    ),
    StudyKind(
        "NM",
        "NM BONE SCAN WHOLE BODY",
        "WHOLEBODY",
        (
            SeriesKind("JPEG2000.dcm", "ANT WHOLE BODY"),
            SeriesKind("JPGExtended.dcm", "POST WHOLE BODY"),
            SeriesKind("SC_rgb_rle.dcm", "SPOT VIEWS"),
        ),
    ),
)
DATE_TIME_PAIRS = (
    ("StudyDate", "StudyTime"),
    ("SeriesDate", "SeriesTime"),
    ("AcquisitionDate", "AcquisitionTime"),
    ("ContentDate", "ContentTime"),
    ("InstanceCreationDate", "InstanceCreationTime"),
)


@dataclass(frozen=True)
class CorpusParams:
    patients: int = 50
    studies: int = 2
    files_per_series: int = 4
    seed: int = 0

    @property
    def file_count(self) -> int:
        return self.patients * self.studies * 3 * self.files_per_series


@dataclass(frozen=True)
class Person:
    last: str
    first: str

    @property
    def pn(self) -> str:
        return f"{self.last.upper()}^{self.first.upper()}"

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"

    def strings(self) -> list[str]:
        return [self.last, self.first, self.pn, self.full]


class _Generator:
    """Draws every synthetic value from one seeded random stream."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._used: set[str] = set()

    def uid(self, *parts: object) -> str:
        return str(generate_uid(entropy_srcs=[f"phi-corpus/{self.seed}", *map(str, parts)]))

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(10_000):
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value
        raise ValueError("the word lists ran out of unique values; ask for fewer patients")

    def digits(self, n: int) -> str:
        return str(self.rng.randint(10 ** (n - 1), 10**n - 1))

    def person(self) -> Person:
        return Person(self.rng.choice(SURNAMES), self.rng.choice(GIVEN_NAMES))

    def staff(self) -> Person:
        return Person(self.rng.choice(STAFF_SURNAMES), self.rng.choice(STAFF_GIVEN_NAMES))

    def serial(self) -> str:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return "".join(self.rng.choice(letters) for _ in range(3)) + self.digits(6)

    def address(self) -> dict[str, str]:
        city, state, zip3 = self.rng.choice(CITIES)
        street = f"{self.rng.randint(12, 9876)} {self.rng.choice(STREET_WORDS)} "
        street += self.rng.choice(STREET_KINDS)
        return {"street": street, "city": city, "state_zip": f"{state} {zip3}{self.digits(2)}"}


def _patient(gen: _Generator, index: int) -> dict[str, Any]:
    names = gen.unique(lambda: gen.person().pn)
    last_up, first_up = names.split("^")
    person = Person(last_up.title(), first_up.title())
    mother = Person(gen.rng.choice(SURNAMES), gen.rng.choice(GIVEN_NAMES))
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=gen.rng.randint(0, 70 * 365))
    area = gen.rng.randint(201, 989)
    address = gen.address()
    return {
        "key": f"P{index + 1:03d}",
        "person": person,
        "mother": mother,
        "mrn": gen.unique(lambda: "H" + gen.digits(8)),
        "other_ids": [
            gen.unique(lambda: "E" + gen.digits(7)),
            gen.unique(lambda: "MC" + gen.digits(9)),
        ],
        "birth": birth,
        "sex": gen.rng.choice("FM"),
        "address": address,
        "phone": gen.unique(lambda: f"({area}) 555-01{gen.rng.randint(0, 99):02d}"),
        "email": f"{person.first.lower()}.{person.last.lower()}{gen.rng.randint(1, 99)}"
        f"@{gen.rng.choice(EMAIL_DOMAINS)}",
        "ethnic_group": gen.rng.choice(ETHNIC_GROUPS),
    }


def _study_plans(gen: _Generator, params: CorpusParams) -> list[dict[str, Any]]:
    kind = gen.rng.choice(STUDY_KINDS)
    day = dt.date(2015, 1, 1) + dt.timedelta(days=gen.rng.randint(0, 8 * 365))
    plans = []
    for number in range(1, params.studies + 1):
        if number > 1:
            day += dt.timedelta(days=gen.rng.randint(45, 540))
            if gen.rng.random() < 0.5:
                kind = gen.rng.choice(STUDY_KINDS)
        institution, code = gen.rng.choice(INSTITUTIONS)
        start = dt.datetime.combine(
            day, dt.time(gen.rng.randint(7, 18), gen.rng.randint(0, 59), gen.rng.randint(0, 59))
        )
        plans.append(
            {
                "number": number,
                "kind": kind,
                "start": start,
                "accession": gen.unique(lambda: gen.digits(10)),
                "study_id": gen.unique(lambda: gen.digits(8)),
                "requested_procedure_id": gen.unique(lambda: "RP" + gen.digits(7)),
                "sps_id": gen.unique(lambda: "SPS" + gen.digits(7)),
                "referring": gen.staff(),
                "performing": gen.staff(),
                "reading": gen.staff(),
                "operator": gen.staff(),
                "institution": institution,
                "institution_address": gen.address(),
                "station": f"{code}-{kind.code}{gen.rng.randint(1, 9):02d}",
                "serial": gen.unique(gen.serial),
            }
        )
    return plans


def _da(value: dt.datetime | dt.date) -> str:
    return value.strftime("%Y%m%d")


def _tm(value: dt.datetime) -> str:
    return value.strftime("%H%M%S")


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{years:03d}Y"


def _set_patient(ds: Dataset, p: dict[str, Any], study: dict[str, Any]) -> None:
    person: Person = p["person"]
    addr = p["address"]
    ds.PatientName = person.pn
    ds.PatientID = p["mrn"]
    ds.IssuerOfPatientID = "SAM MRN"
    ds.OtherPatientIDs = "\\".join(p["other_ids"])
    seq_items = []
    for other in p["other_ids"]:
        item = Dataset()
        item.PatientID = other
        item.TypeOfPatientID = "TEXT"
        seq_items.append(item)
    ds.OtherPatientIDsSequence = Sequence(seq_items)
    ds.PatientBirthDate = _da(p["birth"])
    ds.PatientSex = p["sex"]
    ds.PatientAge = _age(p["birth"], study["start"].date())
    ds.PatientAddress = f"{addr['street']}, {addr['city']}, {addr['state_zip']}"
    ds.PatientTelephoneNumbers = p["phone"]
    ds.PatientTelecomInformation = p["email"]
    ds.PatientMotherBirthName = p["mother"].pn
    ds.EthnicGroup = p["ethnic_group"]
    ds.PatientComments = f"Prefers e-mail {p['email']}; lives at {addr['street']}"
    ds.AdditionalPatientHistory = (
        f"{person.full}, DOB {p['birth'].strftime('%m/%d/%Y')}: "
        f"prior imaging at {study['institution']}"
    )
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
    ):
        if keyword in ds:
            delattr(ds, keyword)


def _set_study(ds: Dataset, p: dict[str, Any], study: dict[str, Any]) -> None:
    person: Person = p["person"]
    kind: StudyKind = study["kind"]
    iaddr = study["institution_address"]
    ds.StudyInstanceUID = study["uid"]
    ds.StudyDate = _da(study["start"])
    ds.StudyTime = _tm(study["start"])
    ds.AccessionNumber = study["accession"]
    ds.StudyID = study["study_id"]
    ds.StudyDescription = f"{kind.description} for {person.full}"
    ds.BodyPartExamined = kind.body_part
    ds.ReferringPhysicianName = study["referring"].pn
    ds.PerformingPhysicianName = study["performing"].pn
    ds.NameOfPhysiciansReadingStudy = study["reading"].pn
    ds.OperatorsName = study["operator"].pn
    ds.InstitutionName = study["institution"]
    ds.InstitutionAddress = f"{iaddr['street']}, {iaddr['city']}, {iaddr['state_zip']}"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.StationName = study["station"]
    ds.DeviceSerialNumber = study["serial"]
    request = Dataset()
    request.AccessionNumber = study["accession"]
    request.RequestedProcedureID = study["requested_procedure_id"]
    request.RequestedProcedureDescription = f"{kind.description} - {person.full}"
    request.ScheduledProcedureStepID = study["sps_id"]
    request.ScheduledProcedureStepDescription = kind.description
    ds.RequestAttributesSequence = Sequence([request])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    referenced.ReferencedSOPInstanceUID = study["other_uid"]
    ds.ReferencedStudySequence = Sequence([referenced])


def _set_private(ds: Dataset, p: dict[str, Any], study: dict[str, Any]) -> None:
    person: Person = p["person"]
    block = ds.private_block(0x0029, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", person.pn)
    block.add_new(0x11, "LO", p["mrn"])
    nested = Dataset()
    inner = nested.private_block(0x0029, PRIVATE_CREATOR, create=True)
    inner.add_new(0x12, "LO", study["accession"])
    inner.add_new(0x13, "LO", person.full)
    block.add_new(0x20, "SQ", Sequence([nested]))
    safe = ds.private_block(0x0019, SAFE_PRIVATE_CREATOR, create=True)
    safe.add_new(SAFE_PRIVATE_ELEMENT, "DS", SAFE_PRIVATE_VALUE)


@dataclass(frozen=True)
class _Instance:
    series_uid: str
    series_number: int
    series_description: str
    frame_uid: str
    sop_uid: str
    number: int
    fingerprint: float
    referenced_sop_uid: str
    study_start: dt.datetime
    series_start: dt.datetime
    acquired: dt.datetime


def _set_instance(ds: Dataset, p: dict[str, Any], inst: _Instance) -> dict[str, str]:
    """Write series- and instance-level values; return the original dates and times."""
    ds.SeriesInstanceUID = inst.series_uid
    ds.SeriesNumber = inst.series_number
    ds.SeriesDescription = f"{inst.series_description} {p['mrn']}"
    ds.ProtocolName = inst.series_description
    ds.FrameOfReferenceUID = inst.frame_uid
    ds.SOPInstanceUID = inst.sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(inst.sop_uid)
    ds.InstanceNumber = inst.number
    ds.SliceLocation = inst.fingerprint
    if "ImagePositionPatient" in ds:
        x, y, _ = ds.ImagePositionPatient
        ds.ImagePositionPatient = [x, y, inst.fingerprint]
    ds.ImageComments = f"Pt {p['person'].full} called from {p['phone']} re: prep"
    image_ref = Dataset()
    image_ref.ReferencedSOPClassUID = ds.SOPClassUID
    image_ref.ReferencedSOPInstanceUID = inst.referenced_sop_uid
    ds.ReferencedImageSequence = Sequence([image_ref])
    stamps = {
        "Study": inst.study_start,
        "Series": inst.series_start,
        "Acquisition": inst.acquired,
        "Content": inst.acquired + dt.timedelta(seconds=1),
        "InstanceCreation": inst.acquired + dt.timedelta(seconds=30),
    }
    dates: dict[str, str] = {}
    for prefix, stamp in stamps.items():
        dates[f"{prefix}Date"] = _da(stamp)
        dates[f"{prefix}Time"] = _tm(stamp)
    if "AcquisitionDateTime" in ds:
        dates["AcquisitionDateTime"] = _da(inst.acquired) + _tm(inst.acquired)
    for keyword, value in dates.items():
        setattr(ds, keyword, value)
    return dates


def _identifiers(
    p: dict[str, Any], studies: list[dict[str, Any]], uids: list[str]
) -> dict[str, list[str]]:
    person: Person = p["person"]
    addr = p["address"]
    found: dict[str, list[str]] = {
        "name": [*person.strings(), *p["mother"].strings()],
        "id": [p["mrn"], *p["other_ids"]],
        "accession": [],
        "birthdate": [_da(p["birth"]), p["birth"].strftime("%m/%d/%Y")],
        "date": [],
        "address": [addr["street"], addr["city"], addr["state_zip"]],
        "phone": [p["phone"]],
        "email": [p["email"]],
        "institution": [],
        "staff": [],
        "device": [],
        "uid": uids,
    }
    for s in studies:
        found["accession"].append(s["accession"])
        found["id"] += [s["study_id"], s["requested_procedure_id"], s["sps_id"]]
        found["date"].append(_da(s["start"]))
        iaddr = s["institution_address"]
        found["institution"] += [s["institution"], iaddr["street"], iaddr["state_zip"]]
        for role in ("referring", "performing", "reading", "operator"):
            found["staff"] += s[role].strings()
        found["device"] += [s["station"], s["serial"]]
    return {cat: sorted(set(values)) for cat, values in found.items()}


def _pixel_sha256(ds: Dataset) -> str | None:
    return hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None


def _template_bytes(name: str) -> bytes:
    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is not installed")
    return Path(str(path)).read_bytes()


class _Writer:
    """Writes instances from the templates, numbering files across the whole corpus."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.templates = {
            s.template: _template_bytes(s.template) for k in STUDY_KINDS for s in k.series
        }
        self.count = 0

    def next_fingerprint(self) -> float:
        self.count += 1
        return round(FINGERPRINT_BASE - SLICE_STEP * (self.count - 1), 2)

    def write_series(
        self,
        gen: _Generator,
        p: dict[str, Any],
        study: dict[str, Any],
        index: int,
        files_per_series: int,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Write one series; return its manifest file entries and the UIDs it introduced."""
        kind: SeriesKind = study["kind"].series[index]
        key = (p["key"], study["number"], index)
        series_uid, frame_uid = gen.uid(*key, "series"), gen.uid(*key, "frame")
        sop_uids = [gen.uid(*key, "sop", n) for n in range(files_per_series)]
        series_start = study["start"] + dt.timedelta(minutes=4 * index + 2)
        entries = []
        for n, sop_uid in enumerate(sop_uids):
            inst = _Instance(
                series_uid=series_uid,
                series_number=index + 1,
                series_description=kind.description,
                frame_uid=frame_uid,
                sop_uid=sop_uid,
                number=n + 1,
                fingerprint=self.next_fingerprint(),
                referenced_sop_uid=sop_uids[-1] if n == 0 else sop_uids[0],
                study_start=study["start"],
                series_start=series_start,
                acquired=series_start + dt.timedelta(seconds=2 * n + 5),
            )
            ds = pydicom.dcmread(io.BytesIO(self.templates[kind.template]))
            _set_patient(ds, p, study)
            _set_study(ds, p, study)
            _set_private(ds, p, study)
            dates = _set_instance(ds, p, inst)
            rel = f"{study['folder']}/series{index + 1}/IM{n + 1:04d}.dcm"
            (self.out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(self.out_dir / rel, enforce_file_format=True)
            words = {
                "StudyDescription": study["kind"].description.split(),
                "SeriesDescription": kind.description.split(),
            }
            entries.append(
                {
                    "path": rel,
                    "template": kind.template,
                    "modality": str(ds.get("Modality", "")),
                    "series_instance_uid": series_uid,
                    "sop_instance_uid": sop_uid,
                    "fingerprint": inst.fingerprint,
                    "pixel_sha256": _pixel_sha256(ds),
                    "dates": dates,
                    "clinical_words": words,
                    "references": {"image": inst.referenced_sop_uid, "study": study["other_uid"]},
                }
            )
        return entries, [series_uid, frame_uid, *sop_uids]


def _build_patient(
    gen: _Generator, writer: _Writer, index: int, params: CorpusParams
) -> dict[str, Any]:
    p = _patient(gen, index)
    person: Person = p["person"]
    folder = f"dicom/{person.last.upper()}_{person.first.upper()}_{p['mrn']}"
    studies = _study_plans(gen, params)
    for s in studies:
        s["uid"] = gen.uid(p["key"], "study", s["number"])
        s["folder"] = f"{folder}/study{s['number']}_{_da(s['start'])}"
    for i, s in enumerate(studies):  # each study refers to the patient's previous (or next) one
        s["other_uid"] = studies[i - 1 if i else min(1, len(studies) - 1)]["uid"]
    uids = [s["uid"] for s in studies]
    studies_out = []
    for s in studies:
        files: list[dict[str, Any]] = []
        for series_index in range(len(s["kind"].series)):
            entries, new_uids = writer.write_series(
                gen, p, s, series_index, params.files_per_series
            )
            files += entries
            uids += new_uids
        studies_out.append(
            {
                "key": f"{p['key']}-S{s['number']}",
                "kind": s["kind"].code,
                "study_instance_uid": s["uid"],
                "study_date": _da(s["start"]),
                "study_time": _tm(s["start"]),
                "accession": s["accession"],
                "files": files,
            }
        )
    return {
        "key": p["key"],
        "folder": folder,
        "demographics": {
            "name": person.pn,
            "mrn": p["mrn"],
            "other_ids": p["other_ids"],
            "birth_date": _da(p["birth"]),
            "sex": p["sex"],
            "address": p["address"],
            "phone": p["phone"],
            "email": p["email"],
            "ethnic_group": p["ethnic_group"],
            "mother_birth_name": p["mother"].pn,
        },
        "identifiers": _identifiers(p, studies, uids),
        "studies": studies_out,
    }


def build_corpus(out_dir: Path, params: CorpusParams) -> dict[str, Any]:
    """Write the corpus under ``out_dir/dicom`` and ``out_dir/manifest.json``; return it."""
    if (out_dir / "dicom").exists():
        shutil.rmtree(out_dir / "dicom")
    gen = _Generator(params.seed)
    writer = _Writer(out_dir)
    patients = [_build_patient(gen, writer, i, params) for i in range(params.patients)]
    manifest = {
        "format": MANIFEST_FORMAT,
        "generator": generator_digest(),
        "params": asdict(params),
        "file_count": writer.count,
        "private_creator": PRIVATE_CREATOR,
        "safe_private": {
            "creator": SAFE_PRIVATE_CREATOR,
            "group": 0x0019,
            "element": SAFE_PRIVATE_ELEMENT,
            "value": SAFE_PRIVATE_VALUE,
        },
        "patients": patients,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def load_manifest(out_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    return data


def generator_digest() -> str:
    """Changes whenever this generator does, so that a stale corpus is rebuilt."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def manifest_matches(out_dir: Path, params: CorpusParams) -> bool:
    """True when ``out_dir`` holds a complete corpus built with ``params``."""
    try:
        manifest = load_manifest(out_dir)
    except (OSError, ValueError):
        return False
    wanted = (MANIFEST_FORMAT, generator_digest(), asdict(params))
    if (manifest.get("format"), manifest.get("generator"), manifest.get("params")) != wanted:
        return False
    return all((out_dir / f["path"]).is_file() for f in iter_files(manifest))


def iter_files(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every file entry of the manifest, each with ``patient`` and ``study`` keys added."""
    for patient in manifest["patients"]:
        for study in patient["studies"]:
            for entry in study["files"]:
                yield {**entry, "patient": patient["key"], "study": study["key"]}


def identifying_strings(manifest: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Every injected identifying string as ``(patient key, category, string)``."""
    for patient in manifest["patients"]:
        for category, values in patient["identifiers"].items():
            for value in values:
                yield patient["key"], category, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--patients", type=int, default=CorpusParams.patients)
    parser.add_argument("--studies", type=int, default=CorpusParams.studies)
    parser.add_argument("--files-per-series", type=int, default=CorpusParams.files_per_series)
    parser.add_argument("--seed", type=int, default=CorpusParams.seed)
    args = parser.parse_args(argv)
    params = CorpusParams(args.patients, args.studies, args.files_per_series, args.seed)
    if min(params.patients, params.studies, params.files_per_series) < 1:
        parser.error("--patients, --studies and --files-per-series must be at least 1")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    manifest = build_corpus(args.out_dir, params)
    print(
        f"wrote {manifest['file_count']} files for {params.patients} patients "
        f"to {args.out_dir / 'dicom'} and {args.out_dir / 'manifest.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
