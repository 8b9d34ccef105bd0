"""The verification folder of a published site, and its offline check (DESIGN §3, §7).

A published site must prove itself without asking anyone to trust the publisher.
:func:`write_proofs` adds ``verify/`` beside the pages::

    verify/key                 the log's C2SP note verifier key (name = log origin)
    verify/checkpoint          the newest C2SP checkpoint (signed note)
    verify/checkpoints/<size>  every checkpoint ever signed
    verify/tile/...            C2SP tlog-tiles of the newest checkpoint's tree
    verify/members.json        member id -> base64 Ed25519 public key
    verify/entries/<N>.json    the proofs of entries 256*N .. 256*N+255 (one bundle per
                               level-0 tile): {"entries": [...]}, in seq order, each
                               {seq, entry, leaf_hash, inclusion} for a revealed entry
                               (its exact signed bytes) or {seq, withheld, leaf_hash,
                               inclusion} for a withheld one (leaf hash only); inclusion
                               is {size, proof}: an RFC 9162 audit path to the newest
                               checkpoint
    verify/derivations.json    redacted copies: original hash -> copy hash, operations
    verify/anchors/...         RFC 3161 tokens and witness cosignatures of the checkpoints
                               (layout and check in :mod:`sahid.anchors.files`)
    verify/manifest.json       SHA-256 of every other file of the site
    verify/manifest.sig        C2SP signed note "<origin>/site\\n<hex SHA-256 of manifest>\\n"
                               signed with the log key

:func:`verify_site` checks all of it offline with nothing but the site folder (and,
optionally, a log key the reader already trusts): the manifest's signature, every file
against the manifest (and no unlisted file in the folders it covers; other top-level
files and folders, such as ``.git/`` or ``CNAME``, are reported as unlisted, not
checked), every checkpoint's signature, the tiles
against each checkpoint's root (so all checkpoints are consistent), each revealed entry's
canonical form, member signature and inclusion, each withheld entry's inclusion, and each
derivation against its ``redaction.made`` entry, and every anchor against the checkpoint
it names. Failures raise
:class:`~sahid.errors.VerificationError` whose ``where`` is the site-relative path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from sahid._internal import merkle
from sahid._internal.checkpoint import Checkpoint, open_checkpoint
from sahid._internal.note import Signer, Verifier, open_note, sign_note
from sahid._internal.tiles import TILE_HEIGHT, TILE_WIDTH, tile_path, tiles_for_size
from sahid.anchors.files import anchor_files, check_anchor_files
from sahid.errors import InputError, SahidError, VerificationError
from sahid.keys import member_id_for
from sahid.ledger import KINDS, Entry, TreeSnapshot, parse_entry
from sahid.publish.datacheck import INCIDENTS, check_incidents
from sahid.publish.output import check_unlisted, dumps_lines

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = [
    "MANIFEST",
    "MANIFEST_SIG",
    "SiteVerification",
    "may_reveal",
    "verify_site",
    "write_proofs",
]

VERIFY = "verify"
MANIFEST = "verify/manifest.json"
MANIFEST_SIG = "verify/manifest.sig"
KEY = "verify/key"
CHECKPOINT = "verify/checkpoint"
MEMBERS = "verify/members.json"
DERIVATIONS = "verify/derivations.json"
SITE_SUFFIX = "/site"
#: Keys of a derivation that must equal the ``redaction.made`` entry's body.
DERIVATION_KEYS = ("original_sha256", "copy_sha256", "operations")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SEQ_FILE = re.compile(r"(0|[1-9][0-9]{0,15})\.json")
_SIZE_FILE = re.compile(r"[1-9][0-9]{0,19}")


# -- policy ------------------------------------------------------------------------------


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _withhold_reason(value: object, path: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key == "note" and not _empty(item):
                return f"{here} holds a private note"
            if key == "sealed":
                return f"{here} holds sealed personal data"
            # Evidence file names (top level) and source/person names (fields) may
            # identify people; place names (fields.place.name) are published anyway.
            if (
                key == "name"
                and path in ("body", "body.fields")
                and not (isinstance(item, str) and item.startswith("redacted-"))
            ):
                return f"{here} holds a name"
            found = _withhold_reason(item, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _withhold_reason(item, f"{path}[{i}]")
            if found:
                return found
    return None


def may_reveal(entry: Entry) -> str | None:
    """Why ``entry`` must not be published in full, or None if it may be.

    An entry is withheld when its body holds, at any depth, a non-empty ``note``, a
    ``sealed`` key, or a ``name`` that is not a ``redacted-…`` file name: notes and names
    may be private. Units are the exception: their names are institutions'. The reason
    names the field, never its value.
    """
    body = entry.body
    if body.get("type") == "unit" and isinstance(body.get("fields"), dict):
        # A unit's name is an institution's (police unit, court): public by design.
        fields = {k: v for k, v in body["fields"].items() if k != "name"}
        return _withhold_reason({**body, "fields": fields}, "body")
    return _withhold_reason(body, "body")


# -- writing -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json_bytes(value: object) -> bytes:
    return dumps_lines(value).encode()


def _put(path: Path, data: bytes) -> None:
    """Write one published file. No fsync: a site is a copy that can be rebuilt from the
    archive, and a torn file is caught by verify-site (tens of thousands of fsyncs were
    most of the time of publishing a big site)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


