"""Free-text de-identification: deny-lists built from a file's own values, and patterns."""

from imagedeid.text.denylist import DenyListCleaner, build_cleaner

__all__ = ["DenyListCleaner", "build_cleaner"]
