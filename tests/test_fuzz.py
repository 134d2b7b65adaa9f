"""Mutation fuzzing of the Part 10 engine: a bad input is refused, never half-released.

Several valid inputs (builder instances in every supported transfer syntax and a few
of pydicom's test files) are mutated with a seeded generator: truncated at random
offsets, random bytes flipped, length fields overwritten with huge or odd values, VR
bytes swapped, an element duplicated, garbage appended, the file emptied. For every
mutant ``deidentify_part10`` must either

* raise an :class:`imagedeid.errors.ImageDeidError` whose message (and, for a
  :class:`LeakDetectedError`, whose locations) names none of the input's PHI, or
* return bytes that pydicom reads back completely, holding none of the PHI strings
  the mutant itself contained.

Any other exception type is an engine bug. Flips and overwrites leave the bytes of
the identifying values (and the PatientName / PatientID elements) alone, so that a
PHI string found in the output is one the engine had every means to know about.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import subprocess
import sys
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, phi_strings, to_bytes
from pydicom.data import get_testdata_file
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imagedeid.dicom.part10 import deidentify_part10
from imagedeid.errors import ImageDeidError, LeakDetectedError
from imagedeid.policy.plan import Plan
from imagedeid.pseudonym import Pseudonymizer
from imagedeid.text import build_cleaner

SEED = 20260417
MUTANTS_PER_SOURCE = 60
METHOD = ("t",)
PYDICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "reportsi.dcm",
    "rtplan.dcm",
    "JPEG2000.dcm",
    "image_dfl.dcm",
    "MR_small_bigendian.dcm",
    "emri_small.dcm",
)
LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
ALL_VRS = [
    v.encode()
    for v in [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
]
HUGE_LENGTHS = (0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0xFFFE, 1, 3, 0)


@dataclass
class Source:
    name: str
    data: bytes
    phi: list[str]


@dataclass
class Header:
    """One top-level element header found in a source file."""

    pos: int  # start of the tag
    tag: int
    explicit: bool
    little: bool
    vr_pos: int | None  # where the two VR bytes are (explicit only)
    len_pos: int  # where the length field is
    len_size: int  # 2 or 4
    value_pos: int
    length: int


# --- sources ----------------------------------------------------------------------------


def _builder_sources() -> list[Source]:
    out = []
    for patient, ts in (
        (1, ExplicitVRLittleEndian),
        (2, ImplicitVRLittleEndian),
        (3, ExplicitVRBigEndian),
        (4, DeflatedExplicitVRLittleEndian),
    ):
        ds = make_instance(patient=patient, study=1, transfer_syntax=ts)
        out.append(Source(f"builder-p{patient}-{ts.name}", to_bytes(ds), phi_strings(patient, 1)))
    return out


def _pydicom_phi(ds: pydicom.Dataset) -> list[str]:
    phi: list[str] = []
    name = str(ds.get("PatientName", "") or "")
    for group in name.split("="):
        for comp in group.split("^"):
            comp = comp.strip()
            if len(comp) >= 4:
                phi.append(comp)
    pid = str(ds.get("PatientID", "") or "").strip()
    if len(pid) >= 4:
        phi.append(pid)
    return phi


def _pydicom_sources() -> list[Source]:
    out = []
    for name in PYDICOM_FILES:
        path = get_testdata_file(name)
        assert path is not None, name
        with open(path, "rb") as fh:
            data = fh.read()
        ds = pydicom.dcmread(io.BytesIO(data))
        out.append(Source(name, data, _pydicom_phi(ds)))
    return out


SOURCES = _builder_sources() + _pydicom_sources()


# --- a minimal walker, independent of the engine's parser -------------------------------


def _headers(data: bytes) -> list[Header]:
    """Top-level element headers of the meta group and the data set (not deflated)."""
    heads: list[Header] = []
    if len(data) < 132 or data[128:132] != b"DICM":
        return heads
    pos = 132
    ts = ""
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        h = _header_at(data, pos, explicit=True, little=True)
        if h is None:
            return heads
        heads.append(h)
        if h.tag == 0x00020010:
            ts = data[h.value_pos : h.value_pos + h.length].rstrip(b"\x00 ").decode("ascii")
        pos = h.value_pos + h.length
    if ts == DeflatedExplicitVRLittleEndian:
        return heads
    explicit = ts != ImplicitVRLittleEndian
    little = ts != ExplicitVRBigEndian
    while pos + 8 <= len(data):
        h = _header_at(data, pos, explicit, little)
        if h is None:
            break
        heads.append(h)
        if h.length == 0xFFFFFFFF:
            break  # undefined length: stop the walk here, good enough for mutation
        pos = h.value_pos + h.length
    return heads


def _header_at(data: bytes, pos: int, explicit: bool, little: bool) -> Header | None:
    e = "<" if little else ">"
    g, el = struct.unpack_from(e + "HH", data, pos)
    tag = g << 16 | el
    if explicit:
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                return None
            (length,) = struct.unpack_from(e + "L", data, pos + 8)
            return Header(pos, tag, True, little, pos + 4, pos + 8, 4, pos + 12, length)
        (length,) = struct.unpack_from(e + "H", data, pos + 6)
        return Header(pos, tag, True, little, pos + 4, pos + 6, 2, pos + 8, length)
    (length,) = struct.unpack_from(e + "L", data, pos + 4)
    return Header(pos, tag, False, little, None, pos + 4, 4, pos + 8, length)


def _protected(src: Source, heads: list[Header]) -> set[int]:
    """Bytes a flip may not touch: every PHI occurrence, and PatientName/PatientID."""
    low = src.data.lower()
    prot: set[int] = set()
    for term in src.phi:
        t = term.lower().encode("latin-1", "ignore")
        idx = low.find(t)
        while idx >= 0:
            prot.update(range(idx, idx + len(t)))
            idx = low.find(t, idx + 1)
    for h in heads:
        if h.tag in (0x00100010, 0x00100020):
            prot.update(range(h.pos, h.value_pos + (h.length if h.length != 0xFFFFFFFF else 0)))
    return prot


# --- mutations --------------------------------------------------------------------------


def _mutants(src: Source, rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    data = src.data
    heads = _headers(data)
    prot = _protected(src, heads)
    free = [i for i in range(len(data)) if i not in prot]
    out: list[tuple[str, bytes]] = [("empty", b""), ("preamble-only", data[:132])]
    kinds = ["truncate", "flip", "length", "vr", "duplicate", "garbage", "truncate-at-element"]
    while len(out) < n:
        kind = rng.choice(kinds)
        buf = bytearray(data)
        if kind == "truncate":
            cut = rng.randrange(1, len(data))
            out.append((f"truncate@{cut}", bytes(buf[:cut])))
        elif kind == "truncate-at-element" and heads:
            h = rng.choice(heads)
            out.append((f"truncate-at-element@{h.pos}", bytes(buf[: h.pos])))
        elif kind == "flip" and free:
            spots = rng.sample(free, k=min(len(free), rng.randint(1, 4)))
            for s in spots:
                buf[s] = rng.randrange(256)
            out.append((f"flip@{sorted(spots)}", bytes(buf)))
        elif kind == "length" and heads:
            h = rng.choice([h for h in heads if h.tag not in (0x00100010, 0x00100020)] or heads)
            if h.len_size == 4:
                value = rng.choice([*HUGE_LENGTHS, h.length + 1, h.length + 7, h.length * 3])
                value &= 0xFFFFFFFF
            else:
                value = rng.choice([0xFFFF, 0xFFFE, h.length + 1, h.length + 3, 1, 0]) & 0xFFFF
            fmt = ("<" if h.little else ">") + ("L" if h.len_size == 4 else "H")
            struct.pack_into(fmt, buf, h.len_pos, value)
            out.append((f"length@{h.pos}({h.tag:08X})={value:#x}", bytes(buf)))
        elif kind == "vr":
            explicit = [h for h in heads if h.vr_pos is not None and h.tag >> 16 != 2]
            if not explicit:
                continue
            h = rng.choice(explicit)
            assert h.vr_pos is not None
            new_vr = rng.choice(ALL_VRS)
            buf[h.vr_pos : h.vr_pos + 2] = new_vr
            out.append((f"vr@{h.pos}({h.tag:08X})={new_vr.decode()}", bytes(buf)))
        elif kind == "duplicate" and heads:
            h = rng.choice([h for h in heads if h.length != 0xFFFFFFFF] or heads)
            end = h.value_pos + (h.length if h.length != 0xFFFFFFFF else 0)
            chunk = bytes(data[h.pos : end])
            where = rng.choice(["after", "end"])
            mutated = data[:end] + chunk + data[end:] if where == "after" else data + chunk
            out.append((f"duplicate-{where}@{h.pos}({h.tag:08X})", mutated))
        elif kind == "garbage":
            tail = bytes(rng.randrange(256) for _ in range(rng.randint(1, 80)))
            out.append((f"garbage+{len(tail)}", data + tail))
    return out


# --- checks -----------------------------------------------------------------------------


def _phi_in(blob: bytes, phi: list[str]) -> list[str]:
    low = blob.lower()
    found = []
    for term in phi:
        for enc in ("utf-8", "latin-1"):
            try:
                t = term.lower().encode(enc)
            except UnicodeEncodeError:
                continue
            if t in low:
                found.append(term)
                break
    return found


def _readable_form(data: bytes) -> bytes:
    """The output's bytes as a reader sees them (the data set inflated when deflated)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    for elem in ds.iterall():  # decode every value: a bad one fails here
        _ = elem.value
    for elem in ds.file_meta:
        _ = elem.value
    if ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        meta_len = int(ds.file_meta.FileMetaInformationGroupLength)
        start = 132 + 12 + meta_len
        return data + zlib.decompress(data[start:], -zlib.MAX_WBITS)
    return data


