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
from pathlib import Path

from imagedeid.errors import InputError, OutputError
from imagedeid.io.files import read_bytes, write_new_file

_SUFFIX = ".dcm"
# The note on a result written under a content name, and on one renamed at the end.
CONTENT_NAME_NOTE = "SOP Instance UID shared with a different input; written under a content name"
RENAMED_NOTE = (
    "output renamed at the end of the run: its SOP Instance UID is shared with other content"
)


def content_name(plain: str, digest: str) -> str:
    """``a/b/<uid>.dcm`` -> ``a/b/<uid>.<digest[:12]>.dcm`` for the content with ``digest``
    (its SHA-256, hex)."""
    stem = plain[: -len(_SUFFIX)] if plain.endswith(_SUFFIX) else plain
    return f"{stem}.{digest[:12]}{_SUFFIX}"


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def final_name(plain: str, digest: str, lowest: str) -> str:
    """Where the content with ``digest`` belongs once its group is settled."""
    return plain if digest == lowest else content_name(plain, digest)


def digest_at(path: Path) -> str | None:
    """The SHA-256 of the file at ``path``; None if it is gone (or unreadable)."""
    try:
        return content_digest(read_bytes(path))
    except InputError:
        return None


def settle_shared_name(
    output: Path, plain: str, digests: set[str], staging: Path, fsync: bool = False
) -> str:
    """Give ``plain`` (relative to ``output``) to the lowest of the contents ``digests``
    (SHA-256 of every output of the group) and the content it holds now, and that one
    its content name. Returns the lowest digest: every other content's final name is
    its content name (``final_name``).

    Decided by content, not by which input wrote which name, so running it again on a
    group changes nothing once settled, and finishes a settle that was cut short."""
    held = digest_at(output / plain)
    if held is None:
        raise OutputError(f"{plain}: the shared name holds no readable output")
    lowest = min(digests | {held})
    if held == lowest:
        return lowest
    holder_name, source = content_name(plain, held), content_name(plain, lowest)
    if holder_name == source:
        raise OutputError(f"{plain}: two contents of this name share a content name")
    present = digest_at(output / holder_name)
    if present is None:  # the plain holder's content first gets its own name
        write_new_file(output / holder_name, read_bytes(output / plain), staging, fsync)
    elif present != held:
        raise OutputError(f"{holder_name}: another output holds this content name")
    if digest_at(output / source) != lowest:
        raise OutputError(f"{source}: the content due to take the shared name is missing")
    try:
        os.replace(output / source, output / plain)  # atomic: plain is never missing
    except OSError as exc:
        raise OutputError(
            f"{output / plain}: cannot be settled ({exc.strerror or type(exc).__name__})"
        ) from None
    return lowest
