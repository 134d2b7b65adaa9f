"""Outputs that want one name: inputs that share a SOP Instance UID but differ in content
(the same instance exported twice in two transfer syntaxes, say).

While a run goes, the first of them to be written takes the plain ``<uid>.dcm`` and
the others go beside it under content names, ``<uid>.<sha256[:12]>.dcm``. Which one
was first depends on scheduling, so at the end of the run ``settle_shared_name`` gives
the plain name to the content with the lowest SHA-256 and every other content its
content name. The output tree then depends only on the inputs and the key, never on
their order or the number of workers.

Nothing is ever lost on the way: a content first gets its new name, and only then is
the plain name replaced, in one atomic rename.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from imagedeid.errors import InputError, OutputError
from imagedeid.io.files import read_bytes, write_new_file

_SUFFIX = ".dcm"


def content_name(plain: str, digest: str) -> str:
    """``a/b/<uid>.dcm`` -> ``a/b/<uid>.<digest[:12]>.dcm`` for the content with ``digest``
    (its SHA-256, hex)."""
    stem = plain[: -len(_SUFFIX)] if plain.endswith(_SUFFIX) else plain
    return f"{stem}.{digest[:12]}{_SUFFIX}"


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settle_shared_name(
    output: Path, plain: str, names: Iterable[str], staging: Path, fsync: bool = False
) -> dict[str, str]:
    """Give ``plain`` to the lowest of the contents now under ``plain`` and ``names``
    (relative to ``output``), and each other content its content name.

    Returns ``{old name: new name}`` for every name whose content changed. Running it
    again on a settled group changes nothing, so a run cut short here is finished by
    the next one."""
    digests: dict[str, str] = {}
    for name in sorted({plain, *names}):
        try:
            digests[name] = content_digest(read_bytes(output / name))
        except InputError:  # gone (or unreadable): no content to place under that name
            continue
    if plain not in digests:
        return {}
    lowest = min(digests.values())
    held = digests[plain]
    if held == lowest:
        return {}
    source = next(n for n, d in digests.items() if d == lowest)
    holder_name = content_name(plain, held)
    if holder_name not in digests:  # the plain holder's content first gets its own name
        write_new_file(output / holder_name, read_bytes(output / plain), staging, fsync)
    try:
        os.replace(output / source, output / plain)  # atomic: plain is never missing
    except OSError as exc:
        raise OutputError(
            f"{output / plain}: cannot be settled ({exc.strerror or type(exc).__name__})"
        ) from None
    return {plain: holder_name, source: plain}
