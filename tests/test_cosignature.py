"""C2SP cosignature/v1 lines and witness requests: vectors, round trips, fail-closed parsers.

Vectors: the tlog-cosignature spec's example line (C2SP, CC BY 4.0: its timestamp is the
spec's ``time 1679315147``) and ``formats-cosigv1-timestamp`` of
../shared/vectors/c2sp-notes (transparency-dev/formats, Apache-2.0).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sahid._internal import merkle
from sahid._internal.checkpoint import Checkpoint, sign_checkpoint
from sahid._internal.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignerKey,
    CosignerSigner,
    cosigned_message,
)
from sahid._internal.note import Signer, Verifier
from sahid.anchors import (
    WitnessConflict,
    WitnessRequest,
    check_request,
    verify_checkpoint_cosignature,
)
from sahid.errors import InputError, NotFound, SahidError, VerificationError

from conftest import SHARED

SPEC_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def vector(vid: str) -> dict[str, object]:
    doc = json.loads((SHARED / "vectors/c2sp-notes/note_checkpoint_vectors.json").read_text())
    return next(v for v in doc["vectors"] if v["id"] == vid)


def signer(seed: int, name: str = "witness.example/w1") -> CosignerSigner:
    return CosignerSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def log_signer(seed: int = 9, origin: str = "example.com/log") -> Signer:
    return Signer(origin, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


# -- vectors ------------------------------------------------------------------------------


def test_spec_example_line_carries_the_spec_timestamp():
    cosig = Cosignature.parse(SPEC_LINE)
    assert cosig.name == "witness.example.com/w1"
    assert cosig.timestamp == 1679315147
    assert cosig.line() == SPEC_LINE


def test_formats_timestamp_vector_and_a_plain_signature_is_refused():
    v = vector("formats-cosigv1-timestamp")
    cosig = Cosignature.parse(f"— w {v['signature_b64']}")
    assert cosig.timestamp == v["expected_timestamp_unix"]
    with pytest.raises(VerificationError, match="not an Ed25519 cosignature/v1"):
        Cosignature.parse(f"— w {v['non_cosig_signature_b64']}")


def test_signed_message_is_the_specs():
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + body.encode()
    )


def test_key_id_and_vkey():
    s = signer(1)
    pub = s.key.public_key
    want = hashlib.sha256(b"witness.example/w1\n\x04" + pub).digest()[:4]
    assert s.key.key_id == want
    blob = base64.b64encode(b"\x04" + pub).decode()
    assert s.key.vkey == f"witness.example/w1+{want.hex()}+{blob}"
    assert CosignerKey.parse(s.key.vkey) == s.key


def test_vkeys_of_other_types_are_refused():
    note_key = log_signer().verifier.vkey  # type 0x01
    with pytest.raises(VerificationError, match="type 0x01"):
        CosignerKey.parse(note_key)
    good = signer(1).key.vkey
    name, kid, blob = good.split("+")
    for bad in (f"{name}+{kid}", f"{name}+00000000+{blob}", f"a b+{kid}+{blob}", f"{name}+{kid}+!"):
        with pytest.raises(VerificationError):
            CosignerKey.parse(bad)
    with pytest.raises(VerificationError, match=r"is not a note verifier key|type 0x04"):
        Verifier.parse(good)


# -- sign and verify ------------------------------------------------------------------------


def test_round_trip_and_tamper():
    cp = Checkpoint("example.com/log", 5, b"\x01" * 32)
    note = sign_checkpoint(cp, log_signer())
    s = signer(2)
    line = s.cosign(cp.body(), 1700000000).line()
    check = verify_checkpoint_cosignature(note, line, s.key.vkey, log_key=log_signer().verifier)
    assert (check.time, check.size, check.origin) == (1700000000, 5, "example.com/log")
    other = sign_checkpoint(Checkpoint("example.com/log", 6, b"\x01" * 32), log_signer())
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint_cosignature(other, line, s.key.vkey)
    with pytest.raises(VerificationError, match="not by witness"):
        verify_checkpoint_cosignature(note, line, signer(3).key.vkey)
    # A changed timestamp (same signature) does not verify.
    cosig = Cosignature.parse(line)
    moved = Cosignature(cosig.name, cosig.key_id, cosig.timestamp + 1, cosig.signature)
    with pytest.raises(VerificationError, match="does not verify"):
        s.key.verify(cp.body(), moved)
    with pytest.raises(VerificationError):
        verify_checkpoint_cosignature(note, line, s.key.vkey, log_key=log_signer(8).verifier)


names = st.text(
    st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="+"),
    min_size=1,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(
    names,
    st.binary(min_size=4, max_size=4),
    st.integers(0, MAX_TIMESTAMP),
    st.binary(min_size=64, max_size=64),
)
def test_line_parse_render_round_trip(name, kid, ts, sig):
    cosig = Cosignature(name, kid, ts, sig)
    assert Cosignature.parse(cosig.line()) == cosig
    assert Cosignature.parse(cosig.line() + "\n") == cosig


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_line_parser_fails_closed(text):
    try:
        Cosignature.parse(text)
    except VerificationError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 103), st.integers(1, 255))
def test_non_canonical_base64_and_big_timestamps_are_refused(pos, flip):
    line = signer(4).cosign("a\n1\nAAAA\n", 7).line()
    name, b64 = line[2:].split(" ")
    raw = base64.b64decode(b64)
    assert b64.endswith("=")
    # The last base64 digit before the padding has spare bits: set one.
    alt = b64[:-2] + chr(ord(b64[-2]) + 1) + "="
    with pytest.raises(VerificationError, match="canonical"):
        Cosignature.parse(f"— {name} {alt}")
    big = raw[:4] + struct.pack(">Q", 2**63) + raw[12:]
    with pytest.raises(VerificationError, match="2\\*\\*63"):
        Cosignature.parse(f"— {name} {base64.b64encode(big).decode()}")
    del pos, flip


def test_timestamps_out_of_range_cannot_be_signed():
    with pytest.raises(InputError):
        cosigned_message("a\n", -1)
    with pytest.raises(InputError):
        cosigned_message("a\n", MAX_TIMESTAMP + 1)


# -- witness requests -----------------------------------------------------------------------


hashes = st.lists(st.binary(min_size=32, max_size=32), max_size=63)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**64 - 1), hashes, st.integers(1, 2**40), st.binary(min_size=32, max_size=32)
)
def test_request_parse_render_round_trip(old, proof, size, root):
    note = sign_checkpoint(Checkpoint("example.com/log", size, root), log_signer())
    req = WitnessRequest(old, tuple(proof), note)
    assert WitnessRequest.parse(req.render()) == req
    assert WitnessRequest.parse(req.render().decode()) == req


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_request_parser_fails_closed(data):
    try:
        WitnessRequest.parse(data)
    except InputError:
        pass


def test_request_format_is_the_witness_protocols():
    note = sign_checkpoint(Checkpoint("example.com/log", 3, b"\x02" * 32), log_signer())
    req = WitnessRequest(2, (b"\x03" * 32,), note)
    assert req.render() == (b"old 2\n" + base64.b64encode(b"\x03" * 32) + b"\n\n" + note.encode())
    for bad in (
        b"old 02\n\n" + note.encode(),
        b"old 1\nAAAA\n\n" + note.encode(),
        b"old 1\n",
        b"new 1\n\nx",
    ):
        with pytest.raises(InputError, match="malformed witness request"):
            WitnessRequest.parse(bad)
    too_long = b"old 1\n" + (base64.b64encode(b"\x00" * 32) + b"\n") * 64 + b"\n" + note.encode()
    with pytest.raises(InputError, match="63"):
        WitnessRequest.parse(too_long)


# -- the witness's decision (C2SP tlog-witness add-checkpoint) ---------------------------------


class Log:
    """A toy log whose tree is built from integers, signed by ``log_signer()``."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = [merkle.leaf_hash(x) for x in leaves]

    def read(self, nodes):  # merkle.NodeReader over the leaves
        out = []
        for level, index in nodes:
            row = self.leaves[index << level : (index + 1) << level]
            while len(row) > 1:
                row = [merkle.node_hash(row[k], row[k + 1]) for k in range(0, len(row), 2)]
            out.append(row[0])
        return out

    def note(self, size: int) -> tuple[str, bytes]:
        root = merkle.root(size, self.read)
        return sign_checkpoint(Checkpoint("example.com/log", size, root), log_signer()), root

    def request(self, old: int, size: int) -> WitnessRequest:
        proof = merkle.consistency_proof(old, size, self.read) if 0 < old < size else []
        return WitnessRequest(old, tuple(proof), self.note(size)[0])


