"""Alembic migrations of the run store: ``env.py`` plus one module per revision in ``versions/``."""

__all__: list[str] = []
