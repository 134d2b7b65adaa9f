"""The header engine: apply a compiled Plan to a parsed data set. Pure: no I/O.

``deidentify_elements(elems, plan, pseudonymizer, make_cleaner, method)`` walks the
data set twice. The first pass collects the file's identifying values (names, IDs,
places, phones, dates, UIDs) into a per-file deny-list; the second applies each
element's rule -- the table's, an override's, or the fail-closed defaults for
attributes the table does not list -- at every nesting level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from imagedeid.dicom.rawcodec import Elem
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.dicom.values import (
    DUMMY_DATE,
    DUMMY_TEXT,
    binary_dummy,
    cap_age,
    text_dummy,
    transform_date,
    transform_datetime,
    transform_time,
)
from imagedeid.model import (
    BASIC_PROFILE_CODE,
    BASIC_PROFILE_MEANING,
    Action,
    ActionRecord,
    CleanerFactory,
    DateMode,
    IdentifyingValues,
    TextCleaner,
    format_tag,
)
from imagedeid.policy.dictionary import is_well_known_uid
from imagedeid.policy.plan import FREE_TEXT_VRS, Plan, Rule, dictionary_vr, keyword_of
from imagedeid.pseudonym import Pseudonymizer

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PATIENT_BIRTH_DATE = 0x00100030
ACCESSION_NUMBER = 0x00080050
STUDY_ID = 0x00200010
SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_UID = 0x0020000D
SERIES_UID = 0x0020000E
_OUTPUT_NAME_TAGS = {PATIENT_ID, STUDY_UID, SERIES_UID, SOP_INSTANCE_UID, SOP_CLASS_UID}
_IDENTIFIER_TAGS = {ACCESSION_NUMBER, STUDY_ID}
_DEID_TAGS = {0x00120062, 0x00120063, 0x00120064, 0x00280303}
LONG_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC"})
BINARY_VRS = frozenset(
    {"US", "SS", "UL", "SL", "FL", "FD", "AT", "SV", "UV", "OB", "OW", "OF", "OD", "OL", "OV", "UN"}
)
_TEXT_DUMMY_AS_TOKEN = frozenset({"LO", "SH", "AE", "UC"})
_TOKEN_KEYWORDS = re.compile(r"ID|Number|Serial|Station|Title|Identifier|UID")
_PLACE_WORDS = (
    "Address",
    "Institution",
    "Station",
    "Department",
    "Location",
    "Residence",
    "Country",
    "Region",
    "Site",
    "Organization",
    "Facility",
)

Path = tuple[tuple[int, int], ...]


@dataclass
class Outcome:
    """The result of one data set's de-identification."""

    elems: list[Elem]
    patient: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    cleaner: TextCleaner
    codec: TextCodec
    generated: set[str]
    records: list[ActionRecord] | None
    crosswalk: list[tuple[str, str, str]] = field(default_factory=list)


class _Ctx:
    __slots__ = (
        "cleaner",
        "codec",
        "crosswalk",
        "generated",
        "mode",
        "patient",
        "plan",
        "pseud",
        "records",
        "shift",
        "top",
    )

    def __init__(
        self, plan: Plan, pseud: Pseudonymizer, codec: TextCodec, records: list[ActionRecord] | None
    ) -> None:
        self.plan = plan
        self.pseud = pseud
        self.codec = codec
        self.mode = plan.date_mode
        self.records = records
        self.generated: set[str] = set()
        self.crosswalk: list[tuple[str, str, str]] = []
        self.top: dict[int, str] = {}
        self.shift = 0
        self.patient = ""
        self.cleaner: TextCleaner

    def note(self, path: Path, tag: int, op: str, rule: str) -> None:
        if self.records is not None:
            where = ">".join([*(f"{format_tag(t)}[{i}]" for t, i in path), format_tag(tag)])
            self.records.append(ActionRecord(where, keyword_of(tag), op, rule))

    def made(self, value: str) -> str:
        self.generated.add(value)
        return value


