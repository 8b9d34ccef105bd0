"""Word counts of the search index (issue 5 item 7: ranked search at a million records).

``search_terms`` holds, for each token of the FTS5 table ``search_text``, how many
documents hold it. Ranked search reads it to spell a prefix out as the words it stands
for and to weigh words by rarity, so that FTS5 reads only the newest matches of a common
word instead of all of them (sahid.records.search). The upgrade counts the words of every
document already indexed, which is what replaying the ledger writes too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("term", sa.Text, primary_key=True),
        sa.Column("docs", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    from sahid.records import search

    search.recount_terms(op.get_bind())


def downgrade() -> None:
    op.drop_table("search_terms")
