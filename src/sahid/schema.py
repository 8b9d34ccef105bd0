"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Two groups: the **ledger** (entries, checkpoints) is the truth; the **projections**
(everything else) are derived from it by replay and checked against a replay by
``verify``. Alembic migrations in ``sahid/_migrations`` create the same tables; a test
compares them.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, Table, Text

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

# Secrets kept beside the ledger, never in it: one data key per sealed person (wrapped
# with the vault's "person-keys" subkey). Deleting a row is how `sahid person erase`
# makes a person's sealed fields unreadable for ever; no replay can bring it back.
person_keys = Table(
    "person_keys",
    metadata,
    Column("person_id", Text, primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
)

SECRET_TABLES = ("person_keys",)

# Caches of work that can be redone from the blobs (not the ledger): encrypted thumbnail
# blobs of an evidence item, and perceptual hashes for `sahid similar`.
thumbnails = Table(
    "thumbnails",
    metadata,
    Column("evidence_id", Text, primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("blob", Text, nullable=False, unique=True),
    Column("at_ms", Integer),  # position in a video, None for images
)

phashes = Table(
    "phashes",
    metadata,
    Column("evidence_id", Text, primary_key=True),
    Column("hashes", Text, nullable=False),  # space-separated 16-hex-digit pHashes
)

CACHE_TABLES = ("thumbnails", "phashes")

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


# Records (DESIGN §4): one row per record, its fields as canonical JSON. ``parent`` is
# the incident a record belongs to (acts, charges, statements, ...).
records = Table(
    "records",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("parent", Text),
    Column("created_seq", Integer, nullable=False),
    Column("updated_seq", Integer, nullable=False),
    Index("ix_records_type", "type"),
    Index("ix_records_parent", "parent"),
)

# What filters select on: (id has key=value), written by the record ``origin`` (so an
# update can replace what that record said). Keys: incident, type, status, place, unit,
# charge.
facets = Table(
    "facets",
    metadata,
    Column("origin", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    Index("ix_facets_key_value", "key", "value"),
    Index("ix_facets_id", "id"),
)

# One searchable document per record or evidence item; ``doc`` is the seq of the entry
# that created it and the rowid of its row in the FTS5 table ``search_text`` (SQLite
# only, created by the migration: see sahid.records.search).
search_docs = Table(
    "search_docs",
    metadata,
    Column("doc", Integer, primary_key=True, autoincrement=False),
    Column("id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("date_lo", Text),
    Column("date_hi", Text),
)

# How many documents hold each word of the FTS5 index (SQLite only; one row per distinct
# token of ``search_text``). Ranked search reads it to expand a prefix into the words it
# stands for and to weigh words by rarity, instead of scanning every match in FTS5.
search_terms = Table(
    "search_terms",
    metadata,
    Column("term", Text, primary_key=True),
    Column("docs", Integer, nullable=False),
    sqlite_with_rowid=False,
)


# One row per imported record: a keyed fingerprint of its checked fields (and, for a
# person, of its sealed fields under the person's own key), from its ``record.created``
# entry, so that importing the same rows again is refused (sahid.records.duplicates).
import_fingerprints = Table(
    "import_fingerprints",
    metadata,
    Column("id", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False, index=True),
    Column("sealed_fingerprint", Text),
    Column("seq", Integer, nullable=False),
)


# A derived copy (redaction) and the original it was made from, with the exact
# operations (from `redaction.made`): the chain original-hash → copy-hash.
derivations = Table(
    "derivations",
    metadata,
    Column("copy_id", Text, primary_key=True),
    Column("original_id", Text, nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("operations", Text, nullable=False),  # canonical JSON
    Column("seq", Integer, nullable=False),
)


# Outside memory of the log (DESIGN §3, "Anchors"): one row per RFC 3161 token
# (`checkpoint.anchored`, kind "rfc3161", source = TSA URL, time = genTime) or witness
# cosignature (`checkpoint.cosigned`, kind "cosignature", source = witness vkey, time =
# the cosignature's) recorded for the checkpoint of ``size``; the token or line itself
# is in the entry ``seq``.
anchors = Table(
    "anchors",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("note_sha256", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("time", Text, nullable=False),
    Index("ix_anchors_size", "size"),
)

# Note keys of the other side of witnessing: role "witness" = a witness this log takes
# cosignatures from (`witness.added`, origin = the key's name); role "log" = a log this
# archive witnesses (`witness.trusted`, origin = the log's origin).
witness_keys = Table(
    "witness_keys",
    metadata,
    Column("role", Text, primary_key=True),
    Column("origin", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
)

# Every checkpoint this archive cosigned as a witness (`witness.cosigned`): the newest
# row of an origin is the size and root the next request must be consistent with.
witnessed = Table(
    "witnessed",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("origin", Text, nullable=False, index=True),
    Column("size", Integer, nullable=False),
    Column("root", Text, nullable=False),
    Column("time", Integer, nullable=False),
)


def projection_tables() -> list[Table]:
    skip = LEDGER_TABLES + SECRET_TABLES + CACHE_TABLES
    return [t for t in metadata.sorted_tables if t.name not in skip]
