"""Cleaning a descriptor: the identifying part goes, the clinical words stay, and no
connector is left hanging where the identifying tail was cut out."""

from __future__ import annotations

import pytest

from imagedeid.model import IdentifyingValues
from imagedeid.text import build_cleaner

CLEANER = build_cleaner(
    IdentifyingValues(names=["Smith^John", "Jones^Mary"], identifiers=["MRN123456"])
)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("CT HEAD W/O CONTRAST for John Smith", "CT HEAD W/O CONTRAST"),
        ("CT HEAD for Smith", "CT HEAD"),
        ("Reviewed by John Smith", "Reviewed"),
        ("MR KNEE, attn: Smith", "MR KNEE"),
        # capital abbreviations that look like connectors or titles are clinical words
        ("History of MS 2020-01-01", "History of MS"),
        ("Screening for DR 12/03/2021", "Screening for DR"),
        ("Exam RE 2021-03-04", "Exam RE"),
        ("Follow-up ON 2021-03-04", "Follow-up ON"),
        # a cut elsewhere leaves the words at the end alone
        ("Smith knee pain referred to", "knee pain referred to"),
        ("CT HEAD for John Smith follow-up", "CT HEAD for follow-up"),
        # a cut just before punctuation: no gap and no connector left in front of it
        ("Seen by Smith.", "Seen."),
        ("Seen by John Smith. Follow up in 2 weeks.", "Seen. Follow up in 2 weeks."),
        ("CT HEAD Smith, contrast", "CT HEAD, contrast"),
        ("Follow-up ON 2021-03-04.", "Follow-up ON."),
        # titles, brackets and commas a cut-out name leaves behind go with it
        ("MR BRAIN - Dr. Jones", "MR BRAIN"),
        ("Seen by Ms. Smith", "Seen"),
        ("XR CHEST PA/LAT; ref Dr Mary Jones", "XR CHEST PA/LAT"),
        ("Reviewed by Mr Smith", "Reviewed"),
        ("CT CHEST (John Smith)", "CT CHEST"),
        ("CT HEAD [MRN123456]", "CT HEAD"),
        ("CT HEAD for (John Smith)", "CT HEAD"),
        ("Seen by Dr. Jones, Smith.", "Seen."),
        ("CT, Smith, MR", "CT, MR"),
        ("CT (Smith) ABDOMEN WITH", "CT ABDOMEN WITH"),
        # ... but not the capital abbreviations, nor what the text had itself
        ("Hx MS, DR; Smith", "Hx MS, DR"),
        ("MR BRAIN - DR. JONES", "MR BRAIN - DR."),  # capitals: could end a sentence on DR
        ("Findings on MR. Smith", "Findings on MR."),
        ("Comparison: CT and MR. Smith", "Comparison: CT and MR."),
        ("Mild DR. For Smith", "Mild DR."),
        ("History of MS. Smith", "History of MS."),
        ("CT () for Smith", "CT ()"),
        # a gap before punctuation that the text had itself is left alone
        ("Result : normal for Smith", "Result : normal"),
        # nothing cut: nothing touched, trailing connector or not
        ("MRI BRAIN AND", "MRI BRAIN AND"),
        ("CT ABDOMEN WITH", "CT ABDOMEN WITH"),
    ],
)
def test_identifying_tail_goes_with_its_connector(text: str, cleaned: str) -> None:
    assert CLEANER.clean(text) == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Report for John Smith." + " " * 64_000 + "Impression: normal.",
        "Smith " + "," * 64_000 + "x",
        "Smith" + " for" * 16_000,
        "Smith " + "(" + " " * 64_000,
        "Smith " + "a" * 64_000 + "@",
    ],
    ids=["spaces", "commas", "connectors", "open-bracket", "e-mail-like"],
)
@pytest.mark.timeout(120)  # a hang guard, not a speed check: linear takes milliseconds
def test_long_adversarial_texts_clean_in_linear_time(text: str) -> None:
    """A text padded with thousands of spaces or commas must not make a repair pattern
    backtrack: with a quadratic pattern each of these takes minutes to hours."""
    cleaned = CLEANER.clean(text)
    assert "smith" not in cleaned.lower()
    assert CLEANER.scrub(text).lower().count("smith") == 0


def test_scrubbing_removes_written_dates_only_where_the_profile_does_not_keep_dates() -> None:
    """Attributes outside the table are only scrubbed; a file's dates may be written
    there in any form. Where the profile keeps dates, scrubbing leaves dates alone."""
    shifted = build_cleaner(IdentifyingValues(names=["Smith^John"], dates=["20190704"]))
    kept = build_cleaner(IdentifyingValues(names=["Smith^John"]))
    for written in ("2019-7-4", "04JUL2019", "July 4th, 2019", "4.7.19"):
        assert shifted.scrub(f"CT {written} contrast") == "CT contrast"
        assert kept.scrub(f"CT {written} contrast") == f"CT {written} contrast"
    assert (
        shifted.scrub("4 marker 19, AXIAL 5MM, V2.0.12345") == "4 marker 19, AXIAL 5MM, V2.0.12345"
    )
