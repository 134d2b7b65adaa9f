"""Score a de-identified copy of a phi_corpus corpus: residual PHI and utility.

``analyze(output_dir, manifest)`` walks every file under ``output_dir`` and
returns a JSON-ready dict. Reports name categories and counts, never the strings.

Residual PHI: for each output file, which injected identifying strings from the manifest
occur in its raw bytes (case-insensitive; the pixel data value is cut out first so that
compressed pixels cannot produce chance hits). Names are searched in every form injected
(``Last``, ``First``, ``LAST^FIRST``, ``First Last``). Original UIDs are found as whole UID
tokens. Dates (study and birth dates) are only searched in files of the same patient, since
another patient's shifted date may coincide with them. Every file counts, DICOM or not
(a log or mapping written into the output folder leaks too); file and folder names are
checked separately (``path_leaks``).

Utility: each DICOM output is matched to its input by the corpus fingerprint (SliceLocation,
unique per file, which de-identification keeps), then: one non-empty PatientID per original
patient and distinct across patients; one StudyInstanceUID per original study, changed and
distinct; per patient a single date shift across all dates and times (intervals kept);
descriptors keep their clinical words; pixel data byte-identical; ReferencedImageSequence and
ReferencedStudySequence point at the de-identified UIDs of the right objects; the safe
private tag kept; SOP class and instance/series/study UIDs present.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
from phi_corpus import DATE_TIME_PAIRS, identifying_strings, iter_files
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

CATEGORY_ORDER = (
    "name",
    "id",
    "accession",
    "birthdate",
    "date",
    "address",
    "phone",
    "email",
    "uid",
    "institution",
    "staff",
    "device",
)
PATIENT_ONLY = ("birthdate", "date")
PIXEL_DATA = 0x7FE00010
GRAM = 5  # every needle is at least this long; grams index the candidates
UID_TOKEN = re.compile(rb"[0-9]+(?:\.[0-9]+)+")
WHERE_SAMPLE = 50  # leaking files whose attributes are named, per output folder


class NeedleIndex:
    """Injected strings, searchable in one pass over a file's bytes."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        categories: dict[str, str] = {}
        self.per_patient: dict[str, list[tuple[bytes, str]]] = defaultdict(list)
        self.uids: dict[str, str] = {}
        for patient, category, value in identifying_strings(manifest):
            if category == "uid":
                self.uids[value] = patient
            elif category in PATIENT_ONLY:
                self.per_patient[patient].append((value.lower().encode(), category))
            else:
                key = value.lower()
                old = categories.get(key)
                if old is None or CATEGORY_ORDER.index(category) < CATEGORY_ORDER.index(old):
                    categories[key] = category
        short = [k for k in categories if len(k) < GRAM]
        if short:
            raise ValueError(f"{len(short)} identifying strings are shorter than {GRAM} chars")
        self.global_needles: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
        for key, category in categories.items():
            needle = key.encode()
            self.global_needles[needle[:GRAM]].append((needle, category))
        self.gram_keys = set(self.global_needles)

    def search(self, data: bytes, patient: str | None) -> list[str]:
        """Categories of every distinct injected string found in ``data`` (one per hit)."""
        lowered = data.lower()
        grams = {lowered[i : i + GRAM] for i in range(len(lowered) - GRAM + 1)}
        hits = [
            category
            for gram in grams & self.gram_keys
            for needle, category in self.global_needles[gram]
            if _occurs(needle, lowered)
        ]
        if patient is not None:
            hits += [
                category
                for needle, category in self.per_patient[patient]
                if _occurs(needle, lowered)
            ]
        tokens = {t.decode() for t in UID_TOKEN.findall(data)}
        hits += ["uid"] * len(tokens.intersection(self.uids))
        return hits


def _occurs(needle: bytes, data: bytes) -> bool:
    """``needle in data``; a needle that starts or ends with a digit must not continue a number.

    Keeps an accession number from "occurring" by chance inside a new UID's digits.
    """
    check_left, check_right = needle[:1].isdigit(), needle[-1:].isdigit()
    start = data.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not (check_left and data[start - 1 : start].isdigit()) and not (
            check_right and data[end : end + 1].isdigit()
        ):
            return True
        start = data.find(needle, start + 1)
    return False


def _parse_dicom(raw: bytes) -> Dataset | None:
    if raw[128:132] != b"DICM":
        return None
    try:
        return pydicom.dcmread(io.BytesIO(raw))
    except Exception:  # any unreadable output is reported, not raised
        return None


