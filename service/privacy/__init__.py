"""Privacy by design: faces and licence plates obscured before an image is stored or returned,
metadata stripped, stored images deleted after their retention period (docs/privacy.md)."""

from service.privacy.anonymiser import AnonymiseConfig, Anonymised, Anonymiser, Region
from service.privacy.guard import AnonymiserUnavailable, PrivacyGuard

__all__ = ["AnonymiseConfig", "Anonymised", "Anonymiser", "AnonymiserUnavailable", "PrivacyGuard", "Region"]
