"""Value types shared by every layer: actions, options, records and results."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Action(enum.Enum):
    """PS3.15 Table E.1-1 action codes, plus the compound codes the table uses."""

    DUMMY = "D"
    ZERO = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"
    ZERO_OR_DUMMY = "Z/D"
    REMOVE_OR_ZERO = "X/Z"
    REMOVE_OR_DUMMY = "X/D"
    REMOVE_OR_ZERO_OR_DUMMY = "X/Z/D"
    REMOVE_OR_ZERO_OR_UID = "X/Z/U*"

    @property
    def is_compound(self) -> bool:
        return "/" in self.value


class Option(enum.Enum):
    """PS3.15 Annex E options, valued by their CID 7050 code (scheme DCM)."""

    RETAIN_SAFE_PRIVATE = "113111"
    RETAIN_UIDS = "113110"
    RETAIN_DEVICE_IDENTITY = "113109"
    RETAIN_INSTITUTION_IDENTITY = "113112"
    RETAIN_PATIENT_CHARACTERISTICS = "113108"
    RETAIN_LONGITUDINAL_FULL_DATES = "113106"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "113107"
    CLEAN_DESCRIPTORS = "113105"
    CLEAN_STRUCTURED_CONTENT = "113104"
    CLEAN_GRAPHICS = "113103"

    @property
    def code_meaning(self) -> str:
        return _OPTION_MEANINGS[self]

    @property
    def table_column(self) -> str:
        """The option's column in the generated PS3.15 table."""
        return _OPTION_COLUMNS[self]


BASIC_PROFILE_CODE = "113100"
BASIC_PROFILE_MEANING = "Basic Application Confidentiality Profile"

_OPTION_MEANINGS = {
    Option.RETAIN_SAFE_PRIVATE: "Retain Safe Private Option",
    Option.RETAIN_UIDS: "Retain UIDs Option",
    Option.RETAIN_DEVICE_IDENTITY: "Retain Device Identity Option",
    Option.RETAIN_INSTITUTION_IDENTITY: "Retain Institution Identity Option",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "Retain Patient Characteristics Option",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: (
        "Retain Longitudinal Temporal Information Full Dates Option"
    ),
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "Retain Longitudinal Temporal Information Modified Dates Option"
    ),
    Option.CLEAN_DESCRIPTORS: "Clean Descriptors Option",
    Option.CLEAN_STRUCTURED_CONTENT: "Clean Structured Content Option",
    Option.CLEAN_GRAPHICS: "Clean Graphics Option",
}

_OPTION_COLUMNS = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
}


# The output byte scan and the deny-list agree on these: the scan searches terms of at
# least MIN_SCAN_TERM bytes and checks word boundaries only for terms shorter than
# UNBOUNDED_SCAN_TERM (the deny-list drops scan terms that a shorter one implies).
MIN_SCAN_TERM = 4
UNBOUNDED_SCAN_TERM = 8


class DateMode(enum.Enum):
    """How dates and date-times are treated."""

    REMOVE = "remove"  # basic profile: removed or replaced by a dummy
    SHIFT = "shift"  # modified dates: one keyed shift per patient, intervals exact
    YEAR = "year"  # HIPAA Safe Harbor: only the year survives (modified dates)
    KEEP = "keep"  # full dates retained


def format_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """What was done to one element, and by which rule. Never holds a value."""

    path: str
    keyword: str
    action: str  # the resolved operation, e.g. "remove", "zero", "pseudonym", "shift-date"
    rule: str  # rule id, e.g. "PS3.15/basic:Z" or "profile:my-site/override"


