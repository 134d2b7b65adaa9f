"""The scan terms of an identity: few enough to search fast, never fewer than needed.

The byte scan searches the output for a minimal set of terms; a term is left out only
when a kept one is reported wherever it would be. Names and dates are minimised one by
one (cached) and then together; this checks that the result still catches every form
of every identifying value, as the full set did.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imagedeid.dicom.scan import _forms, _hits
from imagedeid.dicom.textcodec import TextCodec
from imagedeid.model import MIN_SCAN_TERM
from imagedeid.text.terms import _implies, _minimal, _name_terms, date_forms, identity_terms

WORD = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüö'-"),
    min_size=1,
    max_size=9,
)
NAME = st.builds(lambda *w: "^".join(w), WORD, WORD) | st.builds(
    lambda a, b, c: f"{a}^{b}^{c}", WORD, WORD, WORD
)
DATE = st.dates().map(lambda d: d.strftime("%Y%m%d"))
ID = st.text(alphabet=st.sampled_from("0123456789ABCX-"), min_size=3, max_size=12)


def full_candidates(names: list[str], ids: list[str], dates: list[str]) -> set[str]:
    """Every form the scan must catch, worked out without the per-part shortcut."""
    terms: set[str] = set()
    for n in names:
        terms |= _name_terms(n)
    for d in dates:
        terms |= date_forms(d)
    terms |= {i.strip() for i in ids if len(i.strip()) >= 3}
    return {t for t in terms if len(t) >= 2 and len(t.encode("utf-8")) >= MIN_SCAN_TERM}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(NAME, min_size=1, max_size=4),
    st.lists(ID, max_size=3),
    st.lists(DATE, max_size=2),
)
def test_every_form_is_caught_by_a_kept_scan_term(
    names: list[str], ids: list[str], dates: list[str]
) -> None:
    _index, _runs, scan = identity_terms(tuple(names), tuple(ids), (), (), tuple(dates))
    for term in full_candidates(names, ids, dates):
        assert any(_implies(kept, term) for kept in scan), "a form would go unscanned"


def test_a_patient_seen_again_with_another_study_keeps_the_same_name_terms() -> None:
    a = identity_terms(("SMITH^JOHN",), ("ACC1",), (), (), ("19600101",))
    b = identity_terms(("SMITH^JOHN",), ("ACC2",), (), (), ("19600101",))
    assert a[2] - {"ACC1"} == b[2] - {"ACC2"}
    assert "smith" in a[0] and "john" in a[0]


SURROUND = st.sampled_from(["", " ", "ma", "x", "7", "é", "-"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(NAME, min_size=1, max_size=3),
    st.lists(DATE, max_size=1),
    st.data(),
    st.sampled_from(["ISO_IR 192", "ISO_IR 100"]),
)
def test_wherever_the_byte_scan_would_report_a_form_it_reports_a_kept_term(
    names: list[str], dates: list[str], data: st.DataObject, charset: str
) -> None:
    """The guarantee itself, on bytes as the scan sees them (UTF-8 and Latin-1):
    letters around a form, and forms longer in bytes than in characters."""
    _index, _runs, scan = identity_terms(tuple(names), (), (), (), tuple(dates))
    codec = TextCodec(charset)
    kept = set().union(*(_forms(t, codec) for t in scan))
    for term in sorted(full_candidates(names, [], dates)):
        before, after = data.draw(SURROUND), data.draw(SURROUND)
        text = f"{before}{term}{after}"
        try:
            blob = codec.encode(text, "LO").lower()
        except (UnicodeError, LookupError, ValueError):
            continue  # not writable in this character set
        if _hits(blob, _forms(term, codec)):
            assert _hits(blob, kept), "a form the full set reports goes unreported"


def test_a_non_ascii_name_keeps_its_longer_form_when_bytes_make_it_unbounded() -> None:
    assert "zoë lin" in _minimal({"zoë", "zoë lin"})
