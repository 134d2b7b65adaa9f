"""Pixel codec: decode, mask, re-encode like the original, decode again -- on every
pydicom test file with Pixel Data.

A file is skipped only when pydicom itself cannot decode it (listed in UNDECODABLE with
the reason, and checked to still fail); every other file must round-trip exactly.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import warnings
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pydicom = pytest.importorskip("pydicom")

from pydicom import uid as uids  # noqa: E402
from pydicom.data import get_testdata_file, get_testdata_files  # noqa: E402
from pydicom.datadict import dictionary_VR  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.errors import InvalidDicomError  # noqa: E402

from imagedeid.errors import BackendUnavailableError, InputError  # noqa: E402
from imagedeid.pixels import codec  # noqa: E402
from imagedeid.pixels.codec import (  # noqa: E402
    Decoded,
    Encoded,
    PixelCodecError,
    decode,
    decode_encoded,
    display_frames,
    encode_like,
    is_available,
)

if not is_available()[0]:  # pragma: no cover - the dev environment has imagedeid[codecs]
    pytest.skip(is_available()[1], allow_module_level=True)

# pydicom 3.0.2 with pylibjpeg, -libjpeg, -openjpeg, -rle and pyjpegls cannot decode these
UNDECODABLE = {
    "JPEG-lossy.dcm": "libjpeg rejects the JPEG Extended codestream",
    "JPEG2000-embedded-sequence-delimiter.dcm": "openjpeg rejects the truncated codestream",
    "MR_truncated.dcm": "Pixel Data is shorter than Rows x Columns needs",
    "badVR.dcm": "Number of Frames is not an integer",
    "meta_missing_tsyntax.dcm": "the file meta has no Transfer Syntax UID",
    "nested_priv_SQ.dcm": "Pixel Data without Bits Allocated and the other Image Pixel attributes",
}
SAME_SYNTAX = codec.NATIVE | codec.LOSSLESS_REENCODE
KEPT = (
    "SOPClassUID",
    "SOPInstanceUID",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "LossyImageCompression",
)


def _pixel_files() -> list[Path]:
    """Every pydicom test file that reads as DICOM and has (7FE0,0010)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = sorted({Path(p) for p in get_testdata_files("*")}, key=lambda p: p.name)
        found = []
        for path in paths:
            if not path.is_file():
                continue
            try:
                ds = pydicom.dcmread(path, specific_tags=["PixelData"])
            except (InvalidDicomError, OSError, ValueError, EOFError):
                continue
            if "PixelData" in ds:
                found.append(path)
    return found


PIXEL_FILES = _pixel_files()


