"""Alembic migrations for the archive database (run programmatically, see store.py)."""
