"""Which images OCR reads for a multi-frame object.

Up to ``all_frames_up_to`` frames, every frame is read. Longer cine loops are read as
(a) the per-pixel maximum and minimum over all frames -- burned-in text is drawn in a
fixed place, so bright text on a dark band survives the maximum and dark text on a
light band the minimum, whether it is on every frame or only on some -- and (b) the
first, middle and last frames. A box found on a projection or a sample is masked on
every frame. tests/test_pixel_views.py shows both kinds of text are found.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def ocr_views(display: np.ndarray, up_to: int) -> Iterator[tuple[int | None, np.ndarray]]:
    """(frame index or None for "all frames", 8-bit image) pairs to OCR."""
    n = display.shape[0]
    if n <= up_to:
        for index in range(n):
            yield (index if n > 1 else None), display[index]
        return
    yield None, display.max(axis=0)
    yield None, display.min(axis=0)
    for index in sorted({0, n // 2, n - 1}):
        yield None, display[index]