def _read(name: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


def _value(keyword: str, value: str) -> int | str:
    return int(value) if dictionary_VR(keyword) in ("US", "IS") else value


def _written(ds: Dataset, encoded: Encoded) -> Dataset:
    """The image's Image Pixel module with the new Pixel Data and attributes, written
    as a Part 10 file to memory and read back."""
    out = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few files hold invalid UIDs
        for keyword in KEPT:
            if keyword in ds:
                out[keyword] = copy.deepcopy(ds[keyword])
    for keyword, value in encoded.attributes.items():
        setattr(out, keyword, _value(keyword, value))
    out.file_meta = FileMetaDataset()
    out.file_meta.TransferSyntaxUID = encoded.transfer_syntax
    out.PixelData = encoded.value
    if encoded.encapsulated:
        out["PixelData"].VR = "OB"
    elif encoded.same_syntax:
        out["PixelData"].VR = ds["PixelData"].VR
    else:
        out["PixelData"].VR = "OB" if int(out.BitsAllocated) <= 8 else "OW"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.save_as(buffer, enforce_file_format=True)
        return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _check_round_trip(ds: Dataset, decoded: Decoded, frames: np.ndarray) -> Encoded:
    encoded = encode_like(ds, decoded, frames)
    syntax = decoded.source_syntax
    if syntax in SAME_SYNTAX:
        assert encoded.same_syntax and encoded.transfer_syntax == syntax, encoded.note
        assert encoded.encapsulated == (syntax in codec.LOSSLESS_REENCODE)
    else:
        assert not encoded.same_syntax and not encoded.encapsulated
        assert encoded.transfer_syntax == uids.ExplicitVRLittleEndian
        assert encoded.note and "Explicit VR Little Endian" in encoded.note
    assert len(encoded.value) % 2 == 0
    again = decode_encoded(ds, encoded)
    assert again.dtype == frames.dtype and np.array_equal(again, frames)

    reread = _written(ds, encoded)
    assert reread.file_meta.TransferSyntaxUID == encoded.transfer_syntax
    assert reread.PixelData == encoded.value
    if not encoded.encapsulated or frames.size <= 2**20:  # big J2K: decode_encoded did it
        assert np.array_equal(decode(reread).frames, frames)
    if syntax not in codec.LOSSLESS_REENCODE:  # native bytes mean what the decoder said
        assert reread.PhotometricInterpretation == decoded.photometric
    if codec.FALLBACK.get(syntax) or ds.get("LossyImageCompression") == "01":
        assert reread.LossyImageCompression == "01"  # never claim lossless for lossy data
    if not encoded.same_syntax and reread.SamplesPerPixel > 1:
        assert reread.PlanarConfiguration == 0
    return encoded


@pytest.mark.parametrize("path", PIXEL_FILES, ids=[p.name for p in PIXEL_FILES])
def test_every_pydicom_file_round_trips(path: Path) -> None:
    ds = _read(path.name)
    if path.name in UNDECODABLE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds.pixel_array  # noqa: B018 - pydicom itself must still fail
            except Exception as exc:
                pydicom_error = type(exc).__name__
            else:
                pytest.fail(f"pydicom now decodes {path.name}: remove it from UNDECODABLE")
        with pytest.raises(PixelCodecError):
            decode(ds)
        pytest.skip(f"pydicom cannot decode it: {UNDECODABLE[path.name]} ({pydicom_error})")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding and odd UIDs in a few files
        decoded = decode(ds)
    count = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.SamplesPerPixel)
    shape = (count, ds.Rows, ds.Columns) + ((samples,) if samples > 1 else ())
    assert decoded.frames.shape == shape
    assert decoded.frames.dtype.byteorder in ("=", "|")
    _check_round_trip(ds, decoded, decoded.frames.copy())


def test_unmodified_native_pixels_are_byte_identical() -> None:
    for name in (
        "CT_small.dcm",
        "MR_small_bigendian.dcm",
        "OBXXXX1A_expb.dcm",
        "color-pl.dcm",
        "liver_expb.dcm",
        "image_dfl.dcm",
        "SC_rgb_small_odd_big_endian.dcm",
        "rtdose_expb.dcm",
        "gdcm-US-ALOKA-16.dcm",
    ):
        ds = _read(name)
        decoded = decode(ds)
        encoded = encode_like(ds, decoded, decoded.frames)
        original = ds.PixelData + b"\x00" * (len(ds.PixelData) % 2)
        assert encoded.value == original, name
        assert encoded.attributes == {}, name


MASKED = [
    "MR_small_RLE.dcm",  # RLE, signed 16-bit
    "emri_small_RLE.dcm",  # RLE, 10 frames
    "SC_rgb_rle_2frame.dcm",  # RLE, RGB, 2 frames
    "rtdose_rle.dcm",  # RLE, 32-bit, 15 frames
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless, signed
    "emri_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless, 10 frames
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless, signed
    "emri_small_jpeg_2k_lossless.dcm",  # JPEG 2000 lossless, 10 frames
    "US1_J2KR.dcm",  # JPEG 2000 lossless, YBR_RCT
    "CT_small.dcm",  # Explicit VR LE, signed
    "MR_small_implicit.dcm",  # Implicit VR LE
    "MR_small_bigendian.dcm",  # big endian 16-bit
    "OBXXXX1A_expb_2frame.dcm",  # big endian 8-bit palette in OW
    "image_dfl.dcm",  # deflated
    "color-pl.dcm",  # RGB, planar configuration 1
    "liver.dcm",  # 1-bit, 3 frames
    "SC_ybr_full_422_uncompressed.dcm",  # YBR_FULL_422 expanded to YBR_FULL
]


