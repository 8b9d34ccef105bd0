"""C2SP signed-note against the vectors in ../shared/vectors/c2sp-notes, plus properties.

Provenance: golang/mod@fe2ec04f (sumdb/note), transparency-dev/formats@0b850f1a and
C2SP/C2SP@5ba5ee83 (signed-note.md); see that folder's README.md. This file runs every
vector that is a note, a key or a signature; test_checkpoint.py runs the checkpoint ones
(the split is by ``kind``, and both files use the same CHECKPOINT_KINDS rule).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sahid import InputError, VerificationError
from sahid._internal.note import (
    MAX_SIGNATURES,
    Signer,
    Verifier,
    add_signatures,
    key_id,
    open_note,
    sign_note,
)

from conftest import SHARED

DOC = json.loads((SHARED / "vectors" / "c2sp-notes" / "note_checkpoint_vectors.json").read_text())
VECTORS: dict[str, dict[str, Any]] = {v["id"]: v for v in DOC["vectors"]}
CHECKPOINT_KINDS = ("checkpoint", "sumdb-", "rfc6962-")  # same rule in test_checkpoint.py
NOTE_IDS = [i for i, v in VECTORS.items() if not v["kind"].startswith(CHECKPOINT_KINDS)]
KEYS = VECTORS["formats-test-keypairs"]["keypairs"]
LOG = Signer.parse(KEYS["log"]["signer_key"])
WITNESS = Signer.parse(KEYS["known1"]["signer_key"])
STRANGER = Signer.parse(KEYS["unknown"]["signer_key"])


def verifiers(v: dict[str, Any]) -> list[Verifier]:
    keys = v.get("verifier_keys", [v["verifier_key"]] if "verifier_key" in v else [])
    return [Verifier.parse(k) for k in keys]


def test_the_vector_file():
    assert len(VECTORS) == 26 == len(DOC["vectors"])
    assert len(NOTE_IDS) == 17


# -- one test per vector ------------------------------------------------------------------


def sign_reproduces_go(v: dict[str, Any]) -> None:
    signer = Signer.parse(v["signer_key"])
    assert signer.verifier.vkey == v["verifier_key"]
    assert sign_note(v["text"], [signer]) == v["signed_note"]  # Ed25519 is deterministic
    opened = open_note(v["signed_note"], verifiers(v))
    assert (opened.text, opened.verified, opened.other_lines) == (v["text"], verifiers(v), [])


def one_of_two_known(v: dict[str, Any]) -> None:
    opened = open_note(v["signed_note"], verifiers(v))
    assert [x.name for x in opened.verified] == ["PeterNeumann"]
    assert len(opened.other_lines) == 1
    assert opened.other_lines[0].startswith("— EnochRoot ")
    assert v["signed_note"].endswith(opened.other_lines[0] + "\n")  # kept verbatim


def two_of_two_known(v: dict[str, Any]) -> None:
    opened = open_note(v["signed_note"], verifiers(v))
    assert [x.name for x in opened.verified] == ["PeterNeumann", "EnochRoot"]
    assert opened.other_lines == []


def no_known_keys(v: dict[str, Any]) -> None:
    assert verifiers(v) == []
    with pytest.raises(VerificationError, match="no trusted keys given"):
        open_note(v["signed_note"], [])  # fail closed on an empty trust set
    with pytest.raises(VerificationError, match="no trusted signature"):
        open_note(v["signed_note"], [STRANGER.verifier])


def corrupted_signature(v: dict[str, Any]) -> None:
    with pytest.raises(VerificationError, match="invalid signature by trusted key PeterNeumann"):
        open_note(v["signed_note"], verifiers(v))


def malformed(v: dict[str, Any]) -> None:
    note = bytes.fromhex(v["signed_note_hex"]) if "signed_note_hex" in v else v["signed_note"]
    with pytest.raises(VerificationError, match="malformed note"):
        open_note(note, verifiers(v))


def too_many_signatures(v: dict[str, Any]) -> None:
    assert v["repeat"] == MAX_SIGNATURES + 1
    with pytest.raises(VerificationError, match="more than 100 signatures"):
        open_note(v["text"] + "\n" + v["signature_line"] * v["repeat"], verifiers(v))
    opened = open_note(v["text"] + "\n" + v["signature_line"] * MAX_SIGNATURES, verifiers(v))
    assert opened.verified == verifiers(v)  # duplicates count once


def bad_vkeys(v: dict[str, Any]) -> None:
    wrong_length, unknown_type = v["verifier_keys"]
    # Go refuses [0] for its length (1 + 36 bytes); its base64 also has stray bits in the
    # padding ("Y=="), which our strict decoder refuses first.
    name, hex_id, blob = wrong_length.split("+")
    raw = base64.b64decode(blob)
    assert len(raw) == 37
    with pytest.raises(VerificationError, match="not base64"):
        Verifier.parse(wrong_length)
    with pytest.raises(VerificationError, match="32 bytes"):  # canonical, still too long
        Verifier.parse(f"{name}+{hex_id}+{base64.b64encode(raw).decode()}")
    with pytest.raises(VerificationError, match="signature type 0x65"):
        Verifier.parse(unknown_type)


def keypairs_derive(v: dict[str, Any]) -> None:
    for pair in v["keypairs"].values():
        signer = Signer.parse(pair["signer_key"])
        assert signer.verifier.vkey == pair["verifier_key"]
        assert Verifier.parse(pair["verifier_key"]) == signer.verifier
        note = sign_note("hello\n", [signer])
        assert open_note(note, [signer.verifier]).verified == [signer.verifier]


def cosignature_v1(v: dict[str, Any]) -> None:
    """Type 0x04 (tlog-cosignature): not trusted by sahid, so such lines must be ignored.

    The vector gives only signature blobs; a full cosigned note is built here with the
    same layout (key ID ‖ uint64 timestamp ‖ Ed25519 over the cosignature/v1 message).
    """
    raw = base64.b64decode(v["signature_b64"])
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == v["expected_timestamp_unix"]
    assert len(base64.b64decode(v["non_cosig_signature_b64"])) == 4 + 64  # a plain 0x01 sig

    body = "example.com/log\n7\n" + base64.b64encode(bytes(32)).decode() + "\n"
    note = sign_note(body, [LOG])
    stamp = v["expected_timestamp_unix"]
    msg = f"cosignature/v1\ntime {stamp}\n{body}".encode()
    wkey = WITNESS.verifier.public_key
    cosig = key_id(WITNESS.name, wkey, 0x04) + stamp.to_bytes(8, "big") + WITNESS.sign(msg)
    line = f"— {WITNESS.name} {base64.b64encode(cosig).decode()}"
    cosigned = note + line + "\n"
    opened = open_note(cosigned, [LOG.verifier])
    assert opened.other_lines == [line]
    # Same name and public key as a trusted 0x01 key, but a different key ID: ignored,
    # not failed (the spec: "unknown keys, even if they share a name or ID").
    assert key_id(WITNESS.name, wkey, 0x04) != WITNESS.key_id
    assert open_note(cosigned, [LOG.verifier, WITNESS.verifier]).verified == [LOG.verifier]
    with pytest.raises(VerificationError, match="no trusted signature"):
        open_note(cosigned, [WITNESS.verifier])


def spec_example(v: dict[str, Any]) -> None:
    opened = open_note(v["signed_note"], verifiers(v))
    assert opened.text == "This is an example message.\n"
    assert opened.verified[0].vkey == v["verifier_key"]


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "go-note-peterneumann-sign": sign_reproduces_go,
    "go-note-two-sigs-one-known": one_of_two_known,
    "go-note-two-sigs-both-known": two_of_two_known,
    "go-note-no-known-keys": no_known_keys,
    "go-note-corrupted-sig": corrupted_signature,
    **{f"go-note-malformed-{i}": malformed for i in [*"012345", "invalid-utf8"]},
    "go-note-too-many-sigs": too_many_signatures,
    "go-note-bad-vkeys": bad_vkeys,
    "formats-test-keypairs": keypairs_derive,
    "formats-cosigv1-timestamp": cosignature_v1,
    "c2sp-signed-note-example": spec_example,
}


@pytest.mark.parametrize("vector_id", NOTE_IDS)
def test_vector(vector_id):
    HANDLERS[vector_id](VECTORS[vector_id])  # KeyError: a vector nobody handles


def test_every_note_vector_has_a_handler():
    assert set(HANDLERS) == set(NOTE_IDS)


# -- keys ---------------------------------------------------------------------------------

PETER = VECTORS["go-note-peterneumann-sign"]["verifier_key"]


def test_key_id_rule():
    ver = Verifier.parse(PETER)
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + ver.public_key).digest()[:4]
    assert key_id("PeterNeumann", ver.public_key) == expected == ver.key_id
    assert ver.key_id.hex() == "c74f20a3"
    assert key_id("PeterNeumann", ver.public_key, 0x04) != expected


def _retype(vkey: str, kind: int) -> str:
    name, hex_id, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    return f"{name}+{hex_id}+{base64.b64encode(bytes([kind]) + raw[1:]).decode()}"


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        PETER.replace("c74f20a3", "c74f20a4"),  # wrong key ID
        PETER.replace("c74f20a3", "C74F20A3"),  # the spec's hex is lowercase
        PETER.replace("c74f20a3", "c74f20a"),
        PETER.replace("c74f20a3", "+c74f20a"),
        PETER.replace("PeterNeumann", "Peter Neumann"),
        PETER.replace("PeterNeumann", "Peter\u00a0Neumann"),  # a Unicode space
        PETER.replace("PeterNeumann", "Peter\x00"),
        PETER + "+x",
        PETER + "=",
        PETER[:-1] + "X",  # non-canonical base64: stray bits
        PETER[:-4],  # 29 bytes of key
        _retype(PETER, 0x02),  # ECDSA
        _retype(PETER, 0x04),  # cosignature/v1
        _retype(PETER, 0x05),  # RFC 6962
    ],
)
def test_bad_verifier_keys(vkey):
    with pytest.raises(VerificationError) as err:
        Verifier.parse(vkey)
    assert "\n" not in err.value.message


def test_vkey_round_trip_and_equality():
    for pair in KEYS.values():
        v = Verifier.parse(pair["verifier_key"])
        assert Verifier.parse(v.vkey) == v
        assert v == Verifier(v.name, v.public_key)
        assert hash(v) == hash(Verifier(v.name, v.public_key))


@pytest.mark.parametrize(
    "skey",
    [
        "",
        "PRIVATE+KEY+Log+2271c621",
        "private+key+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "PRIVATE+KEY+Log+2271c622+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "PRIVATE+KEY+Log+2271c621+AtEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgv",
        "PRIVATE+KEY+L g+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
    ],
)
def test_bad_signer_keys(skey):
    with pytest.raises(InputError):
        Signer.parse(skey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u2003b", "a\nb", "a\x00"])
def test_bad_key_names(name):
    with pytest.raises(InputError):
        Signer(name, Ed25519PrivateKey.generate())


# -- signing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no newline", "newline"),
        ("", "newline"),
        ("tab\there\n", "control"),
        ("cr\r\n", "control"),
        ("lone \ud800\n", "Unicode"),
    ],
)
def test_sign_refuses_invalid_text(text, why):
    with pytest.raises(InputError, match=why):
        sign_note(text, [LOG])


def test_sign_needs_a_signer():
    with pytest.raises(InputError, match="no signers"):
        sign_note("x\n", [])


def test_text_may_hold_empty_lines():
    """The spec's Quasimodo example: the text ends at the *last* blank line."""
    text = (
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n"
        "\n"
        "ed è subito sera.\n"
    )
    for t in [
        text,
        text + "\n",
        "\n",
        "\n\nx\n",
        "del \x7f and U+0085 \x85 are not ASCII controls\n",
    ]:
        note = sign_note(t, [LOG])
        assert open_note(note, [LOG.verifier]).text == t
        assert open_note(note.encode(), [LOG.verifier]).text == t


