"""Replacement values by VR: dummies, date transforms and age capping. Pure functions."""

from __future__ import annotations

from imagedeid.model import DateMode
from imagedeid.pseudonym.pseudonymizer import shift_date

DUMMY_DATE = "19000101"
DUMMY_TIME = "000000.00"
DUMMY_TEXT = "ANONYMIZED"
BINARY_ZERO = {
    "US": b"\x00\x00",
    "SS": b"\x00\x00",
    "UL": b"\x00" * 4,
    "SL": b"\x00" * 4,
    "FL": b"\x00" * 4,
    "FD": b"\x00" * 8,
    "AT": b"\x00" * 4,
    "SV": b"\x00" * 8,
    "UV": b"\x00" * 8,
    "OB": b"\x00\x00",
    "OW": b"\x00\x00",
    "OF": b"\x00" * 4,
    "OD": b"\x00" * 8,
    "OL": b"\x00" * 4,
    "OV": b"\x00" * 8,
    "UN": b"\x00\x00",
}
NUMERIC_STRING_VRS = frozenset({"IS", "DS"})


def binary_dummy(vr: str) -> bytes:
    return BINARY_ZERO.get(vr, b"\x00\x00")


def text_dummy(vr: str) -> str:
    if vr == "DA":
        return DUMMY_DATE
    if vr == "TM":
        return DUMMY_TIME
    if vr == "DT":
        return DUMMY_DATE + "000000"
    if vr == "AS":
        return "000Y"
    if vr in NUMERIC_STRING_VRS:
        return "0"
    return DUMMY_TEXT


def transform_date(value: str, mode: DateMode, shift_days: int) -> str | None:
    """One DA value under the date mode; None when it cannot be read (then it is removed)."""
    v = value.strip()
    if mode is DateMode.KEEP:
        return v
    if mode is DateMode.YEAR:
        return v[:4] + "0101" if len(v) >= 4 and v[:4].isascii() and v[:4].isdigit() else None
    if mode is DateMode.SHIFT:
        return shift_date(v, shift_days)
    return DUMMY_DATE


def transform_datetime(value: str, mode: DateMode, shift_days: int) -> str | None:
    """One DT value ``YYYYMMDDHHMMSS.FFFFFF&ZZXX`` (any precision from the year on)."""
    v = value.strip()
    if mode is DateMode.KEEP:
        return v
    if len(v) < 4 or not (v[:4].isascii() and v[:4].isdigit()):
        return None
    if mode is DateMode.YEAR:
        return v[:4]
    if mode is DateMode.REMOVE:
        return DUMMY_DATE + "000000"
    date_part = v[:8]
    precision = len(date_part)
    padded = date_part + "0101"[precision - 4 :] if precision < 8 else date_part
    shifted = shift_date(padded, shift_days)
    if shifted is None:
        return None
    return shifted[:precision] + v[8:]


def transform_time(value: str, mode: DateMode) -> str:
    if mode in (DateMode.KEEP, DateMode.SHIFT):
        return value.strip()
    return DUMMY_TIME


def cap_age(value: str) -> str:
    """Ages over 89 years become 090Y (HIPAA); anything unreadable is left as is."""
    v = value.strip()
    if len(v) != 4 or not (v[:3].isascii() and v[:3].isdigit()):
        return v
    n, unit = int(v[:3]), v[3].upper()
    years = {"Y": n, "M": n / 12, "W": n / 52.18, "D": n / 365.25}.get(unit)
    if years is not None and years >= 90:
        return "090Y"
    return v
