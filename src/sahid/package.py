"""Evidence packages for a lawyer or a court (DESIGN §7), and their offline check.

A package is one zip file that proves itself with nothing but its own contents:

* ``evidence/<id>-<sha256[:12]>.<ext>``: the originals (decrypted, SHA-256 checked) of
  every evidence item linked to the incident or to one of its statements, and their
  redacted copies;
* ``entries/<seq>.json``: the exact signed ledger entries that concern the package
  (the bytes whose RFC 9162 leaf hash is in the tree), and ``proofs/<seq>.json`` with
  each entry's leaf hash and inclusion proof to the newest checkpoint;
* ``checkpoint`` (newest C2SP checkpoint), ``checkpoints/<size>`` (every checkpoint)
  and ``consistency/<size>.json`` (each older one's consistency proof to the newest);
* ``anchors/…``: the RFC 3161 tokens and witness cosignatures of those checkpoints
  (layout and check in :mod:`sahid.anchors.files`);
* ``log-key`` (C2SP note verifier key), ``members.json`` (member id -> Ed25519 key,
  itself proven by the ``member.added`` entries included);
* ``custody.json``, ``summary.pdf`` and ``README.txt`` for people;
* ``manifest.json``: SHA-256 and size of every other file, and ``manifest.sig``: a C2SP
  signed note ``"<origin>/package\n<hex SHA-256 of manifest.json>\n"`` by the log key, so
  that not a byte of the README, the summary PDF or the custody names a court reads can
  change without the archive's key.

Persons' sealed fields are never read: person records are not part of a package, and
the summary names persons by pseudonym only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import mimetypes
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sahid._internal import merkle
from sahid._internal.checkpoint import Checkpoint, open_checkpoint
from sahid._internal.fsutil import new_output
from sahid._internal.note import Verifier, open_note
from sahid.anchors.files import anchor_files, check_anchor_files
from sahid.errors import InputError, NotFound, VerificationError
from sahid.ledger import Entry, parse_entry

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = ["FORMAT", "build_package", "verify_package"]

FORMAT = "sahid-package/v1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
SIG_SUFFIX = "/package"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_EVIDENCE_NAME = re.compile(r"evidence/([0-9a-f]{4,64})-([0-9a-f]{12})\.([a-z0-9]{1,10})")
_ENTRY_NAME = re.compile(r"entries/(0|[1-9][0-9]{0,15})\.json")
_PROOF_NAME = re.compile(r"proofs/(0|[1-9][0-9]{0,15})\.json")
_CHECKPOINT_NAME = re.compile(r"checkpoints/([1-9][0-9]{0,19})")
_CONSISTENCY_NAME = re.compile(r"consistency/([1-9][0-9]{0,19})\.json")
_EXT = re.compile(r"[a-z0-9]{1,10}")
_CHUNK = 1 << 20
_FIXED = frozenset(
    {"README.txt", "custody.json", "checkpoint", "log-key", "members.json", "summary.pdf"}
)


# -- building ---------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _extension(row: dict[str, Any]) -> str:
    """A short lowercase file extension: the original name's, else the media type's."""
    name = row.get("name") or ""
    suffix = PurePosixPath(str(name)).suffix.lstrip(".")
    if suffix.isascii() and _EXT.fullmatch(suffix.lower()):
        return suffix.lower()
    guessed = (mimetypes.guess_extension(str(row.get("media_type") or "")) or "").lstrip(".")
    return guessed if _EXT.fullmatch(guessed) else "bin"


def _pick(value: Any, lang: str) -> str:
    """One language of a multilingual field (``lang`` first, then en, az, ru, any)."""
    if isinstance(value, dict):
        for key in (lang, "en", "az", "ru", *sorted(value)):
            text = value.get(key)
            if isinstance(text, str) and text:
                return text
        return ""
    return "" if value is None else str(value)


def _date_words(value: str | None) -> str:
    if not value:
        return ""
    approx = value.startswith("~")
    bare = value.lstrip("~")
    precision = {4: "year", 7: "month", 10: "day"}.get(len(bare), "minute")
    return f"{bare} ({'approximately, ' if approx else ''}to the {precision})"


def _place_words(value: Any) -> str:
    if isinstance(value, dict):
        parts = [str(value[k]) for k in ("name", "detail") if value.get(k)]
        return ", ".join(parts)
    return "" if value is None else str(value)


class _Collector:
    """Which records, evidence and entries belong to one incident's package."""

    def __init__(self, archive: Archive, incident_id: str) -> None:
        from sqlalchemy import select

        from sahid.records.search import load_json
        from sahid.schema import records

        self.archive = archive
        with archive.engine.connect() as conn:
            row = conn.execute(
                select(records.c.type, records.c.data).where(records.c.id == incident_id)
            ).first()
            if row is None or row.type != "incident":
                raise NotFound(
                    f"no incident with id {incident_id!r}; list them with `sahid incident ls`"
                )
            children = conn.execute(
                select(records.c.id, records.c.type, records.c.data)
                .where(records.c.parent == incident_id)
                .order_by(records.c.created_seq)
            ).all()
            links = conn.execute(
                select(records.c.id, records.c.data)
                .where(records.c.type == "link")
                .order_by(records.c.created_seq)
            ).all()
        self.incident: dict[str, Any] = load_json(row.data)
        self.incident.pop("sealed", None)
        self.children = [
            (str(c.id), str(c.type), load_json(c.data)) for c in children if c.type != "person"
        ]
        statements = {rid for rid, rtype, _ in self.children if rtype == "statement"}
        targets = {incident_id, *statements}
        self.links: list[tuple[str, dict[str, Any]]] = []
        for rid, raw in links:
            data = load_json(raw)
            if data.get("target") in targets:
                self.links.append((str(rid), data))
        self.record_ids = {incident_id, *(c[0] for c in self.children), *(r for r, _ in self.links)}
        # Evidence: linked items, then their redacted copies.
        from sahid.evidence import resolve
        from sahid.protect import derived_from

        linked: list[str] = []
        for _, data in self.links:
            eid = str(data["evidence"])
            if eid not in linked:
                linked.append(eid)
        self.evidence: dict[str, dict[str, Any]] = {}
        self.copy_of: dict[str, str] = {}
        for eid in linked:
            self.evidence[eid] = resolve(archive, eid)
            for d in derived_from(archive, eid):
                if d["original"] == eid and d["copy"] not in self.evidence:
                    self.evidence[d["copy"]] = resolve(archive, d["copy"])
                    self.copy_of[d["copy"]] = eid

    def entries(self) -> list[Entry]:
        """One pass over the ledger: the entries that concern this package, in seq order."""
        archive = self.archive
        ledger = archive.ledger
        out: list[Entry] = []
        with archive.engine.connect() as conn:
            for row in ledger.iter_rows(conn):
                if row.sealed is None:
                    continue
                entry = parse_entry(ledger.sealer.open(row.seq, row.sealed), f"entry {row.seq}")
                if self._concerns(entry):
                    out.append(entry)
        return out

    def _concerns(self, entry: Entry) -> bool:
        kind, body = entry.kind, entry.body
        if kind in ("member.added", "archive.created"):
            return True
        if kind in ("record.created", "record.updated", "link.added"):
            return body.get("id") in self.record_ids
        if kind in ("evidence.added", "evidence.received"):
            return body.get("evidence") in self.evidence
        if kind == "redaction.made":
            return body.get("original") in self.evidence and body.get("copy") in self.evidence
        return False


