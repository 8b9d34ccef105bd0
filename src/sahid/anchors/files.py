"""Anchors as plain files, beside the checkpoints of a published site or a package.

The same layout serves both (the site puts it under ``verify/``, a package at its root),
next to ``checkpoints/<size>``, the exact checkpoint notes::

    anchors/<size>.<n>.tsr   n = 1, 2, ...: an RFC 3161 TimeStampResp (DER) whose imprint
                             is SHA-256 of the bytes of checkpoints/<size>
    anchors/<size>.cosigned  checkpoints/<size> with every recorded witness cosignature
                             line appended: a C2SP signed note any C2SP client can check
                             with the log key and the witness keys
    anchors/tsa.pem          the certificates the tokens were verified against when the
                             archive recorded them (PEM)
    anchors/witnesses        the witnesses' vkeys, one a line

:func:`anchor_files` makes the files from an archive's ledger; :func:`check_anchor_files`
verifies them with nothing but the files. A reader who knows the TSA's certificates or a
witness's key from elsewhere passes them (``trust``, ``witnesses``): then the published
``tsa.pem`` and ``witnesses`` are not relied on, and cosignatures by other keys are
ignored, as C2SP requires. Without them the check proves the tokens and cosignatures
genuine and exact for the checkpoints, by the certificates and keys published beside
them; who those belong to is for the reader to confirm (their SHA-256 fingerprints are
in the report).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509

from sahid._internal.cosignature import Cosignature, CosignerKey
from sahid._internal.note import SIG_PREFIX, note_text
from sahid.anchors.project import posix_time
from sahid.anchors.tsp import certificate_pem, fingerprint, format_time, load_trust
from sahid.anchors.verify import verify_checkpoint_timestamp
from sahid.errors import VerificationError

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = ["ANCHORS", "AnchorFiles", "anchor_files", "check_anchor_files"]

ANCHORS = "anchors"
TSA_PEM = f"{ANCHORS}/tsa.pem"
WITNESSES = f"{ANCHORS}/witnesses"
_TSR = re.compile(r"anchors/([1-9][0-9]{0,19})\.([1-9][0-9]{0,5})\.tsr")
_COSIGNED = re.compile(r"anchors/([1-9][0-9]{0,19})\.cosigned")


def anchor_files(archive: Archive, *, upto: int | None = None) -> dict[str, bytes]:
    """The anchor files of every recorded anchor (of checkpoints up to size ``upto``)."""
    notes: dict[int, str] = {}
    tokens: dict[int, list[bytes]] = {}
    lines: dict[int, list[str]] = {}
    trust: dict[bytes, x509.Certificate] = {}
    witnesses: set[str] = set()
    for _seq, body in archive.anchors.entries():
        size = int(body["size"])
        if upto is not None and size > upto:
            continue
        if size not in notes:
            notes[size] = archive.anchors.checkpoint(size)[1]
        if "tsr" in body:
            tokens.setdefault(size, []).append(base64.b64decode(body["tsr"]))
            for der in body["trust"]:
                raw = base64.b64decode(der)
                trust.setdefault(raw, x509.load_der_x509_certificate(raw))
        else:
            lines.setdefault(size, []).append(str(body["cosignature"]))
            witnesses.add(str(body["witness"]))
    out: dict[str, bytes] = {}
    for size, found in sorted(tokens.items()):
        for n, tsr in enumerate(found, 1):
            out[f"{ANCHORS}/{size}.{n}.tsr"] = tsr
    for size, cosigs in sorted(lines.items()):
        unique = list(dict.fromkeys(cosigs))
        out[f"{ANCHORS}/{size}.cosigned"] = (
            notes[size] + "".join(f"{x}\n" for x in unique)
        ).encode()
    if trust:
        out[TSA_PEM] = certificate_pem(list(trust.values()))
    if witnesses:
        out[WITNESSES] = "".join(f"{w}\n" for w in sorted(witnesses)).encode()
    return out


@dataclass
class AnchorFiles:
    """What :func:`check_anchor_files` verified."""

    timestamps: int = 0
    cosignatures: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    trust: list[str] = field(default_factory=list)  # SHA-256 fingerprints
    witnesses: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "timestamps": self.timestamps,
            "cosignatures": self.cosignatures,
            "items": self.items,
            "trust": self.trust,
            "witnesses": self.witnesses,
        }


def _fail(where: str, what: str) -> VerificationError:
    return VerificationError(f"{where}: {what}", where=where)


def check_anchor_files(
    names: Iterable[str],
    read: Callable[[str], bytes],
    checkpoints: Mapping[int, bytes],
    *,
    prefix: str = "",
    trust: Sequence[x509.Certificate] | None = None,
    witnesses: Sequence[str] | None = None,
) -> AnchorFiles:
    """Verify the anchor files ``names`` (paths starting ``anchors/``).

    ``read(name)`` returns a file's bytes; ``checkpoints`` maps each published size to
    the exact bytes of its (already verified) checkpoint note; ``prefix`` is put before
    names in error messages (``verify/`` on a site).
    """
    report = AnchorFiles()
    tsrs: list[tuple[int, int, str]] = []
    cosigned: list[tuple[int, str]] = []
    for name in sorted(names):
        m = _TSR.fullmatch(name)
        c = _COSIGNED.fullmatch(name)
        if m:
            tsrs.append((int(m.group(1)), int(m.group(2)), name))
        elif c:
            cosigned.append((int(c.group(1)), name))
        elif name not in (TSA_PEM, WITNESSES):
            raise _fail(prefix + name, "is not an anchor file (anchors/<size>.<n>.tsr, ...)")
    listed = set(names)
    if tsrs:
        if trust is None:
            if TSA_PEM not in listed:
                raise _fail(prefix + TSA_PEM, "is missing, but timestamp tokens are published")
            trust = load_trust(read(TSA_PEM), prefix + TSA_PEM)
        report.trust = [fingerprint(cert) for cert in trust]
    for size, _, name in sorted(tsrs):
        note = checkpoints.get(size)
        if note is None:
            raise _fail(prefix + name, f"anchors checkpoint {size}, which is not published")
        try:
            check = verify_checkpoint_timestamp(note, read(name), list(trust or ()))
        except VerificationError as exc:
            raise _fail(prefix + name, exc.message) from None
        report.timestamps += 1
        report.items.append(
            {
                "file": prefix + name,
                "size": size,
                "kind": "rfc3161",
                "time": format_time(check.gen_time),
                "by": check.tsa,
            }
        )
    if cosigned:
        keys = _witness_keys(witnesses, read, listed, prefix)
        report.witnesses = [k.vkey for k in keys.values()]
        for size, name in cosigned:
            _check_cosigned(
                size, name, read(name), checkpoints, keys, witnesses is None, prefix, report
            )
    return report


def _witness_keys(
    witnesses: Sequence[str] | None,
    read: Callable[[str], bytes],
    listed: set[str],
    prefix: str,
) -> dict[tuple[str, bytes], CosignerKey]:
    if witnesses is None:
        if WITNESSES not in listed:
            raise _fail(prefix + WITNESSES, "is missing, but cosigned checkpoints are published")
        try:
            named = read(WITNESSES).decode("utf-8").split()
        except UnicodeDecodeError:
            raise _fail(prefix + WITNESSES, "is not text") from None
    else:
        named = list(witnesses)
    keys: dict[tuple[str, bytes], CosignerKey] = {}
    for vkey in named:
        try:
            key = CosignerKey.parse(vkey)
        except VerificationError as exc:
            raise _fail(prefix + WITNESSES, exc.message) from None
        keys[(key.name, key.key_id)] = key
    if not keys:
        raise _fail(prefix + WITNESSES, "names no witness key")
    return keys


def _check_cosigned(
    size: int,
    name: str,
    data: bytes,
    checkpoints: Mapping[int, bytes],
    keys: Mapping[tuple[str, bytes], CosignerKey],
    strict: bool,
    prefix: str,
    report: AnchorFiles,
) -> None:
    where = prefix + name
    note = checkpoints.get(size)
    if note is None:
        raise _fail(where, f"cosigns checkpoint {size}, which is not published")
    if not data.startswith(note):
        raise _fail(where, f"does not start with the exact checkpoint {size}")
    try:
        extra = data[len(note) :].decode("utf-8")
        text = note_text(note)
    except (UnicodeDecodeError, VerificationError):
        raise _fail(where, "is not a checkpoint with cosignature lines") from None
    if not extra.endswith("\n") or not all(
        x.startswith(SIG_PREFIX) for x in extra[:-1].split("\n")
    ):
        raise _fail(where, "holds something other than cosignature lines after the checkpoint")
    for line in extra[:-1].split("\n"):
        try:
            cosig = Cosignature.parse(line)
        except VerificationError as exc:
            raise _fail(where, exc.message) from None
        key = keys.get((cosig.name, cosig.key_id))
        if key is None:
            if strict:
                raise _fail(
                    where, f"a cosignature by {cosig.name}, who is not in {prefix}{WITNESSES}"
                )
            continue
        try:
            key.verify(text, cosig)
        except VerificationError as exc:
            raise _fail(where, exc.message) from None
        report.cosignatures += 1
        report.items.append(
            {
                "file": where,
                "size": size,
                "kind": "cosignature",
                "time": posix_time(cosig.timestamp),
                "by": key.vkey,
            }
        )
