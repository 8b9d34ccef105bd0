"""Anchors as files beside published checkpoints (sahid.anchors.files): made from the
ledger, checked with nothing but the files; every change is caught, naming the file."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from sahid import Archive
from sahid.anchors.files import anchor_files, check_anchor_files
from sahid.anchors.service import read_trust_file
from sahid.errors import VerificationError
from tsa import Authority, Server, make_ca

from conftest import FAST_KDF, PASSPHRASE, fill


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def published(tmp_path_factory, authority):
    """(files, checkpoints, log key, witness vkey) of a log with 2 tokens, 2 cosignatures."""
    root = tmp_path_factory.mktemp("arc")
    server = Server(authority)
    stamp = [1_800_000_000]

    def now() -> datetime:
        stamp[0] += 1
        return datetime.fromtimestamp(stamp[0], UTC)

    trust = read_trust_file(authority.ca)
    with (
        Archive.init(root / "log", PASSPHRASE, kdf=FAST_KDF, now=now) as log,
        Archive.init(root / "w", PASSPHRASE, kdf=FAST_KDF, now=now) as partner,
    ):
        fill(log, 3, 3)
        log.anchors.timestamp(server.url, trust)
        log.anchors.timestamp(server.url, trust, size=5)
        partner.witness.trust(log.log_key())
        log.anchors.add_witness(partner.witness.key().vkey)
        for _ in range(2):
            request, _ = log.anchors.witness_request()
            log.anchors.add_cosignatures(partner.witness.cosign(request)["cosignature"])
        files = anchor_files(log)
        notes = {
            s: n.encode()
            for s, n in ((log.ledger.open_checkpoint(n).size, n) for n in log.checkpoints())
        }
        keys = (log.log_key(), partner.witness.key().vkey)
    server.close()
    return files, notes, keys


def check(files, notes, **kw):
    return check_anchor_files(list(files), files.__getitem__, notes, prefix="verify/", **kw)


def test_layout_and_a_clean_check(published, authority):
    files, notes, (_, witness) = published
    assert sorted(files) == [
        "anchors/5.1.tsr",
        "anchors/5.2.tsr",
        "anchors/8.cosigned",
        "anchors/9.cosigned",
        "anchors/tsa.pem",
        "anchors/witnesses",
    ]
    assert files["anchors/8.cosigned"].startswith(notes[8])
    assert files["anchors/witnesses"].decode() == witness + "\n"
    report = check(files, notes)
    assert (report.timestamps, report.cosignatures) == (2, 2)
    assert {i["kind"] for i in report.items} == {"rfc3161", "cosignature"}
    pinned = check(files, notes, trust=read_trust_file(authority.ca), witnesses=[witness])
    assert pinned.as_json() == report.as_json()


def test_a_cosigned_file_is_a_c2sp_note_with_both_keys(published):
    from sahid._internal.note import open_note

    files, _, (log_key, witness) = published
    from sahid._internal.cosignature import Cosignature, CosignerKey
    from sahid._internal.note import Verifier

    opened = open_note(files["anchors/8.cosigned"], [Verifier.parse(log_key)])
    (line,) = opened.other_lines
    CosignerKey.parse(witness).verify(opened.text, Cosignature.parse(line))


def test_pinned_trust_that_does_not_match_fails(published, tmp_path):
    files, notes, _ = published
    other = read_trust_file(make_ca(tmp_path / "o", "Other"))
    with pytest.raises(
        VerificationError, match=r"verify/anchors/5.1.tsr: RFC 3161 step 5"
    ) as caught:
        check(files, notes, trust=other)
    assert caught.value.where == "verify/anchors/5.1.tsr"


def test_pinned_witnesses_ignore_other_cosigners(published):
    files, notes, _ = published
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sahid._internal.cosignature import CosignerSigner

    stranger = CosignerSigner("x.example/w", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
    report = check(files, notes, witnesses=[stranger.key.vkey])
    assert report.cosignatures == 0 and report.timestamps == 2


def flip(data: bytes, at: int) -> bytes:
    raw = bytearray(data)
    raw[at] ^= 0x01
    return bytes(raw)


@pytest.mark.parametrize(
    ("name", "change", "match"),
    [
        ("anchors/5.1.tsr", lambda d: flip(d, len(d) - 5), "verify/anchors/5.1.tsr: RFC 3161"),
        ("anchors/5.2.tsr", lambda d: d[:-1], "verify/anchors/5.2.tsr"),
        ("anchors/8.cosigned", lambda d: flip(d, len(d) - 10), "verify/anchors/8.cosigned"),
        (
            "anchors/8.cosigned",
            lambda d: d.replace(b"\n8\n", b"\n9\n", 1),
            "verify/anchors/8.cosigned: does not start",
        ),
        (
            "anchors/9.cosigned",
            lambda d: d + b"junk\n",
            "verify/anchors/9.cosigned: holds something",
        ),
        ("anchors/tsa.pem", lambda d: b"", "verify/anchors/tsa.pem"),
        ("anchors/witnesses", lambda d: b"nonsense\n", "verify/anchors/witnesses"),
    ],
)
def test_every_change_is_caught(published, name, change, match):
    files, notes, _ = published
    changed = {**files, name: change(files[name])}
    with pytest.raises(VerificationError, match=match):
        check(changed, notes)


def test_missing_and_extra_files(published):
    files, notes, _ = published
    without_pem = {k: v for k, v in files.items() if k != "anchors/tsa.pem"}
    with pytest.raises(VerificationError, match=r"tsa.pem: is missing"):
        check(without_pem, notes)
    without_witnesses = {k: v for k, v in files.items() if k != "anchors/witnesses"}
    with pytest.raises(VerificationError, match="witnesses: is missing"):
        check(without_witnesses, notes)
    extra = {**files, "anchors/notes.txt": b"hi"}
    with pytest.raises(VerificationError, match=r"verify/anchors/notes.txt: is not an anchor file"):
        check(extra, notes)
    moved = {**files, "anchors/7.1.tsr": files["anchors/5.1.tsr"]}
    with pytest.raises(VerificationError, match=r"verify/anchors/7.1.tsr: RFC 3161 step 3"):
        check(moved, notes)
    unpublished = {k: v for k, v in notes.items() if k != 9}
    with pytest.raises(
        VerificationError, match=r"9.cosigned: cosigns checkpoint 9, which is not published"
    ):
        check(files, unpublished)


def test_a_cosignature_line_is_bound_to_its_checkpoint(published):
    files, notes, _ = published
    line8 = files["anchors/8.cosigned"][len(notes[8]) :]
    swapped = {**files, "anchors/9.cosigned": notes[9] + line8}
    with pytest.raises(VerificationError, match=r"9.cosigned: cosignature by .* does not verify"):
        check(swapped, notes)
    assert base64  # the lines are base64; nothing else is decoded here
