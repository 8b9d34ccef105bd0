"""The archive lifecycle: init, open, append, proofs, and every bad input of issue 3."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sahid import Archive, AuthError, InputError, LockedError, NotFound, VerificationError
from sahid._internal import merkle
from sahid.config import KdfParams, read_config

from conftest import FAST_KDF, PASSPHRASE, fill


def test_init_layout_and_no_secrets_in_config(make_archive):
    arc = make_archive()
    root = arc.root
    assert {p.name for p in root.iterdir()} >= {"sahid.toml", "keys", "blobs", "sahid.db"}
    text = (root / "sahid.toml").read_text()
    assert "AGE-SECRET-KEY" not in text.upper()
    cfg = read_config(root)
    assert cfg.origin == f"sahid/{cfg.archive_id}"
    key_file = next((root / "keys").glob("*.key"))
    doc = json.loads(key_file.read_text())
    assert doc["kdf"]["alg"] == "argon2id" and doc["kdf"]["m"] == FAST_KDF.memory_kib
    assert "AGE-SECRET-KEY" not in key_file.read_text()
    # The database is SQLCipher: no SQLite header, no readable text.
    head = (root / "sahid.db").read_bytes()[:16]
    assert head != b"SQLite format 3\x00"
    assert arc.size == 2  # member.added + archive.created


def test_default_kdf_is_strong():
    k = KdfParams()
    assert (k.memory_kib, k.time_cost, k.parallelism) == (256 * 1024, 3, 4)


def test_append_and_reopen(make_archive):
    arc = make_archive(entries=7, batch=3)
    assert arc.size == 9
    root = arc.root
    arc.close()
    with Archive.open(root, PASSPHRASE) as again:
        assert again.size == 9
        assert again.entry(5).body["id"] == "src-5"
        assert len(again.checkpoints()) == 1 + 3


def test_proofs_verify_against_checkpoint_roots(make_archive):
    arc = make_archive(entries=40, batch=7)
    size = arc.size
    for index in (0, 1, 17, size - 1):
        p = arc.inclusion_proof(index)
        merkle.verify_inclusion(p.index, p.size, p.leaf_hash, p.proof, p.root)
        assert p.leaf_hash == arc.entry(index).leaf_hash
    cp_root = arc.ledger.open_checkpoint(arc.checkpoint()).root_hash
    assert arc.inclusion_proof(3).root == cp_root
    c = arc.consistency_proof(3, size)
    merkle.verify_consistency(3, size, c.proof, c.old_root, c.new_root)


@pytest.mark.parametrize(
    ("call", "msg"),
    [
        (lambda a: a.inclusion_proof(99), "out of range"),
        (lambda a: a.inclusion_proof(-1), "out of range"),
        (lambda a: a.inclusion_proof(1, size=1000), "out of range"),
        (lambda a: a.inclusion_proof(3, size=2), "out of range"),
        (lambda a: a.consistency_proof(0, 4), "out of range"),
        (lambda a: a.consistency_proof(5, 4), "out of range"),
        (lambda a: a.consistency_proof(1, 99), "out of range"),
        (lambda a: a.entry(50), "out of range"),
    ],
)
def test_proof_requests_out_of_range(make_archive, call, msg):
    arc = make_archive(entries=5)
    with pytest.raises(InputError, match=msg):
        call(arc)


def test_wrong_passphrase(make_archive):
    arc = make_archive()
    arc.close()
    root = arc.root
    with pytest.raises(AuthError, match="wrong passphrase"):
        Archive.open(root, b"not it")


def test_init_refuses_nonempty_and_existing(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        Archive.init(tmp_path / "busy", PASSPHRASE, kdf=FAST_KDF)
    Archive.init(tmp_path / "a", PASSPHRASE, kdf=FAST_KDF).close()
    before = sorted(p.name for p in (tmp_path / "a").rglob("*"))
    with pytest.raises(InputError, match="already a sahid archive"):
        Archive.init(tmp_path / "a", PASSPHRASE, kdf=FAST_KDF)
    assert sorted(p.name for p in (tmp_path / "a").rglob("*")) == before
    # No temp folders left behind by any of it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "busy"]


def test_init_into_existing_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    Archive.init(tmp_path / "empty", PASSPHRASE, kdf=FAST_KDF).close()
    assert (tmp_path / "empty" / "sahid.toml").is_file()


def test_init_refuses_weak_kdf(tmp_path):
    with pytest.raises(InputError, match="below the floor"):
        Archive.init(tmp_path / "a", PASSPHRASE, kdf=KdfParams(memory_kib=1024, time_cost=1))
    assert not (tmp_path / "a").exists()


def test_not_an_archive(tmp_path):
    with pytest.raises(NotFound, match="not a sahid archive"):
        Archive.open(tmp_path, PASSPHRASE)


def test_second_writer_is_refused(make_archive):
    arc = make_archive()
    with pytest.raises(LockedError, match="in use"):
        Archive.open(arc.root, PASSPHRASE)
    with pytest.raises(LockedError, match="in use"):
        Archive.open(arc.root, PASSPHRASE, write=False)


def test_readers_share(make_archive):
    arc = make_archive()
    arc.close()
    root = arc.root
    with (
        Archive.open(root, PASSPHRASE, write=False) as r1,
        Archive.open(root, PASSPHRASE, write=False) as r2,
    ):
        assert r1.size == r2.size
        with pytest.raises(LockedError):
            Archive.open(root, PASSPHRASE)


def _first_key(root: Path) -> Path:
    return next((root / "keys").glob("*.key"))


def test_key_file_below_floor_is_refused(make_archive):
    arc = make_archive()
    root = arc.root
    arc.close()
    kf = _first_key(root)
    doc = json.loads(kf.read_text())
    doc["kdf"]["m"] = 8192
    kf.write_text(json.dumps(doc))
    with pytest.raises(AuthError, match="below the floor"):
        Archive.open(root, PASSPHRASE)


def test_key_file_params_are_bound_to_the_ciphertext(make_archive):
    arc = make_archive()
    root = arc.root
    arc.close()
    kf = _first_key(root)
    doc = json.loads(kf.read_text())
    doc["kdf"]["m"] = doc["kdf"]["m"] * 2  # stronger, but not what was used: tag breaks
    kf.write_text(json.dumps(doc))
    with pytest.raises(AuthError, match="wrong passphrase, or the key file was altered"):
        Archive.open(root, PASSPHRASE)


def test_key_file_corrupted(make_archive):
    arc = make_archive()
    root = arc.root
    arc.close()
    kf = _first_key(root)
    kf.write_bytes(kf.read_bytes()[:40])
    with pytest.raises(AuthError, match="corrupted"):
        Archive.open(root, PASSPHRASE)


def test_replaced_key_file_is_detected(tmp_path):
    a = Archive.init(tmp_path / "a", PASSPHRASE, kdf=FAST_KDF)
    b = Archive.init(tmp_path / "b", PASSPHRASE, kdf=FAST_KDF)
    a.close()
    b.close()
    ka, kb = _first_key(tmp_path / "a"), _first_key(tmp_path / "b")
    os.replace(kb, ka.parent / kb.name)
    ka.unlink()
    (tmp_path / "b" / "keys" / (kb.stem + ".vault")).replace(ka.parent / (kb.stem + ".vault"))
    with pytest.raises(VerificationError):
        Archive.open(tmp_path / "a", PASSPHRASE)


def test_entries_are_sealed_at_rest(make_archive):
    arc = make_archive()
    arc.append(
        "record.created",
        {"type": "source", "id": "s1", "fields": {"name": "PLANTED-MARKER-İmişli-7731"}},
    )
    root = arc.root
    arc.close()
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PLANTED-MARKER" not in data, path
            assert "İmişli".encode() not in data, path


def test_injected_clock(tmp_path):
    from datetime import UTC, datetime

    fixed = datetime(2025, 1, 18, 12, 30, tzinfo=UTC)
    with Archive.init(tmp_path / "a", PASSPHRASE, kdf=FAST_KDF, now=lambda: fixed) as arc:
        fill(arc, 1)
        assert arc.entry(2).ts == "2025-01-18T12:30:00.000000Z"


def test_unknown_kind_rejected(make_archive):
    arc = make_archive()
    with pytest.raises(InputError, match="unknown entry kind"):
        arc.append("made.up", {})
    assert arc.size == 2