def _members(entries: Iterable[Entry]) -> tuple[dict[str, str], dict[str, str]]:
    """member id -> base64 Ed25519 key, and member id -> name, from member.added entries."""
    keys: dict[str, str] = {}
    names: dict[str, str] = {}
    for e in entries:
        if e.kind == "member.added":
            keys[str(e.body.get("member"))] = str(e.body.get("ed25519"))
            names[str(e.body.get("member"))] = str(e.body.get("name", ""))
    return keys, names


def _custody(entries: Iterable[Entry]) -> dict[str, list[dict[str, Any]]]:
    """Evidence id -> custody events, straight from the evidence entries."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e.kind in ("evidence.added", "evidence.received"):
            b = e.body
            out.setdefault(str(b.get("evidence")), []).append(
                {
                    "seq": e.seq,
                    "event": e.kind.removeprefix("evidence."),
                    "ts": e.ts,
                    "by": e.by,
                    "source": b.get("source"),
                    "note": b.get("note"),
                    "name": b.get("name"),
                    "sha256": b.get("sha256"),
                }
            )
    return out


def build_package(
    archive: Archive, incident_id: str, out: Path, *, lang: str = "en"
) -> dict[str, Any]:
    """Write the evidence package of one incident to ``out`` (a new zip file)."""
    out = Path(out)
    if out.exists():
        raise InputError(f"{out} already exists; choose another path or remove it first")
    found = _Collector(archive, incident_id)
    entries = found.entries()
    newest_note = archive.checkpoint()
    newest = archive.ledger.open_checkpoint(newest_note)
    keys, names = _members(entries)
    custody = _custody(entries)

    files: dict[str, tuple[str, int]] = {}  # name -> (sha256 hex, size)
    evidence_files: dict[str, str] = {}

    def put(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, _ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
        files[name] = (hashlib.sha256(data).hexdigest(), len(data))

    with new_output(out) as fh, zipfile.ZipFile(fh, "w") as zf:
        from sahid.evidence import decrypted

        for eid, row in found.evidence.items():
            name = f"evidence/{eid}-{row['sha256'][:12]}.{_extension(row)}"
            evidence_files[eid] = name
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            sha = hashlib.sha256()
            size = 0
            with (
                decrypted(archive, row) as plain,
                plain.open("rb") as src,
                zf.open(info, "w", force_zip64=row["size"] > 2**31) as dst,
            ):
                while chunk := src.read(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            if sha.hexdigest() != row["sha256"] or size != row["size"]:
                raise VerificationError(
                    f"evidence {eid}: decrypted content does not match its SHA-256",
                    where=f"evidence {eid}",
                )
            files[name] = (row["sha256"], size)

        for e in entries:
            put(zf, f"entries/{e.seq}.json", e.data)
            proof = archive.inclusion_proof(e.seq, newest.size)
            if proof.leaf_hash != e.leaf_hash or proof.root != newest.root_hash:
                raise VerificationError(
                    f"entry {e.seq}: its stored leaf or the tree root does not match; "
                    "run `sahid verify`",
                    where=f"entry {e.seq}",
                )
            put(zf, f"proofs/{e.seq}.json", _json_bytes(proof.as_json()))

        notes = archive.checkpoints()
        for note in notes:
            cp = archive.ledger.open_checkpoint(note)
            put(zf, f"checkpoints/{cp.size}", note.encode())
            if cp.size < newest.size:
                cons = archive.consistency_proof(cp.size, newest.size)
                put(zf, f"consistency/{cp.size}.json", _json_bytes(cons.as_json()))
        for name, data in anchor_files(archive, upto=newest.size).items():
            put(zf, name, data)
        put(zf, "checkpoint", newest_note.encode())
        put(zf, "log-key", (archive.log_key() + "\n").encode())
        put(zf, "members.json", _json_bytes(keys))
        custody_doc = {
            eid: {
                "file": evidence_files[eid],
                "sha256": row["sha256"],
                "size": row["size"],
                "media_type": row["media_type"],
                "redacted_copy_of": found.copy_of.get(eid),
                "events": [
                    {**ev, "member_name": names.get(ev["by"], "")} for ev in custody.get(eid, [])
                ],
            }
            for eid, row in found.evidence.items()
        }
        put(zf, "custody.json", _json_bytes(custody_doc))
        put(zf, "summary.pdf", _summary_pdf(archive, incident_id, found, custody_doc, lang))
        put(
            zf,
            "README.txt",
            _readme(archive, incident_id, found, newest, len(entries)).encode(),
        )
        manifest = {
            "format": FORMAT,
            "origin": archive.config.origin,
            "incident": incident_id,
            "files": {n: {"sha256": s, "size": z} for n, (s, z) in sorted(files.items())},
        }
        manifest_bytes = _json_bytes(manifest)
        for name, data in (
            (MANIFEST, manifest_bytes),
            (MANIFEST_SIG, _manifest_note(archive, manifest_bytes).encode()),
        ):
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return {
        "out": str(out),
        "incident": incident_id,
        "evidence": len(found.evidence),
        "entries": len(entries),
        "checkpoints": len(notes),
        "size": newest.size,
        "files": len(files) + 2,
    }


def _manifest_text(origin: str, manifest: bytes) -> str:
    return f"{origin}{SIG_SUFFIX}\n{hashlib.sha256(manifest).hexdigest()}\n"


def _manifest_note(archive: Archive, manifest: bytes) -> str:
    from sahid._internal.note import sign_note

    return sign_note(_manifest_text(archive.config.origin, manifest), [archive.log_signer])


def _readme(
    archive: Archive, incident_id: str, found: _Collector, cp: Checkpoint, n_entries: int
) -> str:
    title = _pick(found.incident.get("title"), "en")
    return f"""EVIDENCE PACKAGE — incident {incident_id}: {title}

