"""Who may do what: API keys, roles and the principal a request acts as (docs/security.md)."""

from service.auth.keys import ROLES, Principal, Role

__all__ = ["ROLES", "Principal", "Role"]