def _element_name(ds: Dataset, elem: DataElement) -> str:
    if not elem.tag.is_private or elem.tag.element < 0x1000:
        return elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
    creator = ds.get(Tag(elem.tag.group, elem.tag.element >> 8))
    owner = creator.value if creator is not None else "?"
    return f"({elem.tag.group:04X},xx{elem.tag.element & 0xFF:02X})[{owner}]"


def _walk(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(tag path, value bytes) of every element but pixel data, into sequences."""
    for elem in ds:
        if elem.tag == PIXEL_DATA:
            continue
        name = prefix + _element_name(ds, elem)
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _walk(item, name + ">")
        elif isinstance(elem.value, bytes):
            yield name, elem.value
        else:
            yield name, str(elem.value).encode("utf-8", "replace")


def _leaking_attributes(ds: Dataset, index: NeedleIndex, patient: str | None) -> set[str]:
    """Tag paths (keywords, never values) of the elements holding an injected string."""
    found = {path for path, value in _walk(ds.file_meta) if index.search(value, patient)}
    found |= {path for path, value in _walk(ds) if index.search(value, patient)}
    return found


def _fingerprint(ds: Dataset) -> float | None:
    """The corpus fingerprint: SliceLocation, else ImagePositionPatient z."""
    candidates = [ds.get("SliceLocation")]
    position = ds.get("ImagePositionPatient")
    if position is not None and len(position) == 3:
        candidates.append(position[2])
    for value in candidates:
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            continue
    return None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _moment(day: str, time: str | None) -> tuple[dt.datetime, bool] | None:
    """A DA (+ optional TM) value as a datetime and whether the time was known."""
    try:
        date = dt.datetime.strptime(day.strip()[:8], "%Y%m%d")
    except ValueError:
        return None
    digits = (time or "").strip().split(".")[0]
    if len(digits) < 2 or not digits.isdigit():
        return date, False
    digits = digits.ljust(6, "0")
    return date.replace(
        hour=int(digits[:2]), minute=int(digits[2:4]), second=min(int(digits[4:6]), 59)
    ), True


def _date_shifts(ds: Dataset, original: dict[str, str]) -> list[tuple[float, bool]]:
    """(output - original) in seconds for each date the file had, and whether times agreed."""
    shifts = []
    for date_kw, time_kw in DATE_TIME_PAIRS:
        if date_kw not in original:
            continue
        out = _moment(_text(ds, date_kw), _text(ds, time_kw))
        orig = _moment(original[date_kw], original.get(time_kw))
        if out is None or orig is None:
            shifts.append((float("nan"), False))
            continue
        exact = out[1] and orig[1]
        if not exact:
            out = (out[0].replace(hour=0, minute=0, second=0), False)
            orig = (orig[0].replace(hour=0, minute=0, second=0), False)
        shifts.append(((out[0] - orig[0]).total_seconds(), exact))
    return shifts


def _shift_kept(shifts: list[tuple[float, bool]]) -> bool:
    values = [s for s, _ in shifts]
    if not values or any(v != v for v in values):  # missing or unparsable dates
        return False
    tolerance = 0.0 if all(exact for _, exact in shifts) else 86400.0
    return max(values) - min(values) <= tolerance


def _referenced_uid(ds: Dataset, keyword: str) -> str:
    seq = ds.get(keyword)
    try:
        return str(seq[0].ReferencedSOPInstanceUID)
    except (AttributeError, IndexError, TypeError):
        return ""


def _safe_private_kept(ds: Dataset, spec: dict[str, Any]) -> bool:
    try:
        block = ds.private_block(spec["group"], spec["creator"])
        return float(block[spec["element"]].value) == float(spec["value"])
    except (KeyError, ValueError, TypeError):
        return False


def _pixel_hash(ds: Dataset) -> str | None:
    return hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None


def analyze(output_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Residual PHI and utility of every file under ``output_dir``."""
    index = NeedleIndex(manifest)
    entries = {round(float(e["fingerprint"]), 2): e for e in iter_files(manifest)}
    leaks: Counter[str] = Counter()
    leak_files = leak_hits = path_leaks = unreadable = non_dicom = dicom_out = 0
    unmatched = duplicates = 0
    matched: dict[float, dict[str, Any]] = {}
    where: Counter[str] = Counter()
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        ds = _parse_dicom(raw)
        entry = None
        header = raw
        if ds is None:
            non_dicom += 1
            unreadable += raw[128:132] == b"DICM"
        else:
            dicom_out += 1
            if "PixelData" in ds and ds.PixelData:
                header = raw.replace(ds.PixelData, b"", 1)
            fp = _fingerprint(ds)
            entry = entries.get(fp) if fp is not None else None
            if fp is None or entry is None:
                unmatched += 1
            elif fp in matched:
                duplicates += 1
            else:
                matched[fp] = {"entry": entry, "ds": ds}
        hits = index.search(header, entry["patient"] if entry else None)
        if hits:
            leak_files += 1
            leak_hits += len(hits)
            leaks.update(hits)
            if ds is not None and leak_files <= WHERE_SAMPLE:
                where.update(_leaking_attributes(ds, index, entry["patient"] if entry else None))
        rel = str(path.relative_to(output_dir))
        if index.search(rel.encode(), entry["patient"] if entry else None):
            path_leaks += 1
    result: dict[str, Any] = {
        "files_out": dicom_out,
        "non_dicom_files": non_dicom,
        "unreadable_dicom": unreadable,
        "files_with_leaks": leak_files,
        "leak_hits": leak_hits,
        "leak_hits_by_category": {c: leaks[c] for c in CATEGORY_ORDER if leaks[c]},
        "path_leaks": path_leaks,
        "leaking_attributes": dict(sorted(where.items(), key=lambda kv: (-kv[1], kv[0]))),
        "leaking_attributes_sample": min(leak_files, WHERE_SAMPLE),
        "matched": len(matched),
        "unmatched": unmatched,
        "duplicates": duplicates,
    }
    result["utility"] = _utility(list(matched.values()), manifest)
    return result


def _utility(matched: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    pids: dict[str, set[str]] = defaultdict(set)
    study_uids: dict[str, set[str]] = defaultdict(set)
    shifts: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    sop_map: dict[str, str] = {}
    study_map: dict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    original_study_uid = {
        s["key"]: s["study_instance_uid"] for p in manifest["patients"] for s in p["studies"]
    }
    for item in matched:
        entry, ds = item["entry"], item["ds"]
        pids[entry["patient"]].add(_text(ds, "PatientID"))
        out_study = _text(ds, "StudyInstanceUID")
        study_uids[entry["study"]].add(out_study)
        study_map[original_study_uid[entry["study"]]].add(out_study)
        sop_map[entry["sop_instance_uid"]] = _text(ds, "SOPInstanceUID")
        shifts[entry["patient"]] += _date_shifts(ds, entry["dates"])
        words = entry["clinical_words"]
        counts["descriptors_kept"] += all(
            w.lower() in _text(ds, kw).lower() for kw, ws in words.items() for w in ws
        )
        counts["pixels_identical"] += _pixel_hash(ds) == entry["pixel_sha256"]
        counts["safe_private_kept"] += _safe_private_kept(ds, manifest["safe_private"])
        counts["core_uids_present"] += all(
            _text(ds, k)
            for k in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
        )
    for item in matched:
        entry, ds = item["entry"], item["ds"]
        refs = entry["references"]
        wanted_study = study_map.get(refs["study"], set())
        for kind, keyword, wanted in (
            ("image", "ReferencedImageSequence", {sop_map.get(refs["image"], "")}),
            ("study", "ReferencedStudySequence", wanted_study if len(wanted_study) == 1 else set()),
        ):
            found = _referenced_uid(ds, keyword)
            verdict = "removed" if not found else "ok" if found in wanted - {""} else "wrong"
            counts[f"{kind}_refs_{verdict}"] += 1
    patients = [p["key"] for p in manifest["patients"]]
    studies = [s for p in manifest["patients"] for s in p["studies"]]
    one_pid = [k for k in patients if len(pids[k]) == 1 and "" not in pids[k]]
    one_uid = [
        s["key"]
        for s in studies
        if len(study_uids[s["key"]]) == 1
        and "" not in study_uids[s["key"]]
        and s["study_instance_uid"] not in study_uids[s["key"]]
    ]
    return {
        "patients": len(patients),
        "patient_id_one_per_patient": len(one_pid),
        "patient_ids_distinct": len({next(iter(pids[k])) for k in one_pid}) == len(patients),
        "studies": len(studies),
        "study_uid_one_per_study": len(one_uid),
        "study_uids_distinct": len({next(iter(study_uids[k])) for k in one_uid}) == len(studies),
        "date_intervals_kept_patients": sum(_shift_kept(shifts[k]) for k in patients),
        "files_matched": len(matched),
        **{
            k: counts[k]
            for k in (
                "image_refs_ok",
                "image_refs_removed",
                "image_refs_wrong",
                "study_refs_ok",
                "study_refs_removed",
                "study_refs_wrong",
                "descriptors_kept",
                "pixels_identical",
                "safe_private_kept",
                "core_uids_present",
            )
        },
    }