def _top_text(elems: list[Elem], tag: int, codec: TextCodec, vr: str) -> str:
    for el in elems:
        if el.tag == tag:
            return codec.decode(el.value, vr) if el.items is None else ""
        if el.tag > tag:
            break
    return ""


def patient_identity(elems: list[Elem], codec: TextCodec) -> str:
    """What makes two files the same patient: PatientID, else name+birth date, else study."""
    pid = _top_text(elems, PATIENT_ID, codec, "LO").strip()
    if pid:
        return "id:" + pid
    name = _top_text(elems, PATIENT_NAME, codec, "PN").strip()
    if name:
        return "name:" + name.upper() + "|" + _top_text(elems, PATIENT_BIRTH_DATE, codec, "DA")
    study = _top_text(elems, STUDY_UID, codec, "UI")
    return "study:" + study if study else "sop:" + _top_text(elems, SOP_INSTANCE_UID, codec, "UI")


def deidentify_elements(
    elems: list[Elem],
    plan: Plan,
    pseud: Pseudonymizer,
    make_cleaner: CleanerFactory,
    method: tuple[str, ...],
    *,
    records: bool = False,
    crosswalk: bool = False,
) -> Outcome:
    codec = TextCodec(_top_text(elems, SPECIFIC_CHARACTER_SET, TextCodec(""), "CS"))
    ctx = _Ctx(plan, pseud, codec, [] if records else None)
    identity = patient_identity(elems, codec)
    ctx.patient = pseud.patient_id(identity)
    ctx.shift = pseud.date_shift_days(identity)
    values = IdentifyingValues()
    _collect(elems, ctx, values)
    ctx.cleaner = make_cleaner(values)
    out = _transform(elems, ctx, (), top=True)
    out = [el for el in out if el.tag not in _DEID_TAGS]
    out.extend(_deid_attributes(plan, method))
    out.sort(key=lambda el: el.tag)
    return Outcome(
        elems=out,
        patient=ctx.top.get(PATIENT_ID) or ctx.patient,
        study_uid=ctx.top.get(STUDY_UID, ""),
        series_uid=ctx.top.get(SERIES_UID, ""),
        sop_uid=ctx.top.get(SOP_INSTANCE_UID, ""),
        sop_class_uid=ctx.top.get(SOP_CLASS_UID, ""),
        cleaner=ctx.cleaner,
        codec=codec,
        generated=ctx.generated,
        records=ctx.records,
        crosswalk=ctx.crosswalk if crosswalk else [],
    )


# --- pass 1: collect identifying values -------------------------------------------------


def _default_maps_uid(tag: int, value: str, plan: Plan) -> bool:
    """A UID the table does not list is replaced unless it is a well-known (standard) UID."""
    if plan.retain_uids or is_well_known_uid(value):
        return False
    kw = keyword_of(tag)
    return not (kw.endswith("ClassUID") or kw.endswith("TransferSyntaxUID"))


def _collect(elems: list[Elem], ctx: _Ctx, values: IdentifyingValues) -> None:
    plan = ctx.plan
    plain = plan.plain_keep
    for el in elems:
        tag = el.tag
        if tag >> 16 & 1 or (tag in plain and el.items is None):
            continue
        if el.items is not None:
            for item in el.items:
                _collect(item, ctx, values)
            continue
        vr = dictionary_vr(tag) or el.vr  # what the attribute is, not what the file claims
        rule = plan.rule_for(tag)
        if vr == "UI":
            for uid in ctx.codec.decode(el.value, vr).split("\\"):
                if uid and (
                    _default_maps_uid(tag, uid, plan)
                    if rule is None
                    else rule.action is not Action.KEEP
                ):
                    values.uids.append(uid)
            continue
        if vr in ("DA", "DT") and (rule is None or rule.action is not Action.KEEP):
            if tag == PATIENT_BIRTH_DATE:
                values.birth_dates.append(ctx.codec.decode(el.value, vr))
            elif ctx.mode is not DateMode.KEEP:
                values.dates.extend(
                    d for d in ctx.codec.decode(el.value, vr).split("\\") if _date_reveals(d, ctx)
                )
            continue
        if rule is None or rule.action is Action.KEEP:
            continue
        elif rule.deny_source and el.value:
            text = ctx.codec.decode(el.value, vr)
            kw = rule.keyword
            if vr == "PN":
                values.names.extend(text.split("\\"))
            elif "Telephone" in kw or "Phone" in kw:
                values.phones.extend(text.split("\\"))
            elif any(w in kw for w in _PLACE_WORDS):
                values.places.extend(text.split("\\"))
            else:
                values.identifiers.extend(text.split("\\"))


