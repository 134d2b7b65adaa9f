"""RapidOCR (PP-OCR models in ONNX) pinned to the models inside its wheel: no download.

rapidocr 3.x ships the PP-OCR detection, recognition and direction models in its
package folder; every model path is given explicitly, so a missing file is an error
here instead of a download attempt.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from imagedeid.errors import BackendUnavailableError
from imagedeid.pixels.ocr import OcrText, Wanted

# The bundled files, tried in order (newest first) so minor rapidocr updates keep working.
_DET = ("PP-OCRv6_det_small.onnx", "ch_PP-OCRv5_det_mobile.onnx", "ch_PP-OCRv4_det_infer.onnx")
_REC = ("PP-OCRv6_rec_small.onnx", "ch_PP-OCRv5_rec_mobile.onnx", "ch_PP-OCRv4_rec_infer.onnx")
_CLS = ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx")


def _models_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


def _first(names: tuple[str, ...]) -> Path | None:
    folder = _models_dir()
    return next((folder / n for n in names if (folder / n).is_file()), None)


def is_available() -> tuple[bool, str]:
    try:
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
    except ImportError as exc:
        return False, f"OCR engine 'rapidocr' needs imagedeid[ocr] ({exc.name} is missing)"
    if _first(_DET) is None or _first(_REC) is None:
        return False, (
            "OCR engine 'rapidocr': its wheel holds no bundled detection/recognition model "
            f"in {_models_dir()}; install rapidocr 3.x from PyPI (imagedeid[ocr])"
        )
    return True, ""


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 0) -> None:
        from rapidocr import RapidOCR

        det, rec, cls = _first(_DET), _first(_REC), _first(_CLS)
        if det is None or rec is None:
            raise BackendUnavailableError(is_available()[1])
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.text_score": 0.0,  # keep every detected box: masking needs no reading
            "Global.use_cls": False,  # burned-in text is upright
            "Det.model_path": str(det),
            "Rec.model_path": str(rec),
            "Det.box_thresh": 0.4,
            # Never shrink: large images come in tiles of at most 2048 px (clean._tiled).
            "Global.max_side_len": 4096,
            # Upscale only images whose short side is under 480 px (small text needs it);
            # rapidocr's default (736) quadruples the work on a 350 x 800 ultrasound.
            "Det.limit_type": "min",
            "Det.limit_side_len": 480,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        if cls is not None:
            params["Cls.model_path"] = str(cls)
        self._ocr = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    def read(self, image: np.ndarray, wanted: Wanted | None = None) -> list[OcrText]:
        image = np.ascontiguousarray(image)
        if wanted is None:
            result = self._ocr(image, use_det=True, use_cls=False, use_rec=True)
            return self._boxes(image, result, list(getattr(result, "txts", None) or []))
        found = self._ocr(image, use_det=True, use_cls=False, use_rec=False)
        words = self._boxes(image, found, [])
        need = [i for i, w in enumerate(words) if wanted(w.x, w.y, w.w, w.h)]
        if not need:
            return words
        crops = [
            _rgb(image[w.y : w.y + w.h, w.x : w.x + w.w]) for w in map(words.__getitem__, need)
        ]
        try:
            read = self._ocr.recognize_txt(crops)
            texts, scores = list(read.txts or []), list(read.scores or [])
        except Exception:  # unreadable crops stay unread: text "" counts as PHI
            texts, scores = [""] * len(need), [0.0] * len(need)
        for index, text, score in zip(need, texts, scores, strict=False):
            w = words[index]
            words[index] = OcrText(w.x, w.y, w.w, w.h, str(text or ""), float(score))
        return words

    @staticmethod
    def _boxes(image: np.ndarray, result: Any, texts: list[Any]) -> list[OcrText]:
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return []
        scores = list(getattr(result, "scores", None) or [])
        out = []
        h, w = image.shape[:2]
        for index, quad in enumerate(boxes):
            pts = np.asarray(quad, dtype=float)
            x0 = max(int(np.floor(pts[:, 0].min())), 0)
            y0 = max(int(np.floor(pts[:, 1].min())), 0)
            x1 = min(int(np.ceil(pts[:, 0].max())), w)
            y1 = min(int(np.ceil(pts[:, 1].max())), h)
            if x1 <= x0 or y1 <= y0:
                continue
            text = str(texts[index] or "") if index < len(texts) else None
            score = float(scores[index]) if index < len(scores) and texts else 0.0
            out.append(OcrText(x0, y0, x1 - x0, y1 - y0, text, score))
        return out


def _rgb(crop: np.ndarray) -> np.ndarray:
    if crop.ndim == 2:
        return np.ascontiguousarray(np.repeat(crop[:, :, None], 3, axis=2))
    return np.ascontiguousarray(crop[:, :, :3])
