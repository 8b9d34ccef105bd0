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
    # The FTS5 search index is SQLite-only and outside the metadata (sahid.records.search):
    # its virtual table and shadow tables are the only tables the metadata does not name.
    fts = [d for d in diff if d[0] == "remove_table" and d[1].name.startswith("search_text")]
    assert {d[1].name for d in fts} >= {"search_text", "search_text_data", "search_text_idx"}
    assert [d for d in diff if d not in fts] == []
