"""Decode Pixel Data for OCR and masking; re-encode it like the original.

``decode`` turns (7FE0,0010) into stored values, one array per frame; the caller masks
rectangles in them; ``encode_like`` writes them back in the input's transfer syntax where
a lossless encoder exists, else as Explicit VR Little Endian (and says so); and
``decode_encoded`` decodes that result in memory, so the caller can check it equals what
it masked before anything is written.

Input transfer syntax -> output:

* Implicit VR LE, Explicit VR LE, Deflated Explicit VR LE -> the same, native bytes
  (BitsAllocated and PlanarConfiguration kept; YBR_FULL_422 is written as YBR_FULL);
* Explicit VR Big Endian -> the same, bytes in big endian order (8-bit OW word-swapped);
* RLE Lossless, JPEG-LS Lossless, JPEG 2000 Lossless -> the same, re-encoded losslessly,
  one fragment per frame and a Basic Offset Table (YBR_RCT keeps its colour transform);
  should the encoder refuse (openjpeg: under 32 pixels wide or tall, over 24 bits), the
  frames are written as Explicit VR Little Endian instead, still lossless;
* JPEG Baseline/Extended, JPEG-LS Near-Lossless, JPEG 2000, HTJ2K -> Explicit VR Little
  Endian, LossyImageCompression "01" (YBR that the JPEG decoder made RGB is written RGB);
* JPEG Lossless (Process 14 and SV1), HTJ2K Lossless -> Explicit VR Little Endian (no
  encoder exists);
* anything else -> PixelCodecError (the caller fails closed).

Native output holds the values pydicom decodes: unused high bits (BitsStored <
BitsAllocated) are sign-extended or cleared, and excess padding is dropped, so bytes can
differ from the input even where no pixel changed -- leave unredacted images alone.

numpy and the pylibjpeg plugins are imported only when pixels are decoded, so that
``is_available()`` can answer without them. Messages name tags and transfer syntaxes,
never values.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydicom import uid as uids
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset

from imagedeid.errors import BackendUnavailableError, InputError
from imagedeid.pixels.display import display_frames

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Decoded",
    "Encoded",
    "PixelCodecError",
    "decode",
    "decode_encoded",
    "display_frames",
    "encode_like",
    "is_available",
]

EXTRA = "imagedeid[codecs]"
_WHERE = "(7FE0,0010) Pixel Data"

NATIVE = frozenset(
    {
        uids.ImplicitVRLittleEndian,
        uids.ExplicitVRLittleEndian,
        uids.DeflatedExplicitVRLittleEndian,
        uids.ExplicitVRBigEndian,
    }
)
# re-encoded in the same syntax by a lossless encoder
LOSSLESS_REENCODE = frozenset({uids.RLELossless, uids.JPEGLSLossless, uids.JPEG2000Lossless})
# decodable, but written as Explicit VR Little Endian: syntax -> was the source lossy
FALLBACK: Mapping[str, bool] = {
    uids.JPEGBaseline8Bit: True,
    uids.JPEGExtended12Bit: True,
    uids.JPEGLSNearLossless: True,
    uids.JPEG2000: True,
    uids.HTJ2K: True,
    uids.JPEGLossless: False,
    uids.JPEGLosslessSV1: False,
    uids.HTJ2KLossless: False,
    uids.HTJ2KLosslessRPCL: False,
}
# the lossy syntaxes whose decoder turns YBR into RGB (pydicom's default, as_rgb)
_TO_RGB = frozenset({uids.JPEGBaseline8Bit, uids.JPEGExtended12Bit})
# Lossy Image Compression Method (0028,2114), CID 7013, for a source that did not say
_LOSSY_METHOD: Mapping[str, str] = {
    uids.JPEGBaseline8Bit: "ISO_10918_1",
    uids.JPEGExtended12Bit: "ISO_10918_1",
    uids.JPEGLSNearLossless: "ISO_14495_1",
    uids.JPEG2000: "ISO_15444_1",
    uids.HTJ2K: "ISO_15444_15",
}
# modules each decoder/encoder needs (import names); pydicom's own RLE and native need none
_NEEDS: Mapping[str, tuple[str, ...]] = {
    uids.RLELossless: ("rle",),
    uids.JPEGLSLossless: ("jpeg_ls", "libjpeg"),
    uids.JPEGLSNearLossless: ("libjpeg",),
    uids.JPEG2000Lossless: ("openjpeg",),
    uids.JPEG2000: ("openjpeg",),
    uids.HTJ2K: ("openjpeg",),
    uids.HTJ2KLossless: ("openjpeg",),
    uids.HTJ2KLosslessRPCL: ("openjpeg",),
    uids.JPEGBaseline8Bit: ("libjpeg",),
    uids.JPEGExtended12Bit: ("libjpeg",),
    uids.JPEGLossless: ("libjpeg",),
    uids.JPEGLosslessSV1: ("libjpeg",),
}
_ALL_MODULES = ("numpy", "pylibjpeg", "libjpeg", "openjpeg", "rle", "jpeg_ls")
# the Image Pixel module attributes a decoder reads; everything decode_encoded copies
_IMAGE_PIXEL = (
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
)


class PixelCodecError(InputError):
    """Pixel Data cannot be decoded, or cannot be written back safely."""


@dataclass(frozen=True)
class Decoded:
    """Stored values of every frame: (frames, rows, cols) or (frames, rows, cols, samples).

    ``photometric`` describes ``frames`` (RGB when the decoder converted YBR); the
    array is in native byte order and planar configuration 0. Copy it before masking.
    """

    frames: np.ndarray
    photometric: str
    source_syntax: str


@dataclass(frozen=True)
class Encoded:
    """A new (7FE0,0010) value and what the header must say about it."""

    value: bytes
    encapsulated: bool
    transfer_syntax: str
    attributes: dict[str, str] = field(default_factory=dict)
    same_syntax: bool = True
    note: str = ""


def is_available() -> tuple[bool, str]:
    """(True, "") when numpy and every decoder/encoder plugin can be imported."""
    missing = [name for name in _ALL_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return False, (
            f"pixel codecs need {EXTRA}: {', '.join(missing)} cannot be imported; "
            f"install it with: pip install '{EXTRA}'"
        )
    return True, ""


def _require(modules: tuple[str, ...], syntax: str, what: str) -> None:
    missing = [name for name in ("numpy", *modules) if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendUnavailableError(
            f"cannot {what} {_WHERE} in {_name(syntax)}: {', '.join(missing)} cannot be "
            f"imported; install it with: pip install '{EXTRA}'"
        )


def _name(syntax: str) -> str:
    return f"{uids.UID(syntax).name} ({syntax})"


def _syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if not syntax:
        raise PixelCodecError(
            f"cannot decode {_WHERE}: the file meta has no (0002,0010) Transfer Syntax UID; "
            "the file must be repaired before its pixels can be cleaned"
        )
    return str(syntax)


def decode(ds: Dataset) -> Decoded:
    """Every frame's stored values (after decompression) and what they mean."""
    from pydicom.pixels.decoders.base import get_decoder

    syntax = _syntax(ds)
    if syntax not in NATIVE and syntax not in LOSSLESS_REENCODE and syntax not in FALLBACK:
        raise PixelCodecError(
            f"cannot clean {_WHERE}: transfer syntax {_name(syntax)} is not supported; "
            "convert the file to a supported syntax or exclude it"
        )
    if "PixelData" not in ds:
        raise PixelCodecError(f"cannot decode {_WHERE}: the data set has no (7FE0,0010)")
    _require(_NEEDS.get(syntax, ()), syntax, "decode")
    try:
        arr, props = get_decoder(syntax).as_array(ds, raw=syntax not in _TO_RGB)
    except Exception as exc:  # pydicom and the plugins raise anything; translate it here
        raise PixelCodecError(
            f"cannot decode {_WHERE} in {_name(syntax)} ({type(exc).__name__}); the pixel "
            "data or its (0028,xxxx) Image Pixel attributes are damaged or unsupported"
        ) from None
    samples = int(props["samples_per_pixel"])
    if arr.ndim == (2 if samples == 1 else 3):
        arr = arr[None, ...]
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return Decoded(arr, str(props["photometric_interpretation"]), syntax)


