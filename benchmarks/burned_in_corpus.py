"""Generate synthetic DICOM images with burned-in PHI text and ground-truth boxes.

Importable (``benchmarks/`` on ``sys.path``) and runnable::

    python benchmarks/burned_in_corpus.py OUT_DIR [--count 60] [--seed 0]

Writes ``OUT_DIR/dicom/img_NNNN.dcm`` and ``OUT_DIR/truth.json`` (``TRUTH_FORMAT``).
Deterministic for a given count and seed; depends on pydicom, numpy and Pillow, and on the
DejaVu fonts of Debian's ``fonts-dejavu-core`` (Pillow's built-in font is used too).

Layouts (``LAYOUT_CYCLE`` decides which file gets which):

* ``us``: Ultrasound Image Storage; dark speckled fan in the middle, a top identity band
  (name, MRN, DOB, date and time, institution, accession; sometimes "MI"/"TIB" on the band
  too), a side column of technical labels ("MI 1.1", "5.0 MHz", "C5-1"...), a depth label,
  and a SequenceOfUltrasoundRegions whose region covers the fan only.
* ``us_cine``: Ultrasound Multi-frame; the same, 3-6 frames with moving speckle. Text
  persists on every frame, except in every second cine where the identity band shows on
  some frames only (one truth box per frame it is on, with that ``frame``).
* ``cr``: CR or DX, MONOCHROME1/2, 12-16 bits stored; a label block in one corner (bright
  text on dark, or dark text on a light label) with name, ID, DOB, date, institution,
  accession; a large "L"/"R" marker and a view label that are not PHI.
* ``sc``: Secondary Capture screen grab; window title bar, menu bar, patient panel (name,
  DOB, MRN, study date, accession, phone), a viewport with corner overlays (name and ID,
  institution and date; window/level, zoom, image number are not PHI), a status bar.
* ``notext``: CT- or MR-like slices and an ultrasound fan without any text: no boxes;
  their pixel data must come out byte-identical.

Photometric interpretations: MONOCHROME1 and MONOCHROME2 (8, 12 and 16 bits stored), RGB,
PALETTE COLOR (256-entry 16-bit LUTs; text drawn without anti-aliasing so that it maps to
LUT entries) and YBR_FULL. Transfer syntaxes: mostly Explicit VR Little Endian, some RLE
Lossless, JPEG-LS Lossless, JPEG 2000 Lossless (pydicom's ``Dataset.compress``) and JPEG
Baseline (pydicom has no encoder for it: Pillow encodes the frames, 4:2:2 for colour,
which pydicom then encapsulates). A syntax whose encoder is missing is replaced by Explicit
VR Little Endian, with a printed note.

Headers carry a synthetic patient (PatientName, PatientID, PatientBirthDate, StudyDate and
StudyTime, InstitutionName, AccessionNumber), reusing phi_corpus's word lists. In every
fourth text file the burned-in MRN differs from the header's PatientID (``mrn_differs``),
as in deid-data's RGB_IMAGE.dcm. BurnedInAnnotation cycles through "YES", absent and "NO"
(a false "NO" on a file with text). Every file gets a unique InstanceNumber 1..N, by which
the benchmark pairs outputs with inputs.

Truth (per file): ``file``, ``instance_number``, ``sop_class``, ``modality``, ``layout``,
``photometric``, ``bits_stored``, ``rows``, ``columns``, ``frames``, ``transfer_syntax``
(UID) and ``transfer_syntax_name``, ``burned_in_annotation``, ``mrn_differs``, ``font``,
``font_size``, ``header`` (the values written to the header) and ``boxes``: one per drawn
string, ``{x, y, w, h, frame, phi, kind, text}`` in stored-pixel coordinates, ``frame``
null when the string is on every frame. A box is the tight bounding box of the string's
ink (``Image.getbbox`` of the rendered glyph mask, placed with ``ImageDraw.textbbox``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phi_corpus import GIVEN_NAMES, INSTITUTIONS, SURNAMES

TRUTH_FORMAT = "imagedeid-burned-in-corpus/1"
DEFAULT_COUNT = 60
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf")
DEFAULT_FONT = "pillow-default"  # ImageFont.load_default(size=...)
FONTS = (*FONT_FILES, DEFAULT_FONT)

LAYOUT_CYCLE = ("us", "cr", "sc", "us", "us_cine", "cr", "sc", "us", "notext", "us_cine")
_ELE, _RLE, _JLS, _J2K, _JPG = (
    ExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
)
SYNTAX_CYCLES = {  # per layout; a syntax that does not fit the photometric becomes _ELE
    "us": (_ELE, _RLE, _ELE, _JLS, _J2K, _JPG, _ELE),
    "us_cine": (_ELE, _RLE, _JPG, _ELE, _J2K, _ELE),
    "cr": (_ELE, _RLE, _JLS, _J2K),
    "sc": (_ELE, _JPG, _RLE, _ELE, _J2K, _JLS),
    "notext": (_ELE, _RLE, _JLS),  # lossless only: their pixel data must stay unchanged
}
BURNED_IN_CYCLE = ("YES", None, "NO")

SOP_CLASSES = {
    "us": UID("1.2.840.10008.5.1.4.1.1.6.1"),  # Ultrasound Image Storage
    "us_cine": UID("1.2.840.10008.5.1.4.1.1.3.1"),  # Ultrasound Multi-frame Image Storage
    "cr": UID("1.2.840.10008.5.1.4.1.1.1"),  # Computed Radiography Image Storage
    "dx": UID("1.2.840.10008.5.1.4.1.1.1.1"),  # Digital X-Ray Image Storage - Presentation
    "sc": UID("1.2.840.10008.5.1.4.1.1.7"),  # Secondary Capture Image Storage
    "ct": UID("1.2.840.10008.5.1.4.1.1.2"),  # CT Image Storage
    "mr": UID("1.2.840.10008.5.1.4.1.1.4"),  # MR Image Storage
}

# Display colours (RGB in 0..1). Grey images use their luminance.
WHITE = (1.0, 1.0, 1.0)
YELLOW = (1.0, 0.92, 0.15)
GREEN = (0.35, 1.0, 0.35)
GREY = (0.62, 0.62, 0.62)
DARK = (0.05, 0.05, 0.08)
LIGHT = (0.86, 0.86, 0.84)
BLUE_BAND = (0.12, 0.24, 0.40)
TEAL_BAND = (0.05, 0.38, 0.40)
TEXT_ON_DARK = (WHITE, YELLOW, GREEN, GREY)
# PALETTE COLOR: LUT entries 0..GREY_LEVELS-1 are a grey ramp, the rest these colours.
GREY_LEVELS = 192
PALETTE_COLOURS = (WHITE, YELLOW, GREEN, GREY, DARK, LIGHT, BLUE_BAND, TEAL_BAND)

# fmt: off
US_LABELS = ("MI 1.1", "TIS 0.4", "TIB 0.2", "5.0 MHz", "C5-1", "L12-5", "28Hz", "2D", "Gen",
             "cm/s", "Gn 60", "DR 65", "THI", "Res", "FA 3", "P Med", "C 61")
SC_MENU = ("File", "Edit", "View", "Tools", "Window", "Help")
SC_OVERLAYS = ("W: 400 L: 40", "Zoom 100%", "Img 12/40", "Se 3", "Thk 5.0mm", "AX")
SC_APPS = ("ImageViewer 3.2", "PACS Workstation", "Review Station 7", "DICOM Viewer")
FIELD_NAMES = ("ID:", "DOB:", "DOB", "Acc", "Acc:", "ACC#", "MRN", "MRN:", "Name:", "Study:",
               "Tel:")
# fmt: on
CR_VIEWS = ("PA", "AP", "LAT", "PORTABLE", "SUPINE", "ERECT")


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int
    frame: int | None
    phi: bool
    kind: str
    text: str


@dataclass
class Patient:
    name: str  # DICOM PN, LAST^FIRST
    last: str
    first: str
    patient_id: str
    burned_mrn: str  # what the image shows: PatientID, or another number
    birth: dt.date
    study: dt.datetime
    institution: str
    accession: str
    phone: str

    def header(self) -> dict[str, str]:
        return {
            "PatientName": self.name,
            "PatientID": self.patient_id,
            "PatientBirthDate": self.birth.strftime("%Y%m%d"),
            "StudyDate": self.study.strftime("%Y%m%d"),
            "StudyTime": self.study.strftime("%H%M%S"),
            "InstitutionName": self.institution,
            "AccessionNumber": self.accession,
        }


@dataclass
class Plan:
    """What one file will be: decided from the seed and the file's position."""

    index: int  # 1-based, also the InstanceNumber
    layout: str
    photometric: str
    bits_stored: int
    frames: int
    syntax: UID
    burned_in: str | None
    mrn_differs: bool
    font: str
    font_size: int
    partial_frames: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@cache
