"""Where imagedeid's per-file CPU goes, in-process and without file I/O.

    .venv/bin/python benchmarks/engine_phases.py [CORPUS_DIR] [--repeat N]

Reads every .dcm under CORPUS_DIR (default: the run_bench corpus) into memory, then
times parse, rules (pass 1 + pass 2), encode and the leak scan per file with the
research profile: once with cold caches (what a worker meets: every file new), then
N times warm (default 3), keeping each phase's fastest pass. Prints CPU milliseconds
per file (process time: on a shared machine, wall time measures the neighbours too).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from imagedeid.dicom import engine
from imagedeid.dicom.container import build_meta, read_part10, write_part10
from imagedeid.dicom.scan import find_leaks
from imagedeid.policy.plan import compile_plan
from imagedeid.policy.profile import builtin_profile
from imagedeid.pseudonym import ProjectKey, Pseudonymizer
from imagedeid.text import build_cleaner

DEFAULT = Path(__file__).resolve().parent / "out" / "corpus" / "dicom"


def main() -> int:
    args = sys.argv[1:]
    repeat = 3
    if "--repeat" in args:
        at = args.index("--repeat")
        repeat = int(args[at + 1])
        del args[at : at + 2]
    root = Path(args[0]) if args else DEFAULT
    files = [p.read_bytes() for p in sorted(root.rglob("*.dcm"))]
    if not files:
        print(f"no .dcm files under {root}; run benchmarks/run_bench.py first", file=sys.stderr)
        return 1
    plan = compile_plan(builtin_profile("research"))
    pseud = Pseudonymizer(ProjectKey(b"engine-phases-benchmark-key-0001"))
    clock = time.process_time
    best: dict[str, float] = {}
    for n in range(1 + repeat):
        totals = dict.fromkeys(("parse", "rules", "encode", "scan"), 0.0)
        for data in files:
            t0 = clock()
            part = read_part10(data)
            t1 = clock()
            out = engine.deidentify_elements(part.dataset, plan, pseud, build_cleaner, ("b",))
            t2 = clock()
            meta = build_meta(out.sop_class_uid, out.sop_uid, part.transfer_syntax)
            ser = write_part10(meta, out.elems, part.syntax, part.deflated)
            t3 = clock()
            find_leaks(ser, out.cleaner.scan_terms, out.codec, out.generated, meta, out.elems)
            t4 = clock()
            for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                totals[key] += dt
        if n == 0:
            _report("cold", totals, len(files))
        else:
            best = {k: min(v, best.get(k, v)) for k, v in totals.items()}
    if repeat:
        _report(f"warm (fastest of {repeat})", best, len(files))
    return 0


def _report(label: str, totals: dict[str, float], count: int) -> None:
    per_file = {k: round(v / count * 1000, 3) for k, v in totals.items()}
    total = round(sum(totals.values()) / count * 1000, 3)
    print(f"{label}: {count} files, CPU ms/file {per_file}, total {total}")


if __name__ == "__main__":
    sys.exit(main())