def _date_reveals(value: str, ctx: _Ctx) -> bool:
    """Whether an original date would be news in the output (a Jan 1 date reduced to its
    year, or a date equal to the dummy, is not)."""
    d = value.strip()[:8]
    if ctx.mode is DateMode.YEAR and d[4:8] == "0101":
        return False
    return d != DUMMY_DATE


# --- pass 2: transform ------------------------------------------------------------------


def _transform(elems: list[Elem], ctx: _Ctx, path: Path, top: bool = False) -> list[Elem]:
    plan = ctx.plan
    plain = plan.plain_keep if ctx.records is None else frozenset()
    out: list[Elem] = []
    creators: dict[tuple[int, int], tuple[Elem, str]] = {}
    used_creators: set[tuple[int, int]] = set()
    for el in elems:
        tag = el.tag
        if tag in plain and el.items is None:
            out.append(el)
            continue
        group = tag >> 16
        if group & 1:
            _private(el, ctx, path, creators, used_creators, out)
            continue
        if tag & 0xFFFF == 0 or tag == 0x00080001:
            continue  # group lengths are not carried over
        if group & 0xFF01 in (0x5000, 0x6000) and _graphics_removed(el, ctx, path):
            continue
        rule = plan.rule_for(tag)
        if rule is None:
            if _default(el, ctx, path, top):
                out.append(el)
            continue
        if _apply(el, rule, ctx, path, top):
            out.append(el)
    if used_creators:
        out.extend(creators[k][0] for k in sorted(used_creators))
        out.sort(key=lambda e: e.tag)
    return out


def _graphics_removed(el: Elem, ctx: _Ctx, path: Path) -> bool:
    """Curves (50xx) and overlay planes (60xx) are removed whole: their bitmaps may hold
    burned-in text that this release cannot inspect (Clean Graphics cleans by removal)."""
    group = el.tag >> 16
    if group & 0xFF00 == 0x6000:
        rule = ctx.plan.overlay_rules.get(0x3000)
        if rule is not None and rule.action is Action.KEEP:
            return False
    elif ctx.plan.curve_rule.action is Action.KEEP:
        return False
    ctx.note(path, el.tag, "remove", "imagedeid/graphics:overlay-and-curve-groups-removed")
    return True


def _private(
    el: Elem,
    ctx: _Ctx,
    path: Path,
    creators: dict[tuple[int, int], tuple[Elem, str]],
    used: set[tuple[int, int]],
    out: list[Elem],
) -> None:
    plan = ctx.plan
    tag = el.tag
    group, low = tag >> 16, tag & 0xFFFF
    if 0x10 <= low <= 0xFF and el.items is None:
        name = ctx.codec.decode(el.value, "LO").strip().upper() if plan.retain_safe_private else ""
        creators[(group, low)] = (el, name)
        return
    if not plan.retain_safe_private or low < 0x10:
        ctx.note(
            path,
            tag,
            "remove",
            plan.private_rule.rule_id if low >= 0x10 else "imagedeid/private:reserved-element",
        )
        return
    block = low >> 8
    creator = creators.get((group, block))
    if creator is None:
        ctx.note(path, tag, "remove", "imagedeid/private:no-private-creator")
        return
    entry = plan.safe_private.get((group, creator[1], low & 0xFF))
    if entry is None:
        ctx.note(path, tag, "remove", plan.private_rule.rule_id + "/not-in-safe-dictionary")
        return
    used.add((group, block))
    if entry.blank:
        if el.items is not None:
            el.set_items([])
        else:
            el.set_value(b"")
        ctx.note(path, tag, "blank", "CTP-safe-private:KB")
    elif el.items is not None:
        el.set_items([_transform(item, ctx, (*path, (tag, i))) for i, item in enumerate(el.items)])
    elif entry.vr in FREE_TEXT_VRS or entry.vr == "PN":
        _scrub(el, entry.vr, ctx, path, "CTP-safe-private:K")
    elif entry.vr in ("DA", "DT"):
        _clean(el, entry.vr, ctx, path, "CTP-safe-private:K+imagedeid/date-rule")
    if el.raw is not None:
        ctx.note(path, tag, "keep", "CTP-safe-private:K")
    out.append(el)


