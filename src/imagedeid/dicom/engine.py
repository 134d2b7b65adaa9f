"""The header engine: apply a compiled Plan to a parsed data set. Pure: no I/O.

``deidentify_elements(elems, plan, pseudonymizer, make_cleaner, method)`` walks the
data set twice. The first pass collects the file's identifying values (names, IDs,
places, phones, dates, UIDs) into a per-file deny-list; the second applies each
element's rule -- the table's, an override's, or the fail-closed defaults for
attributes the table does not list -- at every nesting level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter

from imagedeid.dicom.collect import collect
from imagedeid.dicom.context import (
    DEID_TAGS,
    IDENTIFIER_TAGS,
    OUTPUT_NAME_TAGS,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_UID,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    SPECIFIC_CHARACTER_SET,
    STUDY_UID,
    Ctx,
    Path,
    effective_vr,
    top_text,
)
from imagedeid.dicom.operations import (
    LONG_TEXT_VRS,
    clean,
    default_maps_uid,
    deid_attributes,
    dummy,
    map_uids,
    pseudonym,
    resolve,
    scrub,
)
from imagedeid.dicom.rawcodec import Elem
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.model import (
    Action,
    ActionRecord,
    CleanerFactory,
    IdentifyingValues,
    TextCleaner,
)
from imagedeid.policy.dictionary import sop_class_name
from imagedeid.policy.plan import FREE_TEXT_VRS, Plan, Rule, keyword_of
from imagedeid.pseudonym import Pseudonymizer


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


def patient_identity(elems: list[Elem], codec: TextCodec) -> str:
    """What makes two files the same patient: PatientID, else name+birth date, else study."""
    pid = top_text(elems, PATIENT_ID, codec, "LO").strip()
    if pid:
        return "id:" + pid
    name = top_text(elems, PATIENT_NAME, codec, "PN").strip()
    if name:
        return "name:" + name.upper() + "|" + top_text(elems, PATIENT_BIRTH_DATE, codec, "DA")
    study = top_text(elems, STUDY_UID, codec, "UI")
    return "study:" + study if study else "sop:" + top_text(elems, SOP_INSTANCE_UID, codec, "UI")


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
    codec = TextCodec(top_text(elems, SPECIFIC_CHARACTER_SET, TextCodec(""), "CS"))
    ctx = Ctx(plan, pseud, codec, [] if records else None)
    identity = patient_identity(elems, codec)
    ctx.patient = pseud.patient_id(identity)
    ctx.shift = pseud.date_shift_days(identity)
    values = IdentifyingValues()
    collect(elems, ctx, values)
    ctx.cleaner = make_cleaner(values)
    out = _transform(elems, ctx, (), top=True)
    out = [el for el in out if el.tag not in DEID_TAGS]
    out.extend(deid_attributes(plan, method))
    out.sort(key=_TAG)
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


# --- pass 2: transform ------------------------------------------------------------------


_TAG = attrgetter("tag")


def _transform(elems: list[Elem], ctx: Ctx, path: Path, top: bool = False) -> list[Elem]:
    plan = ctx.plan
    plain = plan.plain_keep if ctx.records is None else frozenset()
    exact = plan.exact.get
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
        if group & 0xFF00 in (0x5000, 0x6000):  # repeating groups: curves and overlays
            if group & 0xFF01 in (0x5000, 0x6000) and _graphics_removed(el, ctx, path):
                continue
            rule = plan.rule_for(tag)
        else:
            rule = exact(tag)
        if rule is None:
            if _default(el, ctx, path, top):
                out.append(el)
            continue
        if _apply(el, rule, ctx, path, top):
            out.append(el)
    if used_creators:
        out.extend(creators[k][0] for k in sorted(used_creators))
        out.sort(key=_TAG)
    return out


def _graphics_removed(el: Elem, ctx: Ctx, path: Path) -> bool:
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
    ctx: Ctx,
    path: Path,
    creators: dict[tuple[int, int], tuple[Elem, str]],
    used: set[tuple[int, int]],
    out: list[Elem],
) -> None:
    plan = ctx.plan
    tag = el.tag
    group, low = tag >> 16, tag & 0xFFFF
    if 0x10 <= low <= 0xFF and el.items is None:
        name = ctx.codec.decode(el.value, "LO").strip().upper() if ctx.safe_private else ""
        creators[(group, low)] = (el, name)
        return
    if not ctx.safe_private or low < 0x10:
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
    kept_as_is = not (entry.blank or el.items is not None or entry.vr in _CLEANED_PRIVATE_VRS)
    if kept_as_is and not _fits_safe_type(el, entry.vr):
        ctx.note(path, tag, "remove", "CTP-safe-private:K+imagedeid/value-not-of-listed-type")
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
        scrub(el, entry.vr, ctx, path, "CTP-safe-private:K")
    elif entry.vr in ("DA", "DT"):
        clean(el, entry.vr, ctx, path, "CTP-safe-private:K+imagedeid/date-rule")
    if el.unchanged:
        ctx.note(path, tag, "keep", "CTP-safe-private:K")
    out.append(el)


# Characters a value of each string VR may hold (PS3.5 6.2); a safe-private element of
# such a type that holds anything else is not what the dictionary vouched for.
_STRING_CHARS = {
    "DS": re.compile(rb"[0-9+\-.eE \\]*"),
    "IS": re.compile(rb"[0-9+\- \\]*"),
    "CS": re.compile(rb"[A-Z0-9 _\\]*"),
    "TM": re.compile(rb"[0-9.:\- \\]*"),
    "UI": re.compile(rb"[0-9.\\ \x00]*"),
    "AS": re.compile(rb"[0-9DWMY \\]*"),
}
_CLEANED_PRIVATE_VRS = FREE_TEXT_VRS | {"PN", "DA", "DT"}  # kept only once cleaned
_FIXED_SIZE = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "FD": 8, "SV": 8, "UV": 8}
_PRINTABLE = re.compile(rb"[\x20-\x7e]+")  # one character class: linear time


def _fits_safe_type(el: Elem, listed: str) -> bool:
    """A safe-private element that is kept as it is (not text, not a date) must hold a
    value of the type the safe-private dictionary lists: the dictionary vouches for a
    number or a code, never for text someone wrote into that slot."""
    value = bytes(el.value)
    if el.vr not in ("UN", listed) and not (el.vr in _FIXED_SIZE and listed in _FIXED_SIZE):
        return False  # written as another type: text in a number's place, say
    chars = _STRING_CHARS.get(listed)
    if chars is not None:
        return chars.fullmatch(value) is not None
    size = _FIXED_SIZE.get(listed)
    if size is not None:
        if len(value) % size:
            return False
        # Binary numbers are not runs of printable characters: four or more of them, once
        # padding is set aside, are text (a name, a phone number) in a number's place.
        text = value.rstrip(b"\x00 ")
        return not (len(text) >= 4 and _PRINTABLE.fullmatch(text))
    return True


def _default(el: Elem, ctx: Ctx, path: Path, top: bool) -> bool:
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
    vr = effective_vr(el)
    if vr == "SQ":
        ctx.note(path, tag, "remove", "imagedeid/fail-closed:unreadable-sequence")
        return False
    if vr == "UI":
        map_uids(
            el,
            ctx,
            path,
            top,
            "imagedeid/uid-not-in-table",
            lambda uid: default_maps_uid(tag, uid, ctx.plan),
        )
    elif vr == "PN":
        ctx.note(path, tag, "remove", "imagedeid/fail-closed:person-name-not-in-table")
        return False
    elif vr in LONG_TEXT_VRS:  # narrative text (SR TEXT items, notes): patterns too
        clean(el, vr, ctx, path, "imagedeid/free-text-not-in-table")
    elif vr in FREE_TEXT_VRS:
        scrub(el, vr, ctx, path, "imagedeid/not-in-table")
    elif vr in ("DA", "DT"):  # a date the table does not list gets the profile's date rule
        clean(el, vr, ctx, path, "imagedeid/date-not-in-table")
        return True
    elif vr == "AS":  # ages of 90 years or more become 090Y in every profile
        clean(el, vr, ctx, path, "imagedeid/not-in-table")
    if el.unchanged:
        ctx.note(path, tag, "keep", "imagedeid/not-in-table:keep")
    return True


def _apply(el: Elem, rule: Rule, ctx: Ctx, path: Path, top: bool) -> bool:
    tag = el.tag
    if el.items is not None:
        return _apply_sequence(el, rule, ctx, path)
    vr = effective_vr(el)
    if vr == "SQ":  # a sequence whose items could not be read
        ctx.note(path, tag, "remove", rule.rule_id + "+imagedeid/fail-closed:unreadable-sequence")
        return False
    action = resolve(rule.action, bool(el.value), vr)
    rid = rule.rule_id
    if action is Action.REMOVE:
        ctx.note(path, tag, "remove", rid)
        return False
    if action is Action.KEEP:
        ctx.note(path, tag, "keep", rid)
        if vr == "AS":  # ages of 90 years or more become 090Y in every profile
            clean(el, vr, ctx, path, rid)
        elif top and tag in OUTPUT_NAME_TAGS:
            ctx.top[tag] = ctx.codec.decode(el.value, vr)
        return True
    if vr == "UI" and action in (Action.UID, Action.DUMMY, Action.CLEAN):
        map_uids(el, ctx, path, top, rid, lambda uid: True)
        return True
    if (
        (tag in (PATIENT_ID, PATIENT_NAME) or tag in IDENTIFIER_TAGS)
        and el.value
        and action in (Action.ZERO, Action.DUMMY)
    ):
        pseudonym(el, ctx, path, top, vr, rid)
        return True
    if action is Action.ZERO or action is Action.UID:
        el.set_value(b"")
        ctx.note(path, tag, "zero", rid)
        return True
    if action is Action.DUMMY:
        dummy(el, ctx, vr)
        ctx.note(path, tag, "dummy", rid)
        return True
    clean(el, vr, ctx, path, rid)
    return True


# X/Z and X/Z/D on a sequence: an empty sequence is valid only where the sequence is
# Type 2, and these attributes are Type 3 in nearly every IOD, so they are removed
# (dciodvfy counts an empty Type 3 sequence as an error); the Type 2 ones are emptied.
TYPE2_SEQUENCES = frozenset({0x00400555})  # Acquisition Context Sequence
# Type 2 in the SR and Key Object document series modules, Type 3 in General Series.
TYPE2_IN_DOCUMENTS = frozenset({0x00081111})  # Referenced Performed Procedure Step Sequence


def _is_document(ctx: Ctx) -> bool:
    name = sop_class_name(ctx.top.get(SOP_CLASS_UID, ""))
    return "SR" in name.split() or "Key Object" in name


_REMOVE_OR_ZERO = (Action.REMOVE_OR_ZERO, Action.REMOVE_OR_ZERO_OR_DUMMY)
_REMOVING_SEQUENCE_ACTIONS = frozenset(
    {Action.REMOVE, Action.REMOVE_OR_DUMMY, Action.REMOVE_OR_ZERO, Action.REMOVE_OR_ZERO_OR_DUMMY}
)


def _apply_sequence(el: Elem, rule: Rule, ctx: Ctx, path: Path) -> bool:
    action = rule.action
    tag = el.tag
    type2 = tag in TYPE2_SEQUENCES or (tag in TYPE2_IN_DOCUMENTS and _is_document(ctx))
    if action is Action.ZERO or (action in _REMOVE_OR_ZERO and type2):
        el.set_items([])
        ctx.note(path, tag, "empty-sequence", rule.rule_id)
        return True
    if action in _REMOVING_SEQUENCE_ACTIONS:
        ctx.note(path, tag, "remove", rule.rule_id)
        return False
    el.set_items(
        [_transform(item, ctx, (*path, (tag, i))) for i, item in enumerate(el.items or [])]
    )
    return True
    el.set_items(
        [_transform(item, ctx, (*path, (tag, i))) for i, item in enumerate(el.items or [])]
    )
    return True
