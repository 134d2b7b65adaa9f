"""What the engine does to one element's value: dummies, pseudonyms, UIDs, dates,
cleaned text, and the de-identification attributes it adds. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from imagedeid.dicom.context import (
    OUTPUT_NAME_TAGS,
    PATIENT_ID,
    PATIENT_NAME,
    SERIES_UID,
    SOP_INSTANCE_UID,
    STUDY_UID,
    Ctx,
    Path,
)
from imagedeid.dicom.rawcodec import Elem
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.dicom.values import (
    BINARY_ZERO,
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
    DateMode,
)
from imagedeid.policy.dictionary import is_well_known_uid
from imagedeid.policy.plan import FREE_TEXT_VRS, Plan, keyword_of
from imagedeid.policy.profile import Profile

LONG_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC"})
BINARY_VRS = frozenset(BINARY_ZERO)
_TEXT_DUMMY_AS_TOKEN = frozenset({"LO", "SH", "AE", "UC"})
_TOKEN_KEYWORDS = re.compile(r"ID|Number|Serial|Station|Title|Identifier|UID")


def default_maps_uid(tag: int, value: str, plan: Plan) -> bool:
    """A UID the table does not list is replaced unless it is a well-known (standard) UID."""
    if plan.retain_uids or is_well_known_uid(value):
        return False
    kw = keyword_of(tag)
    return not (kw.endswith("ClassUID") or kw.endswith("TransferSyntaxUID"))


# A tuple, not a set: membership tests by identity, without Enum's Python-level hash.
_COMPOUND = tuple(a for a in Action if a.is_compound)


def resolve(action: Action, has_value: bool, vr: str) -> Action:
    """Compound codes: prefer what keeps the object valid without keeping information."""
    if action not in _COMPOUND:
        return action
    if action is Action.REMOVE_OR_ZERO_OR_UID:
        return Action.UID if vr == "UI" else Action.ZERO
    if action is Action.REMOVE_OR_ZERO:
        return Action.ZERO
    if has_value:
        return Action.DUMMY
    return Action.REMOVE if action is Action.REMOVE_OR_DUMMY else Action.ZERO


def set_text(el: Elem, ctx: Ctx, vr: str, text: str) -> None:
    el.set_value(ctx.codec.encode(text, vr))


def scrub(el: Elem, vr: str, ctx: Ctx, path: Path, rule: str) -> None:
    if not el.value:
        return
    text = ctx.codec.decode(el.value, vr)
    new = ctx.cleaner.scrub(text) or ctx.made(DUMMY_TEXT)  # never empty a value that had one
    if new != text:
        el.set_value(ctx.codec.encode(new, vr))
        ctx.note(path, el.tag, "scrub", rule + "+imagedeid/deny-list")


def map_uids(
    el: Elem, ctx: Ctx, path: Path, top: bool, rid: str, should_map: Callable[[str], bool]
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
    if top and el.tag in OUTPUT_NAME_TAGS:
        ctx.top[el.tag] = new


def pseudonym(el: Elem, ctx: Ctx, path: Path, top: bool, vr: str, rid: str) -> None:
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
    set_text(el, ctx, vr, ctx.made(new))
    ctx.note(path, tag, "pseudonym", rid + "+imagedeid/keyed-pseudonym")
    if top:
        if tag == PATIENT_ID:
            ctx.top[tag] = new
        ctx.crosswalk.append((keyword_of(tag), new, old))


def dummy(el: Elem, ctx: Ctx, vr: str) -> None:
    if vr in BINARY_VRS:
        el.set_value(binary_dummy(vr))
        return
    old = ctx.codec.decode(el.value, vr)
    if vr == "PN":
        new = ctx.made(ctx.pseud.person_name(old))
    elif vr in _TEXT_DUMMY_AS_TOKEN and _TOKEN_KEYWORDS.search(keyword_of(el.tag)):
        new = ctx.made(ctx.pseud.identifier(old))  # consistent, so devices stay tellable apart
    elif vr == "CS" or vr in _TEXT_DUMMY_AS_TOKEN:
        new = DUMMY_TEXT
    else:
        new = text_dummy(vr)
    set_text(el, ctx, vr, ctx.made(new))


def clean(el: Elem, vr: str, ctx: Ctx, path: Path, rid: str) -> None:
    """C: keep the element, with a value of similar meaning that identifies no one."""
    tag = el.tag
    if not el.value:
        return
    if vr in BINARY_VRS:  # bytes this engine cannot read cannot be cleaned: fail closed
        el.set_value(b"")
        ctx.note(path, tag, "zero", rid + "+imagedeid/binary-cannot-be-cleaned")
        return
    old = ctx.codec.decode(el.value, vr)
    if vr in ("DA", "DT"):
        fn = transform_date if vr == "DA" else transform_datetime
        parts = [fn(p, ctx.mode, ctx.shift) if p else "" for p in old.split("\\")]
        if any(p is None for p in parts):
            el.set_value(b"")
            ctx.note(path, tag, "zero", rid + "+imagedeid/unreadable-date")
            return
        for part in parts:  # a shifted date that happens to equal another original
            if part:  # date of the file is this engine's output, not a leak
                ctx.made(part)
        new = "\\".join(p or "" for p in parts)
        op = ctx.date_op
    elif vr == "TM":
        new = "\\".join(transform_time(p, ctx.mode) if p else "" for p in old.split("\\"))
        op = ctx.time_op
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
        return  # numbers carry no free text
    if new != old:
        set_text(el, ctx, vr, new)
        ctx.note(path, tag, op, rid)


_Spec = tuple[int, str, bytes]


def deid_attributes(plan: Plan, method: tuple[str, ...]) -> list[Elem]:
    """The attributes every output gets (fresh elements from values made once per run)."""
    top, items = _deid_values(plan.profile, method)
    out = [Elem(tag, vr, value) for tag, vr, value in top]
    out.insert(2, Elem(0x00120064, "SQ", items=[[Elem(*spec) for spec in it] for it in items]))
    return out


@lru_cache(maxsize=16)
def _deid_values(
    profile: Profile, method: tuple[str, ...]
) -> tuple[tuple[_Spec, ...], tuple[tuple[_Spec, ...], ...]]:
    codec = TextCodec("")

    def text(tag: int, vr: str, value: str) -> _Spec:
        return (tag, vr, codec.encode(value, vr))

    codes = [(BASIC_PROFILE_CODE, BASIC_PROFILE_MEANING)]
    codes += sorted((o.value, o.code_meaning) for o in profile.options)
    items = tuple(
        (
            text(0x00080100, "SH", code),
            text(0x00080102, "SH", "DCM"),
            text(0x00080104, "LO", meaning),
        )
        for code, meaning in codes
    )
    longitudinal = {
        DateMode.KEEP: "UNMODIFIED",
        DateMode.SHIFT: "MODIFIED",
        DateMode.YEAR: "MODIFIED",
        DateMode.REMOVE: "REMOVED",
    }[profile.date_mode]
    top = (
        text(0x00120062, "CS", "YES"),
        text(0x00120063, "LO", "\\".join(m[:64] for m in method)),
        text(0x00280303, "CS", longitudinal),
    )
    return top, items
