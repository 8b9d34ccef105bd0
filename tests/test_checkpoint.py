"""C2SP tlog-checkpoint against the checkpoint vectors in ../shared/vectors/c2sp-notes.

Provenance: golang/mod@fe2ec04f (sumdb/tlog), transparency-dev/formats@0b850f1a (log,
note); see that folder's README.md. test_note.py runs the other vectors of the file.

sahid signs and trusts Ed25519 (0x01) only. Checkpoints signed with ECDSA (0x02, Rekor)
or RFC 6962 tree-head signatures (0x05, static CT) must therefore be *untrusted, not
misread*: their vkeys are refused, their signature lines are kept as unknown lines, and
a note that has no other signature fails. To show that the lines are parsed right (and
that the vectors are sound), this file also checks those foreign signatures itself with
``cryptography``: cheap here, and the helper that collected the vectors could not check
the two RFC 6962 ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hypothesis import given
from hypothesis import strategies as st

from sahid import InputError, VerificationError
from sahid._internal.checkpoint import MAX_SIZE, Checkpoint, open_checkpoint, sign_checkpoint
from sahid._internal.note import Signer, Verifier, add_signatures, open_note, sign_note

from conftest import SHARED

DOC = json.loads((SHARED / "vectors" / "c2sp-notes" / "note_checkpoint_vectors.json").read_text())
VECTORS: dict[str, dict[str, Any]] = {v["id"]: v for v in DOC["vectors"]}
CHECKPOINT_KINDS = ("checkpoint", "sumdb-", "rfc6962-")  # same rule in test_note.py
CHECKPOINT_IDS = [i for i, v in VECTORS.items() if v["kind"].startswith(CHECKPOINT_KINDS)]
KEYS = VECTORS["formats-test-keypairs"]["keypairs"]
LOG = Signer.parse(KEYS["log"]["signer_key"])
WITNESS = Signer.parse(KEYS["known1"]["signer_key"])
ROOT = bytes(range(32))


def _split(note: str) -> tuple[str, list[str]]:
    cut = note.rfind("\n\n")
    return note[: cut + 1], note[cut + 2 : -1].split("\n")


def foreign_signature_verifies(vkey: str, note: str) -> bool:
    """Check an ECDSA (0x02) or RFC 6962 (0x05) note signature, independently of sahid."""
    name, hex_id, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    kind, der = raw[0], raw[1:]
    public_key = load_der_public_key(der)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    text, lines = _split(note)
    sigs = [base64.b64decode(line.split(" ")[2]) for line in lines if line.split(" ")[1] == name]
    if kind == 0x02:  # transparency-dev/formats: key ID = SHA-256(DER SPKI)[:4]
        assert hashlib.sha256(der).hexdigest()[:8] == hex_id
        signed = [(s[4:], text.encode()) for s in sigs if s[:4].hex() == hex_id]
    else:  # c2sp static-ct-api: key ID over the RFC 6962 LogID = SHA-256(DER SPKI)
        assert kind == 0x05
        log_id = hashlib.sha256(der).digest()
        assert hashlib.sha256(name.encode() + b"\n\x05" + log_id).hexdigest()[:8] == hex_id
        origin, size, root = text.split("\n")[:3]
        if origin != name:  # the key name must match the origin line
            return False
        signed = []
        for s in (s for s in sigs if s[:4].hex() == hex_id):
            timestamp, digitally_signed = s[4:12], s[12:]
            assert digitally_signed[:2] == b"\x04\x03"  # SHA-256, ECDSA
            assert int.from_bytes(digitally_signed[2:4], "big") == len(digitally_signed) - 4
            # RFC 6962 §3.5 TreeHeadSignature: v1, tree_hash, timestamp, size, root.
            tree_head = (
                b"\x00\x01" + timestamp + struct.pack(">Q", int(size)) + base64.b64decode(root)
            )
            signed.append((digitally_signed[4:], tree_head))
    if not signed:
        return False
    try:
        for sig, msg in signed:
            public_key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def test_the_vector_file():
    assert len(CHECKPOINT_IDS) == 9


# -- one test per vector ------------------------------------------------------------------


def sumdb_tree_body(v: dict[str, Any]) -> None:
    cp = Checkpoint.parse(v["body"])
    assert (cp.origin, cp.size, cp.extensions) == ("go.sum database tree", v["tree_size"], ())
    leaf_hash = hashlib.sha256(b"\x00" + v["record_data"].encode()).digest()  # RFC 6962 leaf
    assert base64.b64encode(leaf_hash).decode() == v["record_hash_b64"]
    assert cp.root_hash == leaf_hash
    assert cp.body() == v["body"]


def sumdb_tree_bad(v: dict[str, Any]) -> None:
    other_origin, hex_size, long_hash = v["bodies"]
    # A well-formed checkpoint of another log: only an origin check can refuse it.
    assert Checkpoint.parse(other_origin).origin == "not-go.sum database tree"
    note = sign_checkpoint(Checkpoint.parse(other_origin), LOG)
    with pytest.raises(VerificationError, match=r"expected 'go\.sum database tree'"):
        open_checkpoint(note, LOG.verifier, origin="go.sum database tree")
    with pytest.raises(VerificationError, match="tree size"):
        Checkpoint.parse(hex_size)
    with pytest.raises(VerificationError, match="root hash"):
        Checkpoint.parse(long_hash)


def sumdb_record(v: dict[str, Any]) -> None:
    """A sumdb record (id, text, blank line) must not pass for a checkpoint body."""
    assert v["record"] == f"{v['id_']}\n{v['text']}\n"
    with pytest.raises(VerificationError, match="malformed checkpoint"):
        Checkpoint.parse(v["record"])


def sumdb_real_checkpoint(v: dict[str, Any]) -> None:
    vkey = Verifier.parse(v["verifier_key"])
    cp = open_checkpoint(v["signed_note"], vkey, origin=v["origin"])
    assert (cp.origin, cp.size) == (v["origin"], v["tree_size"])
    assert base64.b64encode(cp.root_hash).decode() == v["root_hash_b64"]
    assert sign_checkpoint(cp, LOG).startswith(cp.body() + "\n")
    with pytest.raises(VerificationError, match="not the expected"):
        open_checkpoint(v["signed_note"], [vkey], origin="sum.golang.org")
    with pytest.raises(VerificationError, match="invalid signature"):
        open_checkpoint(v["signed_note"].replace("6476701", "6476702"), vkey)


def formats_bodies(v: dict[str, Any]) -> None:
    plain, one_ext, three_ext, trailing_empty = v["valid"]
    cp = Checkpoint.parse(plain["body"], hash_size=None)
    assert (cp.origin, cp.size) == (plain["origin"], plain["size"])
    assert cp.root_hash == plain["hash_text"].encode()  # 37 bytes: not a SHA-256 root
    with pytest.raises(VerificationError, match="not 32 bytes"):
        Checkpoint.parse(plain["body"])
    assert Checkpoint.parse(one_ext["body"], None).extensions == ("Here's some associated data.",)
    assert Checkpoint.parse(three_ext["body"], None).extensions == ("lots", "of", "lines")
    for case in (plain, one_ext, three_ext):
        assert Checkpoint.parse(case["body"], None).body() == case["body"]
    # Upstream's parser accepts empty trailing lines; C2SP says extension lines MUST be
    # non-empty, and a lenient parser would let one checkpoint have many texts.
    with pytest.raises(VerificationError, match="extension line"):
        Checkpoint.parse(trailing_empty["body"], None)
    empty_origin, bananas, negative, overflow = v["invalid"]
    with pytest.raises(VerificationError, match="origin"):
        Checkpoint.parse(empty_origin, None)
    for body in (bananas, negative, overflow):
        with pytest.raises(VerificationError, match="tree size"):
            Checkpoint.parse(body, None)


def _untrusted_but_readable(v: dict[str, Any], type_byte: int) -> None:
    """A foreign-type log key: refused as a vkey; its line is kept and ignored."""
    with pytest.raises(VerificationError, match=f"signature type 0x{type_byte:02x}"):
        Verifier.parse(v["verifier_key"])
    note = v["signed_note"]
    with pytest.raises(VerificationError, match="no trusted signature"):
        open_checkpoint(note, LOG.verifier)
    cosigned = add_signatures(note, [LOG])
    opened = open_note(cosigned, [LOG.verifier])
    assert opened.other_lines == _split(note)[1]
    cp = open_checkpoint(cosigned, LOG.verifier)
    assert cp.body() == _split(note)[0]


def rekor_ecdsa(v: dict[str, Any]) -> None:
    _untrusted_but_readable(v, 0x02)
    assert foreign_signature_verifies(v["verifier_key"], v["signed_note"])
    assert open_checkpoint(add_signatures(v["signed_note"], [LOG]), LOG.verifier).size == 798034


def rekor_ecdsa_bad_sig(v: dict[str, Any]) -> None:
    """Upstream says "invalid signature"; strictly, the garbage's first four bytes are not
    the key ID, so it is a line from an unknown key and the note has no trusted one."""
    _untrusted_but_readable(v, 0x02)
    line = _split(v["signed_note"])[1][0]
    assert base64.b64decode(line.split(" ")[2])[:4].hex() != v["verifier_key"].split("+", 2)[1]
    assert not foreign_signature_verifies(v["verifier_key"], v["signed_note"])


def rome_static_ct(v: dict[str, Any]) -> None:
    _untrusted_but_readable(v, 0x05)
    assert base64.b64decode(v["verifier_key"].split("+", 2)[2])[1:] == base64.b64decode(
        v["public_key_der_b64"]
    )
    assert foreign_signature_verifies(v["verifier_key"], v["signed_note"])
    assert not foreign_signature_verifies(v["verifier_key"], "B0rked" + v["signed_note"])


def argon_sth(v: dict[str, Any]) -> None:
    """Convert the RFC 6962 STH into a checkpoint (static-ct-api), as upstream does."""
    sth = json.loads(v["sth_json"])
    name, hex_id, _ = v["verifier_key"].split("+", 2)
    cp = Checkpoint(name, sth["tree_size"], base64.b64decode(sth["sha256_root_hash"]))
    sig = (
        bytes.fromhex(hex_id)
        + sth["timestamp"].to_bytes(8, "big")
        + base64.b64decode(sth["tree_head_signature"])
    )
    note = f"{cp.body()}\n— {name} {base64.b64encode(sig).decode()}\n"
    assert foreign_signature_verifies(v["verifier_key"], note)
    _untrusted_but_readable({**v, "signed_note": note}, 0x05)
    assert open_checkpoint(add_signatures(note, [LOG]), LOG.verifier, origin=name) == cp


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "go-tlog-tree-format": sumdb_tree_body,
    "go-tlog-tree-bad": sumdb_tree_bad,
    "go-tlog-record-format": sumdb_record,
    "formats-sumdb-real-checkpoint": sumdb_real_checkpoint,
    "formats-checkpoint-bodies": formats_bodies,
    "formats-rekor-ecdsa-checkpoint": rekor_ecdsa,
    "formats-rekor-ecdsa-bad-sig": rekor_ecdsa_bad_sig,
    "formats-rome-static-ct-checkpoint": rome_static_ct,
    "formats-argon2024-sth": argon_sth,
}


@pytest.mark.parametrize("vector_id", CHECKPOINT_IDS)
def test_vector(vector_id):
    HANDLERS[vector_id](VECTORS[vector_id])  # KeyError: a vector nobody handles


def test_every_checkpoint_vector_has_a_handler():
    assert set(HANDLERS) == set(CHECKPOINT_IDS)


# -- parsing ------------------------------------------------------------------------------

GOOD = "example.com/log\n42\n" + base64.b64encode(ROOT).decode() + "\n"


def _with_line(i: int, value: str) -> str:
    lines = GOOD.split("\n")
    lines[i] = value
    return "\n".join(lines)


@pytest.mark.parametrize(
    "body",
    [
        GOOD[:-1],  # no final newline
        "example.com/log\n42\n",
        _with_line(0, ""),
        _with_line(0, "tab\there"),
        _with_line(1, "042"),
        _with_line(1, "+42"),
        _with_line(1, "-0"),
        _with_line(1, " 42"),
        _with_line(1, "42 "),
        _with_line(1, "4_2"),
        _with_line(1, "٤٢"),  # Arabic-Indic digits: str.isdigit() says yes
        _with_line(1, str(2**64)),
        _with_line(1, "1" * 5000),
        _with_line(1, ""),
        _with_line(2, base64.b64encode(ROOT[:31]).decode()),
        _with_line(2, base64.b64encode(ROOT).decode().rstrip("=")),
        _with_line(2, base64.urlsafe_b64encode(b"\xff" * 32).decode()),
        _with_line(2, base64.b64encode(ROOT).decode()[:-2] + "9="),  # stray bits
        _with_line(2, ""),
        GOOD + "\n",  # an empty extension line
        GOOD + "ext\n\n",
        GOOD + "ext\rx\n",
    ],
)
def test_invalid_bodies(body):
    with pytest.raises(VerificationError, match="malformed checkpoint"):
        Checkpoint.parse(body)


def test_size_limits():
    assert Checkpoint.parse(_with_line(1, "0")).size == 0
    assert Checkpoint.parse(_with_line(1, str(MAX_SIZE))).size == 2**64 - 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "a\x00"},
        {"origin": "\ud800"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"size": "1"},
        {"root_hash": b""},
        {"root_hash": "AAAA"},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ["a"]},
    ],
)
def test_invalid_checkpoints_cannot_be_built(kwargs):
    with pytest.raises(InputError, match="invalid checkpoint"):
        Checkpoint(**{"origin": "o", "size": 1, "root_hash": ROOT, **kwargs})


origins = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
checkpoints = st.builds(
    Checkpoint,
    origins,
    st.integers(0, MAX_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(origins, max_size=3).map(tuple),
)


@given(checkpoints)
def test_body_round_trip(cp):
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(cp.body()).body() == cp.body()


@given(checkpoints)
def test_sign_open_round_trip(cp):
    note = sign_checkpoint(cp, LOG)
    assert open_checkpoint(note, LOG.verifier) == cp
    assert open_checkpoint(note.encode(), [WITNESS.verifier, LOG.verifier]) == cp
    assert open_checkpoint(note, LOG.verifier, origin=cp.origin) == cp
    cosigned = add_signatures(note, [WITNESS])
    assert open_checkpoint(cosigned, [WITNESS.verifier]) == cp


def test_open_checkpoint_fails_closed():
    note = sign_checkpoint(Checkpoint("example.com/log", 1, ROOT), LOG)
    with pytest.raises(VerificationError, match="no trusted keys"):
        open_checkpoint(note, [])
    with pytest.raises(VerificationError, match="no trusted signature"):
        open_checkpoint(note, WITNESS.verifier)
    # A signed note that is not a checkpoint.
    with pytest.raises(VerificationError, match="malformed checkpoint"):
        open_checkpoint(sign_note("hello\n", [LOG]), LOG.verifier)


# -- tampering ----------------------------------------------------------------------------


def test_every_single_bit_flip_is_rejected():
    note = sign_checkpoint(Checkpoint("example.com/log", 12345, ROOT, ("ext",)), LOG).encode()
    for pos in range(len(note)):
        for bit in range(8):
            flipped = bytearray(note)
            flipped[pos] ^= 1 << bit
            with pytest.raises(VerificationError):
                open_checkpoint(bytes(flipped), LOG.verifier)


@given(checkpoints, st.data())
def test_any_byte_change_is_rejected_or_keeps_the_meaning(cp, data):
    note = bytearray(add_signatures(sign_checkpoint(cp, LOG), [WITNESS]).encode())
    pos = data.draw(st.integers(0, len(note) - 1))
    note[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != note[pos]))
    try:
        got = open_checkpoint(bytes(note), LOG.verifier)
    except VerificationError:
        return
    # Only the untrusted witness line may change unnoticed; the checkpoint cannot.
    assert got == cp
    assert pos >= len(sign_checkpoint(cp, LOG).encode())