def load_font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if name == DEFAULT_FONT:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(FONT_DIR / name), size)


def fonts_available() -> list[str]:
    """The fonts of ``FONTS`` found on this machine (Pillow's default always is)."""
    return [f for f in FONTS if f == DEFAULT_FONT or (FONT_DIR / f).is_file()]


class Canvas:
    """Frames of display values in 0..1, shape (frames, rows, columns, 3), plus the boxes."""

    def __init__(self, frames: int, rows: int, columns: int, binary_text: bool = False):
        self.px = np.zeros((frames, rows, columns, 3), dtype=np.float32)
        self.boxes: list[Box] = []
        self.binary_text = binary_text  # no anti-aliasing (palette images)

    @property
    def rows(self) -> int:
        return int(self.px.shape[1])

    @property
    def columns(self) -> int:
        return int(self.px.shape[2])

    def fill(self, x0: int, y0: int, x1: int, y1: int, colour: Sequence[float]) -> None:
        self.px[:, max(y0, 0) : y1, max(x0, 0) : x1, :] = colour

    def text(
        self,
        x: int,
        y: int,
        text: str,
        font: Any,
        colour: Sequence[float],
        kind: str,
        phi: bool,
        frames: Sequence[int] | None = None,
        anchor_right: bool = False,
    ) -> tuple[int, int]:
        """Draw ``text`` with its text box's top-left at (x, y) (top-right if ``anchor_right``);
        record one truth box (or one per frame of ``frames``). Returns the text box's size.
        A PHI text that starts with a field name ("DOB:", "MRN"...) is drawn as two strings:
        the field name (kind "field", not PHI) and the value (PHI)."""
        head, _, value = text.partition(" ")
        if phi and value and head in FIELD_NAMES:
            advance = round(font.getlength(head + " "))
            width, height = measure(value, font) + advance, 0
            if anchor_right:
                x -= width
            self.text(x, y, head, font, colour, "field", False, frames)
            _, height = self.text(x + advance, y, value, font, colour, kind, True, frames)
            return width, height
        left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
            (0, 0), text, font=font
        )
        width, height = right - left, bottom - top
        if anchor_right:
            x -= width
        pad = 2
        mask = Image.new("L", (width + 2 * pad, height + 2 * pad))
        draw = ImageDraw.Draw(mask)
        if self.binary_text:
            draw.fontmode = "1"
        draw.text((pad - left, pad - top), text, font=font, fill=255)
        ink = mask.getbbox()
        if ink is None:
            return width, height
        alpha = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
        if self.binary_text:
            alpha = (alpha > 0.5).astype(np.float32)
        ox, oy = x - pad, y - pad
        # Clip the patch to the image.
        cx0, cy0 = max(ox, 0), max(oy, 0)
        cx1, cy1 = min(ox + mask.width, self.columns), min(oy + mask.height, self.rows)
        if cx0 >= cx1 or cy0 >= cy1:
            return width, height
        a = alpha[cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox]
        colour_arr = np.asarray(colour, dtype=np.float32)
        targets = range(self.px.shape[0]) if frames is None else frames
        for f in targets:
            region = self.px[f, cy0:cy1, cx0:cx1, :]
            region *= 1.0 - a
            region += a * colour_arr
        bx0, by0 = max(ox + ink[0], 0), max(oy + ink[1], 0)
        bx1, by1 = min(ox + ink[2], self.columns), min(oy + ink[3], self.rows)
        for f in [None] if frames is None else list(frames):
            self.boxes.append(Box(bx0, by0, bx1 - bx0, by1 - by0, f, phi, kind, text))
        return width, height


