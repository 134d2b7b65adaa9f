"""The optional re-identification crosswalk: pseudonym -> original, for the data holder.

An embedded SQLite file, kept outside the output tree. Each original is encrypted
with AES-256-GCM under the project key's "crosswalk" purpose key; the pseudonym and
its kind are bound in as associated data. Without the key the file reveals only
pseudonyms, which are already in the released data.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imagedeid.errors import CrosswalkError
from imagedeid.pseudonym import ProjectKey

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crosswalk (
    kind TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (kind, pseudonym)
);
"""


def _aad(kind: str, pseudonym: str) -> bytes:
    return kind.encode("utf-8") + b"\x00" + pseudonym.encode("utf-8")


class Crosswalk:
    def __init__(self, path: Path, key: ProjectKey) -> None:
        self.path = path
        self._aead = AESGCM(key.purpose_key("crosswalk"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path)
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE name='key'").fetchone()
        except sqlite3.Error as exc:
            raise CrosswalkError(f"{path}: not a usable crosswalk ({exc})") from None
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('key', ?)", (key.fingerprint,))
            self._db.commit()
        elif row[0] != key.fingerprint:
            raise CrosswalkError(
                f"{path}: this crosswalk was made with another key (fingerprint {row[0]})"
            )
        os.chmod(path, 0o600)

    def add(self, entries: Iterable[tuple[str, str, str]]) -> None:
        rows = []
        for kind, pseudonym, original in entries:
            nonce = os.urandom(12)
            ct = self._aead.encrypt(nonce, original.encode("utf-8"), _aad(kind, pseudonym))
            rows.append((kind, pseudonym, nonce, ct))
        if rows:
            self._db.executemany("INSERT OR IGNORE INTO crosswalk VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def lookup(self, pseudonym: str) -> list[tuple[str, str]]:
        """(kind, original) for every entry with this pseudonym."""
        out = []
        for kind, nonce, ct in self._db.execute(
            "SELECT kind, nonce, ciphertext FROM crosswalk WHERE pseudonym=? ORDER BY kind",
            (pseudonym,),
        ):
            try:
                plain = self._aead.decrypt(nonce, ct, _aad(kind, pseudonym))
            except InvalidTag:
                raise CrosswalkError(
                    f"{self.path}: an entry failed authentication; the file "
                    "was altered or the key is wrong"
                ) from None
            out.append((kind, plain.decode("utf-8")))
        return out

    def close(self) -> None:
        self._db.close()
