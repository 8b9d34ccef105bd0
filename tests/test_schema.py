"""The Alembic migrations build exactly the tables sahid.schema describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from sahid.schema import metadata
from sahid.store import migrate


def test_migrations_match_the_schema(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
