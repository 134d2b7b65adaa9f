"""Masks: which stored pixels are blanked, on every frame or on one, and with what value."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import numpy as np

from imagedeid.model import TextBox


class MaskSet:
    """Boolean masks over one image's frames: one shared by all frames, plus per frame."""

    def __init__(self, n_frames: int, rows: int, cols: int) -> None:
        self.n_frames = n_frames
        self.rows = rows
        self.cols = cols
        self.every = np.zeros((rows, cols), dtype=bool)
        self.per_frame: dict[int, np.ndarray] = {}
        self.boxes: list[TextBox] = []

    def add(self, box: TextBox) -> TextBox | None:
        """Add ``box`` clipped to the image; returns the clipped box (None if empty)."""
        x0, y0 = max(box.x, 0), max(box.y, 0)
        x1, y1 = min(box.x + box.w, self.cols), min(box.y + box.h, self.rows)
        if x1 <= x0 or y1 <= y0:
            return None
        clipped = TextBox(x0, y0, x1 - x0, y1 - y0, box.frame, box.source, box.reason)
        if box.frame is None or self.n_frames == 1:
            self.every[y0:y1, x0:x1] = True
        else:
            plane = self.per_frame.setdefault(box.frame, np.zeros_like(self.every))
            plane[y0:y1, x0:x1] = True
        self.boxes.append(clipped)
        return clipped

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def plane(self, frame: int | None) -> np.ndarray:
        if frame is None:
            merged = self.every.copy()
            for plane in self.per_frame.values():
                merged |= plane
            return merged
        own = self.per_frame.get(frame)
        if own is None:
            return self.every
        combined: np.ndarray = self.every | own
        return combined

    def covered(self, x: int, y: int, w: int, h: int, frame: int | None) -> float:
        """Fraction of the rectangle that is masked on ``frame`` (None: on any frame)."""
        area = max(w, 0) * max(h, 0)
        if area == 0:
            return 0.0
        window = self.plane(frame)[max(y, 0) : y + h, max(x, 0) : x + w]
        return float(window.sum()) / area

    def apply(self, frames: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """A masked copy of ``frames`` (n, rows, cols[, samples])."""
        out = frames.copy()
        if self.every.any():
            out[:, self.every] = fill
        for index, plane in self.per_frame.items():
            out[index][plane] = fill
        return out


def fill_value(frames: np.ndarray, photometric: str) -> np.ndarray:
    """The stored value that displays black (or the darkest the image holds)."""
    pi = photometric.upper()
    if pi.startswith("YBR"):
        info = np.iinfo(frames.dtype) if frames.dtype.kind in "ui" else None
        mid = (int(info.max) + 1) // 2 if info is not None else 0
        return np.array([0, mid, mid], dtype=frames.dtype)
    if pi == "MONOCHROME1":
        return np.array(frames.max(), dtype=frames.dtype)
    if frames.ndim == 4:
        return np.zeros(frames.shape[-1], dtype=frames.dtype)
    return np.array(frames.min(), dtype=frames.dtype)


def darkest_palette_index(lut: np.ndarray) -> int:
    """For PALETTE COLOR: the index whose colour is darkest (``lut`` is (entries, 3))."""
    return int(np.argmin(lut.astype(np.int64).sum(axis=1)))


def complement(
    regions: Iterable[tuple[int, int, int, int]], rows: int, cols: int
) -> list[tuple[int, int, int, int]]:
    """Rectangles covering everything outside ``regions`` (x, y, w, h), row by row."""
    rects = [(max(x, 0), max(y, 0), min(x + w, cols), min(y + h, rows)) for x, y, w, h in regions]
    xs = sorted({0, cols, *(r[0] for r in rects), *(r[2] for r in rects)})
    ys = sorted({0, rows, *(r[1] for r in rects), *(r[3] for r in rects)})
    out: list[tuple[int, int, int, int]] = []
    for y0, y1 in pairwise(ys):
        run_start: int | None = None
        for x0, x1 in pairwise(xs):
            inside = any(r[0] <= x0 and x1 <= r[2] and r[1] <= y0 and y1 <= r[3] for r in rects)
            if not inside and run_start is None:
                run_start = x0
            if inside and run_start is not None:
                out.append((run_start, y0, x0 - run_start, y1 - y0))
                run_start = None
        if run_start is not None:
            out.append((run_start, y0, cols - run_start, y1 - y0))
    return [r for r in out if r[2] > 0 and r[3] > 0]