KEYS = [log_signer().verifier]


def test_witness_accepts_first_and_consistent_checkpoints():
    log = Log([bytes([i]) for i in range(20)])
    assert check_request(log.request(0, 7), KEYS, None).size == 7
    last = (7, log.note(7)[1])
    assert check_request(log.request(7, 20), KEYS, last).size == 20
    assert check_request(log.request(7, 7), KEYS, last).size == 7


def test_witness_refuses_in_the_specs_order():
    log = Log([bytes([i]) for i in range(20)])
    fork = Log([bytes([i]) for i in range(5)] + [b"other"] * 15)
    last = (7, log.note(7)[1])
    with pytest.raises(NotFound):
        check_request(log.request(0, 7), [], None)  # 404 unknown origin
    with pytest.raises(VerificationError, match="not validly signed"):
        check_request(log.request(0, 7), [log_signer(8).verifier], None)  # 403
    with pytest.raises(InputError, match="larger"):
        check_request(WitnessRequest(9, (), log.note(8)[0]), KEYS, (9, b"x" * 32))  # 400
    with pytest.raises(WitnessConflict) as conflict:
        check_request(log.request(5, 20), KEYS, last)  # 409
    assert conflict.value.size == 7 and "--old 7" in conflict.value.message
    with pytest.raises(VerificationError, match="must not carry"):
        check_request(WitnessRequest(0, (b"\x00" * 32,), log.note(7)[0]), KEYS, None)
    with pytest.raises(VerificationError, match="not consistent"):
        check_request(fork.request(7, 20), KEYS, last)  # 422: a rewritten history
    with pytest.raises(VerificationError, match="another root"):
        check_request(fork.request(7, 7), KEYS, last)  # 422: a split view
    with pytest.raises(VerificationError, match="not consistent"):
        check_request(WitnessRequest(7, (), log.note(20)[0]), KEYS, last)  # no proof


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.integers(0, 40), st.data())
def test_witness_cosigns_only_prefix_consistent_trees(old, extra, fork_at, data):
    """Property: for trees a and b, the witness that saw a accepts b iff a is b's prefix."""
    a = [bytes([i]) for i in range(old)]
    fork_at = min(fork_at, old)
    b = a[:fork_at] + [b"x" + bytes([i]) for i in range(old - fork_at + extra)]
    log_a, log_b = Log(a), Log(b)
    size = len(b)
    if size < old:
        return
    last = (old, log_a.note(old)[1])
    try:
        check_request(log_b.request(old, size), KEYS, last)
        accepted = True
    except SahidError:
        accepted = False
    assert accepted == (b[:old] == a)
    del data
