"""The run journal: which inputs are done, so a rerun after a crash skips them.

One JSON line per finished input, appended and flushed as each completes. Inputs
are named by a keyed hash of (path, size, mtime) -- the journal holds no paths,
which may contain patient names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a crash: that input is simply redone
                    if entry.get("status") == "ok":
                        self.done[entry["key"]] = entry["out"]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def record_done(self, key: str, out: str) -> None:
        self._fh.write(json.dumps({"key": key, "status": "ok", "out": out}) + "\n")
        self._fh.flush()

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self.sync()
        self._fh.close()
