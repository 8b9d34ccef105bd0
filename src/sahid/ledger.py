"""The append-only, signed Merkle ledger (DESIGN §3).

An **entry** is RFC 8785 canonical JSON ``{v, seq, ts, by, kind, body, nonce, sig}``.
``sig`` is the author's Ed25519 signature over ``ENTRY_DOMAIN`` followed by the canonical
JSON of the entry without ``sig``; the random ``nonce`` makes the leaf a hiding
commitment. The exact entry bytes are the Merkle leaf data (RFC 9162 leaf hash).

At rest each entry is sealed with ChaCha20-Poly1305 under a key derived from the vault,
with the archive id and ``seq`` as associated data, so a sealed entry moved to another
row no longer opens. Each append batch stores its rows, the subtree hashes the batch
completes, and one signed C2SP checkpoint in a single transaction.

This module knows nothing about the CLI; ``sahid.Archive`` drives it.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import Connection, insert, select

from sahid._internal import merkle
from sahid._internal.canonical import canonical_json, check, encode_checked, parse_canonical
from sahid._internal.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from sahid._internal.note import Signer, Verifier
from sahid._internal.workers import CHUNK, CryptoPool
from sahid.errors import InputError, VerificationError
from sahid.keys import MemberKeys, ed25519_seed
from sahid.schema import checkpoints, entries
from sahid.schema import tree as tree_table
from sahid.store import insert_many, param_mark

ENTRY_VERSION = 1
ENTRY_DOMAIN = b"sahid/entry/v1\n"
HASH = 32

#: The closed set of entry kinds (DESIGN §3). Later features add theirs here.
KINDS = frozenset(
    {
        "archive.created",
        "member.added",
        "key.rotated",
        "evidence.added",
        "evidence.received",
        "record.created",
        "record.updated",
        "link.added",
        "redaction.made",
        "erased",
        # Anchors (sahid.anchors): outside memory of this log's checkpoints ...
        "checkpoint.anchored",
        "checkpoint.cosigned",
        "witness.added",
        # ... and this archive acting as a witness for a partner's log.
        "witness.trusted",
        "witness.cosigned",
    }
)

Random = Callable[[int], bytes]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise InputError("timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    """One signed ledger entry and its exact leaf bytes."""

    seq: int
    ts: str
    by: str
    kind: str
    body: dict[str, Any]
    nonce: str
    sig: str
    data: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.data)

    def signed_message(self) -> bytes:
        """Domain ‖ JCS(entry without sig), cut from the canonical bytes when possible."""
        tail = _tail(self.ts)
        seg = b',"sig":"' + self.sig.encode() + b'"' + tail
        if self.data.endswith(seg):
            return ENTRY_DOMAIN + self.data[: -len(seg)] + tail
        return ENTRY_DOMAIN + canonical_json(
            _unsigned(self.seq, self.ts, self.by, self.kind, self.body, self.nonce)
        )

    def verify_signature(self, public_key: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                base64.b64decode(self.sig), self.signed_message()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def _unsigned(
    seq: int, ts: str, by: str, kind: str, body: dict[str, Any], nonce: str
) -> dict[str, Any]:
    return {
        "v": ENTRY_VERSION,
        "seq": seq,
        "ts": ts,
        "by": by,
        "kind": kind,
        "body": body,
        "nonce": nonce,
    }


def _tail(ts: str) -> bytes:
    """The canonical end of every entry: keys sort as …, seq, sig, ts, v."""
    return b',"ts":"' + ts.encode() + b'","v":1}'


def prepare_entry(
    seq: int, ts: str, by: str, kind: str, body: dict[str, Any], nonce: bytes
) -> tuple[bytes, str]:
    """The signed message (domain ‖ JCS without sig) and the nonce as text."""
    if kind not in KINDS:
        raise InputError(f"unknown entry kind {kind!r}; allowed: {', '.join(sorted(KINDS))}")
    check(body, "body")  # the envelope fields are ours and of known types
    nonce_text = base64.b64encode(nonce).decode()
    return ENTRY_DOMAIN + encode_checked(_unsigned(seq, ts, by, kind, body, nonce_text)), nonce_text


def finish_entry(
    seq: int,
    ts: str,
    by: str,
    kind: str,
    body: dict[str, Any],
    nonce_text: str,
    msg: bytes,
    sig: bytes,
) -> Entry:
    """Splice ``"sig"`` into the signed bytes instead of encoding the entry again."""
    tail = _tail(ts)
    if not msg.endswith(tail):
        raise InputError(f"timestamp {ts!r} is not in sahid's UTC format")
    sig_text = base64.b64encode(sig)
    data = msg[len(ENTRY_DOMAIN) : -len(tail)] + b',"sig":"' + sig_text + b'"' + tail
    return Entry(seq, ts, by, kind, body, nonce_text, sig_text.decode(), data)


def make_entry(
    seq: int, ts: str, member: MemberKeys, kind: str, body: dict[str, Any], nonce: bytes
) -> Entry:
    msg, nonce_text = prepare_entry(seq, ts, member.member_id, kind, body, nonce)
    sig = member.signing_key.sign(msg)
    return finish_entry(seq, ts, member.member_id, kind, body, nonce_text, msg, sig)


def parse_entry(data: bytes, where: str) -> Entry:
    """Parse leaf bytes into an Entry; anything non-canonical or odd is tampering."""
    try:
        doc = parse_canonical(data)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc.message}", where=where) from None
    if not isinstance(doc, dict) or set(doc) != {
        "v",
        "seq",
        "ts",
        "by",
        "kind",
        "body",
        "nonce",
        "sig",
    }:
        raise VerificationError(f"{where}: entry has wrong fields", where=where)
    ok = (
        doc["v"] == ENTRY_VERSION
        and type(doc["seq"]) is int
        and all(isinstance(doc[k], str) for k in ("ts", "by", "kind", "nonce", "sig"))
        and isinstance(doc["body"], dict)
    )
    if not ok:
        raise VerificationError(f"{where}: entry fields have wrong types", where=where)
    # Base64 has spare bits before padding: only the one canonical spelling is accepted,
    # so a changed byte can never leave the signature (and so the entry) "the same".
    for key, size in (("sig", 64), ("nonce", 16)):
        if not _canonical_b64(doc[key], size):
            raise VerificationError(f"{where}: {key} is not canonical base64", where=where)
    return Entry(
        doc["seq"], doc["ts"], doc["by"], doc["kind"], doc["body"], doc["nonce"], doc["sig"], data
    )


def _canonical_b64(text: str, size: int) -> bool:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return len(raw) == size and base64.b64encode(raw).decode() == text


class Sealer:
    """Seals entry bytes at rest; the AD binds archive id and position."""

    def __init__(self, key: bytes, archive_id: str, rng: Random = os.urandom) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._prefix = archive_id.encode() + b"\0"
        self._rng = rng

    def seal(self, seq: int, data: bytes) -> bytes:
        nonce = self._rng(12)
        return nonce + self._aead.encrypt(nonce, data, self._prefix + struct.pack(">Q", seq))

    def open(self, seq: int, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                sealed[:12], sealed[12:], self._prefix + struct.pack(">Q", seq)
            )
        except (InvalidTag, ValueError):
            raise VerificationError(
                f"entry {seq}: stored entry cannot be decrypted (altered, moved or replaced)",
                where=f"entry {seq}",
            ) from None


# Entries joined with their tree rows, plus tree rows that lost their entry.
_ROWS_SQL = (
    "SELECT seq, sealed, hashes FROM ("
    " SELECT e.seq AS seq, e.sealed AS sealed, t.hashes AS hashes"
    " FROM entries e LEFT JOIN tree t ON t.seq = e.seq"
    " UNION ALL"
    " SELECT t.seq, NULL, t.hashes FROM tree t"
    " WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = t.seq)"
    ") WHERE seq > ? ORDER BY seq LIMIT ?"
)


def node_row(level: int, index: int) -> tuple[int, int]:
    """Where node (level, index) is stored: (tree row seq, byte offset in ``hashes``)."""
    return ((index + 1) << level) - 1, level * HASH


Execute = Callable[[str, tuple[Any, ...]], Iterable[Any]]


def read_nodes(execute: Execute, mark: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
    """The stored hashes of complete nodes, with one ``IN (...)`` query on ``tree``.

    This is the proof hot path, so it runs driver-level SQL, not compiled statements.
    """
    if not nodes:
        return []
    wanted = [node_row(level, index) for level, index in nodes]
    seqs = sorted({s for s, _ in wanted})
    sql = f"SELECT seq, hashes FROM tree WHERE seq IN ({', '.join([mark] * len(seqs))})"  # noqa: S608
    rows: dict[int, bytes] = {s: h for s, h in execute(sql, tuple(seqs))}
    out = []
    for (level, index), (seq, off) in zip(nodes, wanted, strict=True):
        row = rows.get(seq)
        h = None if row is None else row[off : off + HASH]
        if h is None or len(h) != HASH:
            raise VerificationError(
                f"entry {seq}: stored tree node {level}/{index} is missing or damaged",
                where=f"entry {seq}",
            )
        out.append(bytes(h))
    return out


class ProofReader:
    """Serves proofs: driver connection, one query per proof, complete nodes cached.

    A complete node never changes once written, and the archive lock keeps other
    writers out, so caching is safe; ``verify`` never uses this reader (it must see
    the stored bytes as they are now).
    """

    LIMIT = 200_000

    def __init__(self, execute: Execute, mark: str) -> None:
        self._execute = execute
        self._mark = mark
        self._cache: dict[tuple[int, int], bytes] = {}
        self._hints: list[tuple[int, int]] = []

    def hint(self, nodes: Sequence[tuple[int, int]]) -> None:
        """Fetch these along with the next read (saves a query)."""
        self._hints.extend(nodes)

    def __call__(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        cache = self._cache
        missing = [n for n in (*nodes, *self._hints) if n not in cache]
        self._hints = []
        if missing:
            if len(cache) > self.LIMIT:
                cache.clear()
            cache.update(zip(missing, read_nodes(self._execute, self._mark, missing), strict=True))
        return [cache[n] for n in nodes]


class TreeSnapshot:
    """Every stored subtree hash of a tree of ``size`` leaves, read once into memory.

    Publishing proves thousands of entries against one checkpoint; reading the tree rows
    once and serving :data:`~sahid._internal.merkle.NodeReader` calls from memory replaces
    a query per proof. Hashes are taken as stored, so a damaged row still shows as a
    missing or short node (:class:`~sahid.errors.VerificationError`), never as a wrong proof.
    """

    def __init__(self, size: int, rows: dict[int, bytes]) -> None:
        self.size = size
        self._rows = rows

    @classmethod
    def read(cls, conn: Connection, size: int) -> TreeSnapshot:
        rows = {
            int(seq): bytes(hashes)
            for seq, hashes in conn.execute(
                select(tree_table.c.seq, tree_table.c.hashes).where(tree_table.c.seq < size)
            )
        }
        return cls(size, rows)

    def __call__(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        rows = self._rows
        for level, index in nodes:
            seq, off = node_row(level, index)
            row = rows.get(seq) if seq < self.size else None
            h = None if row is None else row[off : off + HASH]
            if h is None or len(h) != HASH:
                raise VerificationError(
                    f"entry {seq}: stored tree node {level}/{index} is missing or damaged",
                    where=f"entry {seq}",
                )
            out.append(h)
        return out


class Ledger:
    """Reads and appends ledger rows on a caller-owned connection/transaction."""

    def __init__(
        self, origin: str, sealer: Sealer, log_signer: Signer | None, log_verifier: Verifier
    ):
        self.origin = origin
        self.sealer = sealer
        self.log_signer = log_signer
        self.log_verifier = log_verifier

    # -- reading ------------------------------------------------------------------
    @staticmethod
    def size(conn: Connection) -> int:
        n = conn.exec_driver_sql("SELECT max(seq) FROM entries").scalar()
        return 0 if n is None else int(n) + 1

    @staticmethod
    def node_reader(conn: Connection) -> merkle.NodeReader:
        """Batch reader of stored subtree hashes: one driver-level query per call."""
        mark = param_mark(conn)
        return lambda nodes: read_nodes(conn.exec_driver_sql, mark, nodes)

    def root(self, conn: Connection, size: int) -> bytes:
        return merkle.root(size, self.node_reader(conn))

    def read_entry(self, conn: Connection, seq: int) -> Entry:
        sealed = conn.execute(select(entries.c.sealed).where(entries.c.seq == seq)).scalar()
        if sealed is None:
            raise VerificationError(f"entry {seq} is missing", where=f"entry {seq}")
        return parse_entry(self.sealer.open(seq, sealed), f"entry {seq}")

    def read_entries(self, conn: Connection, seqs: Iterable[int]) -> dict[int, Entry]:
        """The entries ``seqs`` (each opened and parsed once), read in one range scan."""
        wanted = set(seqs)
        if not wanted:
            return {}
        out: dict[int, Entry] = {}
        rows = conn.execute(
            select(entries.c.seq, entries.c.sealed)
            .where(entries.c.seq >= min(wanted), entries.c.seq <= max(wanted))
            .order_by(entries.c.seq)
        )
        for seq, sealed in rows:
            if seq in wanted:
                out[int(seq)] = parse_entry(self.sealer.open(seq, sealed), f"entry {seq}")
        missing = wanted - set(out)
        if missing:
            seq = min(missing)
            raise VerificationError(f"entry {seq} is missing", where=f"entry {seq}")
        return out

    def iter_rows(self, conn: Connection, chunk: int = 5000) -> Iterator[Any]:
        """Every entry row with its tree row, in seq order, read in chunks (bounded memory).

        A missing tree row shows as ``hashes`` None; a tree row without an entry shows as
        a row whose ``sealed`` is None.
        """
        last = -1
        sql = _ROWS_SQL.replace("?", param_mark(conn))
        while True:
            rows = conn.exec_driver_sql(sql, (last, chunk)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def checkpoint_notes(self, conn: Connection) -> list[tuple[int, str]]:
        return [
            (int(r.size), str(r.note))
            for r in conn.execute(select(checkpoints).order_by(checkpoints.c.size))
        ]

    def latest_checkpoint(self, conn: Connection) -> tuple[int, str] | None:
        row = conn.execute(select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)).first()
        return None if row is None else (int(row.size), str(row.note))

    def open_checkpoint(self, note: str) -> Checkpoint:
        cp = open_checkpoint(note, self.log_verifier)
        if cp.origin != self.origin:
            raise VerificationError(f"checkpoint origin {cp.origin!r} is not {self.origin!r}")
        return cp

    # -- appending ----------------------------------------------------------------
    def append(
        self,
        conn: Connection,
        items: Sequence[tuple[str, dict[str, Any]]],
        member: MemberKeys,
        now: Clock = utc_now,
        rng: Random = os.urandom,
        pool: CryptoPool | None = None,
    ) -> tuple[list[Entry], str]:
        """Sign, seal and store ``items`` plus one checkpoint, inside ``conn``'s transaction.

        With a ``pool``, signatures are made by worker processes while this process seals
        and hashes the chunks already signed; the caller decides when that pays off.
        """
        if not items:
            raise InputError("nothing to append")
        if self.log_signer is None:
            raise InputError("this archive was opened read-only")
        start = self.size(conn)
        tree = merkle.CompactRange.from_reader(start, self.node_reader(conn))
        ts = format_ts(now())
        made: list[Entry] = []
        rows: list[tuple[int, bytes]] = []
        hashes: list[tuple[int, bytes]] = []
        seal = self.sealer.seal
        by = member.member_id
        prepared: list[tuple[int, str, dict[str, Any], bytes, str]] = []
        chunks: Iterator[bytes]
        if pool is not None and pool.useful:
            # Hand each chunk to the workers as soon as it is encoded (a pipeline).
            seed = ed25519_seed(member.signing_key)
            size = max(16, min(CHUNK, -(-len(items) // pool.workers)))
            futures = []
            for c in range(0, len(items), size):
                part = [
                    (
                        start + c + i,
                        kind,
                        body,
                        *prepare_entry(start + c + i, ts, by, kind, body, rng(16)),
                    )
                    for i, (kind, body) in enumerate(items[c : c + size])
                ]
                futures.append(pool.sign_chunk(seed, [p[3] for p in part]))
                prepared += part
            chunks = (sig for f in futures for sig in f.result())
        else:
            prepared = [
                (start + i, kind, body, *prepare_entry(start + i, ts, by, kind, body, rng(16)))
                for i, (kind, body) in enumerate(items)
            ]
            chunks = (member.signing_key.sign(p[3]) for p in prepared)
        for (seq, kind, body, msg, nonce_text), sig in zip(prepared, chunks, strict=True):
            entry = finish_entry(seq, ts, by, kind, body, nonce_text, msg, sig)
            leaf = merkle.leaf_hash(entry.data)
            nodes = b"".join(tree.append(leaf))
            rows.append((seq, seal(seq, entry.data)))
            hashes.append((seq, leaf + nodes))
            made.append(entry)
        insert_many(conn, entries, rows)
        insert_many(conn, tree_table, hashes)
        cp = Checkpoint(self.origin, tree.size, tree.root())
        note = sign_checkpoint(cp, self.log_signer)
        conn.execute(insert(checkpoints), [{"size": cp.size, "note": note}])
        return made, note