@pytest.mark.parametrize("name", MASKED)
def test_masking_a_rectangle_round_trips_exactly(name: str) -> None:
    ds = _read(name)
    decoded = decode(ds)
    masked = decoded.frames.copy()
    masked[:, 2:9, 3:14] = 0
    encoded = _check_round_trip(ds, decoded, masked)
    assert encoded.same_syntax
    again = decode_encoded(ds, encoded)
    assert not again[:, 2:9, 3:14].any()
    assert np.array_equal(again[:, 9:], decoded.frames[:, 9:])
    assert not np.shares_memory(masked, decoded.frames)


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg_dcmtk.dcm",
        "examples_ybr_color.dcm",
        "JPEGLSNearLossless_16.dcm",
        "RG3_J2KI.dcm",
        "JPGLosslessP14SV1_1s_1f_8b.dcm",
        "JPGExtended.dcm",
    ],
)
def test_masking_without_a_lossless_encoder_writes_explicit_vr_little_endian(name: str) -> None:
    ds = _read(name)
    decoded = decode(ds)
    masked = decoded.frames.copy()
    masked[:, 5:20, 5:30] = 0
    encoded = _check_round_trip(ds, decoded, masked)
    assert encoded.transfer_syntax == uids.ExplicitVRLittleEndian
    assert uids.UID(decoded.source_syntax).name.split(" (")[0] in encoded.note


def test_jpeg_ybr_is_written_as_rgb_and_stays_lossy() -> None:
    ds = _read("examples_ybr_color.dcm")
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    decoded = decode(ds)
    assert decoded.photometric == "RGB"
    encoded = encode_like(ds, decoded, decoded.frames)
    assert encoded.attributes["PhotometricInterpretation"] == "RGB"
    assert _written(ds, encoded).LossyImageCompression == "01"
    unflagged = _read("JPEGLSNearLossless_08.dcm")
    assert "LossyImageCompression" not in unflagged
    decoded = decode(unflagged)
    attributes = encode_like(unflagged, decoded, decoded.frames).attributes
    assert attributes["LossyImageCompression"] == "01"
    assert attributes["LossyImageCompressionMethod"] == "ISO_14495_1"


def test_j2k_reversible_colour_transform_is_kept() -> None:
    ds = _read("US1_J2KR.dcm")
    decoded = decode(ds)
    assert (ds.PhotometricInterpretation, decoded.photometric) == ("YBR_RCT", "RGB")
    encoded = encode_like(ds, decoded, decoded.frames)
    assert encoded.attributes == {} and encoded.same_syntax


def test_encoder_that_refuses_falls_back_losslessly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels.encoders.base import Encoder

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("opj_start_compress failed")

    monkeypatch.setattr(Encoder, "iter_encode", refuse)
    ds = _read("MR_small_jp2klossless.dcm")
    decoded = decode(ds)
    encoded = encode_like(ds, decoded, decoded.frames)
    assert encoded.transfer_syntax == uids.ExplicitVRLittleEndian and not encoded.same_syntax
    assert "refused" in encoded.note and "RuntimeError" in encoded.note
    assert "LossyImageCompression" not in encoded.attributes
    assert np.array_equal(decode_encoded(ds, encoded), decoded.frames)


def test_unknown_transfer_syntax_fails_closed() -> None:
    ds = _read("CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = uids.MPEG2MPML
    with pytest.raises(PixelCodecError, match=r"1\.2\.840\.10008\.1\.2\.4\.100") as info:
        decode(ds)
    assert isinstance(info.value, InputError)
    assert str(ds.PatientName) not in str(info.value)
    frames = np.zeros((1, ds.Rows, ds.Columns), dtype=np.int16)
    with pytest.raises(PixelCodecError, match="MPEG2"):
        encode_like(ds, Decoded(frames, "MONOCHROME2", uids.MPEG2MPML), frames)


def test_missing_transfer_syntax_or_pixel_data_is_refused() -> None:
    ds = _read("CT_small.dcm")
    del ds.file_meta.TransferSyntaxUID
    with pytest.raises(PixelCodecError, match=r"\(0002,0010\)"):
        decode(ds)
    ds = _read("CT_small.dcm")
    del ds.PixelData
    with pytest.raises(PixelCodecError, match=r"\(7FE0,0010\)"):
        decode(ds)


def test_frames_that_do_not_fit_are_refused() -> None:
    ds = _read("OBXXXX1A.dcm")
    decoded = decode(ds)
    with pytest.raises(PixelCodecError, match="shape"):
        encode_like(ds, decoded, decoded.frames[:, :10])
    too_big = decoded.frames.astype(np.uint16)
    too_big[0, 0, 0] = 300
    with pytest.raises(PixelCodecError, match="Bits Allocated 8"):
        encode_like(ds, decoded, too_big)


def test_missing_plugin_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_openjpeg(name: str, *args: object) -> object:
        return None if name == "openjpeg" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_openjpeg)
    ok, why = is_available()
    assert not ok and "imagedeid[codecs]" in why and "openjpeg" in why
    with pytest.raises(BackendUnavailableError, match=r"imagedeid\[codecs\]"):
        decode(_read("MR_small_jp2klossless.dcm"))
    decode(_read("MR_small.dcm"))  # native pixels need no plugin


