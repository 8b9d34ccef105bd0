"""C2SP signed-note and tlog-checkpoint against the 26 vectors in ../shared/vectors/c2sp-notes.

Provenance: golang/mod@fe2ec04f, transparency-dev/formats@0b850f1a, C2SP/C2SP@5ba5ee83 (see
that folder's README). We sign only Ed25519 (type 0x01): notes signed with other key types
(ECDSA 0x02, RFC 6962 0x05) must be *refused as untrusted*, never accepted silently.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sahid import VerificationError
from sahid._internal.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from sahid._internal.note import Signer, Verifier, add_signatures, key_id, open_note, sign_note

from conftest import SHARED

DOC = json.loads((SHARED / "vectors" / "c2sp-notes" / "note_checkpoint_vectors.json").read_text())
VECTORS = {v["id"]: v for v in DOC["vectors"]}
PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"


def vec(name: str) -> dict:
    return VECTORS[name]


def test_all_vectors_are_exercised():
    exercised = {
        *(
            f"go-note-{x}"
            for x in ("peterneumann-sign", "two-sigs-one-known", "two-sigs-both-known")
        ),
        *(f"go-note-{x}" for x in ("no-known-keys", "corrupted-sig", "too-many-sigs", "bad-vkeys")),
        *(f"go-note-malformed-{x}" for x in ("0", "1", "2", "3", "4", "5", "invalid-utf8")),
        *(f"go-tlog-{x}" for x in ("tree-format", "tree-bad", "record-format")),
        *(f"formats-{x}" for x in ("sumdb-real-checkpoint", "test-keypairs", "checkpoint-bodies")),
        *(f"formats-rekor-ecdsa-{x}" for x in ("checkpoint", "bad-sig")),
        *(
            f"formats-{x}"
            for x in ("rome-static-ct-checkpoint", "argon2024-sth", "cosigv1-timestamp")
        ),
        "c2sp-signed-note-example",
    }
    assert set(VECTORS) == exercised


def test_sign_reproduces_note_byte_for_byte():
    v = vec("go-note-peterneumann-sign")
    signer = Signer.parse(v["signer_key"])
    assert signer.verifier.vkey == v["verifier_key"]
    assert sign_note(v["text"], [signer]) == v["signed_note"]
    opened = open_note(v["signed_note"], [Verifier.parse(v["verifier_key"])])
    assert opened.text == v["text"]


def test_two_signatures_one_known():
    v = vec("go-note-two-sigs-one-known")
    opened = open_note(v["signed_note"], [Verifier.parse(k) for k in v["verifier_keys"]])
    assert [x.name for x in opened.verified] == ["PeterNeumann"]
    assert len(opened.other_lines) == 1 and "EnochRoot" in opened.other_lines[0]


def test_two_signatures_both_known():
    v = vec("go-note-two-sigs-both-known")
    opened = open_note(v["signed_note"], [Verifier.parse(k) for k in v["verifier_keys"]])
    assert {x.name for x in opened.verified} == {"PeterNeumann", "EnochRoot"}


def test_no_known_keys_fails_closed():
    v = vec("go-note-no-known-keys")
    with pytest.raises(VerificationError, match="no trusted keys"):
        open_note(v["signed_note"], [])
    other = Signer.parse(vec("formats-test-keypairs")["keypairs"]["unknown"]["signer_key"]).verifier
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        open_note(v["signed_note"], [other])


def test_corrupted_signature():
    v = vec("go-note-corrupted-sig")
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(v["signed_note"], [Verifier.parse(k) for k in v["verifier_keys"]])


@pytest.mark.parametrize("name", [f"go-note-malformed-{i}" for i in range(6)])
def test_malformed_notes(name):
    v = vec(name)
    with pytest.raises(VerificationError):
        open_note(v["signed_note"], [Verifier.parse(k) for k in v["verifier_keys"]])


def test_malformed_invalid_utf8():
    v = vec("go-note-malformed-invalid-utf8")
    with pytest.raises(VerificationError, match="UTF-8"):
        open_note(bytes.fromhex(v["signed_note_hex"]), [Verifier.parse(PETER)])


def test_too_many_signatures():
    v = vec("go-note-too-many-sigs")
    note = v["text"] + "\n" + v["signature_line"] * v["repeat"]
    with pytest.raises(VerificationError):
        open_note(note, [Verifier.parse(k) for k in v["verifier_keys"]])
    ok = v["text"] + "\n" + v["signature_line"] * 100
    open_note(ok, [Verifier.parse(k) for k in v["verifier_keys"]])


def test_bad_verifier_keys():
    for vkey in vec("go-note-bad-vkeys")["verifier_keys"]:
        with pytest.raises(VerificationError):
            Verifier.parse(vkey)
    for bad in [
        "",
        "a+b",
        "name+zzzzzzzz+AAAA",
        PETER.replace("c74f20a3", "c74f20a4"),
        PETER + "+x",
    ]:
        with pytest.raises(VerificationError):
            Verifier.parse(bad)


def test_sumdb_tree_note_bodies_as_checkpoints():
    v = vec("go-tlog-tree-format")
    cp = Checkpoint.parse(v["body"])
    assert (cp.origin, cp.size) == ("go.sum database tree", v["tree_size"])
    assert (
        base64.b64encode(hashlib.sha256(b"\0" + v["record_data"].encode()).digest()).decode()
        == v["record_hash_b64"]
    )
    assert cp.root_hash == base64.b64decode(v["record_hash_b64"])
    assert cp.body() == v["body"]
    bad = vec("go-tlog-tree-bad")["bodies"]
    # The first is a valid checkpoint with another origin: an origin check must catch it.
    assert Checkpoint.parse(bad[0]).origin != cp.origin
    for body in bad[1:]:
        with pytest.raises(VerificationError):
            Checkpoint.parse(body)


def test_sumdb_record_format_is_not_a_checkpoint():
    v = vec("go-tlog-record-format")
    with pytest.raises(VerificationError):
        Checkpoint.parse(v["record"])


def test_real_sumdb_checkpoint():
    v = vec("formats-sumdb-real-checkpoint")
    cp = open_checkpoint(v["signed_note"], Verifier.parse(v["verifier_key"]))
    assert (cp.origin, cp.size) == (v["origin"], v["tree_size"])
    assert cp.root_hash == base64.b64decode(v["root_hash_b64"])
    with pytest.raises(VerificationError):
        open_checkpoint(
            v["signed_note"].replace("6476701", "6476702"), Verifier.parse(v["verifier_key"])
        )


def test_test_keypairs_derive_their_verifiers():
    for pair in vec("formats-test-keypairs")["keypairs"].values():
        assert Signer.parse(pair["signer_key"]).verifier.vkey == pair["verifier_key"]


def test_checkpoint_bodies():
    v = vec("formats-checkpoint-bodies")
    # These upstream bodies carry a 37-byte "hash"; parse them as a generic log would,
    # and check that sahid's SHA-256 logs refuse them.
    first = Checkpoint.parse(v["valid"][0]["body"], hash_size=None)
    assert (first.origin, first.size) == ("Log", 9944)
    assert first.root_hash == v["valid"][0]["hash_text"].encode()
    with pytest.raises(VerificationError, match="32 bytes"):
        Checkpoint.parse(v["valid"][0]["body"])
    for case in v["valid"][1:3]:
        assert Checkpoint.parse(case["body"], hash_size=None).body() == case["body"]
    # Upstream's parser tolerates empty trailing lines; C2SP forbids empty extension
    # lines, and we follow the spec.
    with pytest.raises(VerificationError):
        Checkpoint.parse(v["valid"][3]["body"], hash_size=None)
    for body in v["invalid"]:
        with pytest.raises(VerificationError):
            Checkpoint.parse(body, hash_size=None)


@pytest.mark.parametrize(
    "name",
    [
        "formats-rekor-ecdsa-checkpoint",
        "formats-rekor-ecdsa-bad-sig",
        "formats-rome-static-ct-checkpoint",
        "formats-argon2024-sth",
    ],
)
def test_non_ed25519_keys_are_refused_not_trusted(name):
    v = vec(name)
    with pytest.raises(VerificationError, match="not an Ed25519"):
        Verifier.parse(v["verifier_key"])
    if "signed_note" in v:
        # Opened with an Ed25519 trust set, such a note has no trusted signature.
        trusted = Signer.parse(
            vec("formats-test-keypairs")["keypairs"]["log"]["signer_key"]
        ).verifier
        with pytest.raises(VerificationError):
            open_note(v["signed_note"], [trusted])


def test_cosignature_v1_layout():
    v = vec("formats-cosigv1-timestamp")
    raw = base64.b64decode(v["signature_b64"])
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == v["expected_timestamp_unix"]
    assert len(base64.b64decode(v["non_cosig_signature_b64"])) == 68


def test_c2sp_spec_example():
    v = vec("c2sp-signed-note-example")
    opened = open_note(v["signed_note"], [Verifier.parse(v["verifier_key"])])
    assert opened.text == "This is an example message.\n"


def test_key_id_rule():
    ver = Verifier.parse(PETER)
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + ver.public_key).digest()[:4]
    assert key_id("PeterNeumann", ver.public_key) == expected == ver.key_id


def test_add_cosignatures():
    keys = vec("formats-test-keypairs")["keypairs"]
    log, witness = (
        Signer.parse(keys["log"]["signer_key"]),
        Signer.parse(keys["known1"]["signer_key"]),
    )
    note = sign_note("hello\n", [log])
    both = add_signatures(note, [witness])
    opened = open_note(both, [log.verifier, witness.verifier])
    assert len(opened.verified) == 2


@given(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=30
    ).filter(lambda s: "+" not in s and "—" not in s),
    st.integers(0, 2**63),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_round_trip(origin, size, root):
    keys = vec("formats-test-keypairs")["keypairs"]
    signer = Signer.parse(keys["log"]["signer_key"])
    cp = Checkpoint(origin, size, root)
    assert Checkpoint.parse(cp.body()) == cp
    note = sign_checkpoint(cp, signer)
    assert open_checkpoint(note, signer.verifier) == cp


@given(st.integers(0, 10_000), st.integers(0, 7))
def test_any_byte_flip_is_caught_or_changes_meaning(pos, bit):
    keys = vec("formats-test-keypairs")["keypairs"]
    signer = Signer.parse(keys["log"]["signer_key"])
    cp = Checkpoint("sahid/test", 12345, bytes(range(32)))
    note = sign_checkpoint(cp, signer).encode()
    b = bytearray(note)
    b[pos % len(b)] ^= 1 << bit
    try:
        got = open_checkpoint(bytes(b), signer.verifier)
    except VerificationError:
        return
    assert got == cp  # only flips that leave the signed text intact may open
