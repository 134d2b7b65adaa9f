"""Keyed pseudonyms for UIDs, identifiers, names and per-patient date shifts.

Every output is a pure function of (derived key, original value): the same key and
input give the same pseudonym on every run, machine and worker; another key gives
unrelated ones. HMAC-SHA256 everywhere -- never an unkeyed hash.
"""

from __future__ import annotations

import datetime as dt
import hmac
from functools import lru_cache

from imagedeid.pseudonym.keys import ProjectKey

# Shifts are whole weeks (weekday survives) between 52 and 520 weeks into the past.
_MIN_SHIFT_WEEKS = 52
_SHIFT_WEEK_SPAN = 469
TOKEN_LENGTH = 12


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _base32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def _hmac(key: bytes, namespace: bytes, value: str) -> bytes:
    return hmac.digest(key, namespace + b"\x00" + value.encode("utf-8"), "sha256")


class Pseudonymizer:
    """Stateless keyed mapping of identifying values. Safe to pickle to workers."""

    def __init__(self, key: ProjectKey) -> None:
        self._key = key
        self._uid_key = key.purpose_key("uid")
        self._id_key = key.purpose_key("identifier")
        self._name_key = key.purpose_key("name")
        self._date_key = key.purpose_key("date-shift")
        self._uid_cache: dict[str, str] = {}
        self._token_cache: dict[tuple[str, str], str] = {}

    def __reduce__(self) -> tuple[type[Pseudonymizer], tuple[ProjectKey]]:
        return (Pseudonymizer, (self._key,))

    @property
    def fingerprint(self) -> str:
        return self._key.fingerprint

    def uid(self, original: str) -> str:
        """A ``2.25.<int>`` UID (a UUID version 8 as an integer) keyed on the original."""
        cached = self._uid_cache.get(original)
        if cached is not None:
            return cached
        raw = bytearray(_hmac(self._uid_key, b"uid", original)[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # UUID version 8
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        new = "2.25." + str(int.from_bytes(raw, "big"))
        if len(self._uid_cache) > 100_000:
            self._uid_cache.clear()
        self._uid_cache[original] = new
        return new

    def token(self, original: str, namespace: str = "id") -> str:
        """An uppercase base32 token of TOKEN_LENGTH characters (60 bits; fits SH's 16)."""
        cache_key = (namespace, original)
        out = self._token_cache.get(cache_key)
        if out is None:
            digest = _hmac(self._id_key, namespace.encode("ascii"), original)
            out = _base32(int.from_bytes(digest[:8], "big") >> 4, TOKEN_LENGTH)
            if len(self._token_cache) > 100_000:
                self._token_cache.clear()
            self._token_cache[cache_key] = out
        return out

    def identifier(self, original: str) -> str:
        """Pseudonym for an identifier (patient ID, accession number, other IDs)."""
        return self.token(original.strip(), "id")

    def patient_id(self, patient_identity: str) -> str:
        return self.token(patient_identity, "patient")

    def person_name(self, original: str) -> str:
        """Pseudonym for a person other than the patient, in PN form."""
        digest = _hmac(self._name_key, b"person", original.strip().upper())
        return "ANON^" + _base32(int.from_bytes(digest[:5], "big"), 8)

    def date_shift_days(self, patient_identity: str) -> int:
        """The patient's shift in days: negative, a whole number of weeks."""
        digest = _hmac(self._date_key, b"shift", patient_identity)
        weeks = _MIN_SHIFT_WEEKS + int.from_bytes(digest[:4], "big") % _SHIFT_WEEK_SPAN
        return -7 * weeks


@lru_cache(maxsize=4096)
def shift_date(value: str, days: int) -> str | None:
    """Shift a DA value ``YYYYMMDD`` by ``days``; None if it is not a valid date."""
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        return None
    try:
        day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        shifted = day + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"
