"""Benchmark imagedeid against dicognito, deid and dicom-anonymizer on a PHI-injected corpus.

    .venv/bin/python benchmarks/run_bench.py [--patients 50 --files-per-series 4]
                                             [--workers 2] [--skip-peers]

Builds (or reuses) the corpus under benchmarks/out/corpus, runs each tool once on all of it
into benchmarks/out/<tool>/, times each tool's process (wall clock, start-up included), then
scores every output with leak_check.py and prints one table; everything goes to
benchmarks/out/results.json. Tool output goes to benchmarks/out/logs/<tool>.log, never to
the terminal (it may name patients). Peers come from benchmarks/setup_peers.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from leak_check import CATEGORY_ORDER, analyze  # noqa: E402
from phi_corpus import CorpusParams, build_corpus, iter_files, manifest_matches  # noqa: E402

REPO = BENCH_DIR.parent
PEERS_BIN = BENCH_DIR / ".peers" / "venv" / "bin"
IMAGEDEID = REPO / ".venv" / "bin" / "imagedeid"
# research without Clean Pixel Data: the peers do no pixel work (--imagedeid-profile).
HEADERS_PROFILE = str(REPO / "benchmarks" / "profiles" / "research-headers.yaml")
IMAGEDEID_PROFILE = [HEADERS_PROFILE]
BASELINE = "dicognito"
TOOL_TIMEOUT_S = 600


@dataclass
class Paths:
    out: Path

    @property
    def corpus(self) -> Path:
        return self.out / "corpus"

    @property
    def dicom(self) -> Path:
        return self.corpus / "dicom"

    @property
    def flat(self) -> Path:
        return self.out / "flat"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def key(self) -> Path:
        return self.out / "bench.key"


@dataclass
class Run:
    tool: str
    status: str = "ok"  # ok | unavailable | failed | timeout | control
    reason: str = ""
    command: list[str] = field(default_factory=list)
    seconds: float | None = None  # the fastest of all_seconds
    all_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float | None = None
    returncode: int | None = None
    files_in: int = 0
    files_per_s: float | None = None
    ratio_to_baseline: float | None = None
    scores: dict[str, Any] = field(default_factory=dict)


def _show(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# A tool's preparation returns its command line, or raises Unavailable with the reason.
class Unavailable(Exception):
    pass


def _quiet(cmd: list[str], log: Path) -> int:
    with log.open("ab") as fh:
        return subprocess.run(
            cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, timeout=120, check=False
        ).returncode


def prepare_imagedeid(paths: Paths, out_dir: Path, workers: int) -> list[str]:
    if not IMAGEDEID.exists():
        raise Unavailable(f"{_show(IMAGEDEID)} not found (package not installed)")
    log = paths.logs / "imagedeid.log"
    if _quiet([str(IMAGEDEID), "run", "--help"], log) != 0:
        raise Unavailable("`imagedeid run --help` failed: no run subcommand yet (see log)")
    if not paths.key.exists() and _quiet([str(IMAGEDEID), "keys", "new", str(paths.key)], log):
        raise Unavailable("`imagedeid keys new` failed (see log)")
    return [
        str(IMAGEDEID),
        "run",
        str(paths.dicom),
        str(out_dir),
        "--key-file",
        str(paths.key),
        "--workers",
        str(workers),
        "--profile",
        IMAGEDEID_PROFILE[0],
    ]


def _peer(executable: str) -> Path:
    path = PEERS_BIN / executable
    if not path.exists():
        raise Unavailable("peer venv missing: run benchmarks/setup_peers.sh")
    return path


def prepare_dicognito(paths: Paths, out_dir: Path, workers: int) -> list[str]:
    # dicognito 0.19.0's console script calls main() without its argument: use -m.
    return [
        str(_peer("python")),
        "-m",
        "dicognito",
        "--output-directory",
        str(out_dir),
        "--quiet",
        "--seed",
        "imagedeid-bench",
        str(paths.dicom),
    ]


def prepare_deid(paths: Paths, out_dir: Path, workers: int) -> list[str]:
    return [str(_peer("python")), str(BENCH_DIR / "deid_runner.py"), str(paths.flat), str(out_dir)]


def prepare_dicom_anonymizer(paths: Paths, out_dir: Path, workers: int) -> list[str]:
    out_dir.mkdir(parents=True)  # its CLI refuses a folder that does not exist
    return [str(_peer("dicom-anonymizer")), str(paths.flat), str(out_dir)]


TOOLS: dict[str, Callable[[Paths, Path, int], list[str]]] = {
    "imagedeid": prepare_imagedeid,
    "dicognito": prepare_dicognito,
    "deid": prepare_deid,
    "dicom-anonymizer": prepare_dicom_anonymizer,
}


def ensure_corpus(paths: Paths, params: CorpusParams) -> dict[str, Any]:
    if manifest_matches(paths.corpus, params):
        print(f"corpus: reusing {_show(paths.corpus)}")
    else:
        print(f"corpus: building {params.file_count} files ...", flush=True)
        started = time.perf_counter()
        paths.corpus.mkdir(parents=True, exist_ok=True)
        build_corpus(paths.corpus, params)
        print(f"corpus: built in {time.perf_counter() - started:.1f} s")
    manifest: dict[str, Any] = json.loads((paths.corpus / "manifest.json").read_text())
    return manifest


def ensure_flat(paths: Paths, manifest: dict[str, Any]) -> None:
    """Symlinks with neutral, unique names: the input for tools that need a flat folder."""
    if paths.flat.exists():
        shutil.rmtree(paths.flat)
    paths.flat.mkdir(parents=True)
    for n, entry in enumerate(iter_files(manifest), start=1):
        (paths.flat / f"f{n:06d}.dcm").symlink_to(paths.corpus / entry["path"])


def _clear(paths: Paths, name: str) -> Path:
    out_dir = paths.out / name
    for old in [out_dir, *_sidecars(paths, name)]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    return out_dir


def _timed(command: list[str], log: Path) -> tuple[float, float, int | None]:
    """Wall seconds, CPU seconds (the process and its children) and the exit code."""
    # Write back what earlier runs left dirty (and the deleted output folder's blocks)
    # now, not inside this tool's timing: the kernel charges that work to whoever is
    # creating files when it happens.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    returncode: int | None = None
    try:
        with log.open("ab") as fh:
            returncode = subprocess.run(
                command,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                timeout=TOOL_TIMEOUT_S,
                check=False,
            ).returncode
    except subprocess.TimeoutExpired:
        pass
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, returncode


def run_tools(
    names: list[str], paths: Paths, manifest: dict[str, Any], workers: int, repeat: int = 1
) -> list[Run]:
    """Run every tool ``repeat`` times, round-robin (tool A, B, C, then A, B, C again), so
    that each tool's runs meet the same spells of a shared machine's speed; keep each
    tool's fastest run's timing and score its last output."""
    files_in = int(manifest["file_count"])
    runs = {name: Run(tool=name, files_in=files_in) for name in names}
    for attempt in range(repeat):
        for name in names:
            run = runs[name]
            if run.status != "ok":  # unavailable, failed or timed out: not again
                continue
            _attempt(run, name, paths, workers, f"({attempt + 1}/{repeat})")
    for name in names:
        _score(runs[name], name, paths, manifest)
    return [runs[name] for name in names]


def _attempt(run: Run, name: str, paths: Paths, workers: int, which: str) -> None:
    out_dir = _clear(paths, name)
    try:
        run.command = TOOLS[name](paths, out_dir, workers)
    except Unavailable as exc:
        run.status, run.reason = "unavailable", str(exc)
        return
    print(f"{name}: running on {run.files_in} files {which} ...", flush=True)
    wall, cpu, run.returncode = _timed(run.command, paths.logs / f"{name}.log")
    run.all_seconds.append(round(wall, 3))
    if run.returncode is None:
        run.status, run.reason = "timeout", f"killed after {TOOL_TIMEOUT_S} s"
    elif run.returncode:
        run.status, run.reason = "failed", f"exit code {run.returncode} (see {name}.log)"
    if run.seconds is None or wall < run.seconds:
        run.seconds, run.cpu_seconds = wall, cpu


def _score(run: Run, name: str, paths: Paths, manifest: dict[str, Any]) -> None:
    if run.seconds is None:  # never ran (unavailable)
        return
    run.files_per_s = run.files_in / run.seconds
    print(f"{name}: {run.seconds:.1f} s, scoring ...", flush=True)
    out_dir = paths.out / name
    if out_dir.exists():
        run.scores = analyze(out_dir, manifest)
    run.scores["sidecars"] = _score_sidecars(paths, name, manifest)


def _sidecars(paths: Paths, name: str) -> list[Path]:
    """What a tool wrote beside its output folder (imagedeid: <out>.imagedeid/)."""
    return sorted(paths.out.glob(f"{name}.*"))


def _score_sidecars(paths: Paths, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Leaks in reports, journals or mappings a tool wrote beside its output."""
    total: dict[str, Any] = {"paths": [], "files": 0, "files_with_leaks": 0, "leak_hits": 0}
    for path in _sidecars(paths, name):
        if not path.is_dir():
            continue
        scores = analyze(path, manifest)
        total["paths"].append(path.name)
        total["files"] += scores["files_out"] + scores["non_dicom_files"]
        total["files_with_leaks"] += scores["files_with_leaks"]
        total["leak_hits"] += scores["leak_hits"] + scores["path_leaks"]
    return total


