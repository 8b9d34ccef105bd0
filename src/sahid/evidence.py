"""Evidence: single-pass encrypted ingest, dedup with custody, retrieval (DESIGN §2, §6).

Each file is read once: every chunk updates SHA-256 and feeds age v1 encryption to the
vault recipient, into an encrypted temp blob that is fsynced and renamed into place
before the ledger entry that references it is appended. Memory stays constant in the
file size. The same content added again stores no second blob; it appends an
``evidence.received`` custody entry instead.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyrage

from sahid._internal.agehdr import check_header
from sahid._internal.fsutil import new_output
from sahid.blobs import FileBlobStore
from sahid.errors import InputError, VerificationError

if TYPE_CHECKING:
    from sahid.archive import Archive

Progress = Callable[[int], None]
ID_LENGTH = 12


def blob_name(index_key: bytes, sha256: bytes) -> str:
    """HMAC-SHA256(index key, SHA-256(plaintext)): reveals nothing without the key."""
    return hmac.new(index_key, sha256, hashlib.sha256).hexdigest()


class HashingReader(io.RawIOBase):
    """Wraps a file: every byte read is hashed, counted and reported.

    Hashing runs on a helper thread (hashlib releases the GIL) while the caller's
    consumer — age encryption — works on the next chunk; at most ``AHEAD`` chunks wait.
    Call :meth:`digest` once reading is done.
    """

    AHEAD = 4

    def __init__(self, raw: BinaryIO, progress: Progress | None = None) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._raw = raw
        self._sha = hashlib.sha256()
        self.count = 0
        self._progress = progress
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="sahid-sha256")
        self._pending: list[Future[None]] = []
        self.error: OSError | None = None  # the read that failed, if one did

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        except OSError as exc:
            self.error = exc  # age reports it as its own error; the caller names the cause
            raise
        if n:
            chunk = bytes(memoryview(buffer)[:n])
            self._pending.append(self._hasher.submit(self._sha.update, chunk))
            if len(self._pending) > self.AHEAD:
                self._pending.pop(0).result()
            self.count += n
            if self._progress is not None:
                self._progress(n)
        return int(n or 0)

    def digest(self) -> bytes:
        for f in self._pending:
            f.result()
        self._pending.clear()
        self._hasher.shutdown()
        return self._sha.digest()

    def close(self) -> None:
        self._hasher.shutdown(cancel_futures=True)
        super().close()


class HashingWriter(io.RawIOBase):
    """Hashes and counts what is written; passes it on unless ``raw`` is None."""

    def __init__(self, raw: BinaryIO | None) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.count += len(data)
        if self._raw is not None:
            self._raw.write(data)
        return len(data)


@dataclass
class AddResult:
    """What happened to one path given to ``add``."""

    path: str
    status: str  # added | received | skipped | failed
    evidence: str | None = None
    sha256: str | None = None
    size: int | None = None
    media_type: str | None = None
    message: str | None = None
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def display_name(path: Path) -> str:
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


def name_fields(path: Path) -> dict[str, str]:
    """The original file name, kept losslessly: text if UTF-8, else base64 bytes."""
    import base64

    raw = os.fsencode(path.name)
    try:
        return {"name": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name_b64": base64.b64encode(raw).decode()}


def walk(paths: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """Files under ``paths`` (directories recurse), or ``(path, warning)`` for skips.

    Symlinked directories are followed once; a loop back to a folder already walked
    is skipped with a warning instead of recursing forever.
    """
    for top in paths:
        try:
            st = os.stat(top)
        except FileNotFoundError:
            yield top, "does not exist (vanished or mistyped)"
            continue
        except OSError as exc:
            yield top, f"cannot be read ({exc.strerror})"
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield top, None
            continue
        seen = {(st.st_dev, st.st_ino)}
        for root, dirs, files in os.walk(top, followlinks=True):
            keep = []
            for d in sorted(dirs):
                try:
                    dst = os.stat(os.path.join(root, d))
                except OSError:
                    yield Path(root, d), "symlink loop or unreadable folder: skipped"
                    continue
                if (dst.st_dev, dst.st_ino) in seen:
                    yield Path(root, d), "symlink loop: folder already walked, skipped"
                    continue
                seen.add((dst.st_dev, dst.st_ino))
                keep.append(d)
            dirs[:] = keep
            for f in sorted(files):
                yield Path(root, f), None


def ingest(
    archive: Archive,
    path: Path,
    *,
    source: str | None,
    note: str | None,
    progress: Progress | None = None,
) -> AddResult:
    """Encrypt and record one file; raises InputError with the file named on bad input."""
    prepared = store_blob(archive, path, source=source, note=note, progress=progress)
    if prepared.entry is not None:
        archive.append(*prepared.entry)
    return prepared.result


@dataclass
class Stored:
    """A blob stored for a file, and the entry that records it (None if skipped)."""

    result: AddResult
    entry: tuple[str, dict[str, Any]] | None


def store_blob(
    archive: Archive,
    path: Path,
    *,
    source: str | None,
    note: str | None,
    progress: Progress | None = None,
    file_name: str | None = None,
) -> Stored:
    """Encrypt one file into the blob store and prepare its ledger entry (not appended).

    ``file_name`` replaces the file name recorded (for copies made from a memfd). The caller
    appends the entry, possibly in one batch with entries that depend on it.
    """
    from sahid.media.metadata import extract
    from sahid.media.sniff import sniff

    shown = display_name(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below skips it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{shown}: does not exist (vanished or mistyped)") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return Stored(
                AddResult(shown, "skipped", message="not a regular file (device, FIFO or socket)"),
                None,
            )
        try:
            media_type = sniff(os.pread(fd, 64, 0))
        except OSError as exc:
            raise InputError(f"{shown}: cannot be read ({exc.strerror})") from None
        store: FileBlobStore = archive.blobs
        temp, out = store.new_temp()
        reader = HashingReader(fh, progress)
        try:
            try:
                with out:
                    # age asks for small reads; a 1 MiB buffer keeps Python calls (and the
                    # hashing they do) to one per MiB.
                    buffered = io.BufferedReader(reader, buffer_size=1 << 20)
                    pyrage.encrypt_io(buffered, out, [archive.vault.identity.to_public()])
                    out.flush()
                    os.fsync(out.fileno())
            except (OSError, pyrage.EncryptError) as exc:
                if reader.error is not None:
                    cause = reader.error.strerror or str(reader.error)
                    raise InputError(f"{shown}: cannot be read ({cause})") from None
                raise InputError(
                    f"{shown}: cannot be stored in the archive ({_os_reason(exc)}); "
                    "free disk space or check the archive folder, then add it again"
                ) from None
            # Headers are read again for metadata, through this same open file (not the
            # path, which could name another file by now), before the change check.
            extracted = extract(_fd_path(fd, path), media_type)
            after = os.fstat(fd)
            if (
                reader.count != before.st_size
                or after.st_size != before.st_size
                or after.st_mtime_ns != before.st_mtime_ns
            ):
                raise InputError(
                    f"{shown}: the file changed while it was being read; "
                    "add it again once nothing is writing to it"
                )
            sha = reader.digest()
            name = blob_name(archive.vault.subkey("blob-index"), sha)
            known = archive.evidence_by_blob(name)
            body: dict[str, Any] = {
                "evidence": name[:ID_LENGTH] if known is None else known,
                "sha256": sha.hex(),
                "size": reader.count,
                "source": source,
                "note": note,
                **(name_fields(path) if file_name is None else {"name": file_name}),
            }
            if known is None:
                store.commit(temp, name)
                body.update(
                    blob=name,
                    media_type=media_type,
                    metadata=extracted.fields,
                    metadata_problems=extracted.problems,
                )
                kind, status = "evidence.added", "added"
            else:
                temp.unlink(missing_ok=True)
                kind, status = "evidence.received", "received"
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            reader.close()
    result = AddResult(
        shown if file_name is None else file_name,
        status,
        evidence=body["evidence"],
        sha256=sha.hex(),
        size=reader.count,
        media_type=media_type,
        problems=list(extracted.problems),
    )
    return Stored(result, (kind, body))


def _fd_path(fd: int, path: Path) -> Path:
    """A path that opens the file behind ``fd`` (Linux ``/proc``), else ``path`` itself."""
    proc = Path(f"/proc/self/fd/{fd}")
    return proc if proc.exists() else path


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def decrypt_blob(archive: Archive, name: str, sink: BinaryIO | None) -> HashingWriter:
    """Decrypt a blob into ``sink`` (or nowhere), hashing on the way out."""
    writer = HashingWriter(sink)
    where = archive.blobs.label(archive.blobs.path(name))
    try:
        with archive.blobs.open(name) as fh:
            check_header(fh)
            pyrage.decrypt_io(fh, writer, [archive.vault.identity])
    except FileNotFoundError:
        raise VerificationError(f"{where} is missing from the archive", where=where) from None
    except (pyrage.DecryptError, OSError, VerificationError) as exc:  # header or STREAM
        raise VerificationError(
            f"{where} cannot be decrypted ({exc}): it was altered", where=where
        ) from None
    return writer


def add_paths(
    archive: Archive,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    note: str | None = None,
    on_file: Callable[[Path, int], Progress] | None = None,
) -> list[AddResult]:
    """Ingest files and folders; one result per path, failures included (nothing half-stored)."""
    results: list[AddResult] = []
    for path, warning in walk(paths):
        if warning is not None:
            status = (
                "failed"
                if "does not exist" in warning or "cannot be read" in warning
                else "skipped"
            )
            results.append(AddResult(display_name(path), status, message=warning))
            continue
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        progress = on_file(path, size) if on_file is not None else None
        try:
            results.append(ingest(archive, path, source=source, note=note, progress=progress))
        except InputError as exc:
            shown = display_name(path)
            # The result names the path already; the message says only what went wrong.
            reason = exc.message.removeprefix(f"{shown}: ")
            results.append(AddResult(shown, "failed", message=reason))
    return results


def _row_json(row: Any) -> dict[str, Any]:
    import json

    d = dict(row._mapping)
    d["metadata"] = json.loads(d["metadata"])
    d["metadata_problems"] = json.loads(d["metadata_problems"])
    return d


def list_evidence(archive: Archive) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from sahid.schema import evidence

    with archive.engine.connect() as conn:
        rows = conn.execute(select(evidence).order_by(evidence.c.added_seq)).all()
    out = []
    for r in rows:
        d = _row_json(r)
        del d["metadata"], d["metadata_problems"], d["blob"]
        out.append(d)
    return out


def resolve(archive: Archive, evidence_id: str) -> dict[str, Any]:
    """An evidence row by id or unique id prefix (at least 4 characters)."""
    from sqlalchemy import select

    from sahid.errors import NotFound
    from sahid.schema import evidence

    wanted = evidence_id.strip().lower()
    if len(wanted) < 4 or any(c not in "0123456789abcdef" for c in wanted):
        raise NotFound(f"evidence {evidence_id!r} not found: ids are hex, see `sahid ls`")
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(evidence).where(evidence.c.evidence_id.startswith(wanted)).limit(2)
        ).all()
    if not rows:
        raise NotFound(f"evidence {evidence_id} not found; `sahid ls` lists the ids")
    if len(rows) > 1:
        raise InputError(f"evidence id {evidence_id} is ambiguous; give more characters")
    return _row_json(rows[0])


def show_evidence(archive: Archive, evidence_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    from sahid.schema import custody

    row = resolve(archive, evidence_id)
    with archive.engine.connect() as conn:
        events = conn.execute(
            select(custody)
            .where(custody.c.evidence_id == row["evidence_id"])
            .order_by(custody.c.seq)
        ).all()
    row["custody"] = [dict(e._mapping) for e in events]
    del row["blob"]
    return row


def get_evidence(archive: Archive, evidence_id: str, out: Path) -> dict[str, Any]:
    """Decrypt to ``out`` (never overwritten); SHA-256 checked before the file appears."""
    row = resolve(archive, evidence_id)
    with new_output(out) as fh:
        writer = decrypt_blob(archive, row["blob"], fh)
        if writer.sha.hexdigest() != row["sha256"] or writer.count != row["size"]:
            where = archive.blobs.label(archive.blobs.path(row["blob"]))
            raise VerificationError(
                f"evidence {row['evidence_id']}: content no longer matches its SHA-256 "
                f"({where} was altered)",
                where=where,
            )
    return {
        "evidence": row["evidence_id"],
        "out": str(out),
        "sha256": row["sha256"],
        "size": row["size"],
    }


def _orphan_paths(archive: Archive) -> list[Path]:
    """Blob files and temp files that no evidence entry references (crash leftovers)."""
    from sqlalchemy import select

    from sahid.schema import evidence, thumbnails

    store = archive.blobs
    with archive.engine.connect() as conn:
        known = {r[0] for r in conn.execute(select(evidence.c.blob))}
        known |= {r[0] for r in conn.execute(select(thumbnails.c.blob))}
    return [store.path(n) for n in store.names() if n not in known] + store.temps()


def orphans(archive: Archive) -> list[str]:
    return sorted(archive.blobs.label(p) for p in _orphan_paths(archive))


def gc(archive: Archive) -> list[str]:
    """Remove orphans; evidence that the ledger references is never touched."""
    paths = _orphan_paths(archive)
    for path in paths:
        path.unlink(missing_ok=True)
    return sorted(archive.blobs.label(p) for p in paths)


def verify_blobs(
    archive: Archive, *, quick: bool, progress: Callable[[str, int, int], None] | None = None
) -> None:
    """Every evidence blob exists and (unless quick) decrypts to its SHA-256 and size."""
    from sqlalchemy import select

    from sahid.schema import evidence

    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(
                evidence.c.evidence_id, evidence.c.blob, evidence.c.sha256, evidence.c.size
            ).order_by(evidence.c.added_seq)
        ).all()
    for i, (eid, name, sha, size) in enumerate(rows):
        where = f"evidence {eid} ({archive.blobs.label(archive.blobs.path(name))})"
        if not archive.blobs.exists(name):
            raise VerificationError(
                f"step 8 (blobs): {where}: blob is missing", step=8, where=where
            )
        if quick:
            continue
        try:
            writer = decrypt_blob(archive, name, None)
        except VerificationError as exc:
            raise VerificationError(
                f"step 8 (blobs): {where}: {exc.message}", step=8, where=where
            ) from None
        if writer.sha.hexdigest() != sha or writer.count != size:
            raise VerificationError(
                f"step 8 (blobs): {where}: content does not match its SHA-256", step=8, where=where
            )
        if progress is not None:
            progress("blobs", i + 1, len(rows))


def memfd(label: str) -> tuple[int, Path]:
    """An anonymous in-memory file and a path that opens it (never a file on disk)."""
    fd = os.memfd_create(label, os.MFD_CLOEXEC)
    return fd, Path(f"/proc/self/fd/{fd}")


@contextmanager
def decrypted(archive: Archive, row: dict[str, Any]) -> Iterator[Path]:
    """The original of an evidence row, decrypted into a memfd and checked (SHA-256)."""
    fd, path = memfd("sahid-original")
    try:
        with os.fdopen(os.dup(fd), "wb") as plain:
            writer = decrypt_blob(archive, row["blob"], plain)
        if writer.sha.hexdigest() != row["sha256"]:
            where = archive.blobs.label(archive.blobs.path(row["blob"]))
            raise VerificationError(f"{where}: content no longer matches its SHA-256", where=where)
        yield path
    finally:
        os.close(fd)


def clean_evidence(archive: Archive, evidence_id: str, out: Path) -> dict[str, Any]:
    """A copy of the evidence with identifying metadata removed, written to ``out``.

    The original is decrypted into an anonymous in-memory file (``memfd``), never into
    a file on disk; the clean copy appears at ``out`` only when it is complete.
    """
    from sahid.media.clean import check_cleanable, clean

    row = resolve(archive, evidence_id)
    check_cleanable(row["media_type"])
    with decrypted(archive, row) as original, new_output(out) as dst:
        report = clean(original, dst, row["media_type"], name=f"evidence {row['evidence_id']}")
    return {
        "evidence": row["evidence_id"],
        "out": str(out),
        "method": report.method,
        "removed": report.removed,
    }
