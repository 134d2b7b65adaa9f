"""Clean Pixel Data for one file: decide, decode, detect, mask, re-encode, verify.

Pure: the input's bytes, a header lookup, the file's text cleaner and the settings go
in; a PixelEdit (or None: pixels stay byte-identical) and a review record come out.
Anything uncertain raises PixelReviewError, and the file is sequestered, never
released unredacted.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace

import numpy as np
from pydicom import Dataset
from pydicom.uid import ExplicitVRBigEndian

from imagedeid.errors import BackendUnavailableError, PixelReviewError
from imagedeid.model import (
    HeaderLookup,
    PixelEdit,
    PixelMode,
    PixelSettings,
    TextBox,
    TextCleaner,
)
from imagedeid.pixels import thumbnail
from imagedeid.pixels.codec import (
    NATIVE,
    Decoded,
    decode,
    decode_encoded,
    display_frames,
    encode_like,
)
from imagedeid.pixels.decide import dataset_header, decide
from imagedeid.pixels.display import alternate_frames
from imagedeid.pixels.masking import MaskSet, complement, darkest_palette_index, fill_value
from imagedeid.pixels.ocr import OcrEngine, OcrText, Wanted, load_engine
from imagedeid.pixels.phi import is_phi
from imagedeid.pixels.views import ocr_views
from imagedeid.policy.regions import Region, known_regions, needed_keywords

MAX_ROUNDS = 5  # OCR passes over the masked image before giving up
MIN_TEXT_SIDE = 5  # an image narrower than this cannot hold a legible character


@dataclass(frozen=True)
class Review:
    """Thumbnails for the review page (PNG bytes). ``before`` shows original pixels."""

    before: bytes
    after: bytes | None
    boxes: int
    frames: int


@dataclass(frozen=True)
class PixelResult:
    edit: PixelEdit | None
    status: str  # "not-examined" | "no-pixel-data" | "no-text" | "redacted"
    review: Review | None = None
    ocr_seconds: float = 0.0
    images_read: int = 0


@dataclass
class _Run:
    engine: OcrEngine
    settings: PixelSettings
    cleaner: TextCleaner
    diagnostic: list[tuple[int, int, int, int]]
    rows: int
    seconds: float = 0.0
    images: int = 0
    text_outside: int = 0
    seen: list[tuple[int, int, int, int]] = field(default_factory=list)  # plausible text

    def read(self, image: np.ndarray, masks: MaskSet | None = None) -> list[OcrText]:
        def wanted(x: int, y: int, w: int, h: int) -> bool:
            """Read a box only where its text decides something: inside a diagnostic
            area, in phi-text mode, for a tall box, or on a mask (edge or real text?)."""
            if self.settings.mode is not PixelMode.ALL_TEXT or h > 0.15 * self.rows:
                return True
            if masks is not None and masks.covered(x, y, w, h, None) > 0.5:
                return True
            return _inside_any(x, y, w, h, self.diagnostic)

        return self._timed(image, wanted)

    def read_all(self, image: np.ndarray) -> list[OcrText]:
        return self._timed(image, None)

    def _timed(self, image: np.ndarray, wanted: Wanted | None) -> list[OcrText]:
        start = time.perf_counter()
        words = _tiled(self.engine, image, wanted)
        self.seconds += time.perf_counter() - start
        self.images += 1
        return words

    def must_mask(self, word: OcrText) -> tuple[bool, str]:
        if not _plausible(word, self.rows):
            return False, ""
        self.seen.append((word.x, word.y, word.w, word.h))
        if word.text is None:  # not read: masked in all-text mode whatever it says
            self.text_outside += 1
            return True, "text"
        if is_phi(word.text, self.cleaner):
            return True, "phi"
        inside = _inside_any(word.x, word.y, word.w, word.h, self.diagnostic)
        if not inside:
            self.text_outside += 1
        if self.settings.mode is PixelMode.ALL_TEXT and not inside:
            return True, "text"
        return False, ""


def clean_pixels(
    data: bytes,
    header: HeaderLookup,
    cleaner: TextCleaner,
    settings: PixelSettings,
    *,
    threads: int = 0,
    review: bool = True,
) -> PixelResult:
    decision = decide(header, settings)
    if not decision.examine:
        return PixelResult(None, "not-examined")
    ds = _read(data)
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise PixelReviewError("float pixel data is not examined for burned-in text yet")
        return PixelResult(None, "no-pixel-data")
    if not ds.get("Rows") or not ds.get("Columns"):
        raise PixelReviewError("pixel data without Rows or Columns cannot be examined")
    if min(int(ds.Rows), int(ds.Columns)) < MIN_TEXT_SIDE:
        if decision.flagged:
            raise PixelReviewError("BurnedInAnnotation is YES on an image too small to read")
        return PixelResult(None, "too-small-for-text")
    try:
        decoded = decode(ds)
        display = np.stack(list(display_frames(decoded, ds)))
        alternates = _distinct(display, alternate_frames(decoded, ds))
    except BackendUnavailableError as exc:
        raise PixelReviewError(f"pixel data cannot be examined: {exc}") from None
    except Exception as exc:  # codec plugins raise many types
        raise PixelReviewError(
            f"pixel data cannot be decoded for examination ({type(exc).__name__})"
        ) from None
    try:
        engine = load_engine(settings.engine, threads)
    except BackendUnavailableError as exc:
        raise PixelReviewError(f"burned-in text cannot be checked: {exc}") from None
    n, rows, cols = decoded.frames.shape[:3]
    run = _Run(engine, settings, cleaner, _ultrasound_regions(ds), rows)
    masks = MaskSet(n, rows, cols)
    for rendering in (display, *alternates):
        _detect(run, rendering, masks)
    if settings.known_regions:
        # A vendor region is masked whole once OCR sees text in it (or the header flags
        # burned-in text): it catches what OCR misses there, and a text-free image stays
        # byte-identical.
        for region in known_regions(_region_header(ds)):
            if not (decision.flagged or _overlaps_any(region, run.seen)):
                continue
            # CTP blanks x..x+w and y..y+h inclusive: one pixel more each way than w x h.
            masks.add(
                TextBox(
                    region.x,
                    region.y,
                    region.w + 1,
                    region.h + 1,
                    None,
                    region.rule,
                    "known-region",
                )
            )
    band = settings.mode is PixelMode.ALL_TEXT and settings.ultrasound_bands and run.diagnostic
    if band and (run.text_outside or decision.flagged):
        for x, y, w, h in complement(run.diagnostic, rows, cols):
            masks.add(TextBox(x, y, w, h, None, "ultrasound-regions", "outside-ultrasound-regions"))
    hidden = _hidden_high_bits(ds)
    if not masks and not hidden:
        if decision.flagged:
            raise PixelReviewError(
                "BurnedInAnnotation is YES but no burned-in text was found: review the file",
                _review(display, (), None, review),
            )
        return PixelResult(None, "no-text", None, run.seconds, run.images)
    fill = _fill(decoded.frames, decoded.photometric, ds)
    masked = masks.apply(decoded.frames, fill)
    for _round in range(MAX_ROUNDS):
        masked_decoded = _like(decoded, masked)
        masked_display = np.stack(list(display_frames(masked_decoded, ds)))
        found = [
            _verify(run, rendering, masks)
            for rendering in (
                masked_display,
                *_distinct(masked_display, alternate_frames(masked_decoded, ds)),
            )
        ]
        if not any(found):
            break
        masked = masks.apply(decoded.frames, fill)
    else:
        raise PixelReviewError(
            f"text is still found after {MAX_ROUNDS} rounds of masking: review the file",
            _review(display, masks.boxes, masked_display, review),
        )
    try:
        encoded = encode_like(ds, decoded, masked)
        again = decode_encoded(ds, encoded)
    except Exception as exc:
        raise PixelReviewError(
            f"the masked pixel data cannot be re-encoded ({type(exc).__name__})"
        ) from None
    if again.shape != masked.shape or not np.array_equal(again, masked):
        raise PixelReviewError("the re-encoded pixel data does not decode to the masked image")
    attributes = dict(encoded.attributes)
    attributes["BurnedInAnnotation"] = "NO"
    note = encoded.note
    if hidden:  # decoding keeps only the stored bits: re-encoding clears the rest
        note = "; ".join(filter(None, [note, "bits above BitsStored cleared"]))
    boxes = tuple(masks.boxes)
    edit = PixelEdit(
        encoded.value,
        encoded.encapsulated,
        encoded.transfer_syntax,
        tuple(sorted(attributes.items())),
        boxes,
        note,
    )
    return PixelResult(
        edit, "redacted", _review(display, boxes, masked_display, review), run.seconds, run.images
    )


def _read(data: bytes) -> Dataset:
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:
        raise PixelReviewError(
            f"pydicom cannot read the file's pixel module ({type(exc).__name__})"
        ) from None


TILE = 2048  # px: larger images are read in overlapping tiles at full resolution
_OVERLAP = 160


def _tiled(engine: OcrEngine, image: np.ndarray, wanted: Wanted | None) -> list[OcrText]:
    """Read an image in tiles of at most TILE px: the detector finds nothing in a whole
    3000 px radiograph that it finds in a tile of it, and shrinking the image loses
    small labels. Tiles overlap by more than a glyph, so every glyph is whole in one."""
    rows, cols = image.shape[:2]
    if max(rows, cols) <= TILE:
        return engine.read(image, wanted)
    out: list[OcrText] = []
    step = TILE - _OVERLAP
    for y in range(0, max(rows - _OVERLAP, 1), step):
        for x in range(0, max(cols - _OVERLAP, 1), step):
            tile = image[y : y + TILE, x : x + TILE]
            shifted = None
            if wanted is not None:
                shifted = _shift(wanted, x, y)
            for w in engine.read(tile, shifted):
                out.append(OcrText(w.x + x, w.y + y, w.w, w.h, w.text, w.score))
    return out


def _shift(wanted: Wanted, dx: int, dy: int) -> Wanted:
    return lambda x, y, w, h: wanted(x + dx, y + dy, w, h)


def _hidden_high_bits(ds: Dataset) -> bool:
    """Unsigned native data with values in the bits above Bits Stored: viewers ignore
    them, and old files keep overlay graphics (text, too) there."""
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    try:
        stored, allocated = int(ds.BitsStored), int(ds.BitsAllocated)
        signed = int(ds.get("PixelRepresentation", 0) or 0)
    except (AttributeError, TypeError, ValueError):
        return False
    if syntax not in NATIVE or allocated != 16 or stored >= 16 or signed:
        return False
    order = ">u2" if syntax == ExplicitVRBigEndian else "<u2"
    raw = np.frombuffer(ds.PixelData, dtype=order, count=len(ds.PixelData) // 2)
    return bool((raw >> stored).any())


DISTINCT = 6.0  # mean grey-level difference below which a rendering adds nothing to read


def _distinct(display: np.ndarray, alternates: list[np.ndarray]) -> list[np.ndarray]:
    """The alternate renderings that differ from the default and from each other."""
    kept: list[np.ndarray] = []
    for alt in alternates:
        if all(
            float(np.abs(alt.astype(np.int16) - other.astype(np.int16)).mean()) >= DISTINCT
            for other in (display, *kept)
        ):
            kept.append(alt)
    return kept


def _plausible(word: OcrText, rows: int) -> bool:
    """Not a text line: a blob-shaped box taller than 15% of the image (and 24 px) read
    as a single character or with a weak score. The text detector reports such boxes
    over anatomy and over the edge of a masked band; real large captions read as words,
    confidently. A tall narrow box is a vertical line of text (an X-ray side label),
    which the recogniser reads poorly: it is always plausible."""
    tall = word.h > max(0.15 * rows, 24)
    vertical = word.h >= 3 * word.w
    text = (word.text or "").strip()
    return vertical or not (tall and (len(text) < 2 or word.score < 0.8))


def _overlaps_any(region: Region, boxes: list[tuple[int, int, int, int]]) -> bool:
    return any(
        x < region.x + region.w + 1
        and region.x < x + w
        and y < region.y + region.h + 1
        and region.y < y + h
        for x, y, w, h in boxes
    )


def _readable(word: OcrText) -> bool:
    return word.score >= 0.5 and sum(ch.isalnum() for ch in word.text or "") >= 2


def _pad(word: OcrText) -> tuple[int, int, int, int]:
    p = max(2, round(0.25 * min(word.h, 40)))
    return word.x - p, word.y - p, word.w + 2 * p, word.h + 2 * p


def _inside_any(x: int, y: int, w: int, h: int, regions: list[tuple[int, int, int, int]]) -> bool:
    """The box (x, y, w, h) lies wholly inside one of ``regions``."""
    return any(
        rx <= x and ry <= y and x + w <= rx + rw and y + h <= ry + rh for rx, ry, rw, rh in regions
    )


def _detect(run: _Run, display: np.ndarray, masks: MaskSet) -> None:
    for _frame, image in ocr_views(display, run.settings.all_frames_up_to):
        for word in run.read(image):
            mask, reason = run.must_mask(word)
            if mask:
                # Masked on every frame: burned-in text sits in a fixed place, and one
                # frame where OCR misses a word must not release it.
                masks.add(TextBox(*_pad(word), None, "ocr:" + run.engine.name, reason))


def _verify(run: _Run, display: np.ndarray, masks: MaskSet) -> bool:
    """OCR the masked image; True when something still had to be masked."""
    found = False
    for _frame, image in ocr_views(display, run.settings.all_frames_up_to):
        words = run.read(image, masks) + _small_text_strips(run, image, masks)
        for word in words:
            if masks.covered(word.x, word.y, word.w, word.h, None) > 0.5:
                # Mostly on a mask, which is one flat value: the detector outlining the
                # mask's own edge, unless it reads real characters sticking out of it.
                mask, reason = _readable(word), "text"
            else:
                mask, reason = run.must_mask(word)
            if mask:
                masks.add(TextBox(*_pad(word), None, "ocr:" + run.engine.name, reason or "text"))
                found = True
    return found


SMALL_TEXT = 24  # px, padded mask height (text up to ~16 px): re-read at twice the size
_STRIP_LIMIT = 8  # strips per image and round


def _small_text_strips(run: _Run, image: np.ndarray, masks: MaskSet) -> list[OcrText]:
    """Small text is often found in part (the start of a line): re-read, at twice the
    size, the full-width band of rows around each small masked line, and report what
    is found there in image coordinates."""
    bands: list[tuple[int, int]] = []
    for box in masks.boxes:
        if box.h <= SMALL_TEXT and box.source.startswith("ocr:"):
            y0, y1 = max(box.y - 4, 0), min(box.y + box.h + 4, image.shape[0])
            if not any(a <= y0 and y1 <= b for a, b in bands):
                bands.append((y0, y1))
    out: list[OcrText] = []
    for y0, y1 in bands[:_STRIP_LIMIT]:
        strip = np.repeat(np.repeat(image[y0:y1], 2, axis=0), 2, axis=1)
        for w in run.read_all(strip):  # every box read: strips are small
            out.append(
                OcrText(w.x // 2, y0 + w.y // 2, (w.w + 1) // 2, (w.h + 1) // 2, w.text, w.score)
            )
    return out


def _like(decoded: Decoded, frames: np.ndarray) -> Decoded:
    return replace(decoded, frames=frames)


def _ultrasound_regions(ds: Dataset) -> list[tuple[int, int, int, int]]:
    regions = []
    for item in getattr(ds, "SequenceOfUltrasoundRegions", None) or []:
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if x1 >= x0 and y1 >= y0:
            regions.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    return regions


def _region_header(ds: Dataset) -> dict[str, str]:
    lookup = dataset_header(ds)
    return {k: v for k in needed_keywords() if (v := lookup(k)) is not None}


def _fill(frames: np.ndarray, photometric: str, ds: Dataset) -> np.ndarray:
    if photometric.upper() == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
        first = int(ds.RedPaletteColorLookupTableDescriptor[1])
        index = np.arange(first, first + entries, dtype=frames.dtype)
        lut = apply_color_lut(index, ds)
        return np.array(first + darkest_palette_index(lut), dtype=frames.dtype)
    return fill_value(frames, photometric)


def _review(
    before: np.ndarray,
    boxes: tuple[TextBox, ...] | list[TextBox],
    after: np.ndarray | None,
    wanted: bool,
) -> Review | None:
    if not wanted:
        return None
    return Review(
        thumbnail.render(before[0], boxes),
        thumbnail.render(after[0], ()) if after is not None else None,
        len(boxes),
        int(before.shape[0]),
    )
