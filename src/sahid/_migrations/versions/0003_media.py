"""Media protection (issue 6): derivations (projection), thumbnails and pHash caches."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thumbnails",
        sa.Column("evidence_id", sa.Text, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("blob", sa.Text, nullable=False, unique=True),
        sa.Column("at_ms", sa.Integer),
    )
    op.create_table(
        "phashes",
        sa.Column("evidence_id", sa.Text, primary_key=True),
        sa.Column("hashes", sa.Text, nullable=False),
    )
    op.create_table(
        "derivations",
        sa.Column("copy_id", sa.Text, primary_key=True),
        sa.Column("original_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("operations", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_derivations_original_id", "derivations", ["original_id"])


def downgrade() -> None:
    for name in ("derivations", "phashes", "thumbnails"):
        op.drop_table(name)