def _scrub(el: Elem, vr: str, ctx: _Ctx, path: Path, rule: str) -> None:
    if not el.value:
        return
    text = ctx.codec.decode(el.value, vr)
    new = ctx.cleaner.scrub(text) or ctx.made(DUMMY_TEXT)  # never empty a value that had one
    if new != text:
        el.set_value(ctx.codec.encode(new, vr))
        ctx.note(path, el.tag, "scrub", rule + "+imagedeid/deny-list")


def _default(el: Elem, ctx: _Ctx, path: Path, top: bool) -> bool:
    """Attributes the table does not list: keep safe ones, fail closed on the rest."""
    tag = el.tag
    if el.items is not None:
        ctx.note(path, tag, "keep-sequence", "imagedeid/not-in-table:keep+recurse")
        el.set_items([_transform(item, ctx, (*path, (tag, i))) for i, item in enumerate(el.items)])
        return True
    kw = keyword_of(tag)
    if not kw:
        ctx.note(path, tag, "remove", "imagedeid/fail-closed:attribute-not-in-dictionary")
        return False
    vr = el.vr if el.vr != "UN" else dictionary_vr(tag)
    if vr == "SQ":
        ctx.note(path, tag, "remove", "imagedeid/fail-closed:unreadable-sequence")
        return False
    if vr == "UI":
        _map_uids(
            el,
            ctx,
            path,
            top,
            "imagedeid/uid-not-in-table",
            lambda uid: _default_maps_uid(tag, uid, ctx.plan),
        )
    elif vr == "PN":
        ctx.note(path, tag, "remove", "imagedeid/fail-closed:person-name-not-in-table")
        return False
    elif vr in LONG_TEXT_VRS:  # narrative text (SR TEXT items, notes): patterns too
        _clean(el, vr, ctx, path, "imagedeid/free-text-not-in-table")
    elif vr in FREE_TEXT_VRS:
        _scrub(el, vr, ctx, path, "imagedeid/not-in-table")
    elif vr in ("DA", "DT"):  # a date the table does not list gets the profile's date rule
        return _clean(el, vr, ctx, path, "imagedeid/date-not-in-table")
    elif vr == "AS":
        _set_text(el, ctx, vr, cap_age(ctx.codec.decode(el.value, vr)))
    if el.raw is not None:
        ctx.note(path, tag, "keep", "imagedeid/not-in-table:keep")
    return True


def _resolve(action: Action, has_value: bool, vr: str) -> Action:
    """Compound codes: prefer what keeps the object valid without keeping information."""
    if not action.is_compound:
        return action
    if action is Action.REMOVE_OR_ZERO_OR_UID:
        return Action.UID if vr == "UI" else Action.ZERO
    if action is Action.REMOVE_OR_ZERO:
        return Action.ZERO
    if has_value:
        return Action.DUMMY
    return Action.REMOVE if action is Action.REMOVE_OR_DUMMY else Action.ZERO