def test_several_signers_and_cosigning():
    note = sign_note("hello\n", [LOG])
    both = add_signatures(note, [WITNESS])
    assert both.startswith(note)  # existing lines kept, byte for byte
    assert add_signatures(both, [WITNESS, LOG]) == both  # already signed: nothing added
    opened = open_note(both, [LOG.verifier, WITNESS.verifier])
    assert opened.verified == [LOG.verifier, WITNESS.verifier]
    assert sign_note("hello\n", [LOG, WITNESS]) == both
    with pytest.raises(VerificationError, match="malformed"):
        add_signatures("hello\n", [WITNESS])


def test_add_signatures_respects_the_limit():
    signers = [Signer(f"w{i}", Ed25519PrivateKey.generate()) for i in range(MAX_SIGNATURES)]
    note = sign_note("x\n", signers[:-1])
    full = add_signatures(note, signers[-1:])
    assert len(open_note(full, [signers[0].verifier]).other_lines) == MAX_SIGNATURES - 1
    with pytest.raises(InputError, match="at most"):
        add_signatures(full, [LOG])


# -- opening ------------------------------------------------------------------------------


def test_unknown_keys_sharing_a_name_or_an_id_are_ignored():
    note = sign_note("hello\n", [LOG])
    rotated = Signer(LOG.name, Ed25519PrivateKey.generate())  # same name, other ID
    renamed = "— Other " + note.rsplit(" ", 1)[1]  # same ID, other name (ends in \n)
    both = add_signatures(note, [rotated]) + renamed
    opened = open_note(both, [LOG.verifier])
    assert opened.verified == [LOG.verifier]
    assert len(opened.other_lines) == 2
    with pytest.raises(VerificationError, match="no trusted signature"):
        open_note(both, [Verifier("Nobody", rotated.verifier.public_key)])


