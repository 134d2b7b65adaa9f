"""The one exception hierarchy of imagedeid.

::

    ImageDeidError                  base of everything raised on purpose
    ├── PolicyError                 a profile is invalid (unknown keyword, bad action, bad YAML)
    ├── KeyFileError                a key file is missing, unreadable, malformed or too open
    ├── InputError                  an input cannot be read or parsed as DICOM
    │   ├── NotDicomError           the input is not a DICOM file at all
    │   └── UnorderedInputError     elements out of order (pydicom may reorder them)
    ├── UnsafeOutputError           de-identification would release identifying data
    │   ├── LeakDetectedError       the final byte scan found an identifying value
    │   └── PixelReviewError        burned-in text is uncertain or survives masking: sequester
    ├── OutputError                 an output cannot be written safely
    ├── CrosswalkError              the re-identification crosswalk cannot be used
    └── BackendUnavailableError     an optional component (extra) is not installed

Messages name files, tags, keywords and rules -- never element values, keys or PHI.
"""

from __future__ import annotations


class ImageDeidError(Exception):
    """Base class of every error imagedeid raises on purpose."""


class PolicyError(ImageDeidError):
    """A profile or override is invalid."""


class KeyFileError(ImageDeidError):
    """A key file is missing, unreadable, malformed or has unsafe permissions."""


class InputError(ImageDeidError):
    """An input file cannot be read or parsed."""


class NotDicomError(InputError):
    """The input is not a DICOM file."""


class UnorderedInputError(InputError):
    """The data set's elements are out of ascending order but otherwise readable."""


class UnsafeOutputError(ImageDeidError):
    """Writing the output would release identifying information."""


class LeakDetectedError(UnsafeOutputError):
    """The final scan of the serialized output found an identifying value."""

    def __init__(self, message: str, locations: list[str]) -> None:
        super().__init__(message)
        self.locations = locations


class PixelReviewError(UnsafeOutputError):
    """Burned-in text cannot be ruled out or removed: the file is sequestered for review.

    ``review`` optionally carries thumbnails (PNG bytes) for the data holder's review page.
    """

    def __init__(self, message: str, review: object | None = None) -> None:
        super().__init__(message)
        self.review = review


class OutputError(ImageDeidError):
    """An output cannot be written safely."""


class CrosswalkError(ImageDeidError):
    """The re-identification crosswalk cannot be opened, decrypted or written."""


class BackendUnavailableError(ImageDeidError):
    """An optional component is not installed; the message names the extra to install."""