What this is
------------
This zip file was made by sahid, an encrypted archive of evidence, from the archive
whose ledger (log) is named

    {archive.config.origin}

and whose log key (the key that signs the log's checkpoints) is

    {archive.log_key()}

Compare that log key with one you obtained from the archive's keepers independently
(for example their published website or a signed letter): everything in this package
is proven relative to it.

It holds:
  evidence/              the original files ({len(found.evidence)}), exactly as received,
                         named <evidence id>-<first 12 hex digits of SHA-256>.<ext>,
                         and any redacted copies made of them
  entries/<seq>.json     {n_entries} signed ledger entries about this incident, its records,
                         its evidence links, the evidence items and their custody; each
                         file holds the exact bytes that were signed and logged
  proofs/<seq>.json      the leaf hash of each entry and its Merkle inclusion proof
                         (RFC 9162) in the log of {cp.size} entries
  checkpoint             the newest checkpoint (C2SP signed note: log name, size, root
                         hash, signed with the log key)
  checkpoints/<size>     every checkpoint the archive signed
  consistency/<size>.json  proof that each older checkpoint is a prefix of the newest
  anchors/               if any: RFC 3161 timestamps (<size>.<n>.tsr, over the exact
                         bytes of checkpoints/<size>; TSA certificates in tsa.pem) and
                         witness cosignatures (<size>.cosigned: the checkpoint with the
                         witnesses' C2SP cosignature lines; their keys in witnesses)
  log-key                the log key shown above
  members.json           the archive members' public Ed25519 keys (member id -> key)
  custody.json           for each evidence file: when it was received, by which member,
                         from which source, with which note (taken from the entries)
  summary.pdf            a readable summary (a convenience: the entries are the proof)
  manifest.json          SHA-256 and size of every file above
  manifest.sig           the log key's signature of manifest.json (C2SP signed note:
                         "<log name>/package", then the manifest's SHA-256 in hex)

Persons are named only by pseudonym; no sealed personal data is included.

How to verify it (offline)
--------------------------
With sahid installed:

    sahid verify-package case.zip --key "LOG KEY AS YOU KNOW IT"

(--key pins the log key: take it from the publishers' site or a copy you trust. Without
it the package is checked against the log-key it carries.)

By hand, with any SHA-256 / Ed25519 tools:
 1. manifest.sig must verify with the log key (C2SP signed note, Ed25519) and name the
    SHA-256 of manifest.json. For every file listed in manifest.json, compute its SHA-256
    and compare.
 2. For each evidence file, its SHA-256 must equal the "sha256" in the body of its
    evidence.added entry (entries/<seq>.json, kind "evidence.added", body.evidence =
    the id at the start of the file name).
 3. Each entry is RFC 8785 canonical JSON. Its "sig" is an Ed25519 signature, by the
    key of member "by" in members.json, over the bytes
        "sahid/entry/v1\\n" + canonical JSON of the entry without its "sig" field.
    members.json is itself trusted through the member.added entries in entries/, which
    are signed and included in the log like every other entry.
 4. The leaf hash of an entry is SHA-256(0x00 || the file's exact bytes). Following
    its inclusion proof in proofs/<seq>.json (RFC 9162 section 2.1.3.2, nodes hashed
    as SHA-256(0x01 || left || right)) must give the root hash of the checkpoint.
 5. The checkpoint's signature line must verify with the log key (C2SP signed note,
    Ed25519), and its first line must be the log name above. Older checkpoints in
    checkpoints/ verify the same way, and their consistency proofs lead to the newest.

If any step fails, the package was altered after it was made.
"""


def _summary_html(
    archive: Archive,
    incident_id: str,
    found: _Collector,
    custody: dict[str, dict[str, Any]],
    lang: str,
) -> str:
    esc = html.escape
    inc = found.incident
    title = _pick(inc.get("title"), lang)
    rows = [
        ("Incident", incident_id),
        ("Title", title),
        ("Date", _date_words(inc.get("start"))),
        ("Until", _date_words(inc.get("end"))),
        ("Place", _place_words(inc.get("place"))),
        ("Type", str(inc.get("type", "")).replace("_", " ")),
        ("Verification status", str(inc.get("status", ""))),
        ("Summary", _pick(inc.get("summary"), lang)),
        ("Archive (log)", archive.config.origin),
    ]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "@page { size: A4; margin: 18mm; }",
        "body { font-family: 'DejaVu Sans', sans-serif; font-size: 9.5pt; }",
        "h1 { font-size: 15pt; } h2 { font-size: 12pt; margin-top: 14pt; }",
        "table { border-collapse: collapse; width: 100%; }",
        "td, th { border: 0.5pt solid #999; padding: 2pt 4pt; vertical-align: top;"
        " text-align: left; }",
        ".hash { font-family: 'DejaVu Sans Mono', monospace; font-size: 7pt;"
        " word-break: break-all; }",
        "</style></head><body>",
        f"<h1>Evidence package: {esc(title)}</h1><table>",
    ]
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v]
    parts.append("</table>")

    pseudonyms = _pseudonyms(archive, incident_id)
    if pseudonyms:
        parts.append("<h2>Persons (by pseudonym only)</h2><ul>")
        parts += [f"<li>{esc(p)}</li>" for p in pseudonyms]
        parts.append("</ul>")

    others = [(rid, rtype, d) for rid, rtype, d in found.children]
    if others:
        parts.append("<h2>Related records</h2><table><tr><th>id</th><th>type</th><th></th></tr>")
        for rid, rtype, d in others:
            text = d.get("type") if rtype == "act" else d.get("label") or d.get("text") or ""
            text = _pick(text, lang)
            if rtype == "statement":
                claims = "; ".join(
                    f"claim {c.get('n')}: {c.get('text', '')}" for c in d.get("claims", [])
                )
                text = f"{text} {claims}".strip()
            parts.append(
                f"<tr><td>{esc(rid)}</td><td>{esc(rtype)}</td><td>{esc(str(text))}</td></tr>"
            )
        parts.append("</table>")

    parts.append(
        "<h2>Evidence</h2><table><tr><th>file</th><th>SHA-256</th><th>size</th>"
        "<th>type</th><th>linked as</th></tr>"
    )
    for eid, item in custody.items():
        linked = [
            f"{d.get('relation', 'documents')} {d.get('target')}"
            + (f" claim {d['claim']}" if d.get("claim") is not None else "")
            for _, d in found.links
            if d.get("evidence") == eid
        ]
        if item["redacted_copy_of"]:
            linked.append(f"redacted copy of {item['redacted_copy_of']}")
        parts.append(
            f"<tr><td>{esc(item['file'])}</td><td class='hash'>{esc(item['sha256'])}</td>"
            f"<td>{item['size']} bytes</td><td>{esc(str(item['media_type']))}</td>"
            f"<td>{esc('; '.join(linked))}</td></tr>"
        )
    parts.append("</table>")

    events = sorted(
        ((ev, eid) for eid, item in custody.items() for ev in item["events"]),
        key=lambda x: (x[0]["ts"], x[0]["seq"]),
    )
    parts.append(
        "<h2>Custody timeline</h2><table><tr><th>when (UTC)</th><th>evidence</th>"
        "<th>event</th><th>by member</th><th>source</th><th>note</th><th>entry</th></tr>"
    )
    for ev, eid in events:
        who = f"{ev['member_name']} ({ev['by']})" if ev["member_name"] else ev["by"]
        parts.append(
            f"<tr><td>{esc(ev['ts'])}</td><td>{esc(eid)}</td><td>{esc(ev['event'])}</td>"
            f"<td>{esc(who)}</td><td>{esc(str(ev['source'] or ''))}</td>"
            f"<td>{esc(str(ev['note'] or ''))}</td><td>seq {ev['seq']}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        "<p>This summary is a convenience. The proof is in the package itself: see "
        "README.txt and run <code>sahid verify-package</code>.</p></body></html>"
    )
    return "".join(parts)


def _pseudonyms(archive: Archive, incident_id: str) -> list[str]:
    """Pseudonym and roles of the persons in the incident; never their sealed fields."""
    from sqlalchemy import select

    from sahid.records.search import load_json
    from sahid.schema import records

    out = []
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.data).where(records.c.type == "person").order_by(records.c.created_seq)
        ).all()
    for (raw,) in rows:
        data = load_json(raw)
        roles = [r["role"] for r in data.get("roles", []) if r.get("incident") == incident_id]
        if roles and data.get("pseudonym"):
            out.append(f"{data['pseudonym']} ({', '.join(roles)})")
    return out


def _summary_pdf(
    archive: Archive,
    incident_id: str,
    found: _Collector,
    custody: dict[str, dict[str, Any]],
    lang: str,
) -> bytes:
    from PIL import ImageFile
    from weasyprint import HTML  # type: ignore[import-untyped,unused-ignore]

    # Importing WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process;
    # sahid must keep refusing truncated evidence pictures (our PDF has no images).
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    doc = _summary_html(archive, incident_id, found, custody, lang)
    pdf = HTML(string=doc).write_pdf()
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise InputError("the PDF summary could not be made")
    return pdf


# -- verifying --------------------------------------------------------------------------


def _fail(where: str, what: str) -> VerificationError:
    return VerificationError(f"{where}: {what}", where=where)


def _load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(where, "is not valid JSON") from None


def _b64_hash(value: Any, where: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(where, f"{what} is not base64") from None
    if len(raw) != merkle.HASH_SIZE:
        raise _fail(where, f"{what} is not a {merkle.HASH_SIZE}-byte hash")
    return raw


def _open_cp(note: bytes, verifier: Verifier, where: str) -> Checkpoint:
    try:
        return open_checkpoint(note, verifier, origin=verifier.name)
    except VerificationError as exc:
        raise _fail(where, f"does not verify with log-key ({exc.message})") from None


def verify_package(
    path: Path,
    *,
    key: str | None = None,
    tsa_trust: Sequence[Any] | None = None,
    witnesses: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Check a package offline; VerificationError names the first bad file inside it.

    ``key``, if given, is the log's verifier key as the reader already knows it (from
    the publishers' site, a partner, a printed copy): the package's ``log-key`` must be
    that key. Without it the package is checked against the key it carries, which proves
    it is whole and unchanged since that key signed it, not whose key that is.
    ``tsa_trust`` (certificates) and ``witnesses`` (vkeys), if given, are the trust the
    reader has in TSAs and witnesses instead of the package's ``anchors/tsa.pem`` and
    ``anchors/witnesses``.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path} does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VerificationError(
            f"{path.name}: not a readable zip file ({exc})", where=path.name
        ) from None
    with zf:
        return _verify_zip(zf, key, tsa_trust, witnesses)


def _verify_zip(
    zf: zipfile.ZipFile,
    trusted_key: str | None,
    tsa_trust: Sequence[Any] | None,
    witnesses: Sequence[str] | None,
) -> dict[str, Any]:
    names = [i.filename for i in zf.infolist()]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise _fail(n, "appears twice in the zip")
        seen.add(n)

    def read(name: str) -> bytes:
        try:
            return zf.read(name)
        except KeyError:
            raise _fail(name, "is missing from the package") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _fail(name, f"cannot be read from the zip ({exc})") from None

    # 1. Log key, and the manifest it signed: exactly the files present, with their SHA-256.
    try:
        vkey = read("log-key").decode("utf-8").strip()
        verifier = Verifier.parse(vkey)
    except UnicodeDecodeError:
        raise _fail("log-key", "is not text") from None
    except VerificationError as exc:
        raise _fail("log-key", exc.message) from None
    if trusted_key is not None and vkey != trusted_key.strip():
        raise _fail(
            "log-key", "is not the log key you trust (the package was signed by another key)"
        )
    manifest_bytes = read(MANIFEST)
    try:
        signed = open_note(read(MANIFEST_SIG), [verifier]).text
    except VerificationError as exc:
        raise _fail(MANIFEST_SIG, f"does not verify with log-key ({exc.message})") from None
    if signed != _manifest_text(verifier.name, manifest_bytes):
        raise _fail(MANIFEST, f"does not match its signature in {MANIFEST_SIG}")
    manifest = _load_json(manifest_bytes, MANIFEST)
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or manifest.get("format") != FORMAT:
        raise _fail(MANIFEST, f"is not a {FORMAT} manifest")
    present = seen - {MANIFEST, MANIFEST_SIG}
    for n in sorted(present - set(listed)):
        raise _fail(n, "is in the zip but not listed in manifest.json (added)")
    for n in sorted(set(listed) - present):
        raise _fail(n, "is listed in manifest.json but missing from the zip (removed)")
    for n in sorted(present):
        want = listed[n]
        sha = hashlib.sha256()
        size = 0
        try:
            with zf.open(n) as fh:
                while chunk := fh.read(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _fail(n, f"cannot be read from the zip ({exc})") from None
        if not isinstance(want, dict) or want.get("sha256") != sha.hexdigest():
            raise _fail(n, "SHA-256 does not match manifest.json")
        if want.get("size") != size:
            raise _fail(n, "size does not match manifest.json")
    for n in sorted(present):
        known = (
            n in _FIXED
            or _EVIDENCE_NAME.fullmatch(n)
            or _ENTRY_NAME.fullmatch(n)
            or _PROOF_NAME.fullmatch(n)
            or _CHECKPOINT_NAME.fullmatch(n)
            or _CONSISTENCY_NAME.fullmatch(n)
            or n.startswith("anchors/")  # names checked by check_anchor_files
        )
        if not known:
            raise _fail(n, "is not a file a sahid package holds")

    # 2. Checkpoints.
    newest = _open_cp(read("checkpoint"), verifier, "checkpoint")
    cps: dict[int, Checkpoint] = {}
    for n in sorted(present):
        m = _CHECKPOINT_NAME.fullmatch(n)
        if m:
            cp = _open_cp(read(n), verifier, n)
            if cp.size != int(m.group(1)):
                raise _fail(n, f"holds a checkpoint of size {cp.size}, not {m.group(1)}")
            if cp.size > newest.size:
                raise _fail(n, f"is newer than the package's checkpoint (size {newest.size})")
            cps[cp.size] = cp
    top = f"checkpoints/{newest.size}"
    if newest.size not in cps or read(top) != read("checkpoint"):
        raise _fail("checkpoint", f"differs from {top}")
    for size, cp in sorted(cps.items()):
        if size == newest.size:
            continue
        where = f"consistency/{size}.json"
        doc = _load_json(read(where), where)
        if not isinstance(doc, dict) or doc.get("old") != size or doc.get("new") != newest.size:
            raise _fail(where, f"is not a proof from size {size} to {newest.size}")
        proof = doc.get("proof")
        if not isinstance(proof, list):
            raise _fail(where, "proof is not a list")
        hashes = [_b64_hash(p, where, "a proof element") for p in proof]
        try:
            merkle.verify_consistency(size, newest.size, hashes, cp.root_hash, newest.root_hash)
        except VerificationError as exc:
            raise _fail(where, exc.message) from None
    for n in present:
        m = _CONSISTENCY_NAME.fullmatch(n)
        if m and int(m.group(1)) not in cps:
            raise _fail(n, "proves a checkpoint the package does not hold")
    anchors = check_anchor_files(
        [n for n in present if n.startswith("anchors/")],
        read,
        {size: read(f"checkpoints/{size}") for size in cps},
        trust=tsa_trust,
        witnesses=witnesses,
    )

    # 3. Members and entries: canonical, signed, included in the newest checkpoint.
    members_doc = _load_json(read("members.json"), "members.json")
    if not isinstance(members_doc, dict):
        raise _fail("members.json", "is not an object of member id -> key")
    members: dict[str, Ed25519PublicKey] = {}
    for member, key in members_doc.items():
        try:
            members[member] = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(str(key), validate=True)
            )
        except (binascii.Error, ValueError):
            raise _fail("members.json", f"key of member {member} is not an Ed25519 key") from None
    entries: dict[int, Entry] = {}
    for n in sorted(present, key=lambda s: (len(s), s)):
        m = _ENTRY_NAME.fullmatch(n)
        if not m:
            continue
        seq = int(m.group(1))
        entry = parse_entry(read(n), n)
        if entry.seq != seq:
            raise _fail(n, f"holds entry {entry.seq}, not {seq}")
        key = members.get(entry.by)
        if key is None:
            raise _fail(n, f"is signed by {entry.by}, who is not in members.json")
        try:
            key.verify(base64.b64decode(entry.sig, validate=True), entry.signed_message())
        except (InvalidSignature, binascii.Error, ValueError):
            raise _fail(n, "signature is invalid") from None
        pname = f"proofs/{seq}.json"
        doc = _load_json(read(pname), pname)
        if not isinstance(doc, dict) or doc.get("index") != seq or doc.get("size") != newest.size:
            raise _fail(pname, f"is not a proof of entry {seq} in the tree of {newest.size}")
        leaf = _b64_hash(doc.get("leaf_hash"), pname, "leaf_hash")
        if leaf != entry.leaf_hash:
            raise _fail(pname, f"leaf_hash is not the hash of {n}")
        proof = doc.get("proof")
        if not isinstance(proof, list):
            raise _fail(pname, "proof is not a list")
        hashes = [_b64_hash(p, pname, "a proof element") for p in proof]
        try:
            merkle.verify_inclusion(seq, newest.size, leaf, hashes, newest.root_hash)
        except VerificationError as exc:
            raise _fail(pname, f"{exc.message} of the checkpoint") from None
        entries[seq] = entry
    for n in present:
        m = _PROOF_NAME.fullmatch(n)
        if m and int(m.group(1)) not in entries:
            raise _fail(n, "proves an entry the package does not hold")

    # members.json must be exactly what the (proven) member.added entries say.
    keys, _ = _members(entries[s] for s in sorted(entries))
    if keys != members_doc:
        raise _fail("members.json", "does not match the member.added entries")
    joined = {
        str(e.body.get("member")): e.seq
        for e in sorted(entries.values(), key=lambda e: e.seq, reverse=True)
        if e.kind == "member.added"
    }
    for seq, e in sorted(entries.items()):
        at = joined.get(e.by)
        if at is None or at > seq or (at == seq and seq != 0):
            raise _fail(
                f"entries/{seq}.json", f"is signed by {e.by} before they were added as a member"
            )
    for e in entries.values():
        if e.kind == "archive.created" and (
            e.body.get("log_key") != verifier.vkey or e.body.get("origin") != verifier.name
        ):
            raise _fail("log-key", f"differs from the archive.created entry (seq {e.seq})")

    # 4. Evidence files against their evidence.added entries; custody against the entries.
    added = {str(e.body.get("evidence")): e for e in entries.values() if e.kind == "evidence.added"}
    custody_doc = _load_json(read("custody.json"), "custody.json")
    if not isinstance(custody_doc, dict):
        raise _fail("custody.json", "is not an object")
    custody = _custody(entries[s] for s in sorted(entries))
    n_evidence = 0
    for n in sorted(present):
        m = _EVIDENCE_NAME.fullmatch(n)
        if not m:
            continue
        eid, prefix = m.group(1), m.group(2)
        ev_entry = added.get(eid)
        if ev_entry is None:
            raise _fail(n, "has no evidence.added entry in entries/")
        want = str(ev_entry.body.get("sha256"))
        got = listed[n]["sha256"]  # computed above from the file itself
        if (
            got != want
            or not want.startswith(prefix)
            or listed[n]["size"] != ev_entry.body.get("size")
        ):
            raise _fail(n, f"SHA-256 does not match its evidence.added entry (seq {ev_entry.seq})")
        item = custody_doc.get(eid)
        item = item if isinstance(item, dict) else {}
        events = item.get("events")
        stripped = (
            [{k: v for k, v in ev.items() if k != "member_name"} for ev in events]
            if isinstance(events, list) and all(isinstance(ev, dict) for ev in events)
            else None
        )
        if stripped != custody.get(eid, []) or item.get("sha256") != want:
            raise _fail("custody.json", f"custody of {eid} does not match the entries")
        n_evidence += 1
    if set(custody_doc) - set(added):
        raise _fail("custody.json", "lists evidence the package does not hold")
    for eid, ev_entry in sorted(added.items()):
        stem = f"evidence/{eid}-{str(ev_entry.body.get('sha256'))[:12]}."
        if not any(n.startswith(stem) and _EVIDENCE_NAME.fullmatch(n) for n in present):
            item = custody_doc.get(eid)
            shown = item.get("file") if isinstance(item, dict) else None
            where = shown if isinstance(shown, str) and shown.startswith(stem) else stem + "*"
            raise _fail(
                where, f"is missing, but its evidence.added entry (seq {ev_entry.seq}) is there"
            )
    return {
        "ok": True,
        "origin": verifier.name,
        "size": newest.size,
        "root": _b64(newest.root_hash),
        "files": len(present) + 2,
        "key": vkey,
        "evidence": n_evidence,
        "entries": len(entries),
        "checkpoints": len(cps),
        "anchors": anchors.as_json(),
    }
