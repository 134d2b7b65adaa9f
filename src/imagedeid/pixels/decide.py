"""Which images are examined for burned-in text, from the header alone.

Examined: every image, except -- under scope ``auto`` -- ORIGINAL images of the
cross-sectional modalities whose header says BurnedInAnnotation NO in so many words.
A missing flag is never trusted, and neither is NO on a secondary capture, an
ultrasound, a projection X-ray, a derived image or a screen capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagedeid.model import HeaderLookup, PixelScope, PixelSettings

if TYPE_CHECKING:
    from pydicom import Dataset

# Modalities whose ORIGINAL images come from a reconstruction, not a screen or a plate.
_CROSS_SECTIONAL = frozenset({"CT", "MR", "PT", "NM", "ST"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its .1-.4 multi-frame classes
_ULTRASOUND = ("1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.")
_SCREEN_WORDS = frozenset({"SECONDARY", "DERIVED", "SCREEN", "CAPTURE", "SCREENSHOT", "REPORT"})


@dataclass(frozen=True, slots=True)
class Decision:
    examine: bool
    flagged: bool  # BurnedInAnnotation YES: text is expected
    reason: str  # names the attributes that decided, never a value beyond enumerated terms


def decide(header: HeaderLookup, settings: PixelSettings) -> Decision:
    flag = (header("BurnedInAnnotation") or "").strip().upper()
    flagged = flag == "YES"
    if settings.scope is PixelScope.ALL:
        return Decision(True, flagged, "scope all")
    modality = (header("Modality") or "").strip().upper()
    sop_class = (header("SOPClassUID") or "").strip()
    image_type = {v.strip().upper() for v in (header("ImageType") or "").split("\\")}
    first = (header("ImageType") or "").split("\\")[0].strip().upper()
    if flagged:
        return Decision(True, True, "BurnedInAnnotation YES")
    if sop_class.startswith(_SECONDARY_CAPTURE) or sop_class.startswith(_ULTRASOUND):
        return Decision(True, False, "secondary capture or ultrasound SOP class")
    if flag != "NO":
        return Decision(True, False, "BurnedInAnnotation absent or not NO")
    if modality not in _CROSS_SECTIONAL:
        return Decision(True, False, "modality often carries burned-in labels")
    if first != "ORIGINAL" or image_type & _SCREEN_WORDS:
        return Decision(True, False, "ImageType is not ORIGINAL or names a derived image")
    return Decision(False, False, "ORIGINAL cross-sectional image flagged BurnedInAnnotation NO")


def dataset_header(ds: Dataset) -> HeaderLookup:
    """A HeaderLookup over a pydicom data set: its top-level elements, then its file meta
    (group 0002); "gggg,eeee" names a private or repeating-group tag. Multiple values
    are joined with a backslash, as in the file; an unreadable value reads as absent."""

    def lookup(keyword: str) -> str | None:
        try:
            if "," in keyword:
                group, element = keyword.split(",")
                elem = ds.get((int(group, 16), int(element, 16)))
                value = None if elem is None else elem.value
            else:
                value = getattr(ds, keyword, None)
                if value is None and "file_meta" in dir(ds):
                    value = getattr(ds.file_meta, keyword, None)
        except Exception:  # pydicom raises many types for a value it cannot decode
            return None
        if value is None:
            return None
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            return "\\".join(str(v) for v in value)
        if isinstance(value, bytes):
            return value.decode("latin-1", "replace")
        return str(value)

    return lookup
