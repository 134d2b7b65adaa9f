"""Clean Pixel Data end to end: real OCR (rapidocr) masks, Tesseract checks the output."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pixel_builders import (
    BURNED_MRN,
    CT_CLASS,
    PATIENT,
    US_MULTIFRAME_CLASS,
    draw,
    instance,
    us_with_phi,
)
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

import imagedeid
from imagedeid.errors import BackendUnavailableError
from imagedeid.model import FileResult, FileStatus, PixelMode, PixelScope, PixelSettings
from imagedeid.pixels import clean as clean_module
from imagedeid.pixels.ocr import OcrText, load_engine
from imagedeid.policy.profile import BUILTIN_PROFILES
from imagedeid.pseudonym import ProjectKey

pytestmark = pytest.mark.ocr
RESEARCH = BUILTIN_PROFILES["research"]
PHI_WORDS = (PATIENT[0], PATIENT[1], BURNED_MRN, "1961", "Larkfield", "10:42")


def run(tmp_path: Path, datasets: dict[str, pydicom.Dataset], profile: object = RESEARCH):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    for name, ds in datasets.items():
        ds.save_as(src / name, enforce_file_format=True)
    key = tmp_path / "k.key"
    key.write_text(ProjectKey(b"pixel-tests-key-0123456789abcdef").encode())
    key.chmod(0o600)
    results: list[FileResult] = []
    summary = imagedeid.deidentify(
        [src],
        tmp_path / "out",
        profile=profile,
        key_file=key,
        workers=1,
        progress=results.append,
        environ={},
    )
    by_name = {Path(r.input_path).name: r for r in results}
    return summary, by_name


def output(tmp_path: Path, res: FileResult) -> pydicom.Dataset:
    assert res.status is FileStatus.OK, res.reason
    return pydicom.dcmread(tmp_path / "out" / res.output_relpath)


def readable_text(ds: pydicom.Dataset) -> str:
    """What Tesseract (not the engine that masked) reads on every frame."""
    arr = ds.pixel_array
    frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]
    engine = load_engine("tesseract")
    words = []
    for frame in frames:
        img = frame if frame.dtype == np.uint8 else (frame >> 4).astype(np.uint8)
        words += [w.text for w in engine.read(img)]
    return " ".join(words)


def codes(ds: pydicom.Dataset) -> set[str]:
    return {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}


def test_burned_in_name_and_mrn_are_masked_and_the_fan_is_kept(tmp_path: Path) -> None:
    src = us_with_phi()
    summary, res = run(tmp_path, {"us.dcm": src})
    out = output(tmp_path, res["us.dcm"])
    text = readable_text(out)
    assert not [w for w in PHI_WORDS if w.lower() in text.lower()], "PHI still readable"
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in codes(out)
    before, after = src.pixel_array, out.pixel_array
    assert not np.array_equal(before, after)
    fan = (slice(200, 560), slice(260, 540))  # inside the ultrasound region, no text
    assert np.array_equal(before[fan], after[fan])
    assert res["us.dcm"].pixels == "redacted" and res["us.dcm"].pixel_boxes > 0
    assert summary.report["pixels"]["files"] == {"redacted": 1}


def test_image_without_text_is_byte_identical_and_claims_nothing(tmp_path: Path) -> None:
    pixels = draw((256, 256), [])
    src = instance(pixels, modality="CT", sop_class=CT_CLASS)  # no BurnedInAnnotation
    _summary, res = run(tmp_path, {"ct.dcm": src})
    out = output(tmp_path, res["ct.dcm"])
    assert out.PixelData == src.PixelData
    assert "113101" not in codes(out)
    assert "BurnedInAnnotation" not in out
    assert res["ct.dcm"].pixels == "no-text"


def test_original_ct_flagged_no_is_not_examined(tmp_path: Path) -> None:
    pixels = draw((128, 128), [(4, 4, "SHOULD STAY")], fan=False)
    src = instance(pixels, modality="CT", sop_class=CT_CLASS, burned_in="NO")
    _summary, res = run(tmp_path, {"ct.dcm": src})
    out = output(tmp_path, res["ct.dcm"])
    assert out.PixelData == src.PixelData
    assert res["ct.dcm"].pixels == "not-examined"


def test_scope_all_examines_even_a_ct_flagged_no(tmp_path: Path) -> None:
    pixels = draw((256, 256), [(4, 4, f"{PATIENT[0]} {BURNED_MRN}")], fan=False)
    src = instance(pixels, modality="CT", sop_class=CT_CLASS, burned_in="NO")
    profile = replace(
        RESEARCH, id="all", pixels=PixelSettings(PixelMode.ALL_TEXT, scope=PixelScope.ALL)
    )
    _summary, res = run(tmp_path, {"ct.dcm": src}, profile)
    assert res["ct.dcm"].pixels == "redacted"


def test_flagged_image_without_text_is_sequestered_not_released(tmp_path: Path) -> None:
    src = instance(draw((300, 400), []), burned_in="YES")
    summary, res = run(tmp_path, {"flagged.dcm": src})
    r = res["flagged.dcm"]
    assert r.status is FileStatus.QUARANTINED and r.reason_code == "pixel-review"
    assert not list((tmp_path / "out").rglob("*.dcm"))
    assert summary.exit_code == 1


def test_phi_text_mode_masks_the_name_and_keeps_technical_labels(tmp_path: Path) -> None:
    profile = replace(RESEARCH, id="phi-only", pixels=PixelSettings(PixelMode.PHI_TEXT))
    _summary, res = run(tmp_path, {"us.dcm": us_with_phi()}, profile)
    text = readable_text(output(tmp_path, res["us.dcm"]))
    assert PATIENT[0].lower() not in text.lower() and BURNED_MRN not in text
    assert "MI" in text and "TIS" in text


@pytest.mark.parametrize(
    ("syntax", "expected"),
    [
        (RLELossless, RLELossless),
        (JPEGLSLossless, JPEGLSLossless),
        (JPEG2000Lossless, JPEG2000Lossless),
        (JPEGBaseline8Bit, ExplicitVRLittleEndian),
    ],
)
def test_compressed_images_are_masked_and_rewritten_losslessly_where_possible(
    tmp_path: Path, syntax: str, expected: str
) -> None:
    src = us_with_phi()
    if syntax == JPEGBaseline8Bit:
        _jpeg(src)
    else:
        src.compress(syntax)
    _summary, res = run(tmp_path, {"c.dcm": src})
    out = output(tmp_path, res["c.dcm"])
    assert out.file_meta.TransferSyntaxUID == expected
    text = readable_text(out)
    assert PATIENT[0].lower() not in text.lower() and BURNED_MRN not in text
    if expected != syntax:
        assert "Explicit VR Little Endian" in res["c.dcm"].reason
        assert out.LossyImageCompression == "01"


def _jpeg(ds: pydicom.Dataset) -> None:
    """JPEG baseline through Pillow (pydicom has no JPEG encoder)."""
    from PIL import Image
    from pydicom.encaps import encapsulate

    buf = io.BytesIO()
    Image.fromarray(ds.pixel_array).save(buf, format="JPEG", quality=95)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"


def test_cine_text_on_some_frames_is_masked_on_every_frame(tmp_path: Path) -> None:
    frames = []
    for index in range(24):  # more than all-frames-up-to: read by projections + samples
        texts = [(8, 6, f"{PATIENT[0]}, {PATIENT[1]}")]
        if 9 <= index <= 12:
            texts.append((420, 6, f"ID {BURNED_MRN}"))
        frames.append(draw((300, 640), texts, px=20))
    src = instance(
        np.stack(frames),
        sop_class=US_MULTIFRAME_CLASS,
        NumberOfFrames=24,
        regions=[(80, 60, 480, 230)],
    )
    _summary, res = run(tmp_path, {"cine.dcm": src})
    out = output(tmp_path, res["cine.dcm"])
    after = out.pixel_array
    assert after.shape[0] == 24
    text = readable_text(out)
    assert PATIENT[0].lower() not in text.lower() and BURNED_MRN not in text


def test_known_vendor_region_is_masked_whole_once_text_is_seen_in_it(tmp_path: Path) -> None:
    # CTP library: ManufacturerModelName contains "EPIQ" and Rows 600 -> (0, 0, 1024, 49).
    pixels = draw((600, 800), [(700, 12, "2D")])  # a technical label: not PHI by itself
    pixels[:49, :60] = 90  # a grey patch, no text: masked only because the region is
    src = instance(pixels, Manufacturer="Philips", ManufacturerModelName="EPIQ 7G")
    profile = replace(RESEARCH, id="phi-only", pixels=PixelSettings(PixelMode.PHI_TEXT))
    _summary, res = run(tmp_path, {"epiq.dcm": src}, profile)
    after = output(tmp_path, res["epiq.dcm"]).pixel_array
    assert (after[:50, :] == 0).all()
    assert np.array_equal(after[60:], pixels[60:])


def test_known_vendor_region_leaves_a_text_free_image_byte_identical(tmp_path: Path) -> None:
    src = instance(draw((600, 800), []), Manufacturer="Philips", ManufacturerModelName="EPIQ")
    _summary, res = run(tmp_path, {"epiq.dcm": src})
    assert output(tmp_path, res["epiq.dcm"]).PixelData == src.PixelData


def test_review_page_shows_thumbnails_by_input_id_and_no_paths(tmp_path: Path) -> None:
    summary, res = run(tmp_path, {"us.dcm": us_with_phi()})
    page = Path(summary.report["pixels"]["review_page"])
    html = page.read_text()
    assert res["us.dcm"].journal_key in html
    assert str(tmp_path) not in html and "us.dcm" not in html
    for name in res["us.dcm"].review:
        assert (page.parent / name).read_bytes().startswith(b"\x89PNG")
    assert not page.is_relative_to(tmp_path / "out")


class _Stubborn:
    """An OCR double that always reads the name in the same place: masking never helps."""

    name = "stubborn"

    def read(self, image: np.ndarray, wanted: object = None) -> list[OcrText]:
        return [OcrText(10, 10, 120, 20, "PEMBERTON", 0.99)]


def test_text_that_survives_masking_sends_the_file_to_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clean_module, "load_engine", lambda name, threads=0: _Stubborn())
    summary, res = run(tmp_path, {"us.dcm": us_with_phi()})
    r = res["us.dcm"]
    assert r.status is FileStatus.QUARANTINED and "still found" in r.reason
    assert "PEMBERTON" not in json.dumps(summary.report)
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_a_run_needing_a_missing_ocr_engine_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagedeid.pixels import ocr

    monkeypatch.setitem(ocr.ENGINES, "rapidocr", ("imagedeid_no_such_module", "X", "ocr"))
    with pytest.raises(BackendUnavailableError, match=r"imagedeid\[ocr\]"):
        run(tmp_path, {"us.dcm": us_with_phi()})
