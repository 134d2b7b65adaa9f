"""Benchmark burned-in text redaction: imagedeid against Presidio's DicomImageRedactorEngine.

    .venv/bin/python benchmarks/run_pixel_bench.py [--count 60] [--seed 0] [--workers 2]
                                                   [--tools imagedeid,presidio] [--skip-real]

Builds (or reuses) the synthetic corpus of burned_in_corpus.py under
benchmarks/out/pixel/corpus, copies the real files named in data/real_burned_in_truth.json
into benchmarks/out/pixel/real/in/<key>/, runs each tool on both sets, scores every output
with pixel_eval.py, prints a markdown table and writes benchmarks/out/pixel_bench.json.
Tool output goes to benchmarks/out/pixel/logs/<tool>-<set>.log, never to the terminal.
Presidio comes from benchmarks/setup_peers.sh (its own venv, benchmarks/.peers/presidio).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pydicom

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import pixel_eval  # noqa: E402
from burned_in_corpus import DEFAULT_COUNT, build_corpus, composition, truth_matches  # noqa: E402

REPO = BENCH_DIR.parent
IMAGEDEID = REPO / ".venv" / "bin" / "imagedeid"
PRESIDIO_PY = BENCH_DIR / ".peers" / "presidio" / "bin" / "python"
REAL_TRUTH = BENCH_DIR / "data" / "real_burned_in_truth.json"
TOOL_TIMEOUT_S = 3600
TOOLS = ("imagedeid", "presidio")
SETS = ("synthetic", "real")


class Unavailable(Exception):
    pass


@dataclass
class Run:
    tool: str
    set: str
    status: str = "ok"  # ok | unavailable | failed | timeout
    reason: str = ""
    commands: list[list[str]] = field(default_factory=list)
    returncodes: list[int | None] = field(default_factory=list)
    seconds: float | None = None  # wall clock of the tool's process(es), start-up included
    files_in: int = 0
    frames_in: int = 0
    s_per_file: float | None = None
    s_per_frame: float | None = None
    tool_report: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)


@dataclass
class Paths:
    out: Path

    @property
    def root(self) -> Path:
        return self.out / "pixel"

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def real_in(self) -> Path:
        return self.root / "real" / "in"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def key(self) -> Path:
        return self.root / "pixel.key"

    def output(self, tool: str, which: str) -> Path:
        return self.root / tool / which


def _show(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# ---------------------------------------------------------------------------- inputs


def ensure_corpus(paths: Paths, count: int, seed: int) -> dict[str, Any]:
    if truth_matches(paths.corpus, count, seed):
        print(f"corpus: reusing {_show(paths.corpus)}")
    else:
        print(f"corpus: building {count} files ...", flush=True)
        started = time.perf_counter()
        build_corpus(paths.corpus, count, seed)
        print(f"corpus: built in {time.perf_counter() - started:.1f} s")
    truth: dict[str, Any] = json.loads((paths.corpus / "truth.json").read_text("utf-8"))
    return truth


def real_file(entry: dict[str, Any]) -> Path | None:
    """Where the installed package keeps a real file; None when it is not installed.
    Never calls pydicom's get_testdata_file, which may try to download."""
    name = entry["key"]
    try:
        if entry["source"] == "pydicom":
            return Path(pydicom.__file__).parent / "data" / "test_files" / name
        if entry["source"] == "pydicom-data":
            return Path(str(distribution("pydicom-data").locate_file(f"data_store/data/{name}")))
        if entry["source"] == "deid-data":
            return Path(str(distribution("deid-data").locate_file(entry["path"])))
    except PackageNotFoundError:
        return None
    return None