Fail = Callable[[str, str], SahidError]


def _input_error(rel: str, message: str) -> SahidError:
    return InputError(f"{rel}: {message}")


def _site_files(root: Path, fail: Fail) -> list[str]:
    """Every regular file under ``root`` as sorted posix relative paths; no symlinks."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in [*dirs, *files]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise fail(rel, "is a symbolic link; a site must hold only plain files")
            if name in files:
                if not path.is_file():
                    raise fail(rel, "is not a regular file")
                found.append(rel)
    return sorted(found)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _manifest_text(origin: str, digest: str) -> str:
    return f"{origin}{SITE_SUFFIX}\n{digest}\n"


def manifest_files(signer: Signer, size: int, hashes: Mapping[str, str]) -> dict[str, bytes]:
    """``verify/manifest.json`` over ``hashes`` (path -> SHA-256) and its signature."""
    files = {rel: sha for rel, sha in hashes.items() if rel not in (MANIFEST, MANIFEST_SIG)}
    manifest = _json_bytes(
        {"version": 1, "origin": signer.name + SITE_SUFFIX, "size": size, "files": files}
    )
    digest = hashlib.sha256(manifest).hexdigest()
    sig = sign_note(_manifest_text(signer.name, digest), [signer]).encode()
    return {MANIFEST: manifest, MANIFEST_SIG: sig}


def sign_manifest(out: Path, signer: Signer, size: int) -> tuple[str, int]:
    """Hash every file of the site folder into ``verify/manifest.json`` and sign it.

    Returns the manifest's SHA-256 (hex) and the number of files it lists.
    """
    hashes = {
        rel: _sha256_file(out / rel)
        for rel in _site_files(out, _input_error)
        if rel not in (MANIFEST, MANIFEST_SIG)
    }
    made = manifest_files(signer, size, hashes)
    for rel, data in made.items():
        _put(out / rel, data)
    return hashlib.sha256(made[MANIFEST]).hexdigest(), len(hashes)


def _members(archive: Archive) -> dict[str, str]:
    from sahid.schema import members

    with archive.engine.connect() as conn:
        rows = conn.execute(select(members.c.member_id, members.c.ed25519)).all()
    return {str(r.member_id): _b64(bytes(r.ed25519)) for r in rows}


def _check_derivations(
    derivations: Sequence[Mapping[str, Any]], shown: Mapping[int, Entry]
) -> list[dict[str, Any]]:
    out = []
    for i, d in enumerate(derivations):
        seq = d.get("seq")
        entry = shown.get(seq) if type(seq) is int else None
        if entry is None or entry.kind != "redaction.made":
            raise InputError(
                f"derivation {i}: seq {seq!r} is not a revealed redaction.made entry; "
                "reveal that entry too"
            )
        for key in DERIVATION_KEYS:
            if key not in d:
                raise InputError(f"derivation {i}: {key} is missing")
        for key, value in d.items():
            if key in entry.body and entry.body[key] != value:
                raise InputError(f"derivation {i}: {key} differs from entry {seq}")
        out.append(dict(d))
    return out


def _clear(folder: Path) -> None:
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)


def bundle_path(seq: int) -> str:
    """The proof bundle holding entry ``seq``: ``verify/entries/<seq // 256>.json``."""
    return f"{VERIFY}/entries/{seq // TILE_WIDTH}.json"


