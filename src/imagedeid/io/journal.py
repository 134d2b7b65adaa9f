"""The run journal: which inputs are done, so a rerun after a crash skips them.

One JSON line per finished input, appended as each completes and flushed after each
batch of results (a crash loses at most the lines of the results in flight). Inputs
are named by a keyed hash of (path, size, mtime) -- the journal holds no paths,
which may contain patient names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        # plain output name -> inputs that shared it (io.shared_names), from earlier runs
        self.shared: dict[str, set[str]] = {}
        if path.exists():
            for entry in _done_entries(path):
                self.done[entry["key"]] = entry["out"]
                if entry.get("shared"):
                    self.shared.setdefault(entry["shared"], set()).add(entry["key"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def record_done(
        self,
        key: str,
        out: str,
        shared: str = "",
        detail: dict[str, Any] | None = None,
        sha: str = "",
    ) -> None:
        """``out`` is done for ``key``; a later line for the same key replaces it.
        ``detail`` holds what else a caller needs to report the input again (no PHI);
        ``sha`` the output's SHA-256, kept for outputs whose name may still change."""
        entry: dict[str, Any] = {"key": key, "status": "ok", "out": out}
        if shared:
            entry["shared"] = shared
        if detail:
            entry["detail"] = detail
        if sha:
            entry["sha"] = sha
        self._fh.write(json.dumps(entry) + "\n")

    def flush(self) -> None:
        self._fh.flush()

    def latest(self, keys: set[str], outs: set[str]) -> dict[str, dict[str, Any]]:
        """The latest entry of each input in ``keys`` and of each input whose latest output
        is in ``outs``, earlier runs and this one (reads the file; holds only those)."""
        self._fh.flush()
        found: dict[str, dict[str, Any]] = {}
        for entry in _done_entries(self.path):
            key = entry["key"]
            if key in keys or key in found or entry["out"] in outs:
                found[key] = entry
        return {k: e for k, e in found.items() if k in keys or e["out"] in outs}

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self.sync()
        self._fh.close()


def _done_entries(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that input is simply redone
            if isinstance(entry, dict) and entry.get("status") == "ok":
                yield entry
