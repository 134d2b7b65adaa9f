"""Profiles: which PS3.15 options apply, how dates are treated, and per-attribute overrides.

Profiles are data. Built-ins are defined here as values; user profiles are YAML,
validated on load (unknown keywords and options are errors with a did-you-mean).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from imagedeid.errors import PolicyError
from imagedeid.model import Action, DateMode, Option, PixelMode, PixelScope, PixelSettings
from imagedeid.policy.dictionary import all_keywords, keyword_of, tag_for_keyword
from imagedeid.policy.table import TABLE_EDITION

PROFILE_SCHEMA_VERSION = 1

OPTION_NAMES: dict[str, Option] = {
    "retain-safe-private": Option.RETAIN_SAFE_PRIVATE,
    "retain-uids": Option.RETAIN_UIDS,
    "retain-device-identity": Option.RETAIN_DEVICE_IDENTITY,
    "retain-institution-identity": Option.RETAIN_INSTITUTION_IDENTITY,
    "retain-patient-characteristics": Option.RETAIN_PATIENT_CHARACTERISTICS,
    "retain-longitudinal-full-dates": Option.RETAIN_LONGITUDINAL_FULL_DATES,
    "retain-longitudinal-modified-dates": Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
    "clean-descriptors": Option.CLEAN_DESCRIPTORS,
    "clean-structured-content": Option.CLEAN_STRUCTURED_CONTENT,
    "clean-graphics": Option.CLEAN_GRAPHICS,
}
OPTION_LABELS = {opt: name for name, opt in OPTION_NAMES.items()}

# Operators an override may name, and the PS3.15 action each performs.
OPERATORS: dict[str, Action] = {
    "keep": Action.KEEP,
    "remove": Action.REMOVE,
    "zero": Action.ZERO,
    "dummy": Action.DUMMY,
    "clean": Action.CLEAN,
    "uid": Action.UID,
}

_ALLOWED_KEYS = {
    "imagedeid-profile",
    "id",
    "version",
    "description",
    "extends",
    "options",
    "add-options",
    "remove-options",
    "dates",
    "overrides",
    "pixels",
}
# Clean Pixel Data is not a column of Table E.1-1: it is named like an option in
# add-options / remove-options, and set in detail under `pixels:`.
CLEAN_PIXEL_DATA = "clean-pixel-data"
_PIXEL_KEYS = {
    "mode",
    "engine",
    "scope",
    "all-frames-up-to",
    "known-regions",
    "ultrasound-bands",
}
OCR_ENGINES = ("rapidocr", "tesseract")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")


@dataclass(frozen=True, slots=True)
class Override:
    tag: int
    keyword: str
    action: Action
    because: str


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    description: str
    options: frozenset[Option]
    date_mode: DateMode
    overrides: tuple[Override, ...] = ()
    extends: str = ""
    pixels: PixelSettings = field(default_factory=PixelSettings)
    content_hash: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_dates(self.options, self.date_mode, self.id)
        object.__setattr__(self, "content_hash", _hash(self))

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "extends": self.extends,
            "options": sorted(
                [OPTION_LABELS[o] for o in self.options]
                + ([CLEAN_PIXEL_DATA] if self.pixels.enabled else [])
            ),
            "dates": self.date_mode.value,
            "pixels": _pixels_dict(self.pixels),
            "overrides": [
                {
                    "keyword": o.keyword,
                    "tag": f"{o.tag:08X}",
                    "action": o.action.value,
                    "because": o.because,
                }
                for o in self.overrides
            ],
            "content_hash": self.content_hash,
            "table_edition": TABLE_EDITION,
        }


def _check_dates(options: frozenset[Option], mode: DateMode, pid: str) -> None:
    full = Option.RETAIN_LONGITUDINAL_FULL_DATES in options
    modified = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options
    if full and modified:
        raise PolicyError(
            f"profile {pid!r}: retain-longitudinal-full-dates and -modified-dates exclude "
            "each other; keep one"
        )
    expected = {
        DateMode.KEEP: full,
        DateMode.SHIFT: modified,
        DateMode.YEAR: modified,
        DateMode.REMOVE: not (full or modified),
    }[mode]
    if not expected:
        raise PolicyError(
            f"profile {pid!r}: dates: {mode.value} does not fit its options (keep needs "
            "retain-longitudinal-full-dates; shift and year need "
            "retain-longitudinal-modified-dates; remove needs neither)"
        )


def _pixels_dict(p: PixelSettings) -> dict[str, Any]:
    return {
        "mode": p.mode.value,
        "engine": p.engine,
        "scope": p.scope.value,
        "all-frames-up-to": p.all_frames_up_to,
        "known-regions": p.known_regions,
        "ultrasound-bands": p.ultrasound_bands,
    }


def _hash(profile: Profile) -> str:
    canonical = {
        "schema": PROFILE_SCHEMA_VERSION,
        "table": TABLE_EDITION,
        "id": profile.id,
        "version": profile.version,
        "options": sorted(o.value for o in profile.options),
        "dates": profile.date_mode.value,
        "overrides": [[o.tag, o.action.value, o.because] for o in profile.overrides],
        "pixels": _pixels_dict(profile.pixels),
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


_RESEARCH_OPTIONS = frozenset(
    {
        Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
        Option.RETAIN_SAFE_PRIVATE,
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.CLEAN_GRAPHICS,
    }
)

_CLEAN_PIXELS = PixelSettings(mode=PixelMode.ALL_TEXT)

BUILTIN_PROFILES: dict[str, Profile] = {
    "basic": Profile(
        id="basic",
        version="1",
        description="PS3.15 Basic Application Level Confidentiality Profile, no options.",
        options=frozenset(),
        date_mode=DateMode.REMOVE,
    ),
    "research": Profile(
        id="research",
        version="1",
        description=(
            "Basic profile plus Retain Longitudinal Temporal Information (Modified Dates: "
            "one keyed shift per patient), Retain Patient Characteristics, Retain Safe "
            "Private, Clean Descriptors, Clean Structured Content, Clean Graphics and "
            "Clean Pixel Data (burned-in text found by OCR and known regions is masked)."
        ),
        options=_RESEARCH_OPTIONS,
        date_mode=DateMode.SHIFT,
        pixels=_CLEAN_PIXELS,
    ),
    "safe-harbor": Profile(
        id="safe-harbor",
        version="1",
        description=(
            "HIPAA Safe Harbor: the research options, but only the year of any date is "
            "kept (times are zeroed) and ages over 89 become 090Y; none of the 18 "
            "identifiers is retained, in the header or burned into the pixels."
        ),
        options=_RESEARCH_OPTIONS,
        date_mode=DateMode.YEAR,
        pixels=_CLEAN_PIXELS,
    ),
}
DEFAULT_PROFILE = "research"


def builtin_profile(name: str) -> Profile:
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        raise PolicyError(
            f"no built-in profile named {name!r}{_suggest(name, BUILTIN_PROFILES)}; "
            f"choose one of {', '.join(sorted(BUILTIN_PROFILES))} or give a YAML file"
        ) from None


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_profile(text: str, source: str) -> Profile:
    """Parse and validate a YAML profile. ``source`` names the file in messages."""
    import yaml  # only for profile files: the built-in profiles are defined in code

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{source}: not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: a profile is a YAML mapping with at least 'id'")
    for key in doc:
        if key not in _ALLOWED_KEYS:
            raise PolicyError(f"{source}: unknown key {key!r}{_suggest(str(key), _ALLOWED_KEYS)}")
    schema = doc.get("imagedeid-profile", PROFILE_SCHEMA_VERSION)
    if schema != PROFILE_SCHEMA_VERSION:
        raise PolicyError(f"{source}: imagedeid-profile {schema!r} is not supported (use 1)")
    pid = doc.get("id")
    if not isinstance(pid, str) or not _ID_RE.match(pid):
        raise PolicyError(
            f"{source}: 'id' must be lowercase letters, digits, '.', '_' or '-' (1-41 chars)"
        )
    version = str(doc.get("version", "1"))
    try:
        base = builtin_profile(str(doc["extends"])) if doc.get("extends") else None
    except PolicyError as exc:
        raise PolicyError(f"{source}: profile {pid!r}: extends: {exc}") from None
    options = set(base.options) if base else set()
    clean_pixels = base.pixels.enabled if base else False
    if "options" in doc:
        options = set(_options(doc["options"], source, "options"))
        clean_pixels = CLEAN_PIXEL_DATA in doc["options"]
    options |= set(_options(doc.get("add-options", []), source, "add-options"))
    options -= set(_options(doc.get("remove-options", []), source, "remove-options"))
    clean_pixels = (clean_pixels or CLEAN_PIXEL_DATA in doc.get("add-options", [])) and (
        CLEAN_PIXEL_DATA not in doc.get("remove-options", [])
    )
    pixels = _pixels(doc.get("pixels"), base, clean_pixels, source)
    dates = _date_mode(doc, base, options, source)
    inherited = base.overrides if base else ()
    overrides = _overrides(doc.get("overrides", []), source)
    replaced = {o.tag for o in overrides}
    return Profile(
        id=pid,
        version=version,
        description=str(doc.get("description", "")),
        options=frozenset(options),
        date_mode=dates,
        overrides=tuple(o for o in inherited if o.tag not in replaced) + overrides,
        extends=base.id if base else "",
        pixels=pixels,
    )


def _pixels(raw: Any, base: Profile | None, enabled: bool, source: str) -> PixelSettings:
    inherited = base.pixels if base and base.pixels.enabled else PixelSettings()
    mode = inherited.mode if enabled else PixelMode.OFF
    if enabled and mode is PixelMode.OFF:
        mode = PixelMode.ALL_TEXT
    if raw is None:
        return PixelSettings(
            mode,
            inherited.engine,
            inherited.scope,
            inherited.all_frames_up_to,
            inherited.known_regions,
            inherited.ultrasound_bands,
        )
    where = f"{source}: pixels"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping (mode, engine, scope, ...)")
    for key in raw:
        if key not in _PIXEL_KEYS:
            raise PolicyError(f"{where}: unknown key {key!r}{_suggest(str(key), _PIXEL_KEYS)}")
    merged = {**_pixels_dict(inherited), **raw}
    if "mode" not in raw:
        merged["mode"] = mode.value
    try:
        pmode = PixelMode(merged["mode"])
        scope = PixelScope(merged["scope"])
    except ValueError:
        raise PolicyError(
            f"{where}: mode is one of {', '.join(m.value for m in PixelMode)}; "
            f"scope is one of {', '.join(s.value for s in PixelScope)}"
        ) from None
    engine = merged["engine"]
    if engine not in OCR_ENGINES:
        raise PolicyError(
            f"{where}: engine {engine!r} is not an OCR engine{_suggest(str(engine), OCR_ENGINES)}"
            f"; choose one of {', '.join(OCR_ENGINES)}"
        )
    frames = merged["all-frames-up-to"]
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise PolicyError(f"{where}: all-frames-up-to must be a whole number >= 1")
    flags = {k: merged[k] for k in ("known-regions", "ultrasound-bands")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: {key} must be true or false")
    return PixelSettings(
        pmode,
        str(engine),
        scope,
        frames,
        bool(flags["known-regions"]),
        bool(flags["ultrasound-bands"]),
    )


def _options(raw: Any, source: str, key: str) -> list[Option]:
    if not isinstance(raw, list):
        raise PolicyError(f"{source}: {key!r} must be a list of option names")
    out = []
    for name in raw:
        if name == CLEAN_PIXEL_DATA:
            continue
        if name not in OPTION_NAMES:
            raise PolicyError(
                f"{source}: {key}: unknown option {name!r}"
                + _suggest(str(name), [*OPTION_NAMES, CLEAN_PIXEL_DATA])
            )
        out.append(OPTION_NAMES[name])
    return out


def _date_mode(
    doc: dict[str, Any], base: Profile | None, options: set[Option], source: str
) -> DateMode:
    if "dates" in doc:
        try:
            return DateMode(doc["dates"])
        except ValueError:
            names = [m.value for m in DateMode]
            raise PolicyError(
                f"{source}: dates: {doc['dates']!r} is not one of {', '.join(names)}"
            ) from None
    if Option.RETAIN_LONGITUDINAL_FULL_DATES in options:
        return DateMode.KEEP
    if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in options:
        if base is not None and base.date_mode is DateMode.YEAR:
            return DateMode.YEAR
        return DateMode.SHIFT
    return DateMode.REMOVE


def _overrides(raw: Any, source: str) -> tuple[Override, ...]:
    if not isinstance(raw, list):
        raise PolicyError(f"{source}: 'overrides' must be a list")
    out: list[Override] = []
    for index, item in enumerate(raw):
        where = f"{source}: overrides[{index}]"
        if not isinstance(item, dict):
            raise PolicyError(f"{where}: each override is a mapping with keyword, action, because")
        unknown = set(item) - {"keyword", "tag", "action", "because"}
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        tag, keyword = _resolve_attribute(item, where)
        op = item.get("action")
        if op not in OPERATORS:
            raise PolicyError(
                f"{where}: action {op!r} is not an operator{_suggest(str(op), OPERATORS)}; "
                f"choose one of {', '.join(OPERATORS)}"
            )
        because = item.get("because")
        if not isinstance(because, str) or not because.strip():
            raise PolicyError(f"{where} ({keyword}): every override needs a 'because:' note")
        out.append(Override(tag=tag, keyword=keyword, action=OPERATORS[op], because=because))
    tags = [o.tag for o in out]
    if len(tags) != len(set(tags)):
        raise PolicyError(f"{source}: an attribute is overridden twice")
    return tuple(out)


def _resolve_attribute(item: dict[str, Any], where: str) -> tuple[int, str]:
    if "keyword" in item:
        keyword = str(item["keyword"])
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise PolicyError(
                f"{where}: unknown DICOM keyword {keyword!r}{_suggest(keyword, all_keywords())}"
            )
    elif "tag" in item:
        text = str(item["tag"]).strip("() ").replace(",", "")
        if not re.fullmatch(r"[0-9A-Fa-f]{8}", text):
            raise PolicyError(f"{where}: tag must look like (0010,0010)")
        tag = int(text, 16)
        keyword = keyword_of(tag)
        if not keyword:
            raise PolicyError(f"{where}: tag {item['tag']} is not in the DICOM dictionary")
    else:
        raise PolicyError(f"{where}: give 'keyword' (or 'tag')")
    if (tag >> 16) & 1:
        raise PolicyError(
            f"{where}: private attributes are governed by retain-safe-private, not overrides"
        )
    return int(tag), keyword
