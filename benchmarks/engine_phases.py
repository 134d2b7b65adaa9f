"""Where imagedeid's per-file CPU goes, in-process and without file I/O.

    .venv/bin/python benchmarks/engine_phases.py [CORPUS_DIR]

Reads every .dcm under CORPUS_DIR (default: the run_bench corpus) into memory, then
times parse, rules (pass 1 + pass 2), encode and the leak scan per file with the
research profile, twice (cold caches, then warm). Prints milliseconds per file.
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
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    files = [p.read_bytes() for p in sorted(root.rglob("*.dcm"))]
    if not files:
        print(f"no .dcm files under {root}; run benchmarks/run_bench.py first", file=sys.stderr)
        return 1
    plan = compile_plan(builtin_profile("research"))
    pseud = Pseudonymizer(ProjectKey(b"engine-phases-benchmark-key-0001"))
    for label in ("cold", "warm"):
        totals = dict.fromkeys(("parse", "rules", "encode", "scan"), 0.0)
        for data in files:
            t0 = time.perf_counter()
            part = read_part10(data)
            t1 = time.perf_counter()
            out = engine.deidentify_elements(part.dataset, plan, pseud, build_cleaner, ("b",))
            t2 = time.perf_counter()
            meta = build_meta(out.sop_class_uid, out.sop_uid, part.transfer_syntax)
            ser = write_part10(meta, out.elems, part.syntax, part.deflated)
            t3 = time.perf_counter()
            find_leaks(ser, out.cleaner.scan_terms, out.codec, out.generated, meta, out.elems)
            t4 = time.perf_counter()
            for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                totals[key] += dt
        per_file = {k: round(v / len(files) * 1000, 3) for k, v in totals.items()}
        print(
            f"{label}: {len(files)} files, ms/file {per_file}, "
            f"total {round(sum(totals.values()) / len(files) * 1000, 3)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
