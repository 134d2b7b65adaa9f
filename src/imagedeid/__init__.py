"""imagedeid: de-identify medical imaging data to DICOM PS3.15 Annex E, with keyed,
consistent pseudonymization.

The public Python API lives in :mod:`imagedeid.api`; ``imagedeid.deidentify`` is
re-exported here lazily so that ``import imagedeid`` stays light.
"""

from __future__ import annotations

from typing import Any

from imagedeid.version import __version__

__all__ = ["__version__", "deidentify"]


def __getattr__(name: str) -> Any:
    if name == "deidentify":
        from imagedeid.api import deidentify

        return deidentify
    raise AttributeError(name)