def stage_real(paths: Paths, truth: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Copy each real file into real/in/<key>/; keep only entries found with the same bytes."""
    if paths.real_in.exists():
        shutil.rmtree(paths.real_in)
    kept, inputs = [], {}
    for entry in truth["files"]:
        src = real_file(entry)
        if src is None or not src.is_file():
            print(f"real: {entry['key']} not installed ({entry['source']}): skipped")
            continue
        if hashlib.sha256(src.read_bytes()).hexdigest() != entry["sha256"]:
            print(f"real: {entry['key']} differs from the file the truth was made on: skipped")
            continue
        dst = paths.real_in / entry["key"] / entry["key"]
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src, dst)
        kept.append(entry)
        inputs[entry["key"]] = dst
    return {**truth, "files": kept}, inputs


# ---------------------------------------------------------------------------- tools


def _run(cmd: list[str], log: Path, timeout: float) -> tuple[float, int | None, str]:
    """Wall seconds, exit code (None on timeout), stdout; stderr goes to ``log``."""
    started = time.perf_counter()
    with log.open("ab") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=fh, cwd=REPO, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return time.perf_counter() - started, None, ""
        fh.write(proc.stdout)
    return time.perf_counter() - started, proc.returncode, proc.stdout.decode("utf-8", "replace")


def _imagedeid_ready(paths: Paths) -> None:
    if not IMAGEDEID.exists():
        raise Unavailable(f"{_show(IMAGEDEID)} not found (package not installed)")
    log = paths.logs / "imagedeid-setup.log"
    if _run([str(IMAGEDEID), "run", "--help"], log, 120)[1] != 0:
        raise Unavailable("`imagedeid run --help` failed (see log)")
    if (
        not paths.key.exists()
        and _run([str(IMAGEDEID), "keys", "new", str(paths.key)], log, 120)[1]
    ):
        raise Unavailable("`imagedeid keys new` failed (see log)")


def _imagedeid_cmd(paths: Paths, src: Path, dst: Path, workers: int) -> list[str]:
    return [
        str(IMAGEDEID),
        "run",
        str(src),
        str(dst),
        "--profile",
        "research",
        "--key-file",
        str(paths.key),
        "--workers",
        str(workers),
        "--quiet",
        "--format",
        "json",
    ]


def _clear(path: Path) -> None:
    for old in (path, path.with_name(path.name + ".imagedeid")):
        if old.is_dir():
            shutil.rmtree(old)


def _parse_summary(stdout: str) -> dict[str, Any]:
    try:
        summary = json.loads(stdout)
    except ValueError:
        return {}
    keep = ("counts", "failures_by_reason", "pixels")
    return {k: summary[k] for k in keep if isinstance(summary, dict) and k in summary}


def run_imagedeid(paths: Paths, run: Run, jobs: list[tuple[Path, Path]], workers: int) -> None:
    """One `imagedeid run` per (input folder, output folder) job; seconds summed."""
    _imagedeid_ready(paths)
    log = paths.logs / f"imagedeid-{run.set}.log"
    run.seconds = 0.0
    reports = []
    for src, dst in jobs:
        _clear(dst)
        cmd = _imagedeid_cmd(paths, src, dst, workers)
        wall, code, stdout = _run(cmd, log, TOOL_TIMEOUT_S)
        run.commands.append(cmd)
        run.returncodes.append(code)
        run.seconds += wall
        reports.append(_parse_summary(stdout))
        if code is None:
            run.status, run.reason = "timeout", f"killed after {TOOL_TIMEOUT_S} s"
            return
        if code not in (0, 1):  # 1: some inputs failed or were quarantined
            run.status, run.reason = "failed", f"exit code {code} (see {log.name})"
    counts: dict[str, int] = {}
    for report in reports:
        for k, v in report.get("counts", {}).items():
            counts[k] = counts.get(k, 0) + int(v)
    run.tool_report = {"counts": counts, "runs": reports if len(reports) == 1 else len(reports)}
    if len(reports) == 1:
        run.tool_report.update(reports[0])


def run_presidio(paths: Paths, run: Run, src: Path, dst: Path) -> list[str]:
    """One Presidio process over ``src``; returns the inputs it failed on (paths relative
    to ``src``)."""
    if not PRESIDIO_PY.exists():
        raise Unavailable("Presidio venv missing: run benchmarks/setup_peers.sh")
    if dst.exists():
        shutil.rmtree(dst)
    result_json = paths.root / f"presidio-{run.set}.json"
    cmd = [
        str(PRESIDIO_PY),
        str(BENCH_DIR / "presidio_runner.py"),
        str(src),
        str(dst),
        "--json",
        str(result_json),
        "--quiet",
    ]
    log = paths.logs / f"presidio-{run.set}.log"
    wall, code, _ = _run(cmd, log, TOOL_TIMEOUT_S)
    run.commands.append(cmd)
    run.returncodes.append(code)
    run.seconds = wall
    if code is None:
        run.status, run.reason = "timeout", f"killed after {TOOL_TIMEOUT_S} s"
        return []
    if code != 0 or not result_json.exists():
        run.status, run.reason = "failed", f"exit code {code} (see {log.name})"
        return []
    result = json.loads(result_json.read_text("utf-8"))
    failures: dict[str, int] = {}
    for f in result["files"]:
        if f["status"] != "ok":
            kind = f["error"].split(":")[0]
            failures[kind] = failures.get(kind, 0) + 1
    run.tool_report = {
        k: result[k]
        for k in (
            "versions",
            "tesseract",
            "config",
            "load_seconds",
            "total_seconds",
            "files_ok",
            "files_failed",
            "frames_ok",
            "redact_seconds_ok",
        )
    }
    run.tool_report["failures_by_error"] = failures
    run.tool_report["errors"] = sorted({f["error"] for f in result["files"] if f["error"]})
    if result["files_ok"]:
        run.tool_report["s_per_ok_file_excluding_load"] = (
            result["redact_seconds_ok"] / result["files_ok"]
        )
    return [f["input"] for f in result["files"] if f["status"] != "ok"]


def bench_synthetic(tool: str, paths: Paths, truth: dict[str, Any], workers: int) -> Run:
    run = Run(
        tool=tool,
        set="synthetic",
        files_in=len(truth["files"]),
        frames_in=sum(int(f["frames"]) for f in truth["files"]),
    )
    dst = paths.output(tool, "synthetic")
    failed: list[str] = []
    print(f"{tool}: synthetic, {run.files_in} files ...", flush=True)
    try:
        if tool == "imagedeid":
            run_imagedeid(paths, run, [(paths.corpus / "dicom", dst)], workers)
        else:
            failed = [
                f"dicom/{rel}" for rel in run_presidio(paths, run, paths.corpus / "dicom", dst)
            ]
    except Unavailable as exc:
        run.status, run.reason = "unavailable", str(exc)
        return run
    _finish(run)
    print(f"{tool}: synthetic took {run.seconds:.1f} s, scoring ...", flush=True)
    run.scores = pixel_eval.evaluate_synthetic(paths.corpus, truth, dst, failed)
    return run


def bench_real(
    tool: str, paths: Paths, truth: dict[str, Any], inputs: dict[str, Path], workers: int
) -> Run:
    run = Run(
        tool=tool,
        set="real",
        files_in=len(truth["files"]),
        frames_in=sum(int(f["frames"]) for f in truth["files"]),
    )
    dst = paths.output(tool, "real")
    failed: list[str] = []
    print(f"{tool}: real, {run.files_in} files ...", flush=True)
    try:
        if tool == "imagedeid":
            if dst.exists():
                shutil.rmtree(dst)
            jobs = [(paths.real_in / key, dst / key) for key in inputs]
            run_imagedeid(paths, run, jobs, 1)  # one file per run: a pool would only cost
        else:
            failed = [rel.split("/")[0] for rel in run_presidio(paths, run, paths.real_in, dst)]
    except Unavailable as exc:
        run.status, run.reason = "unavailable", str(exc)
        return run
    _finish(run)
    print(f"{tool}: real took {run.seconds:.1f} s, scoring ...", flush=True)
    run.scores = pixel_eval.evaluate_real(inputs, truth, dst, failed)
    return run


def _finish(run: Run) -> None:
    if run.seconds is not None and run.files_in:
        run.s_per_file = run.seconds / run.files_in
        run.s_per_frame = run.seconds / run.frames_in


# ---------------------------------------------------------------------------- report


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(runs: list[Run]) -> str:
    head = [
        "tool",
        "set",
        "files",
        "released",
        "sequestered",
        "failed",
        "PHI boxes",
        "recall (released)",
        "recall (all)",
        "PHI missed",
        "non-PHI px masked %",
        "wholly altered",
        "labels masked",
        "text-free identical (values)",
        "wall s",
        "s/file",
        "s/frame",
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        s = r.scores
        if not s:
            rows.append(
                f"| {r.tool} | {r.set} | {r.files_in} | {r.status}: {r.reason} |"
                + " |" * (len(head) - 4)
            )
            continue
        labels = f"{s['labels_masked']}/{s['label_boxes_released']}"
        text_free = (
            f"{s['text_free_identical']}/{s['text_free_total']} ({s['text_free_values_identical']})"
        )
        masked = _f(s["non_phi_pixels_masked_pct"], ".2f")
        if s["wholesale_altered"]:
            masked += f" ({_f(s['non_phi_pixels_masked_pct_excluding_altered'], '.2f')})"
        cells = [
            r.tool,
            r.set,
            str(r.files_in),
            str(s["released"]),
            str(s["withheld"]),
            str(s["failed"] + s["not_comparable"]),
            str(s["phi_boxes"]),
            _f(s["recall_released"], ".3f"),
            _f(s["recall_all"], ".3f"),
            str(s["phi_missed"]),
            masked,
            str(s["wholesale_altered"]),
            labels,
            text_free,
            _f(r.seconds, ".1f"),
            _f(r.s_per_file, ".2f"),
            _f(r.s_per_frame, ".3f"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ratio_lines(runs: list[Run]) -> list[str]:
    lines = []
    for which in SETS:
        ours = next((r for r in runs if r.tool == "imagedeid" and r.set == which), None)
        peer = next((r for r in runs if r.tool == "presidio" and r.set == which), None)
        if not (ours and peer and ours.scores and peer.scores and ours.seconds and peer.seconds):
            continue
        rec_a, rec_b = ours.scores["recall_all"], peer.scores["recall_all"]
        rec = f"{rec_a / rec_b:.2f}" if rec_a is not None and rec_b else "-"
        lines.append(
            f"- {which}: imagedeid / Presidio: s/file {ours.s_per_file / peer.s_per_file:.2f} "
            f"(s/frame {ours.s_per_frame / peer.s_per_frame:.2f}), recall (all) {rec}, "
            f"PHI missed {ours.scores['phi_missed']} vs {peer.scores['phi_missed']}"
        )
    return lines


def notes(runs: list[Run]) -> list[str]:
    out = []
    for r in runs:
        s = r.scores
        if s.get("missed_by_kind"):
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["missed_by_kind"].items()))
            out.append(f"- {r.tool} {r.set}: missed by kind: {kinds}")
        if s.get("phi_unscored"):
            out.append(f"- {r.tool} {r.set}: {s['phi_unscored']} PHI boxes without visible ink")
        if s.get("unmatched_outputs") or s.get("duplicates"):
            out.append(
                f"- {r.tool} {r.set}: {s['unmatched_outputs']} outputs not paired, "
                f"{s['duplicates']} duplicated InstanceNumbers"
            )
        errors = r.tool_report.get("failures_by_error")
        if errors:
            text = ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
            out.append(f"- {r.tool} {r.set}: files it raised on: {text}")
        per_ok = r.tool_report.get("s_per_ok_file_excluding_load")
        if per_ok:
            out.append(
                f"- {r.tool} {r.set}: {per_ok:.2f} s per redacted file excluding "
                f"{r.tool_report['load_seconds']:.1f} s of start-up"
            )
        counts = r.tool_report.get("counts")
        if counts:
            out.append(
                f"- {r.tool} {r.set}: its own counts: "
                + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            )
        if r.status != "ok":
            out.append(f"- {r.tool} {r.set}: {r.status}: {r.reason}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="synthetic files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="imagedeid's --workers")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--skip-real", action="store_true", help="synthetic corpus only")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out")
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if unknown := sorted(set(tools) - set(TOOLS)):
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 1 <= args.workers <= (os.cpu_count() or 2):
        parser.error(f"--workers must be between 1 and {os.cpu_count()}")
    paths = Paths(args.out.resolve())
    paths.logs.mkdir(parents=True, exist_ok=True)
    for old in paths.logs.glob("*.log"):
        old.unlink()
    truth = ensure_corpus(paths, args.count, args.seed)
    real_truth, real_inputs = {"files": []}, {}
    if not args.skip_real:
        real_truth, real_inputs = stage_real(paths, json.loads(REAL_TRUTH.read_text("utf-8")))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.1f} before starting: timings will be noisy")
    runs = []
    for tool in tools:
        runs.append(bench_synthetic(tool, paths, truth, args.workers))
        if real_inputs:
            runs.append(bench_real(tool, paths, real_truth, real_inputs, args.workers))
    print()
    print(table(runs))
    print()
    for line in ratio_lines(runs) + notes(runs):
        print(line)
    result = {
        "params": {
            "count": args.count,
            "seed": args.seed,
            "workers": args.workers,
            "tools": tools,
            "skip_real": args.skip_real,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "corpus": composition(truth),
        "definitions": {
            "redacted_max_legible": pixel_eval.REDACTED_MAX_LEGIBLE,
            "retained_contrast": pixel_eval.RETAINED_CONTRAST,
            "change_tolerance": pixel_eval.CHANGE_TOLERANCE,
            "label_masked_min_illegible": pixel_eval.LABEL_MASKED_MIN_ILLEGIBLE,
        },
        "real_files": [f["key"] for f in real_truth["files"]],
        "runs": [asdict(r) for r in runs],
    }
    out_json = paths.out / "pixel_bench.json"
    out_json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\nresults: {_show(out_json)}; tool logs: {_show(paths.logs)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
