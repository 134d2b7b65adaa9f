"""A run killed half-way leaves nothing half-written, and running the same command again
finishes the job: every input released exactly once, byte for byte what an uninterrupted
run gives.

To be sure the kill lands before the end, the interrupted run uses one worker, and the
signal goes out as soon as its first results are in the journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from builders import make_instance, to_bytes

from imagedeid.pseudonym import ProjectKey

N_INSTANCES = 400
_SCRIPT = Path(sys.executable).parent / "imagedeid"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "imagedeid.cli"]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IMAGEDEID_")}


def run_cmd(inputs: Path, output: Path, key: Path, workers: int = 2) -> list[str]:
    return [
        *COMMAND,
        "run",
        str(inputs),
        str(output),
        "--key-file",
        str(key),
        "--workers",
        str(workers),
        "--quiet",
    ]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crash")
    inputs = root / "inputs"
    for n in range(N_INSTANCES):
        patient, study = n % 10, n % 3
        folder = inputs / f"patient{patient}" / f"study{study}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n:04d}.dcm").write_bytes(to_bytes(make_instance(patient, study, 1, n + 1)))
    key = root / "project.key"
    key.write_text(ProjectKey(b"crash-resume-key-0123456789abcde").encode())
    key.chmod(0o600)
    clean = root / "clean"
    res = subprocess.run(
        run_cmd(inputs, clean, key), capture_output=True, text=True, env=env(), timeout=300
    )
    assert res.returncode == 0, res.stderr
    return {"root": root, "inputs": inputs, "key": key, "clean": clean}


def interrupt(
    project: dict[str, Path], name: str, sig: signal.Signals
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Start a run and signal it (and its workers, as a terminal's Ctrl-C or a killed job
    would) as soon as its first results are recorded."""
    output = project["root"] / name
    journal = project["root"] / f"{name}.imagedeid" / "journal.jsonl"
    proc = subprocess.Popen(
        run_cmd(project["inputs"], output, project["key"], workers=1),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and journal.stat().st_size > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run produced nothing"
            time.sleep(0.002)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        os.killpg(proc.pid, sig)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"the run did not stop on {sig.name}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    _wait_for_group_exit(proc.pid)
    return output, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _wait_for_group_exit(pgid: int) -> None:
    """Workers of a killed run may outlive it by a moment; wait until none is left."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    os.killpg(pgid, signal.SIGKILL)


def check_interrupted_output(output: Path, clean: dict[str, bytes]) -> dict[str, bytes]:
    partial = tree_bytes(output)
    assert partial, "the run was interrupted before it released anything"
    for rel, data in partial.items():
        assert rel.endswith(".dcm") and ".tmp" not in rel, rel
        assert clean.get(rel) == data, f"{rel}: not a complete, final output"
        pydicom.dcmread(output / rel)
    return partial


def rerun_and_check(project: dict[str, Path], output: Path, clean: dict[str, bytes]) -> dict:
    res = subprocess.run(
        run_cmd(project["inputs"], output, project["key"]),
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert tree_bytes(output) == clean
    assert len(clean) == N_INSTANCES
    report = json.loads((output.parent / f"{output.name}.imagedeid" / "report.json").read_text())
    assert report["inputs"] == N_INSTANCES
    assert report["counts"].get("already-done", 0) > 0
    assert sum(n for s, n in report["counts"].items() if s in ("ok", "already-done")) == (
        N_INSTANCES
    )
    assert report["failures"] == []
    return report


def test_killed_run_resumes_to_the_same_release(project: dict[str, Path]) -> None:
    clean = tree_bytes(project["clean"])
    output, res = interrupt(project, "killed", signal.SIGKILL)
    assert res.returncode == -signal.SIGKILL
    check_interrupted_output(output, clean)
    rerun_and_check(project, output, clean)


def test_ctrl_c_mid_run_stops_cleanly_and_resumes(project: dict[str, Path]) -> None:
    """Ctrl-C reaches the whole process group, workers included: the user sees one line
    saying how to resume, not a worker's traceback."""
    clean = tree_bytes(project["clean"])
    output, res = interrupt(project, "interrupted", signal.SIGINT)
    assert res.returncode == 130, res.stderr
    assert "run the same command again" in res.stderr
    assert "Traceback" not in res.stderr
    check_interrupted_output(output, clean)
    rerun_and_check(project, output, clean)