# ---------------------------------------------------------------------------- people


def make_patient(rng: random.Random, mrn_differs: bool) -> Patient:
    last, first = rng.choice(SURNAMES), rng.choice(GIVEN_NAMES)
    patient_id = f"{rng.randint(10**7, 10**8 - 1)}"
    burned = f"{rng.randint(10**9, 10**10 - 1):011d}" if mrn_differs else patient_id
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 80 * 365))
    study = dt.datetime(2012, 1, 1, 7) + dt.timedelta(
        days=rng.randint(0, 12 * 365), minutes=rng.randint(0, 12 * 60), seconds=rng.randint(0, 59)
    )
    return Patient(
        name=f"{last.upper()}^{first.upper()}",
        last=last,
        first=first,
        patient_id=patient_id,
        burned_mrn=burned,
        birth=birth,
        study=study,
        institution=rng.choice(INSTITUTIONS)[0],
        accession=f"{rng.randint(10**8, 10**9 - 1)}",
        phone=f"(555) 01{rng.randint(0, 99):02d}",
    )


def _name_text(p: Patient, rng: random.Random) -> str:
    return rng.choice(
        (
            f"{p.last.upper()}, {p.first.upper()}",
            f"{p.last.upper()}^{p.first.upper()}",
            f"{p.first} {p.last}",
            f"{p.last}, {p.first}",
        )
    )


def _date_text(d: dt.date, rng: random.Random) -> str:
    return d.strftime(rng.choice(("%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%b-%Y")))


def _time_text(t: dt.datetime, rng: random.Random) -> str:
    return t.strftime(rng.choice(("%H:%M:%S", "%I:%M:%S %p", "%I:%M:%S%p")))


# ---------------------------------------------------------------------------- images


