"""Persistence: SQLAlchemy 2 models, Alembic migrations, one repository module per concern."""

from service.storage.database import Database

__all__ = ["Database"]
