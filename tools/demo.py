"""`make demo`: build a small PHI-laden demo set from pydicom's own test files,
de-identify it with the CLI, and show what happened.

All names, IDs and addresses here are synthetic; the demo prints them only to show the
before/after (imagedeid itself never prints values).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
TEMPLATES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "reportsi.dcm",
    "rtplan.dcm",
    "image_dfl.dcm",
    "emri_small.dcm",
]
PATIENTS = [
    ("Whitfield^Alice", "MRN4471923", "19520314", "12 Elm Street, Springfield"),
    ("Okonkwo^Bernard", "MRN5580211", "19670922", "98 Harbour Road, Portsmouth"),
]
SHOW = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "StudyDescription",
    "InstitutionName",
    "StudyInstanceUID",
    "ImageComments",
]


def _inject(ds: Dataset, patient: int, study: int) -> list[str]:
    name, mrn, birth, address = PATIENTS[patient]
    last, first = name.split("^")
    ds.PatientName = name
    ds.PatientID = mrn
    ds.PatientBirthDate = birth
    ds.PatientAddress = address
    ds.PatientTelephoneNumbers = f"555-01{patient}{study}-7788"
    ds.InstitutionName = "Saint Hildegard Hospital"
    ds.ReferringPhysicianName = "Marchetti^Paula^^Dr"
    ds.AccessionNumber = f"ACC{patient}{study}9914"
    ds.StudyDescription = f"CT HEAD W/O CONTRAST for {first} {last}"
    ds.ImageComments = (
        f"Patient {first} {last} ({mrn}) tolerated the exam; call 555-01{patient}{study}-7788"
    )
    ds.DeviceSerialNumber = f"SN-{patient}{study}-4471Q"
    block = ds.private_block(0x0029, "DEMO_HOSPITAL_1", create=True)
    block.add_new(0x10, "LO", name)
    req = Dataset()
    req.RequestedProcedureDescription = f"Head CT for {last}"
    ds.RequestAttributesSequence = Sequence([req])
    return [
        last,
        first,
        mrn,
        birth,
        "Saint Hildegard Hospital",
        "Marchetti",
        "Elm Street",
        "Harbour Road",
        f"ACC{patient}{study}9914",
        f"SN-{patient}{study}-4471Q",
    ]


def _burned_in_ultrasound(patient: int) -> Dataset:
    """pydicom's palette ultrasound with the demo patient's name and MRN drawn on top."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    ds = pydicom.dcmread(get_testdata_file("examples_palette.dcm"))
    name, mrn, _birth, _address = PATIENTS[patient]
    pixels = np.array(ds.pixel_array)
    pil = Image.fromarray(pixels)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 16)
    # the palette index that displays brightest, so the text is legible
    colours = pydicom.pixels.apply_color_lut(np.arange(256, dtype=np.uint8), ds)
    brightest = int(np.argmax(colours.astype(np.int64).sum(axis=1)))
    text = f"{name.replace('^', ', ')}  {mrn}"
    ImageDraw.Draw(pil).text((300, 300), text, fill=brightest, font=font)
    ds.PixelData = np.asarray(pil).astype(pixels.dtype).tobytes()
    return ds


def build() -> tuple[Path, set[str]]:
    shutil.rmtree(DEMO, ignore_errors=True)
    src = DEMO / "input"
    secrets: set[str] = set()
    for patient in range(len(PATIENTS)):
        for study, template in enumerate(TEMPLATES):
            ds = pydicom.dcmread(get_testdata_file(template))
            # Two studies per patient: keep each template's UIDs distinct per patient.
            for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                if kw in ds:
                    setattr(ds, kw, generate_uid(entropy_srcs=[getattr(ds, kw), str(patient)]))
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            secrets.update(_inject(ds, patient, study % 2))
            folder = src / PATIENTS[patient][0].replace("^", "_") / f"exam{study % 2 + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            ds.save_as(folder / template, enforce_file_format=True)
        us = _burned_in_ultrasound(patient)
        us.SOPInstanceUID = generate_uid(entropy_srcs=[us.SOPInstanceUID, str(patient)])
        us.file_meta.MediaStorageSOPInstanceUID = us.SOPInstanceUID
        secrets.update(_inject(us, patient, 0))
        us.save_as(src / PATIENTS[patient][0].replace("^", "_") / "exam1" / "us_burned_in.dcm")
    (src / "README.txt").write_text("not a DICOM file: reported and skipped\n")
    return src, secrets


def main() -> int:
    src, secrets = build()
    out, key = DEMO / "output", DEMO / "demo.key"
    exe = Path(sys.executable).parent / "imagedeid"
    subprocess.run([str(exe), "keys", "new", str(key)], check=True)
    print(
        f"\n$ imagedeid run {src.relative_to(ROOT)} {out.relative_to(ROOT)} --key-file "
        f"{key.relative_to(ROOT)}"
    )
    rc = subprocess.run([str(exe), "run", str(src), str(out), "--key-file", str(key)]).returncode
    outputs = sorted(out.rglob("*.dcm"))
    leaks = sum(1 for f in outputs for s in secrets if s.lower().encode() in f.read_bytes().lower())
    before = pydicom.dcmread(next(src.rglob("CT_small.dcm")))
    after = next(
        pydicom.dcmread(f)
        for f in outputs
        if pydicom.dcmread(f, stop_before_pixels=True).Modality == "CT"
    )
    print("\nbefore -> after (one CT file; the 'before' values are synthetic demo PHI):")
    for kw in SHOW:
        print(f"  {kw:<18} {str(before.get(kw, '-'))[:44]:<46} -> {str(after.get(kw, '-'))[:50]}")
    report = json.loads((DEMO / "output.imagedeid" / "report.json").read_text())
    print(f"\n{len(outputs)} files written under {out}")
    print(f"report: {DEMO / 'output.imagedeid' / 'report.json'} (counts: {report['counts']})")
    print(f"injected identifying strings found in output bytes: {leaks}")
    readable = _burned_in_readable(outputs, secrets)
    print(f"burned-in identifying strings Tesseract can still read in the images: {readable}")
    leaks += readable
    print(f"exit code {rc}: 1 because README.txt is not DICOM and is reported, not copied")
    print(
        f"\nsee what would be done to one file:  .venv/bin/imagedeid plan "
        f"{next(src.rglob('CT_small.dcm')).relative_to(ROOT)}"
    )
    return 0 if leaks == 0 and outputs else 1


def _burned_in_readable(outputs: list[Path], secrets: set[str]) -> int:
    """OCR every released ultrasound with Tesseract (imagedeid masked with rapidocr)."""
    import numpy as np

    from imagedeid.pixels.ocr import load_engine

    engine = load_engine("tesseract")
    found = 0
    for path in outputs:
        ds = pydicom.dcmread(path)
        if ds.get("Modality") != "US":
            continue
        img = np.asarray(pydicom.pixels.apply_color_lut(ds.pixel_array, ds) >> 8, np.uint8)
        text = " ".join(w.text for w in engine.read(img)).lower()
        found += sum(1 for s in secrets if len(s) > 4 and s.lower() in text)
    return found


if __name__ == "__main__":
    sys.exit(main())
