"""Run pydicom/deid with its default recipe over a flat folder; used by run_bench.py.

Runs inside benchmarks/.peers/venv (deid has no command that writes de-identified files
with its default recipe other than this API)::

    .peers/venv/bin/python benchmarks/deid_runner.py FLAT_INPUT_DIR OUTPUT_DIR

It mirrors what deid's own ``deid identifiers --action all`` does: ``get_identifiers``
then ``replace_identifiers`` with no recipe (so deid's default ``deid.dicom`` recipe) and
``save=True`` into the output folder. deid names each output by the input's base name, so
the input folder must be flat with unique names.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: deid_runner.py FLAT_INPUT_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    from deid.dicom import get_identifiers, replace_identifiers

    source, target = Path(argv[0]), Path(argv[1])
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in source.iterdir() if p.is_file())
    ids = get_identifiers(files)
    replace_identifiers(files, ids=ids, save=True, output_folder=str(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
