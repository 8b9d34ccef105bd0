"""Anchors (RFC 3161 tokens, witness cosignatures) and the witness's own state.

Archives made before this revision hold no entry of the new kinds, so the new
projection tables start empty and a replay still matches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anchors",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("note_sha256", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("time", sa.Text, nullable=False),
    )
    op.create_index("ix_anchors_size", "anchors", ["size"])
    op.create_table(
        "witness_keys",
        sa.Column("role", sa.Text, primary_key=True),
        sa.Column("origin", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "witnessed",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("time", sa.Integer, nullable=False),
    )
    op.create_index("ix_witnessed_origin", "witnessed", ["origin"])


def downgrade() -> None:
    for name in ("witnessed", "witness_keys", "anchors"):
        op.drop_table(name)
