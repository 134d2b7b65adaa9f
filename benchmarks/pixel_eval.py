"""Score a tool's output folder against burned-in text ground truth.

Importable (``benchmarks/`` on ``sys.path``); depends on pydicom and numpy (and the pixel
decoders the inputs need: pylibjpeg, pyjpegls...). Used by ``run_pixel_bench.py``.

Pairing outputs with inputs:

* synthetic corpus (``burned_in_corpus.py``): by InstanceNumber, which the corpus makes
  unique and which de-identification keeps; an output whose InstanceNumber is missing,
  unknown or repeated is reported, not scored.
* real files (``data/real_burned_in_truth.json``): several of them share InstanceNumber
  and SOPInstanceUID (the four US1_* files, the six OBXXXX1A* files), so each real file is
  de-identified on its own into ``OUT/<key>/`` and paired by that folder, which must hold
  at most one DICOM file.

An input with no output is *withheld*: sequestered or quarantined by the tool (not a leak,
not a recall hit either), or *failed* when the tool reported an error for it.

What is measured on a released output (all in display values: greyscale scaled to 0..1 by
BitsStored, MONOCHROME1 inverted, PALETTE COLOR through the file's own LUT, YBR converted
to RGB by pydicom, each file by its own header):

* **redacted** (a PHI truth box): the text can no longer be read. In the input, the box's
  *glyph pixels* are those that differ from the box's background (median of a ring around
  the box) by at least half the box's contrast (99th percentile of that difference), its
  *clean* pixels those that differ by at most a fifth of it. Glyph pixels are grouped into
  characters (8-connected components). A character is still *legible* in the output when
  most of its pixels differ, by at least ``RETAINED_CONTRAST`` (40 %) of the input's
  contrast and in either direction, from the median output value of the clean pixels
  inside its own bounding box (its counters and the space between its strokes; widened
  sideways, within the truth box, for thin characters like I, l, 1 or -). The box is
  redacted when at most ``REDACTED_MAX_LEGIBLE`` (5 %) of its glyph pixels belong to
  legible characters, on every frame it is on. So a solid fill of any colour (also the
  text's own colour), one mask per word with the gaps left open, a blur or pixelation to
  mush, or replacing the text all count; text left partly visible fails (half the box:
  ~50 % legible; the lower half of every character: most of it; one character left of a
  ten-character name: ~10 %); re-encoding, lossy or not, noise, a changed window or an
  inverted box does not count. A box with contrast below ``MIN_BOX_CONTRAST`` on a frame
  (no visible ink there) is not scored on that frame. Field names in front of a value
  ("DOB:", "MRN:") are truth boxes of their own, kind "field", not PHI.
* **non-PHI pixels masked**: pixels whose display value changed by more than
  ``CHANGE_TOLERANCE`` (3 % of full scale, in any channel), outside every PHI box of that
  frame grown by max(4 px, a quarter of the box height) (so tools may pad their masks a
  little), as a share of all pixels of the released files' frames.
* **labels masked**: non-PHI truth boxes (technical labels, markers, UI text; not the
  "field" names) of which more than half of the glyph pixels are no longer legible.
* **wholly altered**: released files of which more than half the pixels changed (a tool
  that rewrites colours, e.g. RGB values written under a YBR_FULL label, or re-windows the
  image); the masked-pixel share is also given without them.
* **text-free files**: inputs with no boxes must come out with PixelData byte-identical
  (and, if not, we say whether the decoded values are still equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

REDACTED_MAX_LEGIBLE = 0.05
LABEL_MASKED_MIN_ILLEGIBLE = 0.5
RETAINED_CONTRAST = 0.4
CHANGE_TOLERANCE = 0.03
MIN_BOX_CONTRAST = 0.05
WHOLESALE_SHARE = 0.5
LEGIBLE_MAJORITY = 0.5
GLYPH_LEVEL = 0.5
CLEAN_LEVEL = 0.2


# ---------------------------------------------------------------------------- decoding


def display_pixels(ds: Dataset) -> np.ndarray:
    """(frames, rows, columns, samples) float32 in 0..1, as a viewer would show it."""
    arr = ds.pixel_array
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if pi == "PALETTE COLOR":
        arr = apply_color_lut(arr, _little_endian_luts(ds))
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        out = arr.astype(np.float32) / float((1 << (16 if bits > 8 else 8)) - 1)
    elif int(ds.get("SamplesPerPixel", 1)) == 3:
        out = arr.astype(np.float32) / float((1 << int(ds.BitsStored)) - 1)
    else:
        bits = int(ds.BitsStored)
        a = arr.astype(np.float32)
        if int(ds.get("PixelRepresentation", 0)) == 1:
            a += float(1 << (bits - 1))
        out = a / float((1 << bits) - 1)
        if pi == "MONOCHROME1":
            out = 1.0 - out
        out = out[..., None]
    if frames == 1:
        out = out[None]
    return out


def _little_endian_luts(ds: Dataset) -> Dataset:
    """``ds``, or for a big-endian file a copy of its palette with the 16-bit LUT data
    byte-swapped: pydicom 3.0's apply_color_lut reads LUT data as little endian."""
    if ds.original_encoding[1] is not False:
        return ds
    lut = Dataset()
    lut.PhotometricInterpretation = "PALETTE COLOR"
    for colour in ("Red", "Green", "Blue"):
        descriptor = ds[f"{colour}PaletteColorLookupTableDescriptor"].value
        setattr(lut, f"{colour}PaletteColorLookupTableDescriptor", descriptor)
        for prefix in ("", "Segmented"):
            keyword = f"{prefix}{colour}PaletteColorLookupTableData"
            if keyword in ds:
                raw = bytes(ds[keyword].value)
                swapped = np.frombuffer(raw, dtype=">u2").astype("<u2").tobytes()
                setattr(lut, keyword, swapped)
    return lut


