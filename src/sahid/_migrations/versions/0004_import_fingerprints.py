"""Fingerprints of imported records (issue 5: importing the same rows twice is refused).

Records imported before this revision have no fingerprint (their entries carry none),
so a replay of an older archive writes no rows here either and still matches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_fingerprints",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("sealed_fingerprint", sa.Text),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_import_fingerprints_fingerprint", "import_fingerprints", ["fingerprint"])


def downgrade() -> None:
    op.drop_table("import_fingerprints")
