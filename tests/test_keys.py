"""Per-purpose keys: HKDF-SHA256 from the project secret, the same bytes as before."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from imagedeid.pseudonym import ProjectKey
from imagedeid.pseudonym.keys import PURPOSES


def _reference(secret: bytes, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"imagedeid/v1", info=purpose.encode())
    return hkdf.derive(secret)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_purpose_keys_are_rfc5869_hkdf_sha256(size: int) -> None:
    for _ in range(20):
        secret = secrets.token_bytes(size)
        key = ProjectKey(secret)
        for purpose in PURPOSES:
            assert key.purpose_key(purpose) == _reference(secret, purpose)


def test_purposes_get_unrelated_keys() -> None:
    key = ProjectKey(b"k" * 32)
    derived = {key.purpose_key(p) for p in PURPOSES}
    assert len(derived) == len(PURPOSES)
