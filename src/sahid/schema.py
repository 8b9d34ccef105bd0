"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Two groups: the **ledger** (entries, checkpoints) is the truth; the **projections**
(everything else) are derived from it by replay and checked against a replay by
``verify``. Alembic migrations in ``sahid/_migrations`` create the same tables; a test
compares them.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

# One row per leaf. ``nodes`` holds the hashes of the internal tree nodes this leaf
# completes (levels 1..t, 32 bytes each): node (l, j) lives in the row of leaf
# (j+1)*2**l - 1, so every stored subtree hash is one primary-key lookup away.
entries = Table(
    "entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("nodes", LargeBinary, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

LEDGER_TABLES = ("entries", "checkpoints")

# --- projections -------------------------------------------------------------------

archive_facts = Table(
    "archive_facts",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("seq", Integer, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("ed25519", LargeBinary, nullable=False),
    Column("x25519", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("added_seq", Integer, nullable=False),
)


def projection_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if t.name not in LEDGER_TABLES]