def _check(label: str, mutant: bytes, plan: Plan, pseud: Pseudonymizer, phi: list[str]) -> str:
    """'' if the engine behaved, else a description of the failure."""
    present = _phi_in(mutant, phi)
    try:
        result = deidentify_part10(mutant, plan, pseud, build_cleaner, METHOD)
    except LeakDetectedError as exc:
        bad = _phi_in(str(exc).encode("utf-8"), present) + _phi_in(
            "|".join(exc.locations).encode("utf-8"), present
        )
        return f"{label}: LeakDetectedError names PHI {bad}" if bad else ""
    except ImageDeidError as exc:
        bad = _phi_in(str(exc).encode("utf-8"), present)
        return f"{label}: {type(exc).__name__} message names PHI {bad}" if bad else ""
    except Exception as exc:  # anything else is an engine bug
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return (
            f"{label}: unexpected {type(exc).__name__}: {exc} "
            f"at {tb.filename.rsplit('/', 1)[-1]}:{tb.lineno}"
        )
    try:
        readable = _readable_form(result.data)
    except Exception as exc:
        return f"{label}: released output pydicom cannot read ({type(exc).__name__}: {exc})"
    leaked = _phi_in(readable, present)
    if leaked:
        return f"{label}: released output holds PHI {leaked}"
    return ""


