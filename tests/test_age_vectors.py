"""Our blob decryption path (pyrage ``decrypt_io`` with X25519 identities) against the
C2SP CCTV age vectors in ../shared/vectors/age (C2SP/CCTV@1e3d2860, 0BSD/CC0/Unlicense).

Vectors whose only identities are passphrases (scrypt) or post-quantum hybrids are not
our path: sahid never decrypts blobs with either. They are listed, not silently skipped.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import pyrage
import pytest

from sahid import VerificationError
from sahid._internal.agehdr import check_header
from sahid.evidence import HashingWriter

from conftest import SHARED

TESTDATA = SHARED / "vectors" / "age" / "testdata"


def parse(path: Path) -> tuple[dict[str, list[str]], bytes]:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return fields, body


def ours(fields: dict[str, list[str]]) -> bool:
    return any(i.startswith("AGE-SECRET-KEY-1") for i in fields.get("identity", []))


#: Armored files are never sahid blobs; where rage's armor parser differs from the
#: vectors we record it here rather than hide it.
ARMOR_DIVERGENCES = {
    "armor_whitespace_outside": "rage refuses whitespace before the armor that the spec allows",
}

ALL = sorted(TESTDATA.iterdir())
OURS = [p for p in ALL if ours(parse(p)[0])]


def test_which_vectors_are_ours():
    others = {p.name for p in ALL if p not in OURS}
    # Only passphrase (scrypt) and post-quantum hybrid vectors lack an X25519 identity.
    for name in others:
        ids = parse(TESTDATA / name)[0].get("identity", [])
        assert all(not i.startswith("AGE-SECRET-KEY-1") for i in ids), name
        assert "scrypt" in name or "hybrid" in name or not ids, name
    assert len(OURS) >= 90


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.name)
def test_vector(path: Path):
    fields, body = parse(path)
    expect = fields["expect"][0]
    identities = [
        pyrage.x25519.Identity.from_str(i)
        for i in fields["identity"]
        if i.startswith("AGE-SECRET-KEY-1")
    ]
    writer = HashingWriter(None)
    if fields.get("armored") == ["yes"]:
        if path.name in ARMOR_DIVERGENCES:
            pytest.xfail(ARMOR_DIVERGENCES[path.name])
        reader = io.BytesIO(body)  # armor is pyrage's job; blobs are never armored
    else:
        reader = io.BytesIO(body)
    try:
        if fields.get("armored") != ["yes"]:
            check_header(reader)
        pyrage.decrypt_io(reader, writer, identities)
    except (pyrage.DecryptError, OSError, VerificationError):  # header / STREAM errors
        assert expect != "success", f"{path.name}: should decrypt"
        if expect == "payload failure" and "payload" in fields:
            # What was released before the failure is exactly the authenticated prefix.
            assert writer.sha.hexdigest() == fields["payload"][0] or writer.count == 0
        return
    assert expect == "success", f"{path.name}: expected {expect}, but it decrypted"
    assert writer.sha.hexdigest() == fields["payload"][0]
    assert hashlib.sha256(pyrage.decrypt(body, identities)).hexdigest() == fields["payload"][0]
