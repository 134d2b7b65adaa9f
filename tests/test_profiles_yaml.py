"""YAML profiles as a site writes them: validated on load with a did-you-mean, applied in the
output, recorded by content hash in the report, and never claiming pixel cleaning."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, to_bytes

import imagedeid
from imagedeid.api import load_profile
from imagedeid.errors import PolicyError
from imagedeid.model import Action, DateMode, Option, PixelMode
from imagedeid.policy.profile import BUILTIN_PROFILES, OPTION_NAMES
from imagedeid.pseudonym import ProjectKey

SITE_PROFILE = """\
imagedeid-profile: 1
id: my-site
version: "3"
description: Research release that keeps the scanner's station name.
extends: research
add-options: [retain-device-identity]
overrides:
  - keyword: StationName
    action: keep
    because: Station names are needed to harmonise scanners; they name no person.
  - keyword: Manufacturer
    action: remove
    because: Vendor is not needed for this study.
"""


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "k.key"
    path.write_text(ProjectKey(b"profile-test-key-0123456789abcde").encode())
    path.chmod(0o600)
    return path


def release_one(
    tmp_path: Path, profile: object, **overrides: object
) -> tuple[object, pydicom.Dataset]:
    src = tmp_path / "in" / "a.dcm"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(to_bytes(make_instance(1, 1, 1, 1, **overrides)))
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    summary = imagedeid.deidentify(
        [src.parent], out, profile=profile, key_file=key_file(tmp_path), workers=1, environ={}
    )
    assert summary.exit_code == 0, summary.report["failures"]
    (path,) = out.rglob("*.dcm")
    return summary, pydicom.dcmread(path)


# --- a valid profile --------------------------------------------------------------------


def test_site_profile_extends_research_with_overrides(tmp_path: Path) -> None:
    prof = load_profile(str(write(tmp_path, SITE_PROFILE)))
    research = BUILTIN_PROFILES["research"]
    assert prof.id == "my-site" and prof.version == "3"
    assert prof.options == research.options | {Option.RETAIN_DEVICE_IDENTITY}
    assert prof.date_mode is DateMode.SHIFT
    by_kw = {o.keyword: o for o in prof.overrides}
    assert by_kw["StationName"].action is Action.KEEP
    assert by_kw["StationName"].because.startswith("Station names")
    assert by_kw["Manufacturer"].action is Action.REMOVE


def test_override_is_applied_in_the_output(tmp_path: Path) -> None:
    original = make_instance(1, 1, 1, 1)
    _, research = release_one(tmp_path, "research")
    assert research.StationName != original.StationName
    assert research.Manufacturer == original.Manufacturer
    summary, site = release_one(tmp_path, str(write(tmp_path, SITE_PROFILE)))
    assert site.StationName == original.StationName
    assert "Manufacturer" not in site
    assert site.PatientID != original.PatientID
    recorded = summary.report["profile"]
    assert recorded["id"] == "my-site"
    assert recorded["content_hash"] == load_profile(str(tmp_path / "site.yaml")).content_hash
    assert {o["keyword"]: o["because"] for o in recorded["overrides"]}["StationName"].startswith(
        "Station names"
    )


def test_report_on_disk_records_the_profile_hash(tmp_path: Path) -> None:
    summary, _ = release_one(tmp_path, str(write(tmp_path, SITE_PROFILE)))
    report = json.loads(summary.report_path.read_text())
    prof = load_profile(str(tmp_path / "site.yaml"))
    assert report["profile"]["id"] == "my-site"
    assert report["profile"]["version"] == "3"
    assert report["profile"]["content_hash"] == prof.content_hash


# --- errors a site makes ----------------------------------------------------------------


def _error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_profile(str(path))
    message = str(info.value)
    assert str(path) in message or "'my-site'" in message, (
        "the message must name the profile (its file or its id)"
    )
    return message


def test_unknown_keyword_suggests_the_right_one(tmp_path: Path) -> None:
    message = _error(tmp_path, SITE_PROFILE.replace("keyword: StationName", "keyword: StationNam"))
    assert "StationNam" in message
    assert "did you mean 'StationName'" in message
    assert "overrides[0]" in message


def test_unknown_option_suggests_the_right_one(tmp_path: Path) -> None:
    message = _error(
        tmp_path, SITE_PROFILE.replace("[retain-device-identity]", "[retain-device-identiy]")
    )
    assert "did you mean 'retain-device-identity'" in message


@pytest.mark.parametrize("because", ["", '"   "', None])
def test_override_without_because_is_refused(tmp_path: Path, because: str | None) -> None:
    text = SITE_PROFILE.replace(
        "    because: Station names are needed to harmonise scanners; they name no person.\n",
        "" if because is None else f"    because: {because}\n",
    )
    message = _error(tmp_path, text)
    assert "because" in message and "StationName" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("overrides:", "overides:", "did you mean 'overrides'"),
        ("action: keep", "action: kep", "did you mean 'keep'"),
        ("action: keep", "action: shift", "choose one of"),
        ("extends: research", "extends: reserch", "did you mean 'research'"),
        ("id: my-site", "id: My Site!", "'id'"),
        ("imagedeid-profile: 1", "imagedeid-profile: 2", "not supported"),
        ("keyword: StationName", "tag: (0029,1010)", "(0029,1010)"),
        ("keyword: StationName", "tag: (0008,10G0)", "tag must look like"),
        ("extends: research", "extends: research\ndates: keep", "dates"),
        ("extends: research", "extends: research\ndates: sometimes", "not one of"),
        (
            "add-options: [retain-device-identity]",
            "add-options: [retain-longitudinal-full-dates]",
            "exclude each other",
        ),
        ("description:", "description: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_profiles_are_refused_with_a_reason(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in SITE_PROFILE
    message = _error(tmp_path, SITE_PROFILE.replace(old, new, 1))
    assert expected in message


def test_overrides_must_be_a_list(tmp_path: Path) -> None:
    text = SITE_PROFILE.split("overrides:")[0] + "overrides: {StationName: keep}\n"
    assert "'overrides' must be a list" in _error(tmp_path, text)


def test_override_twice_is_refused(tmp_path: Path) -> None:
    text = SITE_PROFILE.replace("keyword: Manufacturer", "keyword: StationName")
    assert "twice" in _error(tmp_path, text)


def test_recognizable_visual_features_cannot_be_named_yet(tmp_path: Path) -> None:
    text = SITE_PROFILE.replace("retain-device-identity", "clean-recognizable-visual-features")
    assert "unknown option" in _error(tmp_path, text)


def test_clean_pixel_data_is_added_and_removed_like_an_option(tmp_path: Path) -> None:
    on = load_profile(
        str(write(tmp_path, "id: p\nextends: basic\nadd-options: [clean-pixel-data]\n"))
    )
    assert on.pixels.mode is PixelMode.ALL_TEXT
    assert "clean-pixel-data" in on.describe()["options"]
    off = load_profile(
        str(write(tmp_path, "id: q\nextends: research\nremove-options: [clean-pixel-data]\n"))
    )
    assert off.pixels.mode is PixelMode.OFF
    assert off.content_hash != load_profile("research").content_hash


def test_pixel_settings_are_validated_with_suggestions(tmp_path: Path) -> None:
    text = "id: p\nextends: research\npixels:\n  engin: tesseract\n"
    assert "did you mean 'engine'" in _error(tmp_path, text)
    text = "id: p\nextends: research\npixels:\n  engine: tesseract5\n"
    assert "not an OCR engine" in _error(tmp_path, text)
    text = "id: p\nextends: research\npixels:\n  mode: everything\n"
    assert "mode is one of" in _error(tmp_path, text)


def test_pixel_settings_override_the_base(tmp_path: Path) -> None:
    text = "id: p\nextends: research\npixels:\n  mode: phi-text\n  engine: tesseract\n"
    prof = load_profile(str(write(tmp_path, text)))
    assert (prof.pixels.mode, prof.pixels.engine) == (PixelMode.PHI_TEXT, "tesseract")


def test_cli_refuses_a_bad_profile_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_PROFILE.replace("keyword: StationName", "keyword: StationNam"))
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.dcm").write_bytes(to_bytes(make_instance(1)))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagedeid.cli",
            "run",
            str(src),
            str(tmp_path / "out"),
            "--profile",
            str(path),
            "--key-file",
            str(key_file(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "did you mean 'StationName'" in res.stderr
    assert "Traceback" not in res.stderr


# --- content hash -----------------------------------------------------------------------


def test_content_hash_is_stable_across_formatting(tmp_path: Path) -> None:
    base = load_profile(str(write(tmp_path, SITE_PROFILE, "a.yaml"))).content_hash
    assert base == load_profile(str(write(tmp_path, SITE_PROFILE, "b.yaml"))).content_hash
    reformatted = "# our site profile\n" + SITE_PROFILE.replace(
        "imagedeid-profile: 1\nid: my-site\n", "id:   my-site\nimagedeid-profile: 1\n"
    ).replace(
        "add-options: [retain-device-identity]",
        "add-options:\n  - retain-device-identity   # scanners differ",
    )
    assert base == load_profile(str(write(tmp_path, reformatted, "c.yaml"))).content_hash


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("action: keep", "action: clean"),
        ("keyword: Manufacturer", "keyword: ManufacturerModelName"),
        ("[retain-device-identity]", "[retain-device-identity, retain-institution-identity]"),
        ("extends: research", "extends: safe-harbor"),
        (
            "extends: research",
            "extends: research\ndates: remove\nremove-options: "
            "[retain-longitudinal-modified-dates]",
        ),
        ('version: "3"', 'version: "4"'),
        ("id: my-site", "id: other-site"),
    ],
)
def test_content_hash_changes_with_the_profile(tmp_path: Path, old: str, new: str) -> None:
    base = load_profile(str(write(tmp_path, SITE_PROFILE, "a.yaml"))).content_hash
    changed = load_profile(str(write(tmp_path, SITE_PROFILE.replace(old, new), "b.yaml")))
    assert changed.content_hash != base


# --- what a profile claims --------------------------------------------------------------


ALL_OPTIONS = sorted(n for n in OPTION_NAMES if n != "retain-longitudinal-modified-dates")


def _claimed_codes(ds: pydicom.Dataset) -> set[str]:
    return {str(item.CodeValue) for item in ds.DeidentificationMethodCodeSequence}


@pytest.mark.parametrize("name", [*sorted(BUILTIN_PROFILES), "every-option"])
def test_a_profile_never_claims_pixel_or_visual_feature_cleaning(tmp_path: Path, name: str) -> None:
    if name == "every-option":
        profile: object = str(
            write(
                tmp_path,
                f"""\
            id: every-option
            options: [{", ".join(ALL_OPTIONS)}]
            dates: keep
            """,
            )
        )
    else:
        profile = name
    prof = load_profile(profile)  # type: ignore[arg-type]
    # The builder gives institution and patient the same address; with the institution
    # retained that would (rightly) be quarantined, so the institution moves here.
    _, ds = release_one(
        tmp_path, profile, BurnedInAnnotation="NO", InstitutionAddress="Hospital Road 5"
    )
    codes = _claimed_codes(ds)
    assert "113101" not in codes  # Clean Pixel Data Option
    assert "113102" not in codes  # Clean Recognizable Visual Features Option
    assert codes == {"113100"} | {o.value for o in prof.options}
    assert ds.PatientIdentityRemoved == "YES"
