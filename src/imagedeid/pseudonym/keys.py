"""The project secret and the per-purpose keys derived from it (HKDF-SHA256).

A key file is one line: ``imagedeid-key-v1:<urlsafe base64 of 32 random bytes>``.
Reading and writing key files is the io layer's job; this module only encodes,
decodes and derives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from imagedeid.errors import KeyFileError

KEY_PREFIX = "imagedeid-key-v1:"
SECRET_BYTES = 32

PURPOSES = ("uid", "identifier", "name", "date-shift", "crosswalk", "journal", "fingerprint")


def generate_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


_SALT = b"imagedeid/v1"


def _derive(secret: bytes, purpose: str) -> bytes:
    """HKDF-SHA256 (RFC 5869) with one output block of 32 bytes: extract, then expand.
    The standard library's HMAC suffices, so deriving keys loads no crypto package
    (tests check it against the ``cryptography`` package's HKDF)."""
    prk = hmac.new(_SALT, secret, hashlib.sha256).digest()
    return hmac.new(prk, purpose.encode("ascii") + b"\x01", hashlib.sha256).digest()


@dataclass(frozen=True)
class ProjectKey:
    """One project secret and its derived purpose keys. Never printed, never logged."""

    secret: bytes = field(repr=False)
    _derived: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise KeyFileError("the project secret is shorter than 16 bytes; create a new key")
        object.__setattr__(self, "_derived", {p: _derive(self.secret, p) for p in PURPOSES})

    def purpose_key(self, purpose: str) -> bytes:
        try:
            return self._derived[purpose]
        except KeyError:
            raise KeyFileError(f"no key purpose named {purpose!r}") from None

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible identifier of the key, safe to put in reports."""
        digest = hmac.new(self.purpose_key("fingerprint"), b"fingerprint", hashlib.sha256)
        return "sha256:" + digest.hexdigest()[:16]

    def encode(self) -> str:
        return KEY_PREFIX + base64.urlsafe_b64encode(self.secret).decode("ascii") + "\n"

    @classmethod
    def decode(cls, text: str, source: str) -> ProjectKey:
        line = text.strip()
        if not line.startswith(KEY_PREFIX):
            raise KeyFileError(
                f"{source}: not an imagedeid key (expected a line starting with "
                f"{KEY_PREFIX!r}); create one with 'imagedeid keys new PATH'"
            )
        try:
            secret = base64.urlsafe_b64decode(line[len(KEY_PREFIX) :].encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise KeyFileError(f"{source}: the key is not valid base64") from None
        try:
            return cls(secret)
        except KeyFileError as exc:
            raise KeyFileError(f"{source}: {exc}") from None

    def __reduce__(self) -> tuple[type[ProjectKey], tuple[bytes]]:
        return (ProjectKey, (self.secret,))
