"""Render decoded frames as 8-bit images for OCR, pixel for pixel.

Every image keeps the frame's geometry (no resizing, no cropping), so a box found in
display coordinates is the same box in the stored values that get masked:

* PALETTE COLOR: the palette is applied (RGB); a missing palette shows the indices as grey;
* YBR_FULL (and expanded YBR_FULL_422): converted to RGB;
* RGB with more than 8 bits: scaled by (0028,0101) Bits Stored;
* MONOCHROME: Rescale Slope/Intercept, then the first Window Center/Width if the file
  has one, else the frame's own minimum to maximum; 8-bit unsigned data is used as is;
  MONOCHROME1 is inverted so text reads the same way as on a viewer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

if TYPE_CHECKING:
    import numpy as np

    from imagedeid.pixels.codec import Decoded


def display_frames(decoded: Decoded, ds: Dataset) -> Iterator[np.ndarray]:
    """One uint8 image per frame, rows x cols (grey) or rows x cols x 3 (RGB)."""
    photometric = decoded.photometric
    for frame in decoded.frames:
        if photometric == "PALETTE COLOR":
            yield _palette(frame, ds)
        elif frame.ndim == 3:
            yield _colour(frame, ds, photometric)
        else:
            yield _grey(frame, ds, invert=photometric == "MONOCHROME1")


def _bits_stored(ds: Dataset, frame: np.ndarray) -> int:
    bits = int(ds.get("BitsStored") or frame.dtype.itemsize * 8)
    return max(1, min(bits, frame.dtype.itemsize * 8))


def _scale_bits(frame: np.ndarray, bits: int) -> np.ndarray:
    import numpy as np

    if frame.dtype == np.uint8 and bits == 8:
        return frame
    top = float(2**bits - 1)
    scaled = np.clip(frame.astype(np.float64), 0, top) * (255.0 / top)
    return np.rint(scaled).astype(np.uint8)


def _colour(frame: np.ndarray, ds: Dataset, photometric: str) -> np.ndarray:
    from pydicom.pixels.processing import convert_color_space

    rgb = _scale_bits(frame, _bits_stored(ds, frame))
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        rgb = convert_color_space(rgb, "YBR_FULL", "RGB")
    return rgb


def _palette(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    import numpy as np
    from pydicom.pixels.processing import apply_color_lut

    try:
        rgb = apply_color_lut(frame, ds)
    except Exception:  # no usable palette: the indices still show the text's shape
        return _grey(frame, ds, invert=False)
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.size and int(rgb.max()) <= 255:  # 16-bit entries that hold 8-bit values
        return rgb.astype(np.uint8)
    return _scale_bits(rgb, 16)


def _window(ds: Dataset) -> tuple[float, float] | None:
    try:
        center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
        if center is None or width is None:
            return None
        first_center = float(center[0] if _is_multi(center) else center)
        first_width = float(width[0] if _is_multi(width) else width)
    except (TypeError, ValueError, IndexError):
        return None
    return (first_center, first_width) if first_width >= 1 else None


def _is_multi(value: object) -> bool:
    return isinstance(value, list | tuple | MultiValue)


def _rescale(ds: Dataset) -> tuple[float, float]:
    try:
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
    except (TypeError, ValueError):
        return 1.0, 0.0
    return slope, intercept


MAX_ALTERNATES = 3


def alternate_frames(decoded: Decoded, ds: Dataset) -> list[np.ndarray]:
    """Other renderings of a grey image that a viewer may show -- the file's other
    windows, its VOI LUT, the full value range, the window an 8-bit image carries --
    each as a stack like ``display_frames``. Text legible in only one of them is read."""
    import numpy as np

    if decoded.photometric not in ("MONOCHROME1", "MONOCHROME2") or not decoded.frames.size:
        return []
    invert = decoded.photometric == "MONOCHROME1"
    first = decoded.frames[0]
    windows = _windows(ds)
    raw8 = first.dtype.kind == "u" and _bits_stored(ds, first) <= 8 and _rescale(ds) == (1.0, 0.0)
    modes: list[object] = []
    if raw8:
        modes += windows  # the default shows 8-bit values as stored
    else:
        modes += windows[1:]
        if windows:
            modes.append("range")
    if "VOILUTSequence" in ds:
        modes.append("voi")
    stacks = []
    for mode in modes[:MAX_ALTERNATES]:
        try:
            stacks.append(np.stack([_grey(f, ds, invert, mode) for f in decoded.frames]))
        except Exception:  # a malformed VOI LUT: that rendering is skipped
            continue
    return stacks


def _windows(ds: Dataset) -> list[tuple[float, float]]:
    try:
        centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
        if centers is None or widths is None:
            return []
        centers = list(centers) if _is_multi(centers) else [centers]
        widths = list(widths) if _is_multi(widths) else [widths]
        pairs = [(float(c), float(w)) for c, w in zip(centers, widths, strict=False)]
    except (TypeError, ValueError):
        return []
    return [p for p in pairs if p[1] >= 1]


def _grey(frame: np.ndarray, ds: Dataset, invert: bool, mode: object = None) -> np.ndarray:
    """``mode``: None, the default rendering; a (center, width) window; "range" for the
    frame's minimum to maximum; "voi" for the file's VOI LUT Sequence."""
    import numpy as np

    bits = _bits_stored(ds, frame)
    slope, intercept = _rescale(ds)
    if mode == "voi":
        from pydicom.pixels.processing import apply_voi_lut

        values = np.asarray(apply_voi_lut(frame, ds, prefer_lut=True), dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        out = np.zeros(frame.shape, dtype=np.uint8)
        if high > low:
            out = np.rint((values - low) / (high - low) * 255).astype(np.uint8)
    elif (
        mode is None and frame.dtype.kind == "u" and bits <= 8 and (slope, intercept) == (1.0, 0.0)
    ):
        out = _scale_bits(frame, bits)
    else:
        values = frame.astype(np.float64) * slope + intercept
        window = _window(ds) if mode is None else (mode if isinstance(mode, tuple) else None)
        if window is not None:  # PS3.3 C.11.2.1.2.1, linear
            center, width = window
            low = center - 0.5 - (width - 1) / 2
            high = center - 0.5 + (width - 1) / 2
        else:
            low, high = (float(values.min()), float(values.max())) if values.size else (0, 0)
        if high <= low:
            out = np.zeros(frame.shape, dtype=np.uint8)
        else:
            out = np.rint(np.clip((values - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    return 255 - out if invert else out
