"""``sahid verify``: recompute everything from the stored ledger (DESIGN §3).

Steps (every failure message starts with its step and names the first bad place):

1. **Keys and configuration** — ``sahid.toml`` parses, the member key file and vault open
   (done by ``Archive.open``), the log key matches ``sahid.toml``, every database page
   passes SQLCipher's HMAC check, and every key file's public keys match the
   ``member.added`` entry of that member.
2. **Entries** — for seq 0, 1, 2, … every row exists, decrypts, is canonical JSON with
   the row's own seq, has a known kind, is signed by a member added before it (seq 0
   may add its own signer), and its stored leaf hash equals the recomputed one.
3. **Tree** — the subtree hashes stored with each row equal those recomputed from the
   leaves.
4. **Checkpoints** — each checkpoint's note signature verifies with the log key, its
   origin is the archive's, and its root equals the recomputed root at its size; the
   newest covers every entry.
5. **Consistency** — a consistency proof between each pair of consecutive checkpoints,
   built from stored hashes, verifies against both signed roots.
6. **Projections** — replaying every entry into an empty database gives exactly the
   stored tables.
7. **Rollback** — the archive is not older than, nor inconsistent with, the newest
   checkpoint this machine has seen for it (see :mod:`sahid.seen`).
8. **Blobs** — every evidence blob exists, decrypts, and has the SHA-256 and size its
   entry records (``quick`` checks presence only). Blobs no entry references (crash
   leftovers) are listed as orphans for ``sahid gc``; they are not an integrity failure.
9. **Anchors** — every recorded RFC 3161 token and witness cosignature verifies again
   for the exact checkpoint it names, and this archive's own witness decisions replay
   (see :mod:`sahid.anchors.check`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import SQLAlchemyError

from sahid import projections, seen
from sahid._internal import merkle
from sahid._internal.workers import CHUNK, PARALLEL_THRESHOLD, CryptoPool
from sahid.anchors.check import KINDS as ANCHOR_KINDS
from sahid.anchors.check import check_anchor_entries
from sahid.errors import SahidError, VerificationError
from sahid.evidence import orphans, verify_blobs
from sahid.keys import read_key_header
from sahid.ledger import KINDS, Entry, parse_entry
from sahid.records import search
from sahid.store import page_problems

REPLAY_FLUSH = 10_000

if TYPE_CHECKING:
    from sahid.archive import Archive

Progress = Callable[[str, int, int], None]

STEPS = (
    "keys and configuration",
    "entries",
    "tree",
    "checkpoints",
    "consistency",
    "projections",
    "rollback",
    "blobs",
    "anchors",
)


@dataclass
class VerifyReport:
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoints: int = 0
    steps: list[str] = field(default_factory=list)
    seen_size: int | None = None
    orphans: list[str] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoints": self.checkpoints,
            "steps": self.steps,
            "seen_size": self.seen_size,
            "orphans": self.orphans,
            "anchors": self.anchors,
        }


def fail(step: int, where: str, what: str) -> VerificationError:
    return VerificationError(
        f"step {step} ({STEPS[step - 1]}): {where}: {what}", step=step, where=where
    )


def verify_archive(
    archive: Archive, progress: Progress | None = None, *, quick: bool = False
) -> VerifyReport:
    report = VerifyReport()
    tick = progress or (lambda _s, _d, _t: None)
    ledger = archive.ledger
    problems = page_problems(archive.engine)
    if problems:
        raise fail(
            1, "sahid.db", f"page integrity check failed ({problems[0]}); restore from a backup"
        )
    replay = projections.replay_engine()
    # Search facets are refreshed a batch at a time, as the appends did: at each
    # checkpoint (one per append batch), every REPLAY_FLUSH entries, and at the end.
    with (
        archive.engine.connect() as conn,
        replay.begin() as rconn,
        search.deferred_facets(rconn),
    ):
        size = ledger.size(conn)
        notes = ledger.checkpoint_notes(conn)
        cp_sizes = {s for s, _ in notes}
        roots: dict[int, bytes] = {}
        report.steps.append(STEPS[0])

        # Steps 2 and 3: one pass over the rows; signatures may go to worker processes.
        members: dict[str, bytes] = {}
        sigs = _Signatures(archive.pool if size >= PARALLEL_THRESHOLD else None)
        tree = merkle.CompactRange()
        sealer = ledger.sealer
        expected = 0
        anchored: list[Entry] = []
        try:
            for row in ledger.iter_rows(conn):
                where = f"entry {expected}"
                if row.seq != expected:
                    raise fail(2, where, f"is missing (the next stored entry is {row.seq})")
                if row.sealed is None:
                    raise fail(2, where, "is missing (its tree row is still there)")
                if row.hashes is None or len(row.hashes) < 32 or len(row.hashes) % 32:
                    raise fail(3, where, "tree row is missing or damaged")
                try:
                    entry = parse_entry(sealer.open(row.seq, row.sealed), where)
                except VerificationError as exc:
                    raise fail(2, where, exc.message.removeprefix(f"{where}: ")) from None
                if entry.seq != row.seq:
                    raise fail(2, where, f"holds seq {entry.seq}: entries were reordered or copied")
                if entry.kind not in KINDS:
                    raise fail(2, where, f"unknown kind {entry.kind!r}")
                key = members.get(entry.by)
                if key is None and entry.seq == 0 and entry.kind == "member.added":
                    key = _b64(entry.body.get("ed25519"), where)
                if key is None:
                    raise fail(2, where, f"signed by {entry.by}, who is not a member at that point")
                sig = _b64(entry.sig, where, "signature")
                sigs.add(entry.seq, key, sig, entry.signed_message())
                leaf = entry.leaf_hash
                if leaf != row.hashes[:32]:
                    raise fail(2, where, "stored leaf hash does not match the entry")
                if entry.kind == "member.added":
                    members[str(entry.body.get("member"))] = _b64(entry.body.get("ed25519"), where)
                if entry.kind == "archive.created" and (
                    entry.body.get("archive") != archive.config.archive_id
                    or entry.body.get("log_key") != archive.config.log_key
                    or entry.body.get("origin") != archive.config.origin
                ):
                    raise fail(2, where, "archive.created does not match sahid.toml")
                if entry.kind in ANCHOR_KINDS:
                    anchored.append(entry)
                if b"".join(tree.append(leaf)) != row.hashes[32:]:
                    raise fail(3, where, "stored subtree hashes do not match the leaves")
                try:
                    projections.apply(rconn, [entry])
                    if expected + 1 in cp_sizes or (expected + 1) % REPLAY_FLUSH == 0:
                        search.flush_facets(rconn)
                except (KeyError, TypeError, ValueError, SQLAlchemyError) as exc:
                    raise fail(6, where, f"cannot be replayed ({type(exc).__name__})") from None
                expected += 1
                if expected in cp_sizes:
                    roots[expected] = tree.root()
                if expected % 1000 == 0:
                    tick("entries", expected, size)
            if expected != size:
                raise fail(2, f"entry {expected}", "is missing")
            search.flush_facets(rconn)
        except VerificationError:
            sigs.first_bad(before=expected)  # an earlier bad signature is the first failure
            raise
        sigs.first_bad(before=None)
        tick("entries", size, size)
        report.size = size
        report.root = tree.root()
        report.steps += [STEPS[1], STEPS[2]]
        _check_key_files(archive, members)

        # Step 4: checkpoints.
        opened = []
        for cp_size, note in notes:
            where = f"checkpoint {cp_size}"
            try:
                cp = ledger.open_checkpoint(note)
            except VerificationError as exc:
                raise fail(4, where, exc.message) from None
            if cp.size != cp_size:
                raise fail(4, where, f"note says size {cp.size}")
            if cp.size > size:
                raise fail(4, where, f"covers {cp.size} entries but the log has {size}")
            if roots.get(cp.size) != cp.root_hash:
                raise fail(4, where, "root does not match the entries")
            opened.append(cp)
        if not opened:
            raise fail(4, "checkpoints", "none found")
        if opened[-1].size != size:
            raise fail(
                4,
                f"entry {opened[-1].size}",
                f"entries {opened[-1].size}..{size - 1} are not covered by any checkpoint",
            )
        report.checkpoints = len(opened)
        report.steps.append(STEPS[3])

        # Step 5: consistency between consecutive checkpoints.
        read = ledger.node_reader(conn)
        for i, (old, new) in enumerate(pairwise(opened)):
            try:
                proof = merkle.consistency_proof(old.size, new.size, read)
                merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
            except VerificationError as exc:
                raise fail(5, f"checkpoints {old.size}->{new.size}", exc.message) from None
            if i % 1000 == 0:
                tick("consistency", i, len(opened) - 1)
        report.steps.append(STEPS[4])

        # Step 6: projections.
        stored = projections.table_rows(conn)
        replayed = projections.table_rows(rconn)
        for table, rows in replayed.items():
            if stored.get(table) != rows:
                raise fail(6, f"table {table}", _first_difference(stored.get(table, []), rows))
        report.steps.append(STEPS[5])

        # Step 7: rollback memory.
        report.seen_size = _check_seen(archive, opened[-1].size, read)
        report.steps.append(STEPS[6])
    replay.dispose()
    verify_blobs(archive, quick=quick, progress=progress)
    report.steps.append(STEPS[7] + (" (presence only: --quick)" if quick else ""))
    report.orphans = orphans(archive)
    report.anchors = check_anchor_entries(
        anchored, dict(notes), archive.witness.key(), lambda where, what: fail(9, where, what)
    )
    report.steps.append(STEPS[8])
    seen.remember(archive.config.archive_id, notes[-1][1])
    return report


class _Signatures:
    """Entry signatures, checked in-process or in chunks by worker processes."""

    def __init__(self, pool: CryptoPool | None) -> None:
        self.pool = pool if pool is not None and pool.useful else None
        self.keys: dict[bytes, Ed25519PublicKey] = {}
        self.pending: list[tuple[bytes, bytes, bytes]] = []
        self.start = 0
        self.futures: list[tuple[int, Future[list[bool]]]] = []

    def add(self, seq: int, pub: bytes, sig: bytes, msg: bytes) -> None:
        if self.pool is None:
            key = self.keys.get(pub)
            if key is None:
                try:
                    key = self.keys[pub] = Ed25519PublicKey.from_public_bytes(pub)
                except ValueError:
                    raise fail(2, f"entry {seq}", "signer's public key is invalid") from None
            try:
                key.verify(sig, msg)
            except InvalidSignature:
                raise fail(2, f"entry {seq}", "signature invalid") from None
            return
        if not self.pending:
            self.start = seq
        self.pending.append((pub, sig, msg))
        if len(self.pending) >= CHUNK:
            self.futures.append((self.start, self.pool.verify(self.pending)))
            self.pending = []

    def first_bad(self, before: int | None) -> None:
        """Raise for the first invalid signature (only those before ``before``)."""
        if self.pool is None:
            return
        if self.pending:
            self.futures.append((self.start, self.pool.verify(self.pending)))
            self.pending = []
        for start, future in self.futures:
            if before is not None and start >= before:
                break
            for i, ok in enumerate(future.result()):
                if not ok and (before is None or start + i < before):
                    raise fail(2, f"entry {start + i}", "signature invalid")


def _b64(value: object, where: str, what: str = "member key") -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise fail(2, where, f"{what} is not base64") from None


def _check_key_files(archive: Archive, members: dict[str, bytes]) -> None:
    """Step 1 (after replay): every key file belongs to a member with the same keys."""
    me = archive.member
    if members.get(me.member_id) != me.sign_public:
        raise fail(
            1, f"keys/{me.member_id}.key", "does not match the member recorded in the ledger"
        )
    for path in sorted((archive.root / "keys").glob("*.key")):
        where = f"keys/{path.name}"
        try:
            header = read_key_header(path)
        except SahidError as exc:
            raise fail(1, where, exc.message) from None
        public = header.get("public", {}).get("ed25519")
        if header["member"] != path.stem or members.get(path.stem) is None:
            raise fail(1, where, "belongs to no member of this archive (key file replaced?)")
        if public != base64.b64encode(members[path.stem]).decode():
            raise fail(
                1, where, "public key differs from the member's ledger entry (key file replaced)"
            )


def _check_seen(archive: Archive, size: int, read: merkle.NodeReader) -> int | None:
    note = seen.recall(archive.config.archive_id)
    if note is None:
        return None
    where = f"{seen.state_dir()}/seen/{archive.config.archive_id}.checkpoint"
    try:
        cp = archive.ledger.open_checkpoint(note)
    except VerificationError as exc:
        raise fail(
            7,
            where,
            f"remembered checkpoint does not verify with this archive's log key ({exc.message})",
        ) from None
    if cp.size > size:
        raise fail(
            7,
            f"checkpoint {cp.size}",
            f"this machine has seen a checkpoint of size {cp.size} but the archive has only "
            f"{size} entries: it was rolled back",
        )
    if merkle.root(cp.size, read) != cp.root_hash:
        raise fail(
            7,
            f"checkpoint {cp.size}",
            "the archive is inconsistent with the checkpoint this machine saw (history rewritten)",
        )
    return cp.size


def _first_difference(stored: list[tuple[Any, ...]], replayed: list[tuple[Any, ...]]) -> str:
    for i, (a, b) in enumerate(zip(stored, replayed, strict=False)):
        if a != b:
            return f"row {i} differs from the replay (stored key {a[0]!r}, replayed key {b[0]!r})"
    if len(stored) > len(replayed):
        extra = stored[len(replayed)][0]
        return f"has {len(stored) - len(replayed)} row(s) no entry explains (first key {extra!r})"
    return (
        f"is missing {len(replayed) - len(stored)} row(s) (first key {replayed[len(stored)][0]!r})"
    )
