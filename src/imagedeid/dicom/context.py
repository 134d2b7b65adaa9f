"""Per-file state shared by the engine's passes, and the tags they single out."""

from __future__ import annotations

from imagedeid.dicom.rawcodec import Elem
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.model import (
    ActionRecord,
    TextCleaner,
    format_tag,
)
from imagedeid.policy.dictionary import dictionary_vr, keyword_of
from imagedeid.policy.plan import Plan
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
OUTPUT_NAME_TAGS = {PATIENT_ID, STUDY_UID, SERIES_UID, SOP_INSTANCE_UID, SOP_CLASS_UID}
IDENTIFIER_TAGS = {ACCESSION_NUMBER, STUDY_ID}
DEID_TAGS = {0x00120062, 0x00120063, 0x00120064, 0x00280303}

Path = tuple[tuple[int, int], ...]


def effective_vr(el: Elem) -> str:
    """The VR to act on: the element's own (the parser already re-labels explicit VRs
    that contradict the dictionary), or the dictionary's for UN."""
    return el.vr if el.vr != "UN" else (dictionary_vr(el.tag) or "UN")


class Ctx:
    __slots__ = (
        "cleaner",
        "codec",
        "crosswalk",
        "date_op",
        "generated",
        "mode",
        "patient",
        "plan",
        "pseud",
        "records",
        "safe_private",
        "shift",
        "time_op",
        "top",
    )

    def __init__(
        self, plan: Plan, pseud: Pseudonymizer, codec: TextCodec, records: list[ActionRecord] | None
    ) -> None:
        self.plan = plan
        self.pseud = pseud
        self.codec = codec
        self.mode = plan.date_mode
        self.date_op = f"date-{self.mode.value}"  # the operation names records carry
        self.time_op = f"time-{self.mode.value}"
        self.safe_private = plan.retain_safe_private
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


def top_text(elems: list[Elem], tag: int, codec: TextCodec, vr: str) -> str:
    for el in elems:
        if el.tag == tag:
            return codec.decode(el.value, vr) if el.items is None else ""
        if el.tag > tag:
            break
    return ""
