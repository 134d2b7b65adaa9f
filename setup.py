"""Build hook: compile the header engine's hot modules with mypyc.

The modules stay plain, strictly typed Python (``make typecheck`` checks them);
mypyc turns them into C extensions that run the same code faster. The pure-Python
package is the fallback: with IMAGEDEID_PURE_PYTHON=1, without mypyc, or when the
C build fails (no compiler), imagedeid installs and behaves the same, only slower.
``imagedeid --version`` says which engine is installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The per-file path of a header-only run (see benchmarks/engine_phases.py).
COMPILED = (
    "dicom/collect.py",
    "dicom/container.py",
    "dicom/context.py",
    "dicom/engine.py",
    "dicom/operations.py",
    "dicom/part10.py",
    "dicom/rawcodec.py",
    "dicom/rawparse.py",
    "dicom/scan.py",
    "dicom/textcodec.py",
    "dicom/values.py",
    "pseudonym/pseudonymizer.py",
    "text/denylist.py",
    "text/terms.py",
)


def _warn(message: str) -> None:
    print(f"imagedeid: {message}; installing the pure-Python engine", file=sys.stderr)


class _OptionalBuildExt(build_ext):
    """All compiled modules or none: a half-built set would not import."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers, a mypyc error
            _warn(f"the compiled engine could not be built ({type(exc).__name__}: {exc})")
            for out in self.get_outputs():
                Path(out).unlink(missing_ok=True)
                if self.inplace:  # an editable install copies them into src/
                    name = Path(out).name
                    for built in Path("src").rglob(name):
                        built.unlink(missing_ok=True)


def _ext_modules() -> list[object]:
    if os.environ.get("IMAGEDEID_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not available")
        return []
    paths = [f"src/imagedeid/{m}" for m in COMPILED]
    try:
        return list(
            mypycify(
                ["--config-file", "tools/mypyc.ini", *paths],
                opt_level="3",
                group_name="imagedeid_engine",
            )
        )
    except Exception as exc:  # mypyc refuses a construct: the engine still works
        _warn(f"mypyc failed ({type(exc).__name__})")
        return []


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _OptionalBuildExt})
