"""Generate src/imagedeid/policy/data/dicom_dictionary.json from pydicom's data dictionary.

The engine's hot path reads tags, VRs, keywords and well-known UIDs from this file so
that de-identifying a file never has to import pydicom (whose import costs more than
a hundred files' worth of work). tests/test_dictionary_data.py checks it still equals
the installed pydicom's dictionary. Run: .venv/bin/python tools/gen_dicom_dictionary.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import DicomDictionary, RepeatersDictionary

OUT = Path(__file__).resolve().parent.parent / "src/imagedeid/policy/data/dicom_dictionary.json"


def build() -> dict[str, object]:
    tags = {f"{tag:08x}": [entry[0], entry[4]] for tag, entry in sorted(DicomDictionary.items())}
    repeaters = {
        mask.lower(): [entry[0], entry[4]] for mask, entry in sorted(RepeatersDictionary.items())
    }
    return {
        "source": f"pydicom {pydicom.__version__} data dictionary",
        "generated_by": "tools/gen_dicom_dictionary.py",
        "tags": tags,
        "repeaters": repeaters,
        "well_known_uids": {uid: entry[0] for uid, entry in sorted(UID_dictionary.items())},
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
