"""The allow-list of technical labels burned into images (package data, see its header)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from imagedeid.errors import PolicyError


@dataclass(frozen=True)
class LabelList:
    words: frozenset[str]  # upper case
    patterns: tuple[re.Pattern[str], ...]  # matched against the lower-cased token

    def is_technical(self, token: str) -> bool:
        return token.upper() in self.words or any(p.match(token.lower()) for p in self.patterns)


@cache
def technical_labels() -> LabelList:
    text = resources.files("imagedeid.policy.data").joinpath("burned_in_labels.yaml").read_text()
    doc = yaml.safe_load(text)
    try:
        words = frozenset(str(w).upper() for w in doc["words"])
        patterns = tuple(re.compile(p) for p in doc["patterns"])
    except (KeyError, TypeError, re.error) as exc:
        raise PolicyError(f"burned_in_labels.yaml is malformed ({type(exc).__name__})") from None
    return LabelList(words, patterns)
