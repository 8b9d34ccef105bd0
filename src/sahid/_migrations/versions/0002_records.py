"""Records (DESIGN §4), person keys, facets and the search index (DESIGN §5).

Evidence added before this revision gets its search document here, the same one the
``evidence.added`` handler writes now, so a replay still matches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_keys",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("parent", sa.Text),
        sa.Column("created_seq", sa.Integer, nullable=False),
        sa.Column("updated_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_records_type", "records", ["type"])
    op.create_index("ix_records_parent", "records", ["parent"])
    op.create_table(
        "facets",
        sa.Column("origin", sa.Text, primary_key=True),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
    )
    op.create_index("ix_facets_key_value", "facets", ["key", "value"])
    op.create_index("ix_facets_id", "facets", ["id"])
    op.create_table(
        "search_docs",
        sa.Column("doc", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("date_lo", sa.Text),
        sa.Column("date_hi", sa.Text),
    )
    from sahid.records import search

    conn = op.get_bind()
    search.create_fts(conn)
    rows = conn.execute(
        sa.text("SELECT evidence_id, added_seq, name, source, note FROM evidence")
    ).all()
    for evidence_id, seq, *texts in rows:
        search.add_doc(conn, seq, evidence_id, "evidence", [t for t in texts if t])


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS search_text")
    for name in ("search_docs", "facets", "records", "person_keys"):
        op.drop_table(name)