@dataclass
class Proofs:
    """What :func:`make_proofs` made: the ``verify/`` files (path -> bytes) and a summary."""

    files: dict[str, bytes]
    summary: dict[str, Any]
    entries: dict[int, Entry]  # every entry asked for, revealed or withheld


def make_proofs(
    archive: Archive,
    *,
    revealed: Sequence[int],
    derivations: Sequence[Mapping[str, Any]],
    file_sha256: Callable[[str], str | None],
    snapshot: tuple[str, TreeSnapshot] | None = None,
    entries: Mapping[int, Entry] | None = None,
) -> Proofs:
    """Every file of ``verify/`` but the manifest, in memory (see the module docstring).

    The newest checkpoint's tree is read once (``snapshot``, from
    :meth:`Archive.tree_snapshot`) and every tile and inclusion proof is computed from
    it; the entries are read in one scan. ``file_sha256`` gives the SHA-256 of a
    published file (for derivations naming one), or None if the site has no such file.
    """
    note, tree = snapshot if snapshot is not None else archive.tree_snapshot()
    cp = archive.ledger.open_checkpoint(note)
    size = cp.size
    files: dict[str, bytes] = {}
    tile_count = 0
    for level, index, width in tiles_for_size(size):
        first = index * TILE_WIDTH
        hashes = tree([(TILE_HEIGHT * level, first + i) for i in range(width)])
        files[f"{VERIFY}/{tile_path(level, index, width)}"] = b"".join(hashes)
        tile_count += 1
    files[CHECKPOINT] = note.encode()
    notes = archive.checkpoints()
    for other in notes:
        opened = archive.ledger.open_checkpoint(other)
        if opened.size > size:
            raise InputError("the archive grew while publishing; publish again")
        files[f"{VERIFY}/checkpoints/{opened.size}"] = other.encode()
    anchors = anchor_files(archive, upto=size)
    for rel, data in anchors.items():
        files[f"{VERIFY}/{rel}"] = data
    files[KEY] = (archive.log_key() + "\n").encode()
    members = _members(archive)
    files[MEMBERS] = _json_bytes(members)

    seqs = sorted(set(revealed))
    for seq in seqs:
        if not 0 <= seq < size:
            raise InputError(f"entry {seq} is not covered by the newest checkpoint (size {size})")
    if entries is None or any(s not in entries for s in seqs):
        entries = archive.entries(seqs)
    shown: dict[int, Entry] = {}
    withheld: list[int] = []
    bundles: dict[str, list[dict[str, Any]]] = {}
    for seq in seqs:
        entry = entries[seq]
        proof = merkle.inclusion_proof(seq, size, tree)
        doc: dict[str, Any] = {"seq": seq}
        reason = may_reveal(entry)
        if reason is None:
            doc["entry"] = entry.data.decode("utf-8")
            shown[seq] = entry
        else:
            doc["withheld"] = reason
            withheld.append(seq)
        doc["leaf_hash"] = _b64(entry.leaf_hash)
        doc["inclusion"] = {"size": size, "proof": [_b64(p) for p in proof]}
        bundles.setdefault(bundle_path(seq), []).append(doc)
    for rel, docs in bundles.items():
        files[rel] = _json_bytes({"entries": docs})
    checked = _check_derivations(derivations, shown)
    for i, d in enumerate(checked):
        name = d.get("file")
        if name is not None:
            target = _safe_rel(name, DERIVATIONS, InputError)
            sha = file_sha256(target)
            if sha is None:
                raise InputError(f"derivation {i}: file {name!r} is not in the site")
            if sha != d["copy_sha256"]:
                raise InputError(f"derivation {i}: file {name!r} does not have copy_sha256")
    try:
        files[DERIVATIONS] = _json_bytes(checked)
    except (TypeError, ValueError) as exc:
        raise InputError(f"derivations are not plain JSON ({exc})") from None
    summary = {
        "origin": cp.origin,
        "size": size,
        "root": _b64(cp.root_hash),
        "checkpoints": len(notes),
        "tiles": tile_count,
        "members": len(members),
        "revealed": sorted(shown),
        "withheld": withheld,
        "derivations": len(checked),
        "anchors": len(anchors),
        "bundles": len(bundles),
    }
    return Proofs(files, summary, dict(entries))