def test_a_bad_signature_by_a_trusted_key_rejects_the_note():
    good = sign_note("hello\n", [LOG, WITNESS])
    forged = good.replace("hello", "HELLO")
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(forged, [LOG.verifier])
    # Even when another trusted key's signature is good.
    other = sign_note("other\n", [WITNESS]).splitlines()[-1]
    mixed = sign_note("hello\n", [LOG]) + other + "\n"  # a trusted key, another text
    with pytest.raises(VerificationError, match=f"invalid signature by trusted key {WITNESS.name}"):
        open_note(mixed, [LOG.verifier, WITNESS.verifier])


def _stray_bits(line: str) -> str:
    """Same signature bytes, non-canonical base64: flip an unused low bit before '='."""
    b64 = line.rsplit(" ", 1)[1]
    assert b64.endswith("=") and not b64.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    c = b64[-2]
    twin = alphabet[alphabet.index(c) ^ 1]
    assert base64.b64decode(b64[:-2] + twin + "=") == base64.b64decode(b64)
    return line[: -len(b64)] + b64[:-2] + twin + "="


def test_trusted_signatures_must_be_canonical_base64():
    note = sign_note("hello\n", [LOG])
    text, line = note[:-1].rsplit("\n", 1)
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(text + "\n" + _stray_bits(line) + "\n", [LOG.verifier])
    # From an unknown key it is only an unverified line, as in Go.
    other = sign_note("hello\n", [STRANGER]).splitlines()[-1]
    opened = open_note(note + _stray_bits(other) + "\n", [LOG.verifier])
    assert opened.other_lines == [_stray_bits(other)]


