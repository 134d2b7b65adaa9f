"""Tesseract (Debian's tesseract-ocr + tesseract-ocr-eng) through pytesseract."""

from __future__ import annotations

import shutil

import numpy as np

from imagedeid.pixels.ocr import OcrText, Wanted


def is_available() -> tuple[bool, str]:
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False, "OCR engine 'tesseract' needs imagedeid[tesseract] (pytesseract)"
    if shutil.which("tesseract") is None:
        return False, (
            "OCR engine 'tesseract' needs the tesseract program "
            "(Debian: apt-get install tesseract-ocr tesseract-ocr-eng)"
        )
    return True, ""


class TesseractEngine:
    name = "tesseract"

    def __init__(self, threads: int = 0) -> None:
        self._config = "--psm 11 --oem 1"  # sparse text: labels scattered over an image
        self._threads = threads

    def read(self, image: np.ndarray, wanted: Wanted | None = None) -> list[OcrText]:
        import os

        import pytesseract

        if self._threads:
            os.environ["OMP_THREAD_LIMIT"] = str(self._threads)
        data = pytesseract.image_to_data(
            np.ascontiguousarray(image), config=self._config, output_type=pytesseract.Output.DICT
        )
        out = []
        for i, text in enumerate(data["text"]):
            conf = float(data["conf"][i])
            if conf < 0 or not str(text).strip():
                continue
            w, h = int(data["width"][i]), int(data["height"][i])
            if w > 0 and h > 0:
                out.append(
                    OcrText(int(data["left"][i]), int(data["top"][i]), w, h, str(text), conf / 100)
                )
        return out
