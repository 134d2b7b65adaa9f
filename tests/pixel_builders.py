"""Builders for images with burned-in text (real text drawn with DejaVu fonts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
US_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"

PATIENT = ("PEMBERTON", "ROSALIND")
MRN = "48213377"
BURNED_MRN = "00731956"  # differs from the header PatientID, as on real scanners


def draw(
    size: tuple[int, int],
    texts: Sequence[tuple[int, int, str]],
    *,
    font: str = FONT,
    px: int = 18,
    fg: int = 235,
    fan: bool = True,
) -> np.ndarray:
    """An 8-bit grey image: a speckled fan (ultrasound-like) and text at (x, y)."""
    rows, cols = size
    rng = np.random.default_rng(7)
    img = np.zeros((rows, cols), dtype=np.uint8)
    if fan:
        yy, xx = np.mgrid[0:rows, 0:cols]
        cx, top = cols // 2, rows // 5
        r = np.hypot(xx - cx, yy - top)
        angle = np.abs(np.arctan2(xx - cx, yy - top))
        inside = (r < rows * 0.75) & (r > rows * 0.05) & (angle < 0.6) & (yy > top)
        img[inside] = rng.integers(30, 120, inside.sum(), dtype=np.uint8)
    pil = Image.fromarray(img)
    pen = ImageDraw.Draw(pil)
    face = ImageFont.truetype(font, px)
    for x, y, text in texts:
        pen.text((x, y), text, fill=fg, font=face)
    return np.array(pil)


def instance(
    pixels: np.ndarray,
    *,
    modality: str = "US",
    sop_class: str = US_CLASS,
    burned_in: str | None = None,
    photometric: str | None = None,
    regions: Sequence[tuple[int, int, int, int]] = (),
    **attrs: object,
) -> Dataset:
    """A Part 10 data set around ``pixels`` ((rows, cols), (rows, cols, 3) or frames)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = "^".join(PATIENT)
    ds.PatientID = MRN
    ds.PatientBirthDate = "19610419"
    ds.StudyDate = "20240305"
    ds.InstitutionName = "Larkfield General Hospital"
    ds.Manufacturer = "ACME Medical"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    multi = pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] != 3)
    frames = pixels.shape[0] if multi else 1
    plane = pixels[0] if multi else pixels
    colour = plane.ndim == 3
    ds.Rows, ds.Columns = plane.shape[:2]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if colour else "MONOCHROME2")
    if colour:
        ds.PlanarConfiguration = 0
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if multi:
        ds.NumberOfFrames = frames
    if regions:
        items = []
        for x, y, w, h in regions:
            item = Dataset()
            item.RegionSpatialFormat = 1
            item.RegionDataType = 1
            item.RegionFlags = 0
            item.RegionLocationMinX0, item.RegionLocationMinY0 = x, y
            item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x + w - 1, y + h - 1
            items.append(item)
        ds.SequenceOfUltrasoundRegions = DicomSequence(items)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def us_with_phi(**attrs: object) -> Dataset:
    """768 x 1024 ultrasound: identity band on top, labels on the right, fan below."""
    last, first = PATIENT
    pixels = draw(
        (600, 800),
        [
            (8, 6, f"{last}, {first}"),
            (300, 6, f"MRN {BURNED_MRN}"),
            (560, 6, "04/19/1961"),
            (8, 30, "Larkfield General"),
            (560, 30, "10:42:13 AM"),
            (700, 120, "MI 1.1"),
            (700, 145, "TIS 0.4"),
            (700, 170, "5.0MHz"),
        ],
    )
    return instance(pixels, regions=[(120, 60, 560, 520)], **attrs)
