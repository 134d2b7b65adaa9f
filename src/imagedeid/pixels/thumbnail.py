"""Small PNG thumbnails with the masked boxes outlined, for the review page.

Written with zlib only (no imaging library needed). The "before" thumbnail shows the
original pixels: it is for the data holder's review folder, never for the output.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

import numpy as np

from imagedeid.model import TextBox

_OUTLINE = np.array([255, 40, 40], dtype=np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def render(image: np.ndarray, boxes: Iterable[TextBox], max_side: int = 320) -> bytes:
    """PNG bytes of ``image`` (8-bit) shrunk to ``max_side``, boxes outlined in red."""
    rgb = _rgb(image).astype(np.uint8)
    h, w = rgb.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    small = rgb[::step, ::step].copy()
    sh, sw = small.shape[:2]
    for box in boxes:
        x0, y0 = min(box.x // step, sw - 1), min(box.y // step, sh - 1)
        x1 = min((box.x + box.w - 1) // step, sw - 1)
        y1 = min((box.y + box.h - 1) // step, sh - 1)
        small[y0, x0 : x1 + 1] = _OUTLINE
        small[y1, x0 : x1 + 1] = _OUTLINE
        small[y0 : y1 + 1, x0] = _OUTLINE
        small[y0 : y1 + 1, x1] = _OUTLINE
    return _png(small)


def _png(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