class FileStatus(enum.Enum):
    OK = "ok"
    SKIPPED_DONE = "already-done"
    NOT_DICOM = "not-dicom"
    FAILED = "failed"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one input. ``reason`` names tags and rules, never values."""

    input_path: str
    status: FileStatus
    output_relpath: str = ""
    reason: str = ""
    reason_code: str = ""
    transfer_syntax: str = ""
    journal_key: str = ""
    crosswalk: tuple[tuple[str, str, str], ...] = field(default=())
    pixels: str = ""  # Clean Pixel Data: not-examined | no-pixel-data | no-text | redacted
    pixel_boxes: int = 0
    ocr_seconds: float = 0.0
    review: tuple[str, ...] = ()  # thumbnail files in the review folder (before, after)
    # The plain <uid>.dcm this output shares with inputs of the same SOP Instance UID
    # but other content; the run settles which of them keeps it (io.shared_names).
    shared_name: str = ""
    renamed: bool = False  # reported again at the end of a run: its output was renamed


@dataclass(slots=True)
class IdentifyingValues:
    """Originals taken from one file's identifying attributes (kept in memory only)."""

    names: list[str] = field(default_factory=list)  # PN values, raw (LAST^FIRST^MIDDLE...)
    identifiers: list[str] = field(default_factory=list)  # IDs, numbers, serials
    places: list[str] = field(default_factory=list)  # addresses, institutions, stations
    phones: list[str] = field(default_factory=list)
    birth_dates: list[str] = field(default_factory=list)  # DA values
    dates: list[str] = field(default_factory=list)  # other DA/DT values that are changed
    uids: list[str] = field(default_factory=list)  # UIDs that are replaced


class TextCleaner(Protocol):
    """Removes identifying text. Built per file from that file's IdentifyingValues."""

    def scrub(self, text: str) -> str:
        """Remove the file's own identifying values (the deny-list) from ``text``."""
        ...

    def clean(self, text: str) -> str:
        """``scrub`` plus patterns: dates, phone numbers, e-mail, ID-like tokens, LAST^FIRST."""
        ...

    @property
    def scan_terms(self) -> tuple[str, ...]:
        """Forms of the identifying values to search for in the serialized output."""
        ...


CleanerFactory = Callable[[IdentifyingValues], TextCleaner]


# --- pixel data (Clean Pixel Data) ---------------------------------------------------------

CLEAN_PIXEL_DATA_CODE = "113101"
CLEAN_PIXEL_DATA_MEANING = "Clean Pixel Data Option"


class PixelMode(enum.Enum):
    """What Clean Pixel Data masks."""

    OFF = "off"  # pixel data untouched; the profile never claims Clean Pixel Data
    ALL_TEXT = "all-text"  # all text outside the diagnostic area, and PHI text anywhere
    PHI_TEXT = "phi-text"  # only text that matches PHI (deny-list, patterns, non-labels)


class PixelScope(enum.Enum):
    """Which images are examined."""

    AUTO = "auto"  # all but ORIGINAL cross-sectional images explicitly flagged NO
    ALL = "all"  # every image, whatever its header says


@dataclass(frozen=True, slots=True)
class PixelSettings:
    """Clean Pixel Data settings; frozen so they pickle to workers."""

    mode: PixelMode = PixelMode.OFF
    engine: str = "rapidocr"  # a registered OCR engine: rapidocr | tesseract
    scope: PixelScope = PixelScope.AUTO
    all_frames_up_to: int = 16  # OCR every frame up to this count, else sample (see README)
    known_regions: bool = True  # mask the CTP library's vendor regions
    ultrasound_bands: bool = True  # mask all outside SequenceOfUltrasoundRegions (all-text)

    @property
    def enabled(self) -> bool:
        return self.mode is not PixelMode.OFF


@dataclass(frozen=True, slots=True)
class TextBox:
    """A rectangle of pixels to mask, in stored-pixel coordinates. Never holds the text."""

    x: int
    y: int
    w: int
    h: int
    frame: int | None  # None: every frame
    source: str  # "ocr:rapidocr", "region:ctp:12", "ultrasound-band"
    reason: str  # "phi", "text", "known-region", "outside-ultrasound-regions"


@dataclass(frozen=True, slots=True)
class PixelEdit:
    """New pixel data for one file, and the attributes that change with it."""

    value: bytes  # the (7FE0,0010) value: native bytes or encapsulated fragments
    encapsulated: bool
    transfer_syntax: str
    attributes: tuple[tuple[str, str], ...]  # (keyword, new value), e.g. BurnedInAnnotation
    boxes: tuple[TextBox, ...]
    note: str  # what was done, e.g. the re-encode fallback; never a value


HeaderLookup = Callable[[str], "str | None"]  # keyword -> the input's top-level value


class PixelHook(Protocol):
    """Cleans one file's pixel data. Returns None when the pixels stay byte-identical;
    raises UnsafeOutputError (sequester) when it cannot decide or cannot clean."""

    def __call__(self, header: HeaderLookup, cleaner: TextCleaner) -> PixelEdit | None: ...
