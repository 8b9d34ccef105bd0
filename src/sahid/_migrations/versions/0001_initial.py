"""Initial schema: ledger (entries, tree, checkpoints) and the first projections."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "tree",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "archive_facts",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("ed25519", sa.LargeBinary, nullable=False),
        sa.Column("x25519", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("added_seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("evidence_id", sa.Text, primary_key=True),
        sa.Column("blob", sa.Text, nullable=False, unique=True),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("name_b64", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("metadata_problems", sa.Text, nullable=False),
        sa.Column("added_seq", sa.Integer, nullable=False),
        sa.Column("added_ts", sa.Text, nullable=False),
    )
    op.create_table(
        "custody",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("evidence_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("by", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
    )
    op.create_index("ix_custody_evidence_id", "custody", ["evidence_id"])


def downgrade() -> None:
    for name in (
        "custody",
        "evidence",
        "members",
        "archive_facts",
        "checkpoints",
        "tree",
        "entries",
    ):
        op.drop_table(name)
