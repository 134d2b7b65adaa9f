"""The ``imagedeid`` command as a user runs it: a subprocess, its exit code and its output."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, patient_id, patient_name, phi_strings, to_bytes

from imagedeid.pseudonym import ProjectKey

_SCRIPT = Path(sys.executable).parent / "imagedeid"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "imagedeid.cli"]

# Modules that `import imagedeid` and `imagedeid --help` must not pull in.
HEAVY = ("numpy", "tqdm", "pydicom", "PIL", "yaml", "cryptography", "sqlite3", "multiprocessing")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEDEID_")}
    env.update(extra)
    return env


def imagedeid(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        timeout=120,
    )


def write_key(path: Path, secret: bytes = b"cli-test-key-0123456789abcdef-01") -> Path:
    path.write_text(ProjectKey(secret).encode(), encoding="ascii")
    path.chmod(0o600)
    return path


def make_inputs(root: Path, patients: tuple[int, ...] = (1, 2)) -> Path:
    for p in patients:
        last, first = patient_name(p)
        folder = root / f"{last}^{first} {patient_id(p)}"
        folder.mkdir(parents=True)
        for i in (1, 2):
            (folder / f"{i}.dcm").write_bytes(to_bytes(make_instance(p, 1, 1, i)))
    return root


def no_phi(text: str, patients: tuple[int, ...] = (1, 2)) -> list[str]:
    return [s for p in patients for s in phi_strings(p) if s.lower() in text.lower()]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    return make_inputs(tmp_path / "exports")


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return write_key(tmp_path / "project.key")


# --- help and import weight -------------------------------------------------------------


def test_help_lists_commands_and_exit_codes() -> None:
    res = imagedeid("--help")
    assert res.returncode == 0, res.stderr
    for word in ("run", "plan", "keys", "profiles", "reidentify", "exit codes"):
        assert word in res.stdout
    res = imagedeid("run", "--help")
    assert res.returncode == 0
    for option in ("--profile", "--key-file", "--workers", "--report", "--crosswalk", "--format"):
        assert option in res.stdout


def test_no_command_is_a_usage_error() -> None:
    assert imagedeid().returncode == 2


_PROBE = """
import json, sys
{body}
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_loaded(body: str, timeout: int = 60) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``body``."""
    res = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr
    loaded: list[str] = json.loads(res.stderr.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "body",
    [
        "import imagedeid",
        "from imagedeid.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from imagedeid.cli import main\nmain(['--version'])",
        "from imagedeid.cli import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit:\n"
        "    pass",
    ],
    ids=["import", "help", "version", "run-help"],
)
def test_import_and_help_stay_light(body: str) -> None:
    loaded = modules_loaded(body)
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert heavy == []
    assert not [m for m in loaded if "pixel" in m]


# --- exit codes -------------------------------------------------------------------------


def test_run_that_succeeds_exits_0_and_prints_no_phi(
    tmp_path: Path, inputs: Path, key: Path
) -> None:
    res = imagedeid("run", inputs, tmp_path / "out", "--key-file", key, "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert "4 ok" in res.stdout
    assert no_phi(res.stdout + res.stderr) == []
    assert str(tmp_path / "out.imagedeid" / "report.json") in res.stdout
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 4


def test_run_with_a_bad_input_exits_1_and_points_to_failures(
    tmp_path: Path, inputs: Path, key: Path
) -> None:
    (inputs / "readme.txt").write_text("not DICOM\n")
    res = imagedeid("run", inputs, tmp_path / "out", "--key-file", key, "--workers", "1")
    assert res.returncode == 1, res.stderr
    assert "not-dicom" in res.stdout
    assert str(tmp_path / "out.imagedeid" / "failures.tsv") in res.stdout
    assert "readme.txt" not in res.stdout
    assert no_phi(res.stdout + res.stderr) == []
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 4


def test_unknown_profile_exits_2_with_did_you_mean(tmp_path: Path, inputs: Path, key: Path) -> None:
    res = imagedeid("run", inputs, tmp_path / "out", "--key-file", key, "--profile", "reserch")
    assert res.returncode == 2
    assert "did you mean 'research'" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize("problem", ["garbage", "too-open", "missing", "short"])
def test_bad_key_file_exits_2(tmp_path: Path, inputs: Path, problem: str) -> None:
    key = tmp_path / "bad.key"
    if problem == "garbage":
        key.write_text("this is not a key\n")
        key.chmod(0o600)
    elif problem == "too-open":
        write_key(key)
        key.chmod(0o644)
    elif problem == "short":
        key.write_text("imagedeid-key-v1:c2hvcnQ=\n")
        key.chmod(0o600)
    res = imagedeid("run", inputs, tmp_path / "out", "--key-file", key)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert str(key) in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.dcm"))


def test_missing_input_exits_2(tmp_path: Path, key: Path) -> None:
    res = imagedeid("run", tmp_path / "nowhere", tmp_path / "out", "--key-file", key)
    assert res.returncode == 2
    assert "nowhere" in res.stderr and "Traceback" not in res.stderr


def test_run_without_output_exits_2(inputs: Path) -> None:
    assert imagedeid("run", inputs).returncode == 2


# --- keys -------------------------------------------------------------------------------


def test_keys_new_creates_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "site.key"
    res = imagedeid("keys", "new", path)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert content.startswith("imagedeid-key-v1:")
    assert content.strip() not in res.stdout
    fingerprint = ProjectKey.decode(content, "k").fingerprint
    assert fingerprint in res.stdout
    again = imagedeid("keys", "new", path)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert path.read_text() == content


def test_run_without_key_creates_one_and_says_where(tmp_path: Path, inputs: Path) -> None:
    res = imagedeid("run", inputs, tmp_path / "out", "--workers", "1")
    assert res.returncode == 0, res.stderr
    key = tmp_path / "out.imagedeid" / "project.key"
    assert key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"created a new project key at {key}" in res.stdout
    assert key.read_text().strip() not in res.stdout + res.stderr


def test_key_from_environment(tmp_path: Path, inputs: Path, key: Path) -> None:
    by_flag = imagedeid("run", inputs, tmp_path / "a", "--key-file", key, "--workers", "1")
    by_file = imagedeid(
        "run", inputs, tmp_path / "b", "--workers", "1", env=clean_env(IMAGEDEID_KEY_FILE=str(key))
    )
    by_value = imagedeid(
        "run",
        inputs,
        tmp_path / "c",
        "--workers",
        "1",
        env=clean_env(IMAGEDEID_KEY=key.read_text()),
    )
    assert by_flag.returncode == by_file.returncode == by_value.returncode == 0
    trees = [
        sorted(str(p.relative_to(tmp_path / d)) for p in (tmp_path / d).rglob("*.dcm"))
        for d in "abc"
    ]
    assert trees[0] == trees[1] == trees[2]
    assert "created a new project key" not in by_file.stdout + by_value.stdout
    assert not (tmp_path / "b.imagedeid" / "project.key").exists()


def test_failed_run_never_leaves_an_unannounced_key(tmp_path: Path, inputs: Path) -> None:
    """A run that stops on a usage error, then the corrected run: the user must learn where
    the new project key is (or no key was made by the failed run)."""
    failed = imagedeid("run", inputs, tmp_path / "out", "--profile", "reserch")
    assert failed.returncode == 2
    fixed = imagedeid("run", inputs, tmp_path / "out", "--workers", "1")
    assert fixed.returncode == 0, fixed.stderr
    key = tmp_path / "out.imagedeid" / "project.key"
    assert key.is_file()
    assert str(key) in failed.stdout + failed.stderr + fixed.stdout, (
        "a project key was created without telling the user where"
    )


# --- plan, json, reidentify, profiles ---------------------------------------------------


def _string_values(ds: pydicom.Dataset) -> set[str]:
    values = set()
    for el in ds.iterall():
        if el.VR in ("PN", "LO", "SH", "LT", "ST", "UT", "AE", "DA", "TM", "UI", "AS", "DS", "IS"):
            for v in el.value if isinstance(el.value, pydicom.multival.MultiValue) else [el.value]:
                text = str(v)
                if len(text) >= 4:
                    values.add(text)
    return values


def test_plan_prints_paths_keywords_and_rules_but_no_values(tmp_path: Path) -> None:
    path = tmp_path / "Okonkwo1^Bernard.dcm"
    ds = make_instance(1, 1, 1, 1)
    path.write_bytes(to_bytes(ds))
    res = imagedeid("plan", path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "(0040,0275)[0]>(0040,1001)" in out
    assert "RequestedProcedureID" in out
    assert "PatientName" in out and "StationName" in out
    assert re.search(r"PS3\.15-\w+/basic:", out)
    leaked = sorted(v for v in _string_values(ds) | set(phi_strings(1)) if v in out)
    assert leaked == []


def test_plan_format_json_parses(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(to_bytes(make_instance(2)))
    res = imagedeid("plan", path, "--format", "json", "--profile", "basic")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows and all(set(r) == {"path", "keyword", "action", "rule"} for r in rows)
    assert {"path": "(0010,0010)", "keyword": "PatientName"}.items() <= next(
        r for r in rows if r["path"] == "(0010,0010)"
    ).items()


def test_run_format_json_parses(tmp_path: Path, inputs: Path, key: Path) -> None:
    res = imagedeid(
        "run",
        inputs,
        tmp_path / "out",
        "--key-file",
        key,
        "--workers",
        "1",
        "--format",
        "json",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["counts"] == {"ok": 4}
    assert report["key_fingerprint"] == ProjectKey.decode(key.read_text(), "k").fingerprint
    assert report["profile"]["id"] == "research"


def test_report_option_writes_report_there(tmp_path: Path, inputs: Path, key: Path) -> None:
    report = tmp_path / "reports" / "r.json"
    res = imagedeid(
        "run", inputs, tmp_path / "out", "--key-file", key, "--workers", "1", "--report", report
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(report.read_text())["counts"] == {"ok": 4}
    inside = imagedeid(
        "run", inputs, tmp_path / "out", "--key-file", key, "--report", tmp_path / "out" / "r.json"
    )
    assert inside.returncode == 2


def test_reidentify_round_trip(tmp_path: Path, inputs: Path, key: Path) -> None:
    xwalk = tmp_path / "vault" / "xwalk.sqlite"
    res = imagedeid(
        "run", inputs, tmp_path / "out", "--key-file", key, "--workers", "1", "--crosswalk", xwalk
    )
    assert res.returncode == 0, res.stderr
    out_file = next((tmp_path / "out").rglob("*.dcm"))
    ds = pydicom.dcmread(out_file)
    pseudonym = str(ds.PatientID)
    back = imagedeid("reidentify", pseudonym, "--crosswalk", xwalk, "--key-file", key)
    assert back.returncode == 0, back.stderr
    rows = [line.split("\t") for line in back.stdout.splitlines()]
    assert [r for r in rows if r[0] == "PatientID"] in (
        [["PatientID", patient_id(1)]],
        [["PatientID", patient_id(2)]],
    )
    assert (
        imagedeid("reidentify", "NOSUCHPSEUDO", "--crosswalk", xwalk, "--key-file", key).returncode
        == 1
    )
    other = write_key(tmp_path / "other.key", b"other-key-0123456789abcdef-01234")
    wrong = imagedeid("reidentify", pseudonym, "--crosswalk", xwalk, "--key-file", other)
    assert wrong.returncode == 2
    assert patient_id(1) not in wrong.stdout + wrong.stderr
    assert patient_id(2) not in wrong.stdout + wrong.stderr


def test_profiles_lists_builtins_and_shows_rules() -> None:
    listing = imagedeid("profiles")
    assert listing.returncode == 0
    for name in ("basic", "research", "safe-harbor"):
        assert name in listing.stdout
    shown = imagedeid("profiles", "research", "--rules")
    assert shown.returncode == 0
    doc = json.loads(shown.stdout)
    assert doc["id"] == "research" and doc["content_hash"].startswith("sha256:")
    assert any(r["keyword"] == "PatientName" for r in doc["rules"])
    assert imagedeid("profiles", "reserch").returncode == 2


def test_a_header_run_loads_no_pixel_email_or_html_modules(tmp_path: Path, inputs: Path) -> None:
    """What a header-only run imports is paid on every run: keep report-only and
    pixel-only modules out of it."""
    body = (
        "import imagedeid.api\n"
        f"s = imagedeid.api.deidentify([{str(inputs)!r}], {str(tmp_path / 'out')!r}, "
        "profile='basic', workers=1, environ={})\n"
        "assert s.report['versions']['pydicom']"
    )
    loaded = set(modules_loaded(body, timeout=120))
    assert not [
        m
        for m in loaded
        if m.startswith("imagedeid.pixels") or m.split(".")[0] in ("email", "html")
    ]
    assert "importlib.metadata" not in loaded


def test_report_names_the_installed_pydicom_version() -> None:
    from importlib.metadata import version

    from imagedeid.version import distribution_version

    assert distribution_version("pydicom") == version("pydicom")
