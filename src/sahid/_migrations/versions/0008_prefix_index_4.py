"""A prefix index of four characters in the search index (issue 5 item 7).

A query word is matched as a prefix. Prefixes of three characters were read from FTS5's
prefix index; longer ones were spelled out as the indexed words they stand for, and a
four-letter prefix of a few dozen words ("kool": 28) made FTS5 skip through that many
doclists for every candidate of the other words (16-19 ms for such three-word queries
at a million records). FTS5 cannot add a prefix index to a table, so the upgrade copies
the index into a new table with prefixes of three and four characters, and merges it
into one segment. The columns are copied as they are: the projections write the same.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    from sahid.records import search

    search.copy_fts(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE search_text_old USING fts5(body, facets, spans UNINDEXED,"
        " tokenize = 'unicode61 remove_diacritics 0', prefix = '3')"
    )
    conn.exec_driver_sql(
        "INSERT INTO search_text_old (rowid, body, facets, spans)"
        " SELECT rowid, body, facets, spans FROM search_text"
    )
    conn.exec_driver_sql("DROP TABLE search_text")
    conn.exec_driver_sql("ALTER TABLE search_text_old RENAME TO search_text")