def _warn_if_busy() -> None:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.1f} before starting: timings will be noisy")


def rescore(paths: Paths, manifest: dict[str, Any], names: list[str]) -> list[Run]:
    """Runs as recorded in results.json, scored again on the outputs left on disk."""
    previous = json.loads((paths.out / "results.json").read_text())
    runs = []
    for saved in previous["runs"]:
        if saved["tool"] in names:
            run = Run(**{**saved, "scores": {}, "ratio_to_baseline": None})
            if (paths.out / run.tool).is_dir():
                run.scores = analyze(paths.out / run.tool, manifest)
            run.scores["sidecars"] = _score_sidecars(paths, run.tool, manifest)
            runs.append(run)
    return runs


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_rows(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = (c.rjust(w) if j else c.ljust(w) for j, (c, w) in pairs)
        print("  ".join(cells))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _speed_row(r: Run) -> list[str]:
    s = r.scores
    return [
        r.tool,
        r.status,
        str(r.files_in),
        str(s.get("files_out", "-")),
        _fmt(r.seconds, ".1f"),
        _fmt(r.cpu_seconds, ".1f"),
        _fmt(r.files_per_s, ".1f"),
        _fmt(r.ratio_to_baseline, ".2f"),
        str(s.get("files_with_leaks", "-")),
        str(s.get("leak_hits", "-")),
        str(s.get("path_leaks", "-")),
    ]


def _utility_row(r: Run) -> list[str]:
    u = r.scores["utility"]
    n = u["files_matched"]

    def refs(kind: str) -> str:
        return "/".join(str(u[f"{kind}_refs_{v}"]) for v in ("ok", "removed", "wrong"))

    return [
        r.tool,
        f"{n}/{r.files_in}",
        f"{u['patient_id_one_per_patient']}/{u['patients']}"
        + ("" if u["patient_ids_distinct"] else " !dist"),
        f"{u['study_uid_one_per_study']}/{u['studies']}"
        + ("" if u["study_uids_distinct"] else " !dist"),
        f"{u['date_intervals_kept_patients']}/{u['patients']}",
        f"{u['descriptors_kept']}/{n}",
        f"{u['pixels_identical']}/{n}",
        refs("image"),
        refs("study"),
        f"{u['safe_private_kept']}/{n}",
        f"{u['core_uids_present']}/{n}",
    ]


def print_tables(runs: list[Run]) -> None:
    head = ["tool", "status", "in", "out", "wall s", "cpu s", "files/s", f"x {BASELINE}"]
    _print_rows([[*head, "leak files", "leak hits", "path leaks"], *map(_speed_row, runs)])
    print("\nleak hits by category (distinct injected strings found per file, summed):")
    for r in runs:
        cats = r.scores.get("leak_hits_by_category")
        if cats is not None:
            text = ", ".join(f"{c} {cats[c]}" for c in CATEGORY_ORDER if c in cats)
            print(f"  {r.tool}: {text or 'none'}")
    print("\nwhere (attributes holding injected strings, in a sample of leaking files):")
    for r in runs:
        where = list(r.scores.get("leaking_attributes", {}))
        if where:
            more = f" ... (+{len(where) - 12})" if len(where) > 12 else ""
            print(f"  {r.tool}: {', '.join(where[:12])}{more}")
    print("\nutility (matched outputs; refs = ok/removed/wrong; !dist = not distinct):")
    head = ["tool", "matched", "1 PID/patient", "1 UID/study", "intervals", "descr kept"]
    head += ["pixels same", "image refs", "study refs", "safe private", "core UIDs"]
    scored = [r for r in runs if "utility" in r.scores]
    _print_rows([head, *map(_utility_row, scored)])
    for r in runs:
        if r.status not in ("ok", "control"):
            print(f"note: {r.tool} {r.status}: {r.reason}")
        side = r.scores.get("sidecars")
        if side and side["paths"]:
            print(
                f"note: {r.tool} wrote {side['files']} files beside its output "
                f"({', '.join(side['paths'])}): {side['files_with_leaks']} with leaks, "
                f"{side['leak_hits']} leak hits"
            )
        if r.scores.get("unmatched") or r.scores.get("duplicates"):
            print(
                f"note: {r.tool}: {r.scores['unmatched']} outputs not matched to an input, "
                f"{r.scores['duplicates']} duplicates"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=CorpusParams.patients)
    parser.add_argument("--studies", type=int, default=CorpusParams.studies)
    parser.add_argument("--files-per-series", type=int, default=CorpusParams.files_per_series)
    parser.add_argument("--seed", type=int, default=CorpusParams.seed)
    parser.add_argument("--workers", type=int, default=2, help="imagedeid workers (default 2)")
    parser.add_argument("--skip-peers", action="store_true", help="run imagedeid only")
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), help="run only these")
    parser.add_argument(
        "--imagedeid-profile",
        default=HEADERS_PROFILE,
        help="imagedeid's profile (default: research without Clean Pixel Data; "
        "`research` adds OCR of every image that needs it)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each tool N times (round-robin), report the fastest",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="run no tool: score the outputs already there with the timings in results.json",
    )
    args = parser.parse_args(argv)
    IMAGEDEID_PROFILE[0] = args.imagedeid_profile
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 1 <= args.workers <= (os.cpu_count() or 2):
        parser.error(f"--workers must be between 1 and {os.cpu_count()}")
    params = CorpusParams(args.patients, args.studies, args.files_per_series, args.seed)
    paths = Paths(args.out.resolve())
    names = args.tools or (["imagedeid"] if args.skip_peers else list(TOOLS))
    if args.rescore:
        manifest = json.loads((paths.corpus / "manifest.json").read_text())
        runs = rescore(paths, manifest, names)
    else:
        paths.logs.mkdir(parents=True, exist_ok=True)
        for old in paths.logs.glob("*.log"):
            old.unlink()
        manifest = ensure_corpus(paths, params)
        ensure_flat(paths, manifest)
        _warn_if_busy()
        runs = run_tools(names, paths, manifest, args.workers, args.repeat)
    control = Run(tool="input (control)", status="control", files_in=int(manifest["file_count"]))
    control.scores = analyze(paths.dicom, manifest)
    baseline = next((r for r in runs if r.tool == BASELINE and r.status == "ok"), None)
    for r in runs:
        if baseline and baseline.files_per_s and r.files_per_s and r.status == "ok":
            r.ratio_to_baseline = r.files_per_s / baseline.files_per_s
    print()
    print_tables([control, *runs])
    results = {
        "params": asdict(params),
        "workers": args.workers,
        "repeat": args.repeat,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "baseline": BASELINE,
        "runs": [asdict(r) for r in [control, *runs]],
    }
    (paths.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults: {_show(paths.out / 'results.json')}; tool logs: {_show(paths.logs)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
