"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Two groups: the **ledger** (entries, checkpoints) is the truth; the **projections**
(everything else) are derived from it by replay and checked against a replay by
``verify``. Alembic migrations in ``sahid/_migrations`` create the same tables; a test
compares them.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()

# One row per entry: the sealed (encrypted) entry bytes.
entries = Table(
    "entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("sealed", LargeBinary, nullable=False),
)

# One row per leaf: ``hashes`` is the leaf hash followed by the internal nodes this leaf
# completes (levels 1..t, 32 bytes each). Node (l, j) lives in row (j+1)*2**l - 1 at
# offset 32*l, so every stored subtree hash is one primary-key lookup away. Kept apart
# from the sealed entries so that the rows are small and proofs touch few pages.
tree = Table(
    "tree",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

LEDGER_TABLES = ("entries", "tree", "checkpoints")

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


evidence = Table(
    "evidence",
    metadata,
    Column("evidence_id", Text, primary_key=True),
    Column("blob", Text, nullable=False, unique=True),
    Column("sha256", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("name", Text),
    Column("name_b64", Text),
    Column("source", Text),
    Column("note", Text),
    Column("metadata", Text, nullable=False),  # canonical JSON
    Column("metadata_problems", Text, nullable=False),  # canonical JSON list
    Column("added_seq", Integer, nullable=False),
    Column("added_ts", Text, nullable=False),
)

custody = Table(
    "custody",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("evidence_id", Text, nullable=False, index=True),
    Column("event", Text, nullable=False),  # added | received
    Column("source", Text),
    Column("note", Text),
    Column("name", Text),
    Column("by", Text, nullable=False),
    Column("ts", Text, nullable=False),
)


def projection_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if t.name not in LEDGER_TABLES]
