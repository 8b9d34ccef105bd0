"""``sahid.Archive``: the library API every interface calls (DESIGN §1–3, §9).

An archive is a folder (``sahid.toml``, ``keys/``, ``blobs/``, ``sahid.db``). Opening it
unlocks one member's key file with a passphrase, unwraps the vault secrets, keys the
database, and takes the archive lock. Every change is appended to the ledger together
with the projection rows it causes, in one transaction, followed by a signed checkpoint.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from sahid import evidence as evidence_mod
from sahid import projections, seen
from sahid._internal import merkle, tiles
from sahid._internal.checkpoint import Checkpoint
from sahid._internal.fsutil import fsync_dir, new_output
from sahid._internal.note import Signer
from sahid._internal.workers import PARALLEL_THRESHOLD, CryptoPool
from sahid.blobs import FileBlobStore
from sahid.config import CONFIG_NAME, ArchiveConfig, KdfParams, read_config, write_config
from sahid.errors import InputError, NotFound, SahidError
from sahid.evidence import AddResult
from sahid.keys import (
    MemberKeys,
    VaultSecrets,
    b64,
    key_path,
    open_key_file,
    open_vault_file,
    vault_path,
    write_key_file,
    write_vault_file,
)
from sahid.ledger import (
    Clock,
    Entry,
    Ledger,
    ProofReader,
    Random,
    Sealer,
    TreeSnapshot,
    format_ts,
    utc_now,
)
from sahid.records import search
from sahid.records.service import Records
from sahid.store import (
    SCHEMA_HEAD,
    ArchiveLock,
    check_schema,
    migrate,
    open_engine,
    param_mark_for,
    schema_version,
)

if TYPE_CHECKING:
    from sahid.anchors.partner import Witness
    from sahid.anchors.service import Anchors

__all__ = ["Archive", "ConsistencyProof", "InclusionProof"]


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]
    root: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": self.size,
            "leaf_hash": b64(self.leaf_hash),
            "proof": [b64(p) for p in self.proof],
            "root": b64(self.root),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    old: int
    new: int
    proof: list[bytes]
    old_root: bytes
    new_root: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "proof": [b64(p) for p in self.proof],
            "old_root": b64(self.old_root),
            "new_root": b64(self.new_root),
        }


class Archive:
    """An open archive. Use :meth:`init` or :meth:`open`; close it (or use ``with``)."""

    def __init__(
        self,
        root: Path,
        config: ArchiveConfig,
        member: MemberKeys,
        vault: VaultSecrets,
        engine: Engine,
        lock: ArchiveLock,
        *,
        now: Clock = utc_now,
        rng: Random = os.urandom,
    ) -> None:
        self.root = root
        self.config = config
        self.member = member
        self.vault = vault
        self.engine = engine
        self._lock = lock
        self._now = now
        self._rng = rng
        self.log_signer = Signer(config.origin, vault.log_key)
        self.pool = CryptoPool()
        self._proof_reader: ProofReader | None = None
        self._raw: Any = None
        self._size: int | None = None
        self._roots: dict[int, bytes] = {}
        self._appended = 0
        self._records: Records | None = None
        self.ledger = Ledger(
            config.origin,
            Sealer(vault.subkey("entries"), config.archive_id, rng),
            self.log_signer,
            self.log_signer.verifier,
        )

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        passphrase: bytes,
        *,
        name: str = "founder",
        kdf: KdfParams | None = None,
        now: Clock = utc_now,
        rng: Random = os.urandom,
    ) -> Archive:
        """Create a new archive in an empty or new folder; nothing is left on failure."""
        root = Path(path).absolute()
        check_passphrase(passphrase)
        kdf = kdf or KdfParams()
        if kdf.below_floor():
            raise InputError(
                f"KDF parameters m={kdf.memory_kib} KiB t={kdf.time_cost} are below the "
                f"floor (m>={KdfParams.FLOOR_MEMORY_KIB} KiB, t>={KdfParams.FLOOR_TIME_COST})"
            )
        if (root / CONFIG_NAME).exists():
            raise InputError(f"{root} is already a sahid archive")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InputError(f"{root} is not empty; choose a new or empty folder")
        if not root.parent.is_dir():
            raise InputError(f"{root.parent} does not exist; create it first")

        archive_id = secrets.token_hex(16)
        origin = f"sahid/{archive_id}"
        member = MemberKeys.generate()
        vault = VaultSecrets.generate(archive_id, rng)
        log_vkey = Signer(origin, vault.log_key).verifier.vkey
        cfg = ArchiveConfig(archive_id, origin, log_vkey, format_ts(now()), kdf)

        tmp = root.parent / f".{root.name}.init-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o700)
        try:
            (tmp / "keys").mkdir(mode=0o700)
            (tmp / cfg.blobs).mkdir(mode=0o700)
            write_key_file(key_path(tmp / "keys", member.member_id), member, passphrase, kdf, rng)
            write_vault_file(vault_path(tmp / "keys", member.member_id), vault, member.recipient)
            engine = open_engine(tmp / cfg.database, vault.subkey("db"), create=True)
            migrate(engine)
            engine.dispose()
            write_config(tmp, cfg)
            fsync_dir(tmp)
            os.replace(tmp, root)
            fsync_dir(root.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        archive = cls.open(root, passphrase, member=member.member_id, now=now, rng=rng)
        try:
            archive.append_batch(
                [
                    (
                        "member.added",
                        {
                            "member": member.member_id,
                            "name": name,
                            "ed25519": b64(member.sign_public),
                            "x25519": member.recipient,
                            "role": "admin",
                        },
                    ),
                    (
                        "archive.created",
                        {"archive": archive_id, "origin": origin, "log_key": log_vkey},
                    ),
                ]
            )
        except BaseException:
            archive.close()
            raise
        return archive

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        passphrase: bytes,
        *,
        member: str | None = None,
        write: bool = True,
        now: Clock = utc_now,
        rng: Random = os.urandom,
    ) -> Archive:
        """Unlock an archive; ``write=False`` takes a shared lock for readers."""
        root = Path(path).absolute()
        check_passphrase(passphrase)
        cfg = read_config(root)
        lock = ArchiveLock(root, exclusive=write)
        try:
            member_keys, vault = _unlock(root, cfg, passphrase, member)
            engine = open_engine(root / cfg.database, vault.subkey("db"), write=write)
            check_schema(engine)
        except BaseException:
            lock.close()
            raise
        return cls(root, cfg, member_keys, vault, engine, lock, now=now, rng=rng)

    @classmethod
    def upgrade(
        cls, path: str | os.PathLike[str], passphrase: bytes, *, member: str | None = None
    ) -> tuple[str | None, str]:
        """Migrate the database of an archive made by an older sahid to this schema."""
        root = Path(path).absolute()
        check_passphrase(passphrase)
        cfg = read_config(root)
        lock = ArchiveLock(root, exclusive=True)
        try:
            _, vault = _unlock(root, cfg, passphrase, member)
            engine = open_engine(root / cfg.database, vault.subkey("db"))
            try:
                before = schema_version(engine)
                migrate(engine)
            finally:
                engine.dispose()
        finally:
            lock.close()
        return before, SCHEMA_HEAD

    def close(self) -> None:
        self.pool.close()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()
        self._lock.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- appending -----------------------------------------------------------------------
    def append(self, kind: str, body: dict[str, Any]) -> Entry:
        return self.append_batch([(kind, body)])[0]

    def append_batch(
        self,
        items: Sequence[tuple[str, dict[str, Any]]],
        also: Callable[[Connection], None] | None = None,
    ) -> list[Entry]:
        """Append entries and their projection rows, plus one checkpoint, atomically.

        ``also`` writes what belongs beside the entries in the same transaction (person
        keys). When this returns, the entries are durable (``synchronous=FULL`` commit).
        """
        # Workers pay off for a big batch, or for a steady writer once they are running.
        busy = self._appended >= PARALLEL_THRESHOLD and len(items) >= 64
        pool = self.pool if len(items) >= PARALLEL_THRESHOLD or busy else None
        with self.engine.begin() as conn:
            made, note = self.ledger.append(conn, items, self.member, self._now, self._rng, pool)
            projections.apply(conn, made)
            search.compact_index(conn, len(made))
            if also is not None:
                also(conn)
        self._size = made[-1].seq + 1
        self._appended += len(made)
        seen.remember(self.config.archive_id, note)
        return made

    # -- the log -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        with self.engine.connect() as conn:
            return self.ledger.size(conn)

    def log_key(self) -> str:
        """The C2SP note verifier key of the log (``name+keyid+base64``)."""
        return self.config.log_key

    def checkpoint(self) -> str:
        with self.engine.connect() as conn:
            latest = self.ledger.latest_checkpoint(conn)
        if latest is None:
            raise NotFound("the archive has no checkpoint yet")
        return latest[1]

    def checkpoints(self) -> list[str]:
        with self.engine.connect() as conn:
            return [note for _, note in self.ledger.checkpoint_notes(conn)]

    def entry(self, seq: int) -> Entry:
        with self.engine.connect() as conn:
            size = self.ledger.size(conn)
            if not 0 <= seq < size:
                raise InputError(f"entry {seq} is out of range: the log has entries 0..{size - 1}")
            return self.ledger.read_entry(conn, seq)

    def entries(self, seqs: Sequence[int]) -> dict[int, Entry]:
        """Several entries at once (one range scan), by seq."""
        with self.engine.connect() as conn:
            size = self.ledger.size(conn)
            bad = [s for s in seqs if not 0 <= s < size]
            if bad:
                raise InputError(
                    f"entry {bad[0]} is out of range: the log has entries 0..{size - 1}"
                )
            return self.ledger.read_entries(conn, seqs)

    def tree_snapshot(self) -> tuple[str, TreeSnapshot]:
        """The newest checkpoint note and its whole tree read into memory (one read).

        Proofs and tiles for that checkpoint are then served without further queries.
        """
        with self.engine.connect() as conn:
            latest = self.ledger.latest_checkpoint(conn)
            if latest is None:
                raise NotFound("the archive has no checkpoint yet")
            size, note = latest
            return note, TreeSnapshot.read(conn, size)

    def _size_arg(self, size: int | None, current: int, what: str) -> int:
        if size is None:
            return current
        if not 0 < size <= current:
            raise InputError(f"{what} {size} is out of range: the log has size {current}")
        return size

    def _proofs(self) -> tuple[ProofReader, int]:
        """The cached proof reader and the log size (stable while we hold the lock)."""
        if self._proof_reader is None:
            raw = self.engine.raw_connection()
            self._raw = raw
            self._proof_reader = ProofReader(
                raw.driver_connection.execute,  # type: ignore[union-attr]
                param_mark_for(self.engine.dialect.paramstyle),
            )
        if self._size is None:
            with self.engine.connect() as conn:
                self._size = self.ledger.size(conn)
        return self._proof_reader, self._size

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        read, current = self._proofs()
        size = self._size_arg(size, current, "--size")
        if not 0 <= index < size:
            raise InputError(
                f"--index {index} is out of range: a tree of size {size} has leaves 0..{size - 1}"
            )
        read.hint([(0, index)])
        proof = merkle.inclusion_proof(index, size, read)
        return InclusionProof(index, size, read([(0, index)])[0], proof, self._root(size, read))

    def consistency_proof(self, old: int, new: int | None = None) -> ConsistencyProof:
        read, current = self._proofs()
        new = self._size_arg(new, current, "--new")
        if not 0 < old <= new:
            raise InputError(f"--old {old} is out of range: it must be between 1 and --new ({new})")
        read.hint(merkle.range_nodes(0, old) + merkle.range_nodes(0, new))
        proof = merkle.consistency_proof(old, new, read)
        return ConsistencyProof(old, new, proof, self._root(old, read), self._root(new, read))

    def _root(self, size: int, read: merkle.NodeReader) -> bytes:
        """Roots never change for a given size; proofs at the current size reuse them."""
        root = self._roots.get(size)
        if root is None:
            if len(self._roots) > 10_000:
                self._roots.clear()
            root = self._roots[size] = merkle.root(size, read)
        return root

    def write_tiles(self, out: str | os.PathLike[str]) -> tuple[int, Checkpoint]:
        """Export C2SP tlog-tiles (hash tiles) and the latest checkpoint into ``out``."""
        from sahid._internal.fsutil import write_atomic

        target = Path(out)
        if target.exists() and not target.is_dir():
            raise InputError(f"{target} exists and is not a folder")
        target.mkdir(parents=True, exist_ok=True)
        with self.engine.connect() as conn:
            latest = self.ledger.latest_checkpoint(conn)
            if latest is None:
                raise NotFound("the archive has no checkpoint yet")
            size, note = latest
            count = tiles.write_tiles(target, size, self.ledger.node_reader(conn))
        write_atomic(target / "checkpoint", note.encode())
        return count + 1, self.ledger.open_checkpoint(note)

    def verify(self, progress: Any = None, *, quick: bool = False) -> Any:
        """Recompute everything; see :func:`sahid.verify.verify_archive` for the steps."""
        from sahid.verify import verify_archive

        return verify_archive(self, progress, quick=quick)

    # -- anchors (see sahid.anchors) -----------------------------------------------------
    @property
    def anchors(self) -> Anchors:
        """RFC 3161 tokens and witness cosignatures of this log's checkpoints."""
        from sahid.anchors.service import Anchors

        return Anchors(self)

    @property
    def witness(self) -> Witness:
        """This archive as a witness of partners' logs (cosigning their checkpoints)."""
        from sahid.anchors.partner import Witness

        return Witness(self)

    # -- records (see sahid.records) -----------------------------------------------------
    @property
    def records(self) -> Records:
        """Incidents, persons, units, acts, ... : see :class:`sahid.records.service.Records`."""
        if self._records is None:
            self._records = Records(self)
        return self._records

    # -- evidence (see sahid.evidence) ---------------------------------------------------
    @property
    def blobs(self) -> FileBlobStore:
        return FileBlobStore(self.root / self.config.blobs)

    def evidence_by_blob(self, name: str) -> str | None:
        from sqlalchemy import select

        from sahid.schema import evidence

        with self.engine.connect() as conn:
            found = conn.execute(
                select(evidence.c.evidence_id).where(evidence.c.blob == name)
            ).scalar()
        return None if found is None else str(found)

    def add(self, paths: Sequence[str | os.PathLike[str]], **kw: Any) -> list[AddResult]:
        """Encrypt and record files and folders: see :func:`sahid.evidence.add_paths`."""
        return evidence_mod.add_paths(self, [Path(p) for p in paths], **kw)

    def evidence_list(self) -> list[dict[str, Any]]:
        return evidence_mod.list_evidence(self)

    def evidence(self, evidence_id: str) -> dict[str, Any]:
        return evidence_mod.show_evidence(self, evidence_id)

    def get(self, evidence_id: str, out: str | os.PathLike[str]) -> dict[str, Any]:
        return evidence_mod.get_evidence(self, evidence_id, Path(out))

    def clean(self, evidence_id: str, out: str | os.PathLike[str]) -> dict[str, Any]:
        """A metadata-free copy of the evidence: see :func:`sahid.evidence.clean_evidence`."""
        return evidence_mod.clean_evidence(self, evidence_id, Path(out))

    def gc(self) -> list[str]:
        return evidence_mod.gc(self)

    def export_vault_identity(self, out: str | os.PathLike[str]) -> Path:
        """Write the vault's age identity (decrypts every blob!) to a new 0600 file."""
        target = Path(out)
        with new_output(target) as fh:
            fh.write(f"# sahid vault identity of archive {self.config.archive_id}\n".encode())
            fh.write(f"# public key: {self.vault.identity.to_public()}\n".encode())
            fh.write(f"{self.vault.identity}\n".encode())
        return target


