"""Facets in the search index (issue 5 item 7: filtered search at a million records).

The FTS5 table ``search_text`` gains a second column, ``facets``: tokens for the place,
type, units, charges and status of each record and of its incidents, its record type,
and the years of its dates (sahid.records.search); and a third, unindexed one,
``spans``: those dates as stored bounds, for the exact date check. A filtered search is
then one FTS5 query that reads only the documents passing the filters, instead of
checking the ``facets`` table for every match. FTS5 cannot add a column, so the upgrade
copies the index into a new table, with both columns computed from the ``facets`` and
``search_docs`` tables as the projections write them, so a replay still matches.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    from sahid.records import search

    search.rebuild_fts(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE search_text_old USING fts5("
        "body, tokenize = 'unicode61 remove_diacritics 0', prefix = '3')"
    )
    conn.exec_driver_sql(
        "INSERT INTO search_text_old (rowid, body) SELECT rowid, body FROM search_text"
    )
    conn.exec_driver_sql("DROP TABLE search_text")
    conn.exec_driver_sql("ALTER TABLE search_text_old RENAME TO search_text")
