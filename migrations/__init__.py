"""Alembic migrations: the only way a FirstContact schema is made."""