def encode_like(ds: Dataset, decoded: Decoded, frames: np.ndarray) -> Encoded:
    """``frames`` (same shape as ``decoded.frames``) as a new (7FE0,0010) value.

    Written in the original syntax where a lossless re-encode exists, else as Explicit
    VR Little Endian with ``same_syntax`` False and a ``note`` saying why.
    """
    syntax = decoded.source_syntax
    if frames.shape != decoded.frames.shape:
        raise PixelCodecError(
            f"cannot encode {_WHERE}: the frames' shape differs from the decoded frames'; "
            "masking must not resize the image"
        )
    if syntax in NATIVE:
        return _encode_native(ds, decoded, frames, syntax, note="")
    if syntax in LOSSLESS_REENCODE:
        encoded = _encode_compressed(ds, decoded, frames, syntax)
        if isinstance(encoded, Encoded):
            return encoded
        note = (
            f"the {uids.UID(syntax).name} encoder refused these frames ({encoded}); "
            "written as Explicit VR Little Endian"
        )
        return _encode_native(ds, decoded, frames, uids.ExplicitVRLittleEndian, note=note)
    if syntax in FALLBACK:
        kind = "lossy" if FALLBACK[syntax] else "lossless"
        note = (
            f"{uids.UID(syntax).name} ({kind}) has no lossless re-encoder here; "
            "written as Explicit VR Little Endian"
        )
        return _encode_native(ds, decoded, frames, uids.ExplicitVRLittleEndian, note=note)
    raise PixelCodecError(
        f"cannot encode {_WHERE}: transfer syntax {_name(syntax)} is not supported"
    )


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None:
        raise PixelCodecError(f"cannot encode {_WHERE}: (0028,xxxx) {keyword} is missing")
    return int(value)