def write_proofs(
    archive: Archive,
    out: Path,
    *,
    revealed: Sequence[int],
    derivations: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Write ``out/verify/`` (see the module docstring) and sign the whole folder.

    Call it last: the manifest covers every file already in ``out``. Entries in
    ``revealed`` that :func:`may_reveal` refuses are published as withheld (leaf hash
    and inclusion proof only). Each derivation needs ``seq`` (a revealed
    ``redaction.made`` entry), ``original_sha256``, ``copy_sha256`` and ``operations``;
    an optional ``file`` names the published copy, whose SHA-256 must be ``copy_sha256``.
    This writes in place; ``sahid publish`` (:func:`sahid.publish.build.publish_site`)
    stages the whole site and renames it in instead.
    """
    out = Path(out)
    if not out.is_dir():
        raise InputError(f"{out} is not a folder; write the site pages first")
    _site_files(out, _input_error)  # refuse symlinks before writing anything

    def file_sha256(rel: str) -> str | None:
        return _sha256_file(out / rel) if (out / rel).is_file() else None

    proofs = make_proofs(
        archive, revealed=revealed, derivations=derivations, file_sha256=file_sha256
    )
    vdir = out / VERIFY
    for sub in ("entries", "checkpoints", "anchors", "tile"):
        _clear(vdir / sub)
    for rel, data in proofs.files.items():
        _put(out / rel, data)
    digest, files = sign_manifest(out, archive.log_signer, proofs.summary["size"])
    return {**proofs.summary, "files": files, "manifest_sha256": digest}


# -- verifying ---------------------------------------------------------------------------


@dataclass
class SiteVerification:
    """What :func:`verify_site` checked."""

    origin: str = ""
    key: str = ""
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    files: int = 0
    checkpoints: int = 0
    tiles: int = 0
    members: int = 0
    revealed: list[int] = field(default_factory=list)
    withheld: list[int] = field(default_factory=list)
    derivations: int = 0
    incidents: int = 0  # rows of data/incidents.json matched against revealed entries
    anchors: dict[str, Any] = field(default_factory=dict)
    #: Top-level files and folders the manifest does not cover (not sahid's, not checked).
    unlisted: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "origin": self.origin,
            "key": self.key,
            "size": self.size,
            "root": _b64(self.root),
            "files": self.files,
            "checkpoints": self.checkpoints,
            "tiles": self.tiles,
            "members": self.members,
            "revealed": self.revealed,
            "withheld": self.withheld,
            "derivations": self.derivations,
            "incidents": self.incidents,
            "anchors": self.anchors,
            "unlisted": self.unlisted,
        }


def _fail(where: str, message: str) -> VerificationError:
    return VerificationError(f"{where}: {message}", where=where)


def _read(site: Path, rel: str) -> bytes:
    path = site / rel
    if path.is_symlink() or not path.is_file():
        raise _fail(rel, "is missing")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(rel, f"cannot be read ({exc.strerror})") from None


def _load_json(site: Path, rel: str) -> Any:
    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(_read(site, rel).decode("utf-8"), parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _fail(rel, "is not valid JSON") from None


def _unb64(value: object, where: str, what: str, size: int | None = 32) -> bytes:
    try:
        raw = base64.b64decode(str(value).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _fail(where, f"{what} is not base64") from None
    if not isinstance(value, str) or (size is not None and len(raw) != size):
        raise _fail(where, f"{what} is not a {size}-byte value in base64")
    return raw


def _safe_rel(name: object, where: str, error: type[SahidError]) -> str:
    """A manifest path: relative, posix, no ``..``; returned unchanged."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise error(f"{where}: {name!r:.80} is not a safe relative path")
    return name


def _check_manifest(site: Path, verifier: Verifier) -> tuple[dict[str, str], int]:
    origin = verifier.name
    try:
        text = open_note(_read(site, MANIFEST_SIG), [verifier]).text
    except VerificationError as exc:
        if exc.where:
            raise
        raise _fail(MANIFEST_SIG, f"{exc.message} (checked with {KEY})") from None
    lines = text.split("\n")
    if len(lines) != 3 or lines[0] != origin + SITE_SUFFIX or not _HEX64.fullmatch(lines[1]):
        raise _fail(MANIFEST_SIG, f"is not a site manifest signature for {origin}{SITE_SUFFIX}")
    data = _read(site, MANIFEST)
    if hashlib.sha256(data).hexdigest() != lines[1]:
        raise _fail(MANIFEST, f"does not match its signature in {MANIFEST_SIG}")
    doc = _load_json(site, MANIFEST)
    files = doc.get("files") if isinstance(doc, dict) else None
    size = doc.get("size") if isinstance(doc, dict) else None
    if (
        not isinstance(files, dict)
        or type(size) is not int
        or doc.get("origin") != origin + SITE_SUFFIX
        or not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in files.values())
    ):
        raise _fail(MANIFEST, "is not a site manifest")
    for name in files:
        _safe_rel(name, MANIFEST, VerificationError)
        if name in (MANIFEST, MANIFEST_SIG):
            raise _fail(MANIFEST, f"lists {name}, which it cannot cover")
    return files, size


