"""Pass 1: gather one file's identifying values, which become its deny-list."""

from __future__ import annotations

from functools import cache

from imagedeid.dicom.context import PATIENT_BIRTH_DATE, Ctx, effective_vr
from imagedeid.dicom.operations import default_maps_uid
from imagedeid.dicom.rawcodec import Elem
from imagedeid.dicom.values import (
    DUMMY_DATE,
)
from imagedeid.model import (
    Action,
    DateMode,
    IdentifyingValues,
)

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


def collect(elems: list[Elem], ctx: Ctx, values: IdentifyingValues) -> None:
    plan = ctx.plan
    plain = plan.plain_keep
    exact = plan.exact.get
    decode = ctx.codec.decode
    for el in elems:
        tag = el.tag
        if tag >> 16 & 1 or (tag in plain and el.items is None):
            continue
        if el.items is not None:
            for item in el.items:
                collect(item, ctx, values)
            continue
        vr = effective_vr(el)
        rule = plan.rule_for(tag) if tag >> 16 & 0xFF00 in (0x5000, 0x6000) else exact(tag)
        if vr == "UI":
            for uid in decode(el.value, vr).split("\\"):
                if uid and (
                    default_maps_uid(tag, uid, plan)
                    if rule is None
                    else rule.action is not Action.KEEP
                ):
                    values.uids.append(uid)
            continue
        if vr in ("DA", "DT") and (rule is None or rule.action is not Action.KEEP):
            if tag == PATIENT_BIRTH_DATE:
                values.birth_dates.append(decode(el.value, vr))
            elif ctx.mode is not DateMode.KEEP:
                values.dates.extend(
                    d for d in decode(el.value, vr).split("\\") if date_reveals(d, ctx)
                )
            continue
        if rule is None or rule.action is Action.KEEP:
            continue
        if rule.deny_source and el.value:
            text = decode(el.value, vr)
            if vr == "PN":
                values.names.extend(text.split("\\"))
            else:
                getattr(values, _kind(rule.keyword)).extend(text.split("\\"))


@cache
def _kind(keyword: str) -> str:
    """Which list of IdentifyingValues an attribute's value goes to (PN aside)."""
    if "Telephone" in keyword or "Phone" in keyword:
        return "phones"
    if any(w in keyword for w in _PLACE_WORDS):
        return "places"
    return "identifiers"


def date_reveals(value: str, ctx: Ctx) -> bool:
    """Whether an original date would be news in the output (a Jan 1 date reduced to its
    year, or a date equal to the dummy, is not)."""
    d = value.strip()[:8]
    if ctx.mode is DateMode.YEAR and d[4:8] == "0101":
        return False
    return d != DUMMY_DATE
