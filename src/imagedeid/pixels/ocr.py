"""OCR engines are plugins: registered by import path, imported only when used.

An engine turns one 8-bit image (H x W grey or H x W x 3 RGB) into text boxes. The
text stays in memory: it decides whether a box is PHI and is never logged or stored.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from imagedeid.errors import BackendUnavailableError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class OcrText:
    """One detected line or word. ``text`` is PHI-bearing: keep it in memory only.
    ``text`` is None when the box was detected but not read (see ``OcrEngine.read``)."""

    x: int
    y: int
    w: int
    h: int
    text: str | None
    score: float


# (x, y, w, h) -> whether the text in that box must be read
Wanted = Callable[[int, int, int, int], bool]


class OcrEngine(Protocol):
    name: str

    def read(self, image: np.ndarray, wanted: Wanted | None = None) -> list[OcrText]:
        """Every text box the engine detects, whether or not it could read it. With
        ``wanted``, an engine that detects and recognises in separate steps may skip
        recognising boxes for which ``wanted`` is False (their text is None)."""
        ...


# name -> (module, class, extra that provides it)
ENGINES: dict[str, tuple[str, str, str]] = {
    "rapidocr": ("imagedeid.pixels.ocr_rapid", "RapidOcrEngine", "ocr"),
    "tesseract": ("imagedeid.pixels.ocr_tesseract", "TesseractEngine", "tesseract"),
}

_LOADED: dict[tuple[str, int], OcrEngine] = {}


def availability(name: str) -> tuple[bool, str]:
    """(available, why not) without loading any model."""
    module, _cls, extra = ENGINES[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return False, f"OCR engine {name!r} needs imagedeid[{extra}] ({exc.name} is missing)"
    ok, why = mod.is_available()
    return bool(ok), str(why)


def load_engine(name: str, threads: int = 0) -> OcrEngine:
    """The process's engine of that name (loaded once; models load in milliseconds)."""
    cached = _LOADED.get((name, threads))
    if cached is not None:
        return cached
    if name not in ENGINES:
        raise BackendUnavailableError(
            f"no OCR engine named {name!r}; choose one of {', '.join(ENGINES)}"
        )
    ok, why = availability(name)
    if not ok:
        raise BackendUnavailableError(why)
    module, cls, _extra = ENGINES[name]
    engine: OcrEngine = getattr(importlib.import_module(module), cls)(threads=threads)
    _LOADED[(name, threads)] = engine
    return engine