def _speckle(nrng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """Ultrasound-like speckle, 0..1: grains of a few pixels, darker with depth."""
    grains = nrng.gamma(1.6, 0.5, size=(rows // 3 + 1, columns // 3 + 1)).astype(np.float32)
    smooth = Image.fromarray(grains).resize((columns, rows), Image.Resampling.BILINEAR)
    fine = nrng.uniform(0.75, 1.0, size=(rows, columns)).astype(np.float32)
    depth = np.linspace(0.5, 0.22, rows, dtype=np.float32)[:, None]
    return np.clip(np.asarray(smooth) * fine * depth, 0.0, 0.75)


def draw_fan(
    canvas: Canvas, nrng: np.random.Generator, apex: tuple[int, int], radius: int
) -> tuple[int, int, int, int]:
    """A 70-degree sector of speckle on every frame; returns its bounding box x0, y0, x1, y1."""
    cx, cy = apex
    half = np.deg2rad(35.0)
    x0, x1 = int(cx - radius * np.sin(half)) - 1, int(cx + radius * np.sin(half)) + 2
    y0, y1 = cy, cy + radius + 1
    yy, xx = np.mgrid[y0:y1, x0:x1]
    r = np.hypot(xx - cx, yy - cy)
    ang = np.arctan2(xx - cx, yy - cy)
    inside = (r <= radius) & (r >= radius * 0.08) & (np.abs(ang) <= half)
    for f in range(canvas.px.shape[0]):
        tissue = _speckle(nrng, y1 - y0, x1 - x0)
        canvas.px[f, y0:y1, x0:x1, :] = np.where(inside[..., None], tissue[..., None], 0.0)
    return x0, y0, x1, y1


Item = tuple[str, str, bool]  # kind, text, phi


def measure(text: str, font: Any) -> int:
    """Width of ``text``'s text box in pixels."""
    left, _, right, _ = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    return int(right - left)


def fitting_font(name: str, size: int, text: str, width: int) -> Any:
    """The font ``name`` at ``size``, or smaller (down to 10 px) until ``text`` fits ``width``."""
    while size > 10 and measure(text, load_font(name, size)) > width:
        size -= 1
    return load_font(name, size)


def flow(
    width: int, lefts: list[list[Item]], rights: list[list[Item]], font: Any, line: int
) -> list[tuple[Item, int, int]]:
    """Lay out lines of left-aligned and right-aligned items across ``width``: an item that
    would run into the right-aligned ones moves to the next line. Returns (item, x, y), x of
    the text box's left edge."""
    placed: list[tuple[Item, int, int]] = []
    queue: list[Item] = []
    k = 0
    while k < max(len(lefts), len(rights)) or queue:
        y = 4 + k * line
        right_edge = width - 6
        for item in rights[k] if k < len(rights) else []:
            w = measure(item[1], font)
            placed.append((item, right_edge - w, y))
            right_edge -= w + 16
        queue += lefts[k] if k < len(lefts) else []
        x, rest = 6, []
        for item in queue:
            w = measure(item[1], font)
            if not rest and (x + w <= right_edge - 16 or x == 6):
                placed.append((item, x, y))
                x += w + 24
            else:
                rest.append(item)
        queue, k = rest, k + 1
    return placed


def draw_us(
    canvas: Canvas, plan: Plan, p: Patient, rng: random.Random, nrng: np.random.Generator
) -> dict[str, Any]:
    rows, cols = canvas.rows, canvas.columns
    font = load_font(plan.font, plan.font_size)
    small = load_font(plan.font, max(10, plan.font_size - 3))
    line = plan.font_size + 6
    band_colour = rng.choice(((0.0, 0.0, 0.0), BLUE_BAND, TEAL_BAND, (0.30, 0.30, 0.30)))
    colour = rng.choice(TEXT_ON_DARK)
    lefts: list[list[Item]] = [
        [("name", _name_text(p, rng), True), ("mrn", f"ID: {p.burned_mrn}", True)],
        [("dob", f"DOB: {_date_text(p.birth, rng)}", True), ("institution", p.institution, True)],
    ]
    rights: list[list[Item]] = [
        [("time", _time_text(p.study, rng), True), ("date", _date_text(p.study.date(), rng), True)],
        [
            ("accession", f"Acc {p.accession}", True)
            if rng.random() < 0.5
            else ("label", rng.choice(("MI 0.9", "TIB 0.3")), False)
        ],  # on the band, not PHI
    ]
    placed = flow(cols, lefts, rights, font, line)
    band_h = max(y for *_, y in placed) + line + 4
    side_w = 120
    apex_y = band_h + 10
    radius = int(min(rows - apex_y - 34, (cols / 2 - side_w) / np.sin(np.deg2rad(35.0))))
    fan = draw_fan(canvas, nrng, (cols // 2, apex_y), radius)
    frames = None
    if plan.partial_frames:  # the identity band is on the last frames only
        first = rng.randint(1, plan.frames - 1)
        frames = list(range(first, plan.frames))
    canvas.fill(0, 0, cols, band_h, band_colour)
    if frames is not None:
        canvas.px[: frames[0], :band_h] = 0.0
    for (kind, text, phi), x, y in placed:
        canvas.text(x, y, text, font, colour, kind, phi, frames)
    # Technical side column (left) and depth label (right): not PHI.
    labels = rng.sample(US_LABELS, rng.randint(5, 8))
    colour = rng.choice(TEXT_ON_DARK)
    y = band_h + 12
    for label in labels:
        if y > rows - 40:
            break
        _, h = canvas.text(6, y, label, small, colour, "label", False)
        y += max(h, 10) + 8
    canvas.text(
        cols - 8,
        fan[3] - 20,
        f"{rng.randint(4, 18)}cm",
        small,
        colour,
        "label",
        False,
        anchor_right=True,
    )
    return {"fan": fan}


def draw_cr(
    canvas: Canvas, plan: Plan, p: Patient, rng: random.Random, nrng: np.random.Generator
) -> dict[str, Any]:
    rows, cols = canvas.rows, canvas.columns
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    body = np.exp(
        -(((xx - cols / 2) / (cols * 0.33)) ** 4 + ((yy - rows / 2) / (rows * 0.45)) ** 4)
    )
    ribs = 0.08 * np.sin(yy / 17.0) * body
    noise = nrng.normal(0.0, 0.015, size=(rows, cols)).astype(np.float32)
    canvas.px[0] = np.clip(0.08 + 0.55 * body + ribs + noise, 0.0, 0.9)[..., None]
    font = load_font(plan.font, plan.font_size)
    line = plan.font_size + 8
    corner = rng.choice(("tl", "tr", "bl"))
    light_label = rng.random() < 0.4
    lines: list[tuple[str, str]] = [
        ("name", _name_text(p, rng)),
        ("mrn", f"MRN {p.burned_mrn}" if rng.random() < 0.5 else p.burned_mrn),
        ("dob", f"DOB {_date_text(p.birth, rng)}"),
        ("date", f"{_date_text(p.study.date(), rng)} {_time_text(p.study, rng)}"),
        ("institution", p.institution),
    ]
    if rng.random() < 0.5:
        lines.append(("accession", f"ACC# {p.accession}"))
    block_h = line * len(lines) + 12
    block_w = max(measure(t, font) for _, t in lines) + 20
    bx = 12 if corner in ("tl", "bl") else cols - block_w - 12
    by = 12 if corner in ("tl", "tr") else rows - block_h - 12
    if light_label:
        canvas.fill(bx, by, bx + block_w, by + block_h, LIGHT)
        colour: Sequence[float] = DARK
    else:
        canvas.fill(bx, by, bx + block_w, by + block_h, (0.0, 0.0, 0.0))
        colour = rng.choice((WHITE, GREY))
    for k, (kind, text) in enumerate(lines):
        canvas.text(bx + 10, by + 6 + k * line, text, font, colour, kind, True)
    marker = load_font(plan.font, 28)
    mx = cols - 60 if corner in ("tl", "bl") else 30
    my = rows - 70 if corner in ("tl", "tr") else 30
    canvas.text(mx, my, rng.choice(("L", "R")), marker, WHITE, "marker", False)
    canvas.text(
        mx - 80 if mx > cols / 2 else mx + 50,
        my + 4,
        rng.choice(CR_VIEWS),
        font,
        GREY,
        "label",
        False,
    )
    return {}


def draw_sc(
    canvas: Canvas, plan: Plan, p: Patient, rng: random.Random, nrng: np.random.Generator
) -> dict[str, Any]:
    rows, cols = canvas.rows, canvas.columns
    small = load_font(plan.font, max(10, plan.font_size - 2))
    line = plan.font_size + 8
    title_h, menu_h, status_h = line + 6, line + 2, line + 2
    title_colour = rng.choice((BLUE_BAND, TEAL_BAND, LIGHT))
    title_text = DARK if title_colour == LIGHT else WHITE
    canvas.fill(0, 0, cols, rows, (0.93, 0.93, 0.92))
    canvas.fill(0, 0, cols, title_h, title_colour)
    w, _ = canvas.text(8, 4, rng.choice(SC_APPS) + " -", small, title_text, "label", False)
    canvas.text(8 + w + 8, 4, _name_text(p, rng), small, title_text, "name", True)
    canvas.fill(0, title_h, cols, title_h + menu_h, (0.82, 0.82, 0.80))
    x = 8
    for item in SC_MENU:
        w, _ = canvas.text(x, title_h + 2, item, small, DARK, "label", False)
        x += w + 18
    # Patient panel: dark text on light.
    y = title_h + menu_h + 12
    fields = [
        ("name", f"Name: {p.last}, {p.first}"),
        ("dob", f"DOB: {_date_text(p.birth, rng)}"),
        ("mrn", f"MRN: {p.burned_mrn}"),
        ("date", f"Study: {_date_text(p.study.date(), rng)}"),
        ("accession", f"Acc: {p.accession}"),
        ("phone", f"Tel: {p.phone}"),
    ]
    panel_w = max(int(cols * 0.30), max(measure(t, small) for _, t in fields) + 24)
    for kind, text in fields:
        canvas.text(10, y, text, small, DARK, kind, True)
        y += line
    canvas.text(10, y + 6, "Series: 3 of 5", small, DARK, "label", False)
    # Viewport with a grey image and corner overlays.
    vx0, vy0, vx1, vy1 = panel_w, title_h + menu_h + 4, cols - 4, rows - status_h - 4
    canvas.fill(vx0, vy0, vx1, vy1, (0.0, 0.0, 0.0))
    ih, iw = vy1 - vy0 - 4 * line - 20, vx1 - vx0 - 40
    yy, xx = np.mgrid[0:ih, 0:iw].astype(np.float32)
    blob = np.exp(-(((xx - iw / 2) / (iw * 0.4)) ** 2 + ((yy - ih / 2) / (ih * 0.42)) ** 2))
    image = np.clip(0.6 * blob + nrng.normal(0, 0.03, (ih, iw)), 0, 0.8).astype(np.float32)
    oy, ox = vy0 + 2 * line + 10, vx0 + 20
    canvas.px[0, oy : oy + ih, ox : ox + iw, :] = image[..., None]
    colour = rng.choice((YELLOW, GREEN, WHITE))
    w, _ = canvas.text(
        vx0 + 6, vy0 + 4, f"{p.last.upper()} {p.burned_mrn}", small, colour, "name", True
    )
    inst_font = fitting_font(plan.font, max(10, plan.font_size - 2), p.institution, vx1 - vx0 - 12)
    fits = vx0 + w + 30 + measure(p.institution, inst_font) < vx1
    canvas.text(
        vx1 - 6,
        vy0 + 4 if fits else vy0 + 4 + line,
        p.institution,
        inst_font,
        colour,
        "institution",
        True,
        anchor_right=True,
    )
    canvas.text(
        vx1 - 6,
        vy1 - line,
        _date_text(p.study.date(), rng),
        small,
        colour,
        "date",
        True,
        anchor_right=True,
    )
    overlays = rng.sample(SC_OVERLAYS, 2)
    canvas.text(vx0 + 6, vy1 - line, overlays[0], small, colour, "label", False)
    canvas.text(vx0 + 6, vy1 - 2 * line, overlays[1], small, colour, "label", False)
    canvas.fill(0, rows - status_h, cols, rows, (0.82, 0.82, 0.80))
    canvas.text(8, rows - status_h + 2, "Ready", small, DARK, "label", False)
    return {}


def draw_notext(
    canvas: Canvas, plan: Plan, p: Patient, rng: random.Random, nrng: np.random.Generator
) -> dict[str, Any]:
    if plan.extra["kind"] == "us":
        fan = draw_fan(canvas, nrng, (canvas.columns // 2, 20), canvas.rows - 50)
        return {"fan": fan}
    rows, cols = canvas.rows, canvas.columns
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.hypot((xx - cols / 2) / (cols * 0.42), (yy - rows / 2) / (rows * 0.36))
    body = (r < 1.0) * (0.45 + 0.1 * np.cos(xx / 9.0) * np.sin(yy / 11.0))
    bone = (np.abs(r - 0.9) < 0.05) * 0.45
    noise = nrng.normal(0, 0.02, (rows, cols))
    canvas.px[0] = np.clip(body + bone + noise, 0, 1)[..., None]
    return {}


DRAWERS = {"us": draw_us, "us_cine": draw_us, "cr": draw_cr, "sc": draw_sc, "notext": draw_notext}


# ---------------------------------------------------------------------------- encoding


def palette_luts() -> np.ndarray:
    """(256, 3) LUT in 0..1: a grey ramp, then PALETTE_COLOURS, then zeros."""
    lut = np.zeros((256, 3), dtype=np.float32)
    lut[:GREY_LEVELS] = np.linspace(0.0, 1.0, GREY_LEVELS, dtype=np.float32)[:, None]
    lut[GREY_LEVELS : GREY_LEVELS + len(PALETTE_COLOURS)] = PALETTE_COLOURS
    return lut


def to_palette(px: np.ndarray) -> np.ndarray:
    """Index image for ``palette_luts``: grey pixels on the ramp, coloured ones to the
    nearest palette colour."""
    grey = px.mean(axis=-1)
    idx = np.rint(grey * (GREY_LEVELS - 1)).astype(np.uint8)
    coloured = (px.max(axis=-1) - px.min(axis=-1)) > 0.02
    if coloured.any():
        colours = np.asarray(PALETTE_COLOURS, dtype=np.float32)
        d = ((px[coloured][:, None, :] - colours[None, :, :]) ** 2).sum(-1)
        idx[coloured] = GREY_LEVELS + d.argmin(axis=1)
    return idx


def encode_pixels(ds: Dataset, canvas: Canvas, plan: Plan) -> np.ndarray:
    """Store the canvas in ``ds`` natively as the plan's photometric; return the stored array."""
    px = canvas.px
    pi = plan.photometric
    frames = px.shape[0]
    ds.PhotometricInterpretation = pi
    if pi in ("RGB", "YBR_FULL"):
        arr = np.rint(np.clip(px, 0, 1) * 255).astype(np.uint8)
        if pi == "YBR_FULL":
            arr = np.stack([convert_color_space(a, "RGB", "YBR_FULL") for a in arr])
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.BitsAllocated = ds.BitsStored = 8
    elif pi == "PALETTE COLOR":
        arr = np.stack([to_palette(f) for f in px])
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = 1, 8, 8
        lut = np.rint(palette_luts() * 65535).astype(np.uint16)
        for k, colour in enumerate(("Red", "Green", "Blue")):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", lut[:, k].tobytes())
    else:
        lum = px @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
        if pi == "MONOCHROME1":
            lum = 1.0 - lum
        top = (1 << plan.bits_stored) - 1
        dtype = np.uint8 if plan.bits_stored == 8 else np.uint16
        arr = np.rint(np.clip(lum, 0, 1) * top).astype(dtype)
        ds.SamplesPerPixel = 1
        ds.BitsAllocated = 8 if plan.bits_stored == 8 else 16
        ds.BitsStored = plan.bits_stored
        if plan.bits_stored > 8:
            ds.WindowCenter, ds.WindowWidth = top // 2, top
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = canvas.rows, canvas.columns
    if frames > 1 or plan.layout == "us_cine":
        ds.NumberOfFrames = frames
    else:
        arr = arr[0]
    ds.PixelData = arr.tobytes()
    return arr


def _jpeg_baseline(ds: Dataset, arr: np.ndarray) -> None:
    frames = arr if arr.ndim == (4 if ds.SamplesPerPixel == 3 else 3) else arr[None]
    if ds.PhotometricInterpretation == "YBR_FULL":
        frames = np.stack([convert_color_space(f, "YBR_FULL", "RGB") for f in frames])
    encoded = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "JPEG", quality=92, subsampling=1)  # 4:2:2
        encoded.append(buf.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ratio = arr.nbytes / sum(len(e) for e in encoded)
    ds.LossyImageCompressionRatio = f"{ratio:.2f}"[:16]
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit


def compress(ds: Dataset, arr: np.ndarray, syntax: UID, notes: set[str]) -> UID:
    """Encode ``ds`` in ``syntax``; fall back to Explicit VR Little Endian with a note."""
    if syntax == ExplicitVRLittleEndian:
        return syntax
    try:
        if syntax == JPEGBaseline8Bit:
            _jpeg_baseline(ds, arr)
        else:
            ds.compress(syntax, arr, generate_instance_uid=False)
        return syntax
    except Exception as exc:
        notes.add(
            f"{syntax.name} unavailable for {ds.PhotometricInterpretation} "
            f"({type(exc).__name__}): written as Explicit VR Little Endian"
        )
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        return ExplicitVRLittleEndian


# ---------------------------------------------------------------------------- files


def _syntax_fits(syntax: UID, plan: Plan) -> bool:
    if syntax == JPEGBaseline8Bit:  # 8-bit only, and not palette (lossy indices are nonsense)
        return plan.bits_stored == 8 and plan.photometric != "PALETTE COLOR"
    if syntax == JPEGLSLossless:
        return plan.photometric != "YBR_FULL"
    if syntax == JPEG2000Lossless:
        return plan.photometric not in ("YBR_FULL", "PALETTE COLOR")
    return True


def make_plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(f"burned-in-plans:{seed}")
    fonts = fonts_available()
    plans = []
    per_layout: dict[str, int] = {}
    text_files = 0
    for index in range(1, count + 1):
        layout = LAYOUT_CYCLE[(index - 1) % len(LAYOUT_CYCLE)]
        k = per_layout.get(layout, 0)
        per_layout[layout] = k + 1
        bits, frames, extra, partial = 8, 1, {}, False
        if layout == "us":
            pi = ("MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "RGB")[k % 5]
        elif layout == "us_cine":
            pi = ("RGB", "MONOCHROME2", "PALETTE COLOR", "YBR_FULL")[k % 4]
            frames, partial = rng.randint(3, 6), k % 2 == 1
        elif layout == "cr":
            pi = ("MONOCHROME1", "MONOCHROME2")[k % 2]
            bits = (12, 16, 14, 12)[k % 4]
            extra["sop"] = "dx" if k % 3 == 2 else "cr"
        elif layout == "sc":
            pi = ("RGB", "RGB", "MONOCHROME2")[k % 3]
        else:
            kind = ("ct", "us", "mr")[k % 3]
            extra["kind"] = kind
            pi = "MONOCHROME2" if kind != "us" else ("MONOCHROME2", "RGB")[(k // 3) % 2]
            bits = {"ct": 12, "mr": 16, "us": 8}[kind]
        plan = Plan(
            index=index,
            layout=layout,
            photometric=pi,
            bits_stored=bits,
            frames=frames,
            syntax=ExplicitVRLittleEndian,
            burned_in=None,
            mrn_differs=False,
            font=fonts[(index - 1 + (index - 1) // len(LAYOUT_CYCLE)) % len(fonts)],
            font_size=rng.randint(11, 22) if layout != "cr" else rng.randint(14, 28),
            partial_frames=partial,
            extra=extra,
        )
        syntax = SYNTAX_CYCLES[layout][k % len(SYNTAX_CYCLES[layout])]
        plan.syntax = syntax if _syntax_fits(syntax, plan) else ExplicitVRLittleEndian
        if layout != "notext":
            plan.burned_in = BURNED_IN_CYCLE[text_files % len(BURNED_IN_CYCLE)]
            plan.mrn_differs = text_files % 4 == 1
            text_files += 1
        else:
            plan.burned_in = ("NO", None)[k % 2]
        plans.append(plan)
    return plans


def _size(plan: Plan, rng: random.Random) -> tuple[int, int]:
    """(rows, columns)."""
    if plan.layout in ("us", "us_cine"):
        return rng.choice(((480, 640), (600, 800)))
    if plan.layout == "cr":
        return rng.choice(((1024, 880), (960, 960), (880, 1024)))
    if plan.layout == "sc":
        return rng.choice(((600, 800), (768, 1024)))
    return {"ct": (512, 512), "mr": (256, 256), "us": (480, 640)}[plan.extra["kind"]]


def _header(ds: Dataset, plan: Plan, p: Patient, seed: int) -> None:
    sop_key = plan.extra.get("sop") or plan.extra.get("kind") or plan.layout
    sop_class = SOP_CLASSES[sop_key]
    sop_uid = generate_uid(entropy_srcs=["burned-in", str(seed), str(plan.index)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["burned-in-study", str(seed), p.name])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["burned-in-series", str(seed), sop_uid])
    ds.Modality = {"us": "US", "us_cine": "US", "cr": "CR", "sc": "OT"}.get(plan.layout, "")
    if sop_key == "dx":
        ds.Modality = "DX"
    if plan.layout == "notext":
        ds.Modality = plan.extra["kind"].upper()
    for keyword, value in p.header().items():
        setattr(ds, keyword, value)
    ds.PatientSex = "O"
    ds.SeriesDate = ds.ContentDate = ds.StudyDate
    ds.SeriesTime = ds.ContentTime = ds.StudyTime
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = plan.index
    ds.InstanceNumber = plan.index
    ds.Manufacturer = "Synthetic"
    ds.ImageType = ["DERIVED", "SECONDARY"] if plan.layout == "sc" else ["ORIGINAL", "PRIMARY"]
    if plan.layout == "sc":
        ds.ConversionType = "WSD"
    if plan.burned_in is not None:
        ds.BurnedInAnnotation = plan.burned_in
    if plan.layout == "us_cine":
        ds.FrameTime = 33.3
        ds.FrameIncrementPointer = 0x00181063
    if ds.Modality in ("CT", "MR"):
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 5.0
        ds.ImagePositionPatient = [0.0, 0.0, float(plan.index)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=["burned-in-for", str(seed), p.name])
    if ds.Modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1


def _regions(ds: Dataset, fan: tuple[int, int, int, int]) -> None:
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = fan[0], fan[1]
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = fan[2] - 1, fan[3] - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.03
    region.ReferencePixelX0 = (fan[2] - fan[0]) // 2
    region.ReferencePixelY0 = 0
    ds.SequenceOfUltrasoundRegions = DicomSequence([region])


def build_file(plan: Plan, seed: int, out: Path, notes: set[str]) -> dict[str, Any]:
    rng = random.Random(f"burned-in:{seed}:{plan.index}")
    nrng = np.random.default_rng([seed, plan.index])
    patient = make_patient(rng, plan.mrn_differs)
    rows, cols = _size(plan, rng)
    canvas = Canvas(plan.frames, rows, cols, binary_text=plan.photometric == "PALETTE COLOR")
    info = DRAWERS[plan.layout](canvas, plan, patient, rng, nrng)
    ds = Dataset()
    _header(ds, plan, patient, seed)
    if "fan" in info and ds.Modality == "US":
        _regions(ds, info["fan"])
    arr = encode_pixels(ds, canvas, plan)
    syntax = compress(ds, arr, plan.syntax, notes)
    name = f"img_{plan.index:04d}.dcm"
    ds.save_as(out / name, enforce_file_format=True)
    return {
        "file": f"dicom/{name}",
        "instance_number": plan.index,
        "sop_class": str(ds.SOPClassUID),
        "modality": ds.Modality,
        "layout": plan.layout,
        "photometric": plan.photometric,
        "bits_stored": plan.bits_stored,
        "rows": rows,
        "columns": cols,
        "frames": plan.frames,
        "transfer_syntax": str(syntax),
        "transfer_syntax_name": syntax.name,
        "burned_in_annotation": plan.burned_in,
        "mrn_differs": plan.mrn_differs,
        "partial_frames": plan.partial_frames,
        "font": plan.font,
        "font_size": plan.font_size,
        "header": patient.header(),
        "boxes": [asdict(b) for b in canvas.boxes],
    }


def generator_digest() -> str:
    """Changes whenever this generator does, so that a stale corpus is rebuilt."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def build_corpus(out_dir: Path, count: int = DEFAULT_COUNT, seed: int = 0) -> dict[str, Any]:
    """Write ``count`` files under ``out_dir/dicom`` and ``out_dir/truth.json``."""
    dicom = out_dir / "dicom"
    dicom.mkdir(parents=True, exist_ok=True)
    for old in dicom.glob("img_*.dcm"):
        old.unlink()
    notes: set[str] = set()
    files = [build_file(plan, seed, dicom, notes) for plan in make_plans(count, seed)]
    for note in sorted(notes):
        print(f"burned_in_corpus: note: {note}")
    truth = {
        "format": TRUTH_FORMAT,
        "generator": generator_digest(),
        "params": {"count": count, "seed": seed},
        "fonts": fonts_available(),
        "notes": sorted(notes),
        "files": files,
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def truth_matches(out_dir: Path, count: int, seed: int) -> bool:
    """True when ``out_dir`` holds a complete corpus built by this generator with these
    parameters."""
    try:
        truth = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    wanted = (TRUTH_FORMAT, generator_digest(), {"count": count, "seed": seed})
    if (truth.get("format"), truth.get("generator"), truth.get("params")) != wanted:
        return False
    return all((out_dir / f["file"]).is_file() for f in truth["files"])


def composition(truth: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Counts of files per layout, photometric, transfer syntax; and of boxes."""
    out: dict[str, dict[str, int]] = {"layout": {}, "photometric": {}, "syntax": {}, "boxes": {}}
    for f in truth["files"]:
        for key, value in (
            ("layout", f["layout"]),
            ("photometric", f["photometric"]),
            ("syntax", f["transfer_syntax_name"]),
        ):
            out[key][value] = out[key].get(value, 0) + 1
        for b in f["boxes"]:
            key = "phi" if b["phi"] else "non-phi"
            out["boxes"][key] = out["boxes"].get(key, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    started = time.perf_counter()
    truth = build_corpus(args.out_dir, args.count, args.seed)
    print(
        f"wrote {len(truth['files'])} files to {args.out_dir / 'dicom'} and "
        f"{args.out_dir / 'truth.json'} in {time.perf_counter() - started:.1f} s"
    )
    for key, counts in composition(truth).items():
        print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