def _check_files(site: Path, listed: Mapping[str, str]) -> tuple[int, list[str]]:
    """Every listed file against its hash; no unlisted file where the manifest covers.

    A top-level folder or file the manifest does not mention at all (``.git/``,
    ``CNAME``) is not sahid's: it is returned as unlisted, not checked. Symbolic links
    are refused anywhere.
    """
    tops, unlisted = check_unlisted(site, listed)
    present: list[str] = []
    for name in unlisted:
        if (site / name.rstrip("/")).is_symlink():
            raise _fail(name, "is a symbolic link; a site must hold only plain files")
    for top in sorted(tops):
        path = site / top
        if path.is_symlink():
            raise _fail(top, "is a symbolic link; a site must hold only plain files")
        if path.is_dir():

            def fail(rel: str, message: str, top: str = top) -> SahidError:
                return _fail(f"{top}/{rel}", message)

            present += [f"{top}/{rel}" for rel in _site_files(path, fail)]
        elif os.path.lexists(path):
            if not path.is_file():
                raise _fail(top, "is not a regular file")
            present.append(top)
    for rel in sorted(listed):
        path = site / rel
        if path.is_symlink() or not path.is_file():
            raise _fail(rel, f"is listed in {MANIFEST} but missing")
        if _sha256_file(path) != listed[rel]:
            raise _fail(rel, f"content differs from the signed manifest ({MANIFEST})")
    for rel in present:
        if rel not in listed and rel not in (MANIFEST, MANIFEST_SIG):
            raise _fail(rel, f"is not listed in the signed manifest ({MANIFEST})")
    return len(listed), unlisted


def _check_checkpoints(
    site: Path, verifier: Verifier, listed: Mapping[str, str]
) -> dict[int, tuple[str, Checkpoint]]:
    found: dict[int, tuple[str, Checkpoint]] = {}
    named = []
    for rel in listed:
        if rel.startswith("verify/checkpoints/"):
            name = rel.rsplit("/", 1)[1]
            if rel.count("/") != 2 or not _SIZE_FILE.fullmatch(name):
                raise _fail(rel, "is not named after a checkpoint size")
            named.append((int(name), rel))
    for size, rel in sorted(named):
        try:
            cp = open_checkpoint(_read(site, rel), verifier, origin=verifier.name)
        except VerificationError as exc:
            raise _fail(rel, exc.message) from None
        if cp.size != size:
            raise _fail(rel, f"holds a checkpoint of size {cp.size}")
        found[cp.size] = (rel, cp)
    if not found:
        raise _fail("verify/checkpoints", "no checkpoint is published")
    newest = max(found)
    data = _read(site, CHECKPOINT)
    try:
        open_checkpoint(data, verifier, origin=verifier.name)
    except VerificationError as exc:
        raise _fail(CHECKPOINT, exc.message) from None
    if data != _read(site, found[newest][0]):
        raise _fail(CHECKPOINT, f"is not the newest checkpoint ({found[newest][0]})")
    return found


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    row = list(hashes)
    while len(row) > 1:
        row = [merkle.node_hash(row[k], row[k + 1]) for k in range(0, len(row), 2)]
    return row[0]