@pytest.mark.parametrize("src", SOURCES, ids=[s.name for s in SOURCES])
def test_mutants_are_refused_or_released_clean(
    src: Source, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    rng = random.Random(f"{SEED}:{src.name}")
    failures = []
    for label, mutant in _mutants(src, rng, MUTANTS_PER_SOURCE):
        problem = _check(label, mutant, research_plan, pseud, src.phi)
        if problem:
            failures.append(problem)
    assert not failures, f"{len(failures)} bad outcomes:\n" + "\n".join(failures)


@pytest.mark.parametrize("src", SOURCES, ids=[s.name for s in SOURCES])
def test_unmutated_source_is_released_clean(
    src: Source, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """The sources themselves go through, so a mutant's refusal means something."""
    problem = _check("original", src.data, research_plan, pseud, src.phi)
    assert not problem, problem


# --- deterministic structural mutants: each one a class of bad input ---------------------


def _builder_p1() -> Source:
    # instance=5: no original UID is a prefix of another, so a hit is never a coincidence
    ds = make_instance(patient=1, study=1, instance=5)
    return Source("builder-p1-i5", to_bytes(ds), phi_strings(1, 1))


def _header(data: bytes, tag: int) -> Header:
    return next(h for h in _headers(data) if h.tag == tag)


def test_every_cut_inside_the_file_meta_is_refused(
    research_plan: Plan, pseud: Pseudonymizer
) -> None:
    src = _builder_p1()
    meta_end = _header(src.data, 0x00080005).pos
    failures = [
        _check(f"cut@{cut}", src.data[:cut], research_plan, pseud, src.phi)
        for cut in range(128, meta_end + 1)
    ]
    failures = [f for f in failures if f]
    assert not failures, f"{len(failures)} bad outcomes:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "tag",
    [0x00080070, 0x00080060, 0x00080030],
    ids=["Manufacturer-LO", "Modality-CS", "StudyTime-TM"],
)
def test_value_length_swallowing_the_following_elements(
    tag: int, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """One length field rewritten so that a short text value (LO, CS, TM) holds every
    element after it, up to the pixel data: the file still parses, element by element."""
    src = _builder_p1()
    h = _header(src.data, tag)
    pixels = _header(src.data, 0x7FE00010)
    buf = bytearray(src.data)
    struct.pack_into("<H", buf, h.len_pos, pixels.pos - h.value_pos)
    problem = _check(f"swallow({tag:08X})", bytes(buf), research_plan, pseud, src.phi)
    assert not problem, problem


@pytest.mark.parametrize(
    "tag",
    [0x00080070, 0x00080060, 0x00080030],
    ids=["Manufacturer-LO", "Modality-CS", "StudyTime-TM"],
)
def test_unreadable_vr_bytes(tag: int, research_plan: Plan, pseud: Pseudonymizer) -> None:
    """Two VR bytes that are not letters: the lean parser hands the file to pydicom."""
    src = _builder_p1()
    h = _header(src.data, tag)
    assert h.vr_pos is not None
    buf = bytearray(src.data)
    buf[h.vr_pos : h.vr_pos + 2] = b"\x00\x00"
    problem = _check(f"vr00({tag:08X})", bytes(buf), research_plan, pseud, src.phi)
    assert not problem, problem


@pytest.mark.parametrize(
    "tag,vr",
    [(0x00080060, b"FD"), (0x00100040, b"UL"), (0x00180015, b"SS")],
    ids=["Modality-as-FD", "PatientSex-as-UL", "BodyPartExamined-as-SS"],
)
def test_vr_that_does_not_fit_the_value_length(
    tag: int, vr: bytes, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    ds = make_instance(patient=1, instance=5, BodyPartExamined="HEAD")
    data = to_bytes(ds)
    h = _header(data, tag)
    assert h.vr_pos is not None
    buf = bytearray(data)
    buf[h.vr_pos : h.vr_pos + 2] = vr
    problem = _check(f"vr({tag:08X})={vr.decode()}", bytes(buf), research_plan, pseud, [])
    assert not problem, problem


@pytest.mark.parametrize(
    "old,new", [(b"041Y", b"0\xb91Y"), (b"19410215", b"1941\xb9\xb215")], ids=["age", "birth"]
)
def test_non_ascii_digits_in_ages_and_dates(
    old: bytes, new: bytes, research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """Latin-1 superscript digits pass str.isdigit() but not int()."""
    src = _builder_p1()
    assert old in src.data
    problem = _check("unicode-digits", src.data.replace(old, new), research_plan, pseud, src.phi)
    assert not problem, problem


def test_image_cut_before_its_pixel_data_is_refused(
    research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """A CT image whose file ends where (7FE0,0010) should start is a truncated file:
    the README promises such a file is refused, never released as a half file."""
    src = _builder_p1()
    cut = _header(src.data, 0x7FE00010).pos
    with pytest.raises(ImageDeidError):
        deidentify_part10(src.data[:cut], research_plan, pseud, build_cleaner, METHOD)


def test_mislabelled_text_that_grows_when_re_encoded(
    research_plan: Plan, pseud: Pseudonymizer
) -> None:
    """Latin-1 bytes in a file that says UTF-8: each bad byte decodes to U+FFFD, three
    bytes when written back, so a cleaned value can outgrow its VR's 2-byte length."""
    ds = make_instance(patient=1, instance=5, SpecificCharacterSet="ISO_IR 192")
    ds.add_new(0x00204000, "LT", b"\xe9" * 30000 + b" Okonkwo1 ")
    problem = _check("grow", to_bytes(ds), research_plan, pseud, phi_strings(1, 1))
    assert not problem, problem


# --- inputs that are not regular files ---------------------------------------------------


def _run_in_subprocess(inputs: Path, output: Path, timeout: float) -> dict[str, object]:
    """A whole run in a child process, so that a hang fails the test instead of the suite."""
    script = (
        "import json, sys, imagedeid\n"
        "s = imagedeid.deidentify([sys.argv[1]], sys.argv[2], workers=1, environ={})\n"
        "print(json.dumps(s.report))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(inputs), str(output)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def test_a_fifo_in_the_input_tree_does_not_hang_the_batch(tmp_path: Path) -> None:
    """A named pipe among the inputs: opening it for reading blocks until a writer comes."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.dcm").write_bytes(_builder_p1().data)
    os.mkfifo(inputs / "b.dcm")
    try:
        report = _run_in_subprocess(inputs, tmp_path / "out", timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung on a FIFO among the inputs")
    assert report["inputs"] == 2


def test_files_under_a_symlinked_folder_are_not_lost_silently(tmp_path: Path) -> None:
    """README: 'every file is tried'. A file reached through a linked folder is either
    processed or named in the report -- never silently left out of the count."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.dcm").write_bytes(to_bytes(make_instance(patient=2, instance=7)))
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.dcm").write_bytes(_builder_p1().data)
    (inputs / "linked").symlink_to(elsewhere, target_is_directory=True)
    report = _run_in_subprocess(inputs, tmp_path / "out", timeout=60)
    assert report["inputs"] == 2, f"report counts {report['inputs']} inputs, the tree holds 2"