def _container(frames: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """``frames`` as the integer type of ``bits``, refusing values that do not fit."""
    import numpy as np

    size = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    dtype = np.dtype(f"{'i' if signed else 'u'}{size}")
    if frames.size and frames.dtype != dtype:
        info = np.iinfo(dtype)
        if frames.dtype.kind not in "iub" or frames.min() < info.min or frames.max() > info.max:
            raise PixelCodecError(
                f"cannot encode {_WHERE}: the masked frames hold values outside "
                f"(0028,0100) Bits Allocated {bits} / (0028,0103) Pixel Representation; "
                "mask with a value the image can store"
            )
    return frames.astype(dtype, copy=False)


def _lossy_attributes(ds: Dataset, syntax: str) -> dict[str, str]:
    lossy = FALLBACK.get(syntax, False) or str(ds.get("LossyImageCompression", "")) == "01"
    if not lossy or str(ds.get("LossyImageCompression", "")) == "01":
        return {}
    attributes = {"LossyImageCompression": "01"}
    if "LossyImageCompressionMethod" not in ds and syntax in _LOSSY_METHOD:
        attributes["LossyImageCompressionMethod"] = _LOSSY_METHOD[syntax]
    return attributes


def _encode_native(
    ds: Dataset, decoded: Decoded, frames: np.ndarray, syntax: str, note: str
) -> Encoded:
    from pydicom.pixels.utils import pack_bits

    source = decoded.source_syntax
    same = source == syntax
    samples = _int(ds, "SamplesPerPixel", 1)
    bits = _int(ds, "BitsAllocated")
    signed = _int(ds, "PixelRepresentation", 0) == 1
    attributes = _lossy_attributes(ds, source)
    if decoded.photometric != str(ds.get("PhotometricInterpretation", "")):
        attributes["PhotometricInterpretation"] = decoded.photometric
    if bits == 1:
        if not same:
            raise PixelCodecError(f"cannot encode {_WHERE}: 1-bit data must be native")
        value = pack_bits(_container(frames, 8, False), pad=True)
        return Encoded(value, False, syntax, attributes, True, note)
    if bits % 8:
        raise PixelCodecError(
            f"cannot encode {_WHERE}: (0028,0100) Bits Allocated {bits} is not a whole "
            "number of bytes"
        )
    if not same and frames.dtype.itemsize * 8 > bits:  # a decoder widened the samples
        bits = frames.dtype.itemsize * 8
        attributes["BitsAllocated"] = str(bits)
    arr = _container(frames, bits, signed)
    planar = samples > 1 and same and _int(ds, "PlanarConfiguration", 0) == 1
    if samples > 1 and not planar and ds.get("PlanarConfiguration") != 0:
        attributes["PlanarConfiguration"] = "0"
    if planar:
        arr = arr.transpose(0, 3, 1, 2)
    big = syntax == uids.ExplicitVRBigEndian
    if big:
        arr = arr.astype(arr.dtype.newbyteorder(">"), copy=False)
    value = arr.tobytes()
    if len(value) % 2:
        value += b"\x00"
    if big and bits == 8 and ds["PixelData"].VR == "OW":  # OW words hold two 8-bit samples
        swapped = bytearray(value)
        swapped[0::2], swapped[1::2] = value[1::2], value[0::2]
        value = bytes(swapped)
    return Encoded(value, False, syntax, attributes, same, note)


def _encode_compressed(
    ds: Dataset, decoded: Decoded, frames: np.ndarray, syntax: str
) -> Encoded | str:
    """The frames re-encoded, or the name of the exception the encoder raised.

    openjpeg, for one, refuses images under 32 pixels wide or tall and samples over
    24 bits; the caller then writes them natively, still lossless.
    """
    from pydicom.encaps import encapsulate
    from pydicom.pixels.encoders.base import get_encoder

    _require(_NEEDS.get(syntax, ()), syntax, "encode")
    encoder = get_encoder(syntax)
    samples = _int(ds, "SamplesPerPixel", 1)
    bits = _int(ds, "BitsAllocated")
    signed = _int(ds, "PixelRepresentation", 0) == 1
    photometric = decoded.photometric
    original = str(ds.get("PhotometricInterpretation", ""))
    options: dict[str, Any] = {}
    if syntax == uids.JPEG2000Lossless and samples == 3:
        # openjpeg undid the reversible colour transform; redo it if the source had it
        if original == "YBR_RCT" and photometric == "RGB":
            photometric = "YBR_RCT"
        options["use_mct"] = photometric == "YBR_RCT"
    attributes = _lossy_attributes(ds, syntax)
    if photometric != original:
        attributes["PhotometricInterpretation"] = photometric
    count = frames.shape[0]
    arr = _container(frames, bits, signed)
    # pydicom's RLE profile stops at 16 bits; PS3.5 Annex G (up to 15 segments) does not
    validate = not (syntax == uids.RLELossless and bits > 16)
    try:
        parts = list(
            encoder.iter_encode(
                arr if count > 1 else arr[0],
                validate=validate,
                rows=arr.shape[1],
                columns=arr.shape[2],
                number_of_frames=count,
                samples_per_pixel=samples,
                bits_allocated=bits,
                bits_stored=_int(ds, "BitsStored", bits),
                pixel_representation=int(signed),
                photometric_interpretation=photometric,
                planar_configuration=0,  # the array is pixel-interleaved
                **options,
            )
        )
    except Exception as exc:  # encoders raise anything; their messages are not ours
        return type(exc).__name__
    return Encoded(encapsulate(parts, has_bot=True), True, syntax, attributes, True, "")


def decode_encoded(ds: Dataset, encoded: Encoded) -> np.ndarray:
    """Decode ``encoded`` as a reader of the output would, without writing a file.

    Returns frames shaped like ``Decoded.frames``; for every lossless path they must
    equal the frames that were encoded.
    """
    image = Dataset()
    for keyword in _IMAGE_PIXEL:
        if keyword in ds:
            image[keyword] = ds[keyword]
    for keyword, value in encoded.attributes.items():
        if keyword in _IMAGE_PIXEL:
            numeric = dictionary_VR(keyword) in ("US", "IS")
            setattr(image, keyword, int(value) if numeric else value)
    image.file_meta = FileMetaDataset()
    image.file_meta.TransferSyntaxUID = uids.UID(encoded.transfer_syntax)
    image.PixelData = encoded.value
    if encoded.encapsulated:
        vr = "OB"
    elif encoded.transfer_syntax == uids.ExplicitVRBigEndian:
        vr = ds["PixelData"].VR
    else:
        vr = "OB" if int(image.BitsAllocated) <= 8 else "OW"
    image["PixelData"].VR = vr
    return decode(image).frames