class _Tiles:
    """The tree of ``size`` as published in ``verify/tile``: checked, then readable."""

    def __init__(self, site: Path, size: int, listed: Mapping[str, str]) -> None:
        self.size = size
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.paths: dict[tuple[int, int], str] = {}
        expected = tiles_for_size(size)
        wanted = {f"{VERIFY}/{tile_path(*t)}" for t in expected}
        for rel in sorted(listed):
            if rel.startswith(f"{VERIFY}/tile/") and rel not in wanted:
                raise _fail(rel, f"is not a tile of the tree of size {size}")
        for level, index, width in expected:
            rel = f"{VERIFY}/{tile_path(level, index, width)}"
            data = _read(site, rel)
            if len(data) != merkle.HASH_SIZE * width:
                raise _fail(rel, f"holds {len(data)} bytes, not {width} hashes")
            self.tiles[(level, index)] = data
            self.paths[(level, index)] = rel
        # Each hash of a tile above level 0 is the root of a full tile below it.
        for level, index, width in expected:
            if level == 0:
                continue
            data = self.tiles[(level, index)]
            for i in range(width):
                child = (level - 1, index * TILE_WIDTH + i)
                below = self.tiles[child]
                got = _perfect_root(
                    [below[k : k + merkle.HASH_SIZE] for k in range(0, len(below), 32)]
                )
                if got != data[i * 32 : i * 32 + 32]:
                    raise _fail(
                        self.paths[child],
                        f"does not hash to entry {i} of {self.paths[(level, index)]}",
                    )

    def hash(self, level: int, k: int) -> bytes:
        data = self.tiles[(level, k // TILE_WIDTH)]
        off = (k % TILE_WIDTH) * merkle.HASH_SIZE
        return data[off : off + merkle.HASH_SIZE]

    def read(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for height, index in nodes:
            if (index + 1) << height > self.size:
                raise VerificationError(f"tree node {height}/{index} is not complete")
            level, up = divmod(height, TILE_HEIGHT)
            first = index << up
            out.append(
                _perfect_root([self.hash(level, k) for k in range(first, first + (1 << up))])
            )
        return out


def _check_members(site: Path) -> dict[str, bytes]:
    doc = _load_json(site, MEMBERS)
    if not isinstance(doc, dict):
        raise _fail(MEMBERS, "is not an object of member id -> public key")
    out: dict[str, bytes] = {}
    for member, value in doc.items():
        key = _unb64(value, MEMBERS, f"the key of member {member!r:.40}")
        if member_id_for(key) != member:
            raise _fail(MEMBERS, f"the key of member {member!r:.40} does not match its id")
        out[member] = key
    return out


_REVEALED_KEYS = {"seq", "entry", "leaf_hash", "inclusion"}
_WITHHELD_KEYS = {"seq", "withheld", "leaf_hash", "inclusion"}


def _check_entry(
    rel: str,
    doc: Any,
    seqs: range,
    roots: Mapping[int, bytes],
    members: Mapping[str, bytes],
) -> tuple[int, Entry | None]:
    """Check one entry proof of the bundle ``rel``; (seq, the entry or None if withheld)."""
    if not isinstance(doc, dict) or set(doc) not in (_REVEALED_KEYS, _WITHHELD_KEYS):
        raise _fail(
            rel,
            "holds something that is not an entry proof (seq, entry or withheld, "
            "leaf_hash, inclusion)",
        )
    seq = doc["seq"]
    if type(seq) is not int or seq not in seqs:
        raise _fail(
            rel, f"holds seq {seq!r:.20}, but is the bundle of entries {seqs[0]}..{seqs[-1]}"
        )
    what = f"entry {seq}"
    leaf = _unb64(doc["leaf_hash"], rel, f"{what}: leaf_hash")
    inclusion = doc["inclusion"]
    if not isinstance(inclusion, dict) or set(inclusion) != {"size", "proof"}:
        raise _fail(rel, f"{what}: inclusion is not {{size, proof}}")
    size, proof = inclusion["size"], inclusion["proof"]
    if type(size) is not int or size not in roots:
        raise _fail(
            rel,
            f"{what}: inclusion size {size!r:.20} is not the size of a published checkpoint",
        )
    if not isinstance(proof, list) or len(proof) > 64:
        raise _fail(rel, f"{what}: inclusion proof is not a list of hashes")
    hashes = [_unb64(p, rel, f"{what}: an inclusion proof hash") for p in proof]
    entry: Entry | None = None
    if "entry" in doc:
        if not isinstance(doc["entry"], str):
            raise _fail(rel, f"{what}: entry is not text")
        try:
            data = doc["entry"].encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(rel, f"{what}: entry is not valid Unicode") from None
        entry = parse_entry(data, rel)
        if entry.seq != seq:
            raise _fail(rel, f"the entry says seq {entry.seq}, but the proof is for entry {seq}")
        if entry.kind not in KINDS:
            raise _fail(rel, f"{what}: the entry has an unknown kind {entry.kind!r:.40}")
        if entry.leaf_hash != leaf:
            raise _fail(rel, f"{what}: leaf_hash is not the hash of the entry")
        key = members.get(entry.by)
        if key is None:
            raise _fail(rel, f"{what}: signed by {entry.by!r:.40}, who is not listed in {MEMBERS}")
        if not entry.verify_signature(key):
            raise _fail(rel, f"{what}: the signature by member {entry.by} does not verify")
    elif not isinstance(doc["withheld"], str) or not doc["withheld"]:
        raise _fail(rel, f"{what}: withheld must give a reason")
    try:
        merkle.verify_inclusion(seq, size, leaf, hashes, roots[size])
    except VerificationError:
        raise _fail(
            rel, f"{what}: inclusion proof does not lead to the checkpoint root (size {size})"
        ) from None
    return seq, entry


def _check_bundle(
    site: Path,
    rel: str,
    roots: Mapping[int, bytes],
    members: Mapping[str, bytes],
) -> dict[int, Entry | None]:
    """Check one ``verify/entries/<N>.json``: the proofs of entries 256·N .. 256·N+255."""
    match = _SEQ_FILE.fullmatch(rel.rsplit("/", 1)[1])
    if rel.count("/") != 2 or match is None:
        raise _fail(rel, "is not named <N>.json (N = seq // 256)")
    n = int(match.group(1))
    seqs = range(n * TILE_WIDTH, (n + 1) * TILE_WIDTH)
    doc = _load_json(site, rel)
    if not isinstance(doc, dict) or set(doc) != {"entries"} or not isinstance(doc["entries"], list):
        raise _fail(rel, "is not a bundle of entry proofs ({entries: [...]})")
    if not doc["entries"]:
        raise _fail(rel, "is an empty bundle")
    found: dict[int, Entry | None] = {}
    last = -1
    for item in doc["entries"]:
        seq, entry = _check_entry(rel, item, seqs, roots, members)
        if seq <= last:
            raise _fail(rel, f"entry {seq} is out of order or repeated")
        last = seq
        found[seq] = entry
    return found


def _check_derivations_file(
    site: Path, revealed: Mapping[int, Entry], listed: Mapping[str, str]
) -> int:
    doc = _load_json(site, DERIVATIONS)
    if not isinstance(doc, list):
        raise _fail(DERIVATIONS, "is not a list")
    for i, d in enumerate(doc):
        seq = d.get("seq") if isinstance(d, dict) else None
        entry = revealed.get(seq) if type(seq) is int else None
        if not isinstance(d, dict) or entry is None or entry.kind != "redaction.made":
            raise _fail(
                DERIVATIONS,
                f"derivation {i} does not name a revealed redaction.made entry (seq {seq!r:.20})",
            )
        for key in DERIVATION_KEYS:
            if key not in d:
                raise _fail(DERIVATIONS, f"derivation {i} (entry {seq}) has no {key}")
        for key, value in d.items():
            if key in entry.body and entry.body[key] != value:
                raise _fail(
                    DERIVATIONS,
                    f"derivation {i}: {key} differs from the redaction.made entry {seq}",
                )
        name = d.get("file")
        if name is not None:
            _safe_rel(name, DERIVATIONS, VerificationError)
            if listed.get(name) != d["copy_sha256"]:
                raise _fail(
                    DERIVATIONS,
                    f"derivation {i}: the published file {name!r:.80} is not the copy "
                    f"entry {seq} records (copy_sha256)",
                )
    return len(doc)


def verify_site(
    site: Path,
    *,
    key: str | None = None,
    tsa_trust: Sequence[Any] | None = None,
    witnesses: Sequence[str] | None = None,
) -> SiteVerification:
    """Check a published site offline (see the module docstring for what is checked).

    ``key``, if given, is the log's verifier key as the reader already knows it (from a
    partner, an earlier visit, a printed copy): ``verify/key`` must be that key. Without
    it the site is checked against the key it publishes, which proves the site is whole
    and unchanged since the log's key signed it, not whose key that is. ``tsa_trust``
    (certificates) and ``witnesses`` (vkeys) pin the anchors' trust the same way.
    """
    site = Path(site)
    if not site.is_dir():
        raise InputError(f"{site} is not a folder; give the folder `sahid publish` wrote")
    if not any((site / n).exists() for n in (VERIFY, "sahid-site.json", "index.html")):
        # Nothing of a site at all: a wrong path, not a tampered site. (A site stripped of
        # its proofs still has pages: it fails below, as unverifiable.)
        raise InputError(
            f"{site} is not a sahid site (no {VERIFY}/, sahid-site.json or index.html); "
            "give the folder `sahid publish` wrote"
        )
    report = SiteVerification()
    raw_key = _read(site, KEY).decode("utf-8", "replace")
    text = raw_key.removesuffix("\n")
    try:
        verifier = Verifier.parse(text)
    except VerificationError as exc:
        raise _fail(KEY, exc.message) from None
    if key is not None and text != key.strip():
        raise _fail(KEY, "is not the log key you trust (the site was signed by another key)")
    report.origin, report.key = verifier.name, text

    listed, size = _check_manifest(site, verifier)
    report.files, report.unlisted = _check_files(site, listed)

    found = _check_checkpoints(site, verifier, listed)
    report.checkpoints = len(found)
    newest = found[max(found)][1]
    if newest.size != size:
        raise _fail(MANIFEST, f"is for a log of size {size}, the newest checkpoint {newest.size}")
    report.size, report.root = newest.size, newest.root_hash

    tiles = _Tiles(site, newest.size, listed)
    report.tiles = len(tiles.tiles)
    roots: dict[int, bytes] = {}
    # The tiles are the newest tree's: check its root first, then every older one.
    for cp_size, (rel, cp) in sorted(found.items(), key=lambda kv: -kv[0]):
        try:
            got = merkle.root(cp_size, tiles.read)
        except VerificationError as exc:
            raise _fail(rel, exc.message) from None
        if got != cp.root_hash:
            if cp_size == newest.size:
                raise _fail(CHECKPOINT, "root hash does not match the tree in verify/tile")
            raise _fail(
                rel,
                "root hash does not match the tree in verify/tile: this checkpoint is not "
                "consistent with the newest one",
            )
        roots[cp_size] = cp.root_hash

    report.anchors = check_anchor_files(
        [r.removeprefix(f"{VERIFY}/") for r in listed if r.startswith(f"{VERIFY}/anchors/")],
        lambda rel: _read(site, f"{VERIFY}/{rel}"),
        {cp_size: _read(site, rel) for cp_size, (rel, _) in found.items()},
        prefix=f"{VERIFY}/",
        trust=tsa_trust,
        witnesses=witnesses,
    ).as_json()

    members = _check_members(site)
    report.members = len(members)
    revealed: dict[int, Entry] = {}
    for rel in sorted(listed):
        if not rel.startswith(f"{VERIFY}/entries/"):
            continue
        for seq, entry in _check_bundle(site, rel, roots, members).items():
            if entry is None:
                report.withheld.append(seq)
            else:
                revealed[seq] = entry
    report.revealed = sorted(revealed)
    report.withheld.sort()
    report.derivations = _check_derivations_file(site, revealed, listed)
    if INCIDENTS in listed:  # `sahid publish` always writes it; proofs alone need not
        report.incidents = check_incidents(lambda rel: _read(site, rel), revealed)
    return report
