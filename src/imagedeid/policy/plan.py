"""Compile a Profile against PS3.15 Table E.1-1 into a Plan: tag -> Rule.

The Plan is a frozen value (it pickles to worker processes) and can describe every
rule it applies, with the rule's id, for ``imagedeid plan`` and the docs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from imagedeid.model import Action, DateMode, Option
from imagedeid.policy.dictionary import dictionary_tags, dictionary_vr, keyword_of
from imagedeid.policy.profile import Profile
from imagedeid.policy.table import TABLE_EDITION, SafePrivateEntry, safe_private_entries, table_rows

# VRs whose values are names, identifiers, places: their originals feed the deny-list.
DENY_SOURCE_VRS = frozenset({"PN", "LO", "SH", "AE", "UC", "CS"})
FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
PLAIN_VRS = frozenset(
    {"US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "CS", "TM", "AT", "SV", "UV",
     "OB", "OW", "OF", "OD", "OL", "OV", "US or SS", "OB or OW", "US or OW", "US or SS or OW"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    rule_id: str
    keyword: str
    deny_source: bool = False  # its original value identifies someone or somewhere

    def describe(self) -> str:
        return f"{self.action.value} by {self.rule_id}"


@dataclass(frozen=True)
class Plan:
    profile: Profile
    exact: dict[int, Rule]
    curve_rule: Rule  # (50xx,xxxx)
    overlay_rules: dict[int, Rule]  # element number within a 60xx group -> rule
    private_rule: Rule
    safe_private: dict[tuple[int, str, int], SafePrivateEntry] = field(repr=False)
    # Public tags outside the table whose values cannot carry identity (numbers, codes,
    # times, bulk data): kept as raw bytes without a second look.
    plain_keep: frozenset[int] = field(default=frozenset(), repr=False)
    # Read for every UID the engine maps: worked out once.
    retain_uids: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "retain_uids", Option.RETAIN_UIDS in self.profile.options)

    @property
    def retain_safe_private(self) -> bool:
        return self.private_rule.action is not Action.REMOVE

    @property
    def date_mode(self) -> DateMode:
        return self.profile.date_mode

    def rule_for(self, tag: int) -> Rule | None:
        """The table's (or an override's) rule for a public tag; None if not in the table."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        group = tag >> 16
        if group & 0xFF00 not in (0x5000, 0x6000):
            return None
        if group & 0xFF01 == 0x5000:
            return self.curve_rule
        if group & 0xFF01 == 0x6000:
            return self.overlay_rules.get(tag & 0xFFFF)
        return None

    def describe(self) -> list[dict[str, str]]:
        """Every table rule in force, for ``imagedeid plan --profile`` and the docs."""
        out = [
            {
                "tag": f"({t >> 16:04X},{t & 0xFFFF:04X})",
                "keyword": r.keyword,
                "action": r.action.value,
                "rule": r.rule_id,
            }
            for t, r in sorted(self.exact.items())
        ]
        out.append(
            {
                "tag": "(50xx,xxxx)",
                "keyword": "CurveData",
                "action": self.curve_rule.action.value,
                "rule": self.curve_rule.rule_id,
            }
        )
        for elem, r in sorted(self.overlay_rules.items()):
            out.append(
                {
                    "tag": f"(60xx,{elem:04X})",
                    "keyword": r.keyword,
                    "action": r.action.value,
                    "rule": r.rule_id,
                }
            )
        out.append(
            {
                "tag": "(gggg,eeee) odd gggg",
                "keyword": "private",
                "action": self.private_rule.action.value,
                "rule": self.private_rule.rule_id,
            }
        )
        return out


def _resolve_row_action(basic: Action, options: list[tuple[Option, Action]]) -> tuple[Action, str]:
    """Apply the options in force; where two options disagree, C (clean) beats K (keep)."""
    if not options:
        return basic, f"PS3.15-{TABLE_EDITION}/basic:{basic.value}"
    options.sort(key=lambda oa: (oa[1] is not Action.CLEAN, oa[0].value))
    option, action = options[0]
    return action, f"PS3.15-{TABLE_EDITION}/{option.table_column}:{action.value}"


def _is_deny_source(
    vr: str, row_options: tuple[tuple[Option, Action], ...], action: Action
) -> bool:
    if vr not in DENY_SOURCE_VRS or action in (Action.KEEP, Action.CLEAN):
        return False
    # Descriptors and patient characteristics are not identifiers: their words stay usable.
    excluded = {
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
    }
    return not any(opt in excluded for opt, _ in row_options)


@cache
def compile_plan(profile: Profile) -> Plan:
    exact: dict[int, Rule] = {}
    curve = private = None
    overlay_rules: dict[int, Rule] = {}
    for row in table_rows():
        applicable = [(o, a) for o, a in row.options if o in profile.options]
        action, rule_id = _resolve_row_action(row.basic, applicable)
        if row.tag == "private":
            private = Rule(action, rule_id, "private")
            continue
        rule = Rule(
            action, rule_id, row.keyword, deny_source=_is_deny_source(row.vr, row.options, action)
        )
        if row.tag.startswith("50xx"):
            curve = rule
        elif row.tag.startswith("60xx"):
            overlay_rules[int(row.tag[4:], 16)] = rule
        else:
            exact[int(row.tag, 16)] = rule
    assert curve is not None and private is not None, "generated table lacks wildcard rows"
    for ov in profile.overrides:
        base = exact.get(ov.tag)
        deny = base.deny_source if base else False
        if ov.action in (Action.KEEP, Action.CLEAN):
            deny = False
        exact[ov.tag] = Rule(
            ov.action, f"profile:{profile.id}/override:{ov.keyword}", ov.keyword, deny_source=deny
        )
    return Plan(
        profile=profile,
        exact=exact,
        curve_rule=curve,
        overlay_rules=overlay_rules,
        private_rule=private,
        safe_private=safe_private_entries(),
        plain_keep=frozenset(
            tag
            for tag, vr in dictionary_tags()
            if vr in PLAIN_VRS and tag not in exact and (tag >> 16) & 0xFF00 not in (0x5000, 0x6000)
        ),
    )


__all__ = ["Plan", "Rule", "compile_plan", "dictionary_vr", "keyword_of"]