def _unlock(
    root: Path, cfg: ArchiveConfig, passphrase: bytes, member: str | None
) -> tuple[MemberKeys, VaultSecrets]:
    """A member's keys and the vault secrets, checked against sahid.toml."""
    member_keys = open_key_file(choose_key(root, member), passphrase)
    vault = open_vault_file(
        vault_path(root / "keys", member_keys.member_id), member_keys, cfg.archive_id
    )
    if Signer(cfg.origin, vault.log_key).verifier.vkey != cfg.log_key:
        from sahid.errors import VerificationError

        raise VerificationError(
            f"{CONFIG_NAME}: log_key does not match the archive's log key "
            "(sahid.toml or the vault file was replaced)",
            step=1,
            where=CONFIG_NAME,
        )
    return member_keys, vault


def check_passphrase(passphrase: bytes) -> None:
    if not passphrase:
        raise InputError("the passphrase is empty; give a passphrase of at least one character")


def choose_key(root: Path, member: str | None) -> Path:
    """The key file to unlock: the named member's, or the only one there is."""
    keys_dir = root / "keys"
    member = member or os.environ.get("SAHID_MEMBER") or None
    if member:
        path = key_path(keys_dir, member)
        if not path.is_file():
            raise NotFound(f"no key file for member {member} in {keys_dir}")
        return path
    try:
        found = sorted(keys_dir.glob("*.key"))
    except OSError:
        found = []
    if not found:
        raise SahidError(f"{keys_dir} holds no member key file; restore keys/ from a backup")
    if len(found) > 1:
        names = ", ".join(p.stem for p in found)
        raise InputError(f"several members have keys here ({names}); choose one with --member")
    return found[0]
