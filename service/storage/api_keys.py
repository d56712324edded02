"""API key records: create, look up by public id, list, revoke. Secrets are never stored."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.auth import keys
from service.auth.keys import Principal, Role
from service.storage.models import ApiKey, utcnow


class ApiKeyError(ValueError):
    """A key name that is taken, or a key that cannot be found; the message says which."""


class ApiKeyRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, name: str, role: Role) -> tuple[ApiKey, str]:
        """A new key; returns its record and the secret, which exists nowhere else afterwards."""
        if self.active_by_name(name) is not None:
            raise ApiKeyError(f"an active key named {name!r} exists; revoke it first")
        new = keys.generate()
        record = ApiKey(id=new.key_id, name=name, role=role.value, digest=new.digest, created_at=utcnow())
        self.session.add(record)
        self.session.flush()
        return record, new.secret

    def active_by_name(self, name: str) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        return self.session.scalars(stmt).first()

    def all(self) -> list[ApiKey]:
        return list(self.session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the active key with this name, or the key with this id."""
        stmt = select(ApiKey).where(
            or_(ApiKey.id == name_or_id, (ApiKey.name == name_or_id) & ApiKey.revoked_at.is_(None))
        )
        record = self.session.scalars(stmt).first()
        if record is None:
            raise ApiKeyError(f"no active key named {name_or_id!r} and no key with that id")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
        return record

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        key_id = keys.key_id_of(presented)
        record = self.session.get(ApiKey, key_id) if key_id else None
        if record is None or record.revoked_at is not None or not keys.matches(presented, record.digest):
            return None
        return Principal(key_id=record.id, name=record.name, role=Role(record.role))