def test_results_are_frozen() -> None:
    ds = _read("MR_small.dcm")
    decoded = decode(ds)
    encoded = encode_like(ds, decoded, decoded.frames)
    with pytest.raises(AttributeError):
        decoded.photometric = "RGB"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        encoded.value = b""  # type: ignore[misc]


DISPLAY = [
    ("examples_palette.dcm", 3),
    ("gdcm-US-ALOKA-16_big.dcm", 3),  # 16-bit palette, big endian
    ("examples_ybr_color.dcm", 3),  # JPEG baseline YBR_FULL_422, 30 frames
    ("SC_ybr_full_uncompressed.dcm", 3),
    ("RG3_UNCR.dcm", 2),  # MONOCHROME1
    ("CT_small.dcm", 2),  # 16-bit signed, rescale intercept
    ("emri_small.dcm", 2),  # 10 frames
    ("MR_small_bigendian.dcm", 2),
    ("image_dfl.dcm", 2),
    ("JPEGLSNearLossless_16.dcm", 2),
    ("MR_small_jpeg_ls_lossless.dcm", 2),
    ("US1_J2KR.dcm", 3),
    ("RG1_J2KI.dcm", 2),
    ("MR_small_RLE.dcm", 2),
    ("SC_rgb_jpeg_dcmtk.dcm", 3),
    ("SC_rgb_16bit.dcm", 3),
    ("liver.dcm", 2),  # 1-bit
]


@pytest.mark.parametrize(("name", "ndim"), DISPLAY, ids=[n for n, _ in DISPLAY])
def test_display_frames_are_uint8_in_stored_geometry(name: str, ndim: int) -> None:
    ds = _read(name)
    decoded = decode(ds)
    images = list(display_frames(decoded, ds))
    assert len(images) == decoded.frames.shape[0]
    for image in images:
        assert image.dtype == np.uint8
        assert image.shape == (ds.Rows, ds.Columns) + ((3,) if ndim == 3 else ())
    assert any(int(image.max()) > int(image.min()) for image in images)


def test_display_inverts_monochrome1_and_scales_without_a_window() -> None:
    ds = _read("CT_small.dcm")
    assert "WindowCenter" not in ds
    decoded = decode(ds)
    (grey,) = display_frames(decoded, ds)
    assert (int(grey.min()), int(grey.max())) == (0, 255)
    inverted = Decoded(decoded.frames, "MONOCHROME1", decoded.source_syntax)
    (negative,) = display_frames(inverted, ds)
    assert np.array_equal(negative, 255 - grey)


def test_display_uses_the_window_of_the_file() -> None:
    ds = _read("MR_small_bigendian.dcm")
    decoded = decode(ds)
    (windowed,) = display_frames(decoded, ds)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    low = decoded.frames[0] <= center - 0.5 - (width - 1) / 2
    assert not windowed[low].any()
    ds.WindowCenter, ds.WindowWidth = 10_000, 10  # everything below the window: black
    (dark,) = display_frames(decoded, ds)
    assert not dark.any()


def test_display_palette_applies_the_lut() -> None:
    from pydicom.pixels.processing import apply_color_lut

    ds = _read("examples_palette.dcm")
    decoded = decode(ds)
    (rgb,) = display_frames(decoded, ds)
    lut16 = apply_color_lut(decoded.frames[0], ds)  # 16-bit entries
    assert np.abs(rgb.astype(int) - lut16.astype(int) * 255 / 65535).max() <= 0.5
    assert len({tuple(c) for c in rgb.reshape(-1, 3)[::97]}) > 2  # colours, not grey