def _apply(el: Elem, rule: Rule, ctx: _Ctx, path: Path, top: bool) -> bool:
    tag = el.tag
    if el.items is not None:
        return _apply_sequence(el, rule, ctx, path)
    vr = el.vr if el.vr != "UN" else (dictionary_vr(tag) or "UN")
    if vr == "SQ":  # a sequence whose items could not be read
        ctx.note(path, tag, "remove", rule.rule_id + "+imagedeid/fail-closed:unreadable-sequence")
        return False
    action = _resolve(rule.action, bool(el.value), vr)
    rid = rule.rule_id
    if action is Action.REMOVE:
        ctx.note(path, tag, "remove", rid)
        return False
    if action is Action.KEEP:
        ctx.note(path, tag, "keep", rid)
        if vr == "AS":
            _set_text(el, ctx, vr, cap_age(ctx.codec.decode(el.value, vr)))
        elif top and tag in _OUTPUT_NAME_TAGS:
            ctx.top[tag] = ctx.codec.decode(el.value, vr)
        return True
    if vr == "UI" and action in (Action.UID, Action.DUMMY, Action.CLEAN):
        _map_uids(el, ctx, path, top, rid, lambda uid: True)
        return True
    if (
        (tag in (PATIENT_ID, PATIENT_NAME) or tag in _IDENTIFIER_TAGS)
        and el.value
        and action in (Action.ZERO, Action.DUMMY)
    ):
        _pseudonym(el, ctx, path, top, vr, rid)
        return True
    if action is Action.ZERO or action is Action.UID:
        el.set_value(b"")
        ctx.note(path, tag, "zero", rid)
        return True
    if action is Action.DUMMY:
        _dummy(el, ctx, vr)
        ctx.note(path, tag, "dummy", rid)
        return True
    return _clean(el, vr, ctx, path, rid)


def _apply_sequence(el: Elem, rule: Rule, ctx: _Ctx, path: Path) -> bool:
    action = rule.action
    tag = el.tag
    if action in (Action.REMOVE, Action.REMOVE_OR_DUMMY):
        ctx.note(path, tag, "remove", rule.rule_id)
        return False
    if action in (Action.ZERO, Action.REMOVE_OR_ZERO, Action.REMOVE_OR_ZERO_OR_DUMMY):
        el.set_items([])
        ctx.note(path, tag, "empty-sequence", rule.rule_id)
        return True
    el.set_items(
        [_transform(item, ctx, (*path, (tag, i))) for i, item in enumerate(el.items or [])]
    )
    return True


def _set_text(el: Elem, ctx: _Ctx, vr: str, text: str) -> None:
    el.set_value(ctx.codec.encode(text, vr))


def _map_uids(
    el: Elem, ctx: _Ctx, path: Path, top: bool, rid: str, should_map: Callable[[str], bool]
) -> None:
    old = ctx.codec.decode(el.value, "UI")
    parts = old.split("\\")
    new_parts = [ctx.made(ctx.pseud.uid(u)) if u and should_map(u) else u for u in parts]
    if new_parts != parts:
        new = "\\".join(new_parts)
        el.set_value(ctx.codec.encode(new, "UI"))
        ctx.note(path, el.tag, "uid", rid)
        if top and el.tag in (STUDY_UID, SERIES_UID, SOP_INSTANCE_UID):
            ctx.crosswalk.append((keyword_of(el.tag), new, old))
    else:
        new = old
    if top and el.tag in _OUTPUT_NAME_TAGS:
        ctx.top[el.tag] = new


def _pseudonym(el: Elem, ctx: _Ctx, path: Path, top: bool, vr: str, rid: str) -> None:
    tag = el.tag
    old = ctx.codec.decode(el.value, vr)
    if tag in (PATIENT_ID, PATIENT_NAME) and top:
        new = ctx.patient
    elif tag == PATIENT_ID:  # another patient's ID inside a sequence: their own pseudonym
        new = ctx.pseud.patient_id("id:" + old.strip())
    elif tag == PATIENT_NAME:
        new = ctx.pseud.person_name(old)
    else:
        new = ctx.pseud.identifier(old)
    _set_text(el, ctx, vr, ctx.made(new))
    ctx.note(path, tag, "pseudonym", rid + "+imagedeid/keyed-pseudonym")
    if top:
        if tag == PATIENT_ID:
            ctx.top[tag] = new
        ctx.crosswalk.append((keyword_of(tag), new, old))