def _raw_pixel_data(ds: Dataset) -> bytes | None:
    return bytes(ds.PixelData) if "PixelData" in ds else None


# ---------------------------------------------------------------------------- one box


def glyph_components(glyph: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """8-connected components of a small boolean mask, as (ys, xs) index arrays."""
    seen = np.zeros_like(glyph)
    rows, cols = glyph.shape
    components = []
    for sy, sx in zip(*np.nonzero(glyph), strict=True):
        if seen[sy, sx]:
            continue
        seen[sy, sx] = True
        stack, ys, xs = [(int(sy), int(sx))], [], []
        while stack:
            y, x = stack.pop()
            ys.append(y)
            xs.append(x)
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    if 0 <= ny < rows and 0 <= nx < cols and glyph[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        components.append((np.asarray(ys), np.asarray(xs)))
    return components


def legible_fraction(inp: np.ndarray, out: np.ndarray, box: dict[str, Any]) -> float | None:
    """Share of the box's glyph pixels still legible in ``out`` (one frame each,
    (rows, columns, samples)); None when the box shows no ink in ``inp``."""
    rows, cols = inp.shape[:2]
    x, y, w, h = int(box["x"]), int(box["y"]), int(box["w"]), int(box["h"])
    m = max(2, h // 3)
    x0, y0, x1, y1 = max(x - m, 0), max(y - m, 0), min(x + w + m, cols), min(y + h + m, rows)
    i_reg, o_reg = inp[y0:y1, x0:x1], out[y0:y1, x0:x1]
    inner = np.zeros(i_reg.shape[:2], dtype=bool)
    inner[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = True
    ring = ~inner if (~inner).any() else inner
    bg = np.median(i_reg[ring], axis=0)
    diff = np.abs(i_reg - bg).max(axis=-1)
    contrast = float(np.percentile(diff[inner], 99)) if inner.any() else 0.0
    if contrast < MIN_BOX_CONTRAST:
        return None
    glyph = inner & (diff >= GLYPH_LEVEL * contrast)
    clean = diff <= CLEAN_LEVEL * contrast
    if not glyph.any():
        return None
    tau = RETAINED_CONTRAST * contrast
    clean &= inner  # a character is read against the background inside its own box
    widths = (0, max(1, h // 6), h)
    legible = 0
    for ys, xs in glyph_components(glyph):
        # The character's own background: clean pixels within its bounding box (counters,
        # the space between its strokes), widened sideways for thin ones (I, l, 1, -).
        cy0, cy1 = int(ys.min()), int(ys.max()) + 1
        for grow in widths:
            cx0, cx1 = max(int(xs.min()) - grow, 0), int(xs.max()) + 1 + grow
            around = clean[cy0:cy1, cx0:cx1]
            if around.sum() >= max(3, len(ys) // 5):
                break
        if not around.any():
            continue  # nothing to tell it from: cannot be read against anything
        local_bg = np.median(o_reg[cy0:cy1, cx0:cx1][around], axis=0)
        stands_out = np.abs(o_reg[ys, xs] - local_bg).max(axis=-1) >= tau
        if stands_out.mean() >= LEGIBLE_MAJORITY:
            legible += len(ys)
    return legible / int(glyph.sum())


def _frames_of(box: dict[str, Any], frames: int) -> Iterable[int]:
    return range(frames) if box.get("frame") is None else [int(box["frame"])]


def worst_legibility(inp: np.ndarray, out: np.ndarray, box: dict[str, Any]) -> float | None:
    """The highest legible share over the frames the box is on (None: no ink anywhere)."""
    worst: float | None = None
    for f in _frames_of(box, inp.shape[0]):
        frac = legible_fraction(inp[f], out[f], box)
        if frac is not None and (worst is None or frac > worst):
            worst = frac
    return worst


# ---------------------------------------------------------------------------- one file


@dataclass
class FileScore:
    key: str
    status: str  # released | withheld | failed | not comparable | duplicate
    layout: str = ""
    frames: int = 1
    phi_boxes: int = 0
    phi_redacted: int = 0
    phi_unscored: int = 0  # no visible ink in the input (truth problem; should be 0)
    missed: list[dict[str, Any]] = field(default_factory=list)
    label_boxes: int = 0
    labels_masked: int = 0
    pixels: int = 0  # rows * columns * frames of the input
    changed_outside_phi: int = 0
    changed: int = 0
    text_free: bool = False
    pixel_data_identical: bool | None = None
    values_identical: bool | None = None
    reason: str = ""


def _grown(box: dict[str, Any], rows: int, cols: int) -> tuple[int, int, int, int]:
    pad = max(4, int(box["h"]) // 4)
    x, y = int(box["x"]), int(box["y"])
    return (
        max(x - pad, 0),
        max(y - pad, 0),
        min(x + int(box["w"]) + pad, cols),
        min(y + int(box["h"]) + pad, rows),
    )


def score_pair(
    key: str, in_path: Path, out_path: Path, entry: dict[str, Any], layout: str = ""
) -> FileScore:
    """Score one released output against its input and truth ``entry`` (its ``boxes``)."""
    boxes = entry["boxes"]
    score = FileScore(key=key, status="released", layout=layout, text_free=not boxes)
    ds_in = pydicom.dcmread(in_path)
    try:
        ds_out = pydicom.dcmread(out_path)
        out = display_pixels(ds_out)
    except Exception as exc:
        ds_out, out = None, None
        score.status, score.reason = "not comparable", f"output unreadable: {type(exc).__name__}"
    inp = display_pixels(ds_in)
    score.frames = int(inp.shape[0])
    score.pixels = int(inp.shape[0] * inp.shape[1] * inp.shape[2])
    phi = [b for b in boxes if b["phi"]]
    labels = [b for b in boxes if not b["phi"] and b["kind"] != "field"]
    score.phi_boxes, score.label_boxes = len(phi), len(labels)
    if out is not None and out.shape[:3] != inp.shape[:3]:
        score.status = "not comparable"
        score.reason = f"output frames x rows x columns {out.shape[:3]} != input {inp.shape[:3]}"
    if score.status != "released" or out is None:
        score.missed = [{"kind": b["kind"], "frame": b["frame"], "legible": None} for b in phi]
        return score
    if out.shape[3] != inp.shape[3]:  # grey <-> colour: compare as grey
        inp, out = inp.mean(axis=-1, keepdims=True), out.mean(axis=-1, keepdims=True)
    for b in phi:
        frac = worst_legibility(inp, out, b)
        if frac is None:
            score.phi_unscored += 1
        elif frac <= REDACTED_MAX_LEGIBLE:
            score.phi_redacted += 1
        else:
            score.missed.append(
                {
                    "kind": b["kind"],
                    "frame": b["frame"],
                    "legible": round(frac, 3),
                    "box": [b["x"], b["y"], b["w"], b["h"]],
                }
            )
    for b in labels:
        frac = worst_legibility(inp, out, b)
        if frac is not None and frac < 1.0 - LABEL_MASKED_MIN_ILLEGIBLE:
            score.labels_masked += 1
    rows, cols = inp.shape[1:3]
    for f in range(inp.shape[0]):
        changed = np.abs(out[f] - inp[f]).max(axis=-1) > CHANGE_TOLERANCE
        score.changed += int(changed.sum())
        allowed = np.zeros_like(changed)
        for b in phi:
            if b.get("frame") is None or int(b["frame"]) == f:
                gx0, gy0, gx1, gy1 = _grown(b, rows, cols)
                allowed[gy0:gy1, gx0:gx1] = True
        score.changed_outside_phi += int((changed & ~allowed).sum())
    if score.text_free:
        assert ds_out is not None
        score.pixel_data_identical = _raw_pixel_data(ds_in) == _raw_pixel_data(ds_out)
        score.values_identical = bool(np.array_equal(ds_in.pixel_array, ds_out.pixel_array))
    return score


# ---------------------------------------------------------------------------- pairing


def _dicom_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.endswith((".json", ".jsonl", ".log")):
            with path.open("rb") as fh:
                head = fh.read(132)
            if head[128:132] == b"DICM":
                found.append(path)
    return found


def pair_by_instance(out_dir: Path) -> tuple[dict[int, list[Path]], list[Path]]:
    """Output files by InstanceNumber; and the outputs that have none."""
    by_number: dict[int, list[Path]] = {}
    unnumbered = []
    for path in _dicom_files(out_dir) if out_dir.is_dir() else []:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        number = ds.get("InstanceNumber")
        if number is None or str(number).strip() == "":
            unnumbered.append(path)
        else:
            by_number.setdefault(int(number), []).append(path)
    return by_number, unnumbered


def _withheld(key: str, entry: dict[str, Any], layout: str, failed: bool) -> FileScore:
    phi = [b for b in entry["boxes"] if b["phi"]]
    return FileScore(
        key=key,
        status="failed" if failed else "withheld",
        layout=layout,
        frames=int(entry.get("frames", 1)),
        phi_boxes=len(phi),
        label_boxes=sum(not b["phi"] and b["kind"] != "field" for b in entry["boxes"]),
        text_free=not entry["boxes"],
    )


def evaluate_synthetic(
    corpus_dir: Path, truth: dict[str, Any], out_dir: Path, failed: Iterable[str] = ()
) -> dict[str, Any]:
    """Score ``out_dir`` against the synthetic corpus; ``failed`` names input files
    (``truth`` ``file`` values) the tool reported as errors."""
    failed_set = set(failed)
    by_number, unnumbered = pair_by_instance(out_dir)
    known = {int(f["instance_number"]) for f in truth["files"]}
    scores = []
    for entry in truth["files"]:
        key, number = entry["file"], int(entry["instance_number"])
        outs = by_number.get(number, [])
        if not outs:
            scores.append(_withheld(key, entry, entry["layout"], key in failed_set))
        elif len(outs) > 1:
            scores.append(
                FileScore(
                    key=key,
                    status="duplicate",
                    layout=entry["layout"],
                    reason=f"{len(outs)} outputs with this InstanceNumber",
                )
            )
        else:
            scores.append(score_pair(key, corpus_dir / key, outs[0], entry, entry["layout"]))
    extra = sum(len(v) for k, v in by_number.items() if k not in known) + len(unnumbered)
    return summarize(scores, unmatched_outputs=extra)


def evaluate_real(
    inputs: dict[str, Path], truth: dict[str, Any], out_root: Path, failed: Iterable[str] = ()
) -> dict[str, Any]:
    """Score real files: ``inputs`` maps each truth ``key`` to its input path; the tool's
    output for key K is the one DICOM file under ``out_root/K/``."""
    failed_set = set(failed)
    scores = []
    for entry in truth["files"]:
        key = entry["key"]
        outs = _dicom_files(out_root / key) if (out_root / key).is_dir() else []
        if not outs:
            scores.append(_withheld(key, entry, "real", key in failed_set))
        elif len(outs) > 1:
            scores.append(
                FileScore(
                    key=key,
                    status="duplicate",
                    layout="real",
                    reason=f"{len(outs)} outputs in its folder",
                )
            )
        else:
            scores.append(score_pair(key, inputs[key], outs[0], entry, "real"))
    return summarize(scores, unmatched_outputs=0)


# ---------------------------------------------------------------------------- summary


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def summarize(scores: list[FileScore], unmatched_outputs: int = 0) -> dict[str, Any]:
    released = [s for s in scores if s.status == "released"]
    phi_all = sum(s.phi_boxes for s in scores)
    phi_released = sum(s.phi_boxes - s.phi_unscored for s in released)
    redacted = sum(s.phi_redacted for s in released)
    missed_by_kind: dict[str, int] = {}
    missed_by_layout: dict[str, int] = {}
    for s in released:
        for m in s.missed:
            missed_by_kind[m["kind"]] = missed_by_kind.get(m["kind"], 0) + 1
            missed_by_layout[s.layout] = missed_by_layout.get(s.layout, 0) + 1
    text_free = [s for s in released if s.text_free]
    pixels = sum(s.pixels for s in released)
    altered = [s for s in released if s.pixels and s.changed > WHOLESALE_SHARE * s.pixels]
    rest_pixels = pixels - sum(s.pixels for s in altered)
    rest_outside = sum(s.changed_outside_phi for s in released if s not in altered)
    labels = sum(s.label_boxes for s in released)
    return {
        "files": len(scores),
        "released": len(released),
        "withheld": sum(s.status == "withheld" for s in scores),
        "failed": sum(s.status == "failed" for s in scores),
        "not_comparable": sum(s.status == "not comparable" for s in scores),
        "duplicates": sum(s.status == "duplicate" for s in scores),
        "unmatched_outputs": unmatched_outputs,
        "phi_boxes": phi_all,
        "phi_boxes_released": phi_released,
        "phi_redacted": redacted,
        "phi_missed": phi_released - redacted,
        "phi_unscored": sum(s.phi_unscored for s in released),
        "recall_released": _ratio(redacted, phi_released),
        "recall_all": _ratio(redacted, phi_all),
        "missed_by_kind": missed_by_kind,
        "missed_by_layout": missed_by_layout,
        "label_boxes_released": labels,
        "labels_masked": sum(s.labels_masked for s in released),
        "labels_masked_share": _ratio(sum(s.labels_masked for s in released), labels),
        "non_phi_pixels_masked_pct": (
            100.0 * sum(s.changed_outside_phi for s in released) / pixels if pixels else None
        ),
        "wholesale_altered": len(altered),
        "non_phi_pixels_masked_pct_excluding_altered": (
            100.0 * rest_outside / rest_pixels if rest_pixels else None
        ),
        "text_free_released": len(text_free),
        "text_free_identical": sum(bool(s.pixel_data_identical) for s in text_free),
        "text_free_values_identical": sum(bool(s.values_identical) for s in text_free),
        "text_free_total": sum(s.text_free for s in scores),
        "frames": sum(s.frames for s in scores),
        "per_file": [asdict(s) for s in scores],
    }
