"""The compiled header engine (setup.py, mypyc) against its pure-Python source.

`make setup` compiles the hot modules of the header engine; the pure-Python modules
are the fallback on a machine without a C compiler. Both must write the same bytes:
this runs the same inputs through each, in subprocesses, and compares every output.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.data import get_charset_files, get_testdata_file

import imagedeid
from imagedeid.api import engine_build

SRC = Path(imagedeid.__file__).parent

# Varied syntaxes and objects: SR trees, multi-frame, private blocks, odd charsets.
CHARSET_FILES = ("chrJapMultiExplicitIR6.dcm", "chrArab.dcm", "chrX1.dcm", "chrSQEncoding.dcm")
FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",
    "MR_small_jp2klossless.dcm",
    "explicit_VR-UN.dcm",
    "JPEG2000.dcm",
    "JPGExtended.dcm",
    "SC_rgb_rle.dcm",
    "emri_small.dcm",
    "reportsi.dcm",
    "rtplan.dcm",
    "nested_priv_SQ.dcm",
    "waveform_ecg.dcm",
    # Refused inputs: the engines must refuse the same ones for the same reason.
    "rtplan_truncated.dcm",
    "MR_truncated.dcm",
    "emri_small_jpeg_2k_lossless_too_short.dcm",
)


def test_installed_engine_is_compiled_unless_pure_python_was_asked_for() -> None:
    expected = "python" if os.environ.get("IMAGEDEID_PURE_PYTHON") else "compiled"
    assert engine_build() == expected, (
        "the header engine is not the build `make setup` makes: run `make build` "
        "(a C compiler and Python's headers are needed; see build-deps in the Makefile)"
    )


def test_version_names_the_engine_build() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "imagedeid.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"({engine_build()} header engine)" in res.stdout


def _run(
    pythonpath: Path | None, inputs: Path, out: Path, key: Path
) -> tuple[dict[str, bytes], dict[str, int]]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagedeid.cli",
            "run",
            str(inputs),
            str(out),
            "--key-file",
            str(key),
            "--profile",
            "research",
            "--workers",
            "1",
            "--report",
            str(out.parent / f"{out.name}.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode in (0, 1), res.stderr
    report = json.loads((out.parent / f"{out.name}.json").read_text())
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.dcm"))}
    return files, report["failures_by_reason"]


@pytest.mark.skipif(engine_build() != "compiled", reason="no compiled engine installed")
def test_compiled_and_pure_python_engines_write_the_same_bytes(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in FILES:
        path = get_testdata_file(name)
        assert path is not None, name
        shutil.copy(str(path), inputs / name)
    for path in get_charset_files():
        if Path(path).name in CHARSET_FILES:
            shutil.copy(path, inputs / Path(path).name)
    # The sources alone, without the extensions beside them: Python imports the .py files.
    pure = tmp_path / "pure"
    shutil.copytree(SRC, pure / "imagedeid", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    key = tmp_path / "k.key"
    subprocess.run([sys.executable, "-m", "imagedeid.cli", "keys", "new", str(key)], check=True)

    probe = subprocess.run(
        [sys.executable, "-c", "from imagedeid.api import engine_build; print(engine_build())"],
        env={**os.environ, "PYTHONPATH": str(pure)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "python"

    compiled, compiled_refused = _run(None, inputs, tmp_path / "out-compiled", key)
    python, python_refused = _run(pure, inputs, tmp_path / "out-python", key)
    assert compiled_refused == python_refused
    assert compiled_refused.get("bad-input", 0) >= 3  # the truncated files
    assert "internal-error" not in compiled_refused
    # A few inputs may be refused; the same ones by both engines.
    assert len(compiled) >= len(FILES) + len(CHARSET_FILES) - 7
    assert compiled.keys() == python.keys()
    differ = [name for name in compiled if compiled[name] != python[name]]
    assert not differ, f"compiled and pure-Python outputs differ: {differ}"


def _compiled_sources() -> list[Path]:
    """The modules setup.py compiles (its COMPILED tuple, read without running it)."""
    setup_py = Path(__file__).resolve().parent.parent / "setup.py"
    tree = ast.parse(setup_py.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            return [SRC / ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError("setup.py has no COMPILED tuple")


def test_compiled_modules_avoid_what_mypyc_miscompiles() -> None:
    """One name bound by except clauses of different types in one function: mypyc types
    it by the first clause, and the second exception becomes a TypeError (an internal
    error instead of a clear refusal; the fuzz tests found it)."""
    sources = _compiled_sources()
    assert len(sources) >= 10 and all(p.exists() for p in sources)
    shared = []
    for source in sources:
        for func in ast.walk(ast.parse(source.read_text())):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            types: dict[str, set[str]] = {}
            for node in ast.walk(func):
                if isinstance(node, ast.ExceptHandler) and node.name and node.type:
                    types.setdefault(node.name, set()).add(ast.unparse(node.type))
            shared += [f"{source.name}:{func.name}:{n}" for n, t in types.items() if len(t) > 1]
    assert not shared, f"give each except clause its own name: {shared}"