def _dummy(el: Elem, ctx: _Ctx, vr: str) -> None:
    if vr in BINARY_VRS:
        el.set_value(binary_dummy(vr))
        return
    old = ctx.codec.decode(el.value, vr)
    if vr == "PN":
        new = ctx.made(ctx.pseud.person_name(old))
    elif vr in _TEXT_DUMMY_AS_TOKEN and _TOKEN_KEYWORDS.search(keyword_of(el.tag)):
        new = ctx.made(ctx.pseud.identifier(old))  # consistent, so devices stay tellable apart
    elif vr in ("CS", *_TEXT_DUMMY_AS_TOKEN):
        new = DUMMY_TEXT
    else:
        new = text_dummy(vr)
    _set_text(el, ctx, vr, ctx.made(new))


def _clean(el: Elem, vr: str, ctx: _Ctx, path: Path, rid: str) -> bool:
    tag = el.tag
    if not el.value:
        return True
    if vr in BINARY_VRS:  # bytes this engine cannot read cannot be cleaned: fail closed
        el.set_value(b"")
        ctx.note(path, tag, "zero", rid + "+imagedeid/binary-cannot-be-cleaned")
        return True
    old = ctx.codec.decode(el.value, vr)
    if vr in ("DA", "DT"):
        fn = transform_date if vr == "DA" else transform_datetime
        parts = [fn(p, ctx.mode, ctx.shift) if p else "" for p in old.split("\\")]
        if any(p is None for p in parts):
            el.set_value(b"")
            ctx.note(path, tag, "zero", rid + "+imagedeid/unreadable-date")
            return True
        new = "\\".join(p or "" for p in parts)
        op = f"date-{ctx.mode.value}"
    elif vr == "TM":
        new = "\\".join(transform_time(p, ctx.mode) if p else "" for p in old.split("\\"))
        op = f"time-{ctx.mode.value}"
    elif vr == "AS":
        new, op = cap_age(old), "age-cap"
    elif vr == "PN":
        new, op = ctx.made(ctx.pseud.person_name(old)), "pseudonym"
    elif vr in FREE_TEXT_VRS:
        # Nothing left after cleaning: a dummy keeps required (Type 1) text valid.
        new, op = ctx.cleaner.clean(old) or ctx.made(DUMMY_TEXT), "clean-text"
    elif vr in ("AE", "CS"):  # titles and codes: only the file's own identifying values go
        new, op = ctx.cleaner.scrub(old) or ctx.made(DUMMY_TEXT), "scrub"
    else:
        return True  # numbers carry no free text
    if new != old:
        _set_text(el, ctx, vr, new)
        ctx.note(path, tag, op, rid)
    return True


def _deid_attributes(plan: Plan, method: tuple[str, ...]) -> list[Elem]:
    codec = TextCodec("")
    profile = plan.profile

    def text(tag: int, vr: str, value: str) -> Elem:
        return Elem(tag, vr, codec.encode(value, vr))

    codes = [(BASIC_PROFILE_CODE, BASIC_PROFILE_MEANING)]
    codes += sorted((o.value, o.code_meaning) for o in profile.options)
    items = [
        [
            text(0x00080100, "SH", code),
            text(0x00080102, "SH", "DCM"),
            text(0x00080104, "LO", meaning),
        ]
        for code, meaning in codes
    ]
    longitudinal = {
        DateMode.KEEP: "UNMODIFIED",
        DateMode.SHIFT: "MODIFIED",
        DateMode.YEAR: "MODIFIED",
        DateMode.REMOVE: "REMOVED",
    }[plan.date_mode]
    return [
        text(0x00120062, "CS", "YES"),
        text(0x00120063, "LO", "\\".join(m[:64] for m in method)),
        Elem(0x00120064, "SQ", items=items),
        text(0x00280303, "CS", longitudinal),
    ]
