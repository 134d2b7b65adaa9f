"""Keyed, stateless pseudonymization: one project secret, one derived key per purpose."""

from imagedeid.pseudonym.keys import ProjectKey, generate_secret
from imagedeid.pseudonym.pseudonymizer import Pseudonymizer

__all__ = ["ProjectKey", "Pseudonymizer", "generate_secret"]