def test_ambiguous_trust_set_is_refused():
    twin = Verifier(LOG.name, WITNESS.verifier.public_key)
    object.__setattr__(twin, "key_id", LOG.key_id)  # a 32-bit key ID collision
    with pytest.raises(VerificationError, match="share the name"):
        open_note(sign_note("x\n", [LOG]), [LOG.verifier, twin])
    assert open_note(sign_note("x\n", [LOG]), [LOG.verifier, LOG.verifier]).verified


@pytest.mark.parametrize(
    "note",
    [
        "hello\n\n— Log\n",
        "hello\n\n— Log \n",
        "hello\n\n— Log  AAAAAAAA\n",
        "hello\n\n—Log AAAAAAAA\n",
        "hello\n\n- Log AAAAAAAA\n",
        "hello\n\n— Log AAAA\n",  # 3 bytes: shorter than a key ID + 1
        "hello\n\n— Log AAAAAAA\n",  # bad padding
        "hello\n\n— Lo+g AAAAAAAA\n",
        "hello\n\n— Lo\u3000g AAAAAAAA\n",
        "hello\n\n\n",
        "hello\n\n— Log AAAAAAAA\n\n",
        "hello\r\n\r\n— Log AAAAAAAA\r\n",
        "hello",
        "",
        b"hello\n\n\xe2\x80\x94 Log AAAA\xffAAAA\n",
        "hello \ud800\n\n— Log AAAAAAAA\n",
    ],
)
def test_malformed_notes(note):
    with pytest.raises(VerificationError, match="malformed note"):
        open_note(note, [LOG.verifier])


@given(st.binary(max_size=300) | st.text(max_size=200))
def test_open_only_raises_verification_error(data):
    with pytest.raises(VerificationError):
        open_note(data, [LOG.verifier])


@given(st.binary(max_size=80))
def test_open_of_junk_after_a_valid_note(junk):
    note = sign_note("hello\n", [LOG]).encode()
    try:
        opened = open_note(note + junk, [LOG.verifier])
    except VerificationError:
        return
    assert opened.text == "hello\n"  # only complete, well-formed lines can be appended


# -- tampering ----------------------------------------------------------------------------


def test_every_single_bit_flip_is_rejected():
    note = sign_note("example.com/log\n42\nAAAA\n", [LOG]).encode()
    for pos in range(len(note)):
        for bit in range(8):
            flipped = bytearray(note)
            flipped[pos] ^= 1 << bit
            with pytest.raises(VerificationError):
                open_note(bytes(flipped), [LOG.verifier])


names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Z")), min_size=1, max_size=12)
texts = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.just("\n"), max_size=60)


@given(texts, names.filter(lambda n: "+" not in n), st.data())
def test_any_byte_change_is_rejected(body, name, data):
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    note = bytearray(sign_note(body + "\n", [signer]).encode())
    pos = data.draw(st.integers(0, len(note) - 1))
    note[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != note[pos]))
    with pytest.raises(VerificationError):
        open_note(bytes(note), [signer.verifier])


@given(texts, st.data())
def test_byte_changes_never_alter_the_trusted_text(body, data):
    """With an untrusted cosignature present, a change there may pass, but the text holds."""
    text = body + "\n"
    note = bytearray(sign_note(text, [LOG, STRANGER]).encode())
    pos = data.draw(st.integers(0, len(note) - 1))
    note[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != note[pos]))
    try:
        opened = open_note(bytes(note), [LOG.verifier])
    except VerificationError:
        return
    assert opened.text == text
    assert opened.verified == [LOG.verifier]
