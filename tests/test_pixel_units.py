"""Clean Pixel Data parts without OCR: PHI rules, decisions, masks, views, thumbnails."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imagedeid.model import (
    FileResult,
    FileStatus,
    IdentifyingValues,
    PixelScope,
    PixelSettings,
    TextBox,
)
from imagedeid.pipeline.review import review_page
from imagedeid.pixels.decide import decide
from imagedeid.pixels.masking import MaskSet, complement, fill_value
from imagedeid.pixels.phi import is_phi
from imagedeid.pixels.thumbnail import render
from imagedeid.pixels.views import ocr_views
from imagedeid.policy.labels import technical_labels
from imagedeid.text import build_cleaner

CLEANER = build_cleaner(
    IdentifyingValues(
        names=["PEMBERTON^ROSALIND"], identifiers=["48213377"], birth_dates=["19610419"]
    )
)


@pytest.mark.parametrize(
    "text",
    [
        "PEMBERTON, ROSALIND",
        "Rosalind",
        "MRN 00731956",  # an ID that differs from the header: caught by pattern
        "48213377",
        "DOB: 04/19/1961",
        "10:42:13 AM",
        "ZZZDOWNTIME,MARY",
        "Larkfield General",  # not a technical label
        "(216) 555-0199",
        "",  # detected but unreadable: cannot be cleared
    ],
)
def test_phi_text(text: str) -> None:
    assert is_phi(text, CLEANER)


@pytest.mark.parametrize(
    "text",
    [
        "MI 1.1",
        "TIS 0.4",
        "5.0MHz",
        "C5-1",
        "16cm",
        "2D--100%",
        "H4.00 MHz",
        "Sag Liver L-M",
        "28Hz",
    ],
)
def test_technical_labels_are_not_phi(text: str) -> None:
    assert not is_phi(text, CLEANER)


def test_label_list_holds_no_name_of_the_test_patient() -> None:
    labels = technical_labels()
    assert not labels.is_technical("PEMBERTON") and not labels.is_technical("MARY")


def header(**values: str):  # type: ignore[no-untyped-def]
    return values.get


AUTO = PixelSettings()


@pytest.mark.parametrize(
    ("values", "examine"),
    [
        (
            {"Modality": "CT", "ImageType": "ORIGINAL\\PRIMARY\\AXIAL", "BurnedInAnnotation": "NO"},
            False,
        ),
        ({"Modality": "CT", "ImageType": "ORIGINAL\\PRIMARY\\AXIAL"}, True),  # missing flag
        ({"Modality": "CT", "ImageType": "DERIVED\\SECONDARY", "BurnedInAnnotation": "NO"}, True),
        ({"Modality": "US", "BurnedInAnnotation": "NO", "ImageType": "ORIGINAL"}, True),
        ({"Modality": "CR", "BurnedInAnnotation": "NO", "ImageType": "ORIGINAL"}, True),
        (
            {
                "Modality": "CT",
                "ImageType": "ORIGINAL\\PRIMARY",
                "BurnedInAnnotation": "NO",
                "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7",
            },
            True,
        ),
        ({"Modality": "MR", "ImageType": "ORIGINAL\\PRIMARY", "BurnedInAnnotation": "YES"}, True),
    ],
)
def test_which_images_are_examined(values: dict[str, str], examine: bool) -> None:
    assert decide(header(**values), AUTO).examine is examine


def test_scope_all_examines_everything() -> None:
    values = {"Modality": "CT", "ImageType": "ORIGINAL", "BurnedInAnnotation": "NO"}
    assert decide(header(**values), PixelSettings(scope=PixelScope.ALL)).examine


def test_complement_covers_exactly_the_outside() -> None:
    rects = complement([(10, 20, 30, 40), (60, 5, 10, 10)], 100, 80)
    covered = np.zeros((100, 80), dtype=int)
    for x, y, w, h in rects:
        covered[y : y + h, x : x + w] += 1
    inside = np.zeros_like(covered)
    inside[20:60, 10:40] = 1
    inside[5:15, 60:70] = 1
    assert (covered + inside == 1).all()


def test_masks_apply_to_every_frame_and_per_frame() -> None:
    frames = np.full((3, 10, 10), 7, dtype=np.uint16)
    masks = MaskSet(3, 10, 10)
    masks.add(TextBox(0, 0, 2, 2, None, "t", "text"))
    masks.add(TextBox(5, 5, 20, 20, 1, "t", "text"))  # clipped to the image
    out = masks.apply(frames, np.array(0, dtype=np.uint16))
    assert (out[:, :2, :2] == 0).all()
    assert (out[1, 5:, 5:] == 0).all() and (out[0, 5:, 5:] == 7).all()
    assert masks.boxes[1].w == 5 and masks.covered(5, 5, 5, 5, 1) == 1.0
    assert frames.max() == 7  # the input is not modified


@pytest.mark.parametrize(
    ("photometric", "dtype", "expected"),
    [("MONOCHROME2", np.uint16, 3), ("MONOCHROME1", np.uint16, 900)],
)
def test_fill_is_the_darkest_displayed_value(photometric: str, dtype: type, expected: int) -> None:
    frames = np.array([[[3, 900]]], dtype=dtype)
    assert int(fill_value(frames, photometric)) == expected


def test_ybr_fill_is_black_not_green() -> None:
    frames = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    assert fill_value(frames, "YBR_FULL").tolist() == [0, 128, 128]


def test_short_cines_are_read_frame_by_frame_long_ones_by_projection() -> None:
    short = np.zeros((5, 4, 4), dtype=np.uint8)
    assert [f for f, _ in ocr_views(short, 16)] == [0, 1, 2, 3, 4]
    long = np.zeros((40, 4, 4), dtype=np.uint8)
    long[10, 1, 1] = 255  # a bright mark on one frame only
    long[:, 2, 2] = 200
    long[20, 2, 2] = 0  # a dark mark on one frame only
    views = list(ocr_views(long, 16))
    assert all(f is None for f, _ in views)  # sampled views mask every frame
    assert views[0][1][1, 1] == 255 and views[1][1][2, 2] == 0


def test_thumbnail_is_a_valid_png_with_red_outlines() -> None:
    img = np.zeros((600, 400), dtype=np.uint8)
    png = render(img, [TextBox(10, 10, 100, 40, None, "t", "text")])
    pic = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert max(pic.shape[:2]) <= 320
    assert (pic[:, :, 0] == 255).any()


def test_review_page_escapes_and_names_inputs_by_id() -> None:
    res = FileResult(
        "/data/<PEMBERTON>/a.dcm",
        FileStatus.OK,
        "x.dcm",
        journal_key="abc123",
        pixels="redacted",
        pixel_boxes=2,
        review=("abc123-before.png", "abc123-after.png"),
    )
    page = review_page([res], "research@1")
    assert "PEMBERTON" not in page and "abc123-before.png" in page


def test_import_imagedeid_loads_no_ocr_engine() -> None:
    code = (
        "import sys, imagedeid, imagedeid.api, imagedeid.cli;"
        "mods = ('rapidocr', 'onnxruntime', 'pytesseract', 'numpy');"
        "bad = [m for m in mods if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_plan_says_whether_pixels_would_be_examined(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from builders import make_instance, to_bytes

    from imagedeid.api import pixel_plan

    ct = tmp_path / "ct.dcm"
    ct.write_bytes(to_bytes(make_instance(1)))  # ORIGINAL CT flagged NO
    us = tmp_path / "us.dcm"
    us.write_bytes(to_bytes(make_instance(1, modality="US", BurnedInAnnotation="NO")))
    assert "not examined" in pixel_plan(ct)
    assert "examined for burned-in text" in pixel_plan(us)
    assert "untouched" in pixel_plan(us, profile="basic")
