"""Anchors on real archives: RFC 3161 tokens from the local openssl TSA (it stands in for
a real TSA, see tests/tsa.py), witness cosignatures between two archives, refusal of a
rewritten history, and `verify` step 9 catching forged anchor entries."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from sahid import Archive, NetworkError
from sahid.anchors import verify_checkpoint_cosignature, verify_checkpoint_timestamp
from sahid.anchors.service import read_trust_file
from sahid.anchors.witness import WitnessConflict, WitnessRequest
from sahid.errors import InputError, NotFound, VerificationError
from sahid.schema import anchors as anchors_table
from tsa import Authority, Server, make_ca

from conftest import FAST_KDF, PASSPHRASE, fill


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa(authority):
    server = Server(authority)
    yield server
    server.close()


@pytest.fixture
def trust(authority):
    return read_trust_file(authority.ca)


# -- RFC 3161 ---------------------------------------------------------------------------------


def test_anchor_records_a_verified_token(make_archive, tsa, trust):
    arc = make_archive(entries=6, batch=3)
    size, note = arc.anchors.checkpoint()
    got = arc.anchors.timestamp(tsa.url, trust)
    assert got["size"] == size == 8 and got["kind"] == "rfc3161" and got["signer"] == "CN=Test TSA"
    assert len(tsa.requests) == 1
    entry = arc.entry(got["seq"])
    assert entry.kind == "checkpoint.anchored" and entry.body["tsa"] == tsa.url
    # The outsider's check, with nothing but note, token and the CA:
    check = verify_checkpoint_timestamp(
        note, base64.b64decode(entry.body["tsr"]), trust, log_key=arc.log_key()
    )
    assert str(check.nonce) == entry.body["nonce"]
    assert arc.anchors.recorded() == [
        {
            "seq": got["seq"],
            "kind": "rfc3161",
            "size": 8,
            "note_sha256": got["note_sha256"],
            "source": tsa.url,
            "time": got["gen_time"],
        }
    ]
    report = arc.verify()
    assert report.steps[-1] == "anchors" and report.anchors["rfc3161"] == 1


def test_anchor_an_older_checkpoint(make_archive, tsa, trust):
    arc = make_archive(entries=6, batch=3)
    got = arc.anchors.timestamp(tsa.url, trust, size=5)
    assert got["size"] == 5
    with pytest.raises(NotFound, match="no checkpoint of size 4"):
        arc.anchors.timestamp(tsa.url, trust, size=4)


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        ("wrong-nonce", VerificationError, "step 4: the nonce differs"),
        ("wrong-imprint", VerificationError, "step 3: the message imprint"),
        ("garbage", VerificationError, "step 1: not a DER"),
        ("reject", NetworkError, "refused to timestamp .*not supported"),
        ("html", NetworkError, "answered text/html"),
        ("http-500", NetworkError, "answered HTTP 500"),
    ],
)
def test_bad_answers_record_nothing(make_archive, tsa, trust, mode, error, match):
    arc = make_archive(entries=2)
    size = arc.size
    tsa.mode = mode
    with pytest.raises(error, match=match) as caught:
        arc.anchors.timestamp(tsa.url, trust)
    assert caught.value.exit_code == (2 if error is VerificationError else 1)
    assert arc.size == size and arc.anchors.recorded() == []


def test_untrusted_chain_unreachable_tsa_and_bad_urls(make_archive, tsa, trust, tmp_path):
    arc = make_archive(entries=2)
    other = read_trust_file(make_ca(tmp_path / "other", "Other"))
    with pytest.raises(VerificationError, match="step 5"):
        arc.anchors.timestamp(tsa.url, other)
    with pytest.raises(VerificationError, match="step 6"):
        arc.anchors.timestamp(tsa.url, trust, subject="CN=Someone Else")
    tsa.close()
    with pytest.raises(NetworkError, match="cannot reach TSA"):
        arc.anchors.timestamp(tsa.url, trust)
    for url in ("file:///etc/passwd", "ftp://x/y", "http://user:pw@host/tsr", "nonsense"):
        with pytest.raises(InputError):
            arc.anchors.timestamp(url, trust)
    with pytest.raises(InputError, match="no trusted"):
        arc.anchors.timestamp("http://127.0.0.1:9/", [])
    assert arc.anchors.recorded() == []


def test_nonce_comes_from_the_injected_rng(tmp_path, tsa, trust):
    from rfc3161_client._rust import parse_timestamp_request

    counter = iter(range(1, 10**6))

    def rng(n: int) -> bytes:
        return bytes([next(counter) % 256]) * n

    arc = Archive.init(tmp_path / "a", PASSPHRASE, kdf=FAST_KDF, rng=rng)
    with arc:
        got = arc.anchors.timestamp(tsa.url, trust)
    nonce = parse_timestamp_request(tsa.requests[0]).nonce
    assert str(nonce) == got["nonce"] and nonce.to_bytes(8, "big") == bytes([nonce >> 56]) * 8


# -- witnesses --------------------------------------------------------------------------------


def clock(start: int):
    t = [start]

    def now() -> datetime:
        t[0] += 1
        return datetime.fromtimestamp(t[0], UTC)

    return now


@pytest.fixture
def pair(tmp_path):
    """A log archive and a partner archive that witnesses it."""
    log = Archive.init(tmp_path / "log", PASSPHRASE, kdf=FAST_KDF, now=clock(1_800_000_000))
    partner = Archive.init(tmp_path / "partner", PASSPHRASE, kdf=FAST_KDF, now=clock(1_800_000_500))
    fill(log, 5, 2)
    partner.witness.trust(log.log_key())
    log.anchors.add_witness(partner.witness.key().vkey)
    yield log, partner
    log.close()
    partner.close()


def cosign_round(log: Archive, partner: Archive) -> dict[str, object]:
    request, _ = log.anchors.witness_request()
    answer = partner.witness.cosign(request.render())
    return log.anchors.add_cosignatures(answer["cosignature"] + "\n")


def test_cosignature_round_trip_between_two_archives(pair):
    log, partner = pair
    first = cosign_round(log, partner)
    assert [a["size"] for a in first["added"]] == [8]  # 2 + 5 entries, witness.added
    fill(log, 4, 3)  # the cosignature entry, then 4 more: 13
    request, info = log.anchors.witness_request()
    assert (info["old"], info["size"]) == (8, 13) and info["proof"] > 0
    answer = partner.witness.cosign(request.render())
    assert answer["old"] == 8 and answer["size"] == 13
    assert partner.witness.logs()[0]["size"] == 13
    second = log.anchors.add_cosignatures(answer["cosignature"])
    assert [a["size"] for a in second["added"]] == [13]
    # The same answer again is not recorded twice.
    again = log.anchors.add_cosignatures(answer["cosignature"])
    assert again["added"] == [] and again["skipped"][0]["size"] == 13
    # An outsider checks the cosignature with the note and the witness key alone.
    note = log.anchors.checkpoint(13)[1]
    check = verify_checkpoint_cosignature(
        note, answer["cosignature"], partner.witness.key().vkey, log_key=log.log_key()
    )
    assert check.size == 13 and check.time == answer["time"]
    assert log.anchors.witnesses()[0]["cosigned_size"] == 13
    assert log.verify().anchors == {"rfc3161": 0, "cosignatures": 2, "witnessed": 0}
    assert partner.verify().anchors == {"rfc3161": 0, "cosignatures": 0, "witnessed": 2}


def test_a_cosigned_note_can_be_pasted_whole(pair):
    log, partner = pair
    request, _ = log.anchors.witness_request()
    answer = partner.witness.cosign(request)
    note = log.checkpoint() + answer["cosignature"] + "\n"
    got = log.anchors.add_cosignatures(note.encode())
    assert [a["size"] for a in got["added"]] == [8]


def test_witness_refuses_a_rewritten_history(pair, tmp_path):
    """The archive holder copies the archive, rewrites its last entries, and asks the
    witness to cosign the other history: the consistency proof cannot be made."""
    log, partner = pair
    log.close()
    shutil.copytree(tmp_path / "log", tmp_path / "fork")
    log = Archive.open(tmp_path / "log", PASSPHRASE, now=clock(1_800_001_000))
    fork = Archive.open(tmp_path / "fork", PASSPHRASE, now=clock(1_800_001_000))
    try:
        fill(log, 3, 3)  # size 11
        cosign_round(log, partner)
        fill(fork, 6, 6)  # size 14: the same first 8 entries, then different ones
        request, _ = fork.anchors.witness_request(old=11)
        with pytest.raises(VerificationError, match=r"refusing to cosign.*not consistent"):
            partner.witness.cosign(request.render())
        assert partner.witness.logs()[0]["size"] == 11  # the refusal recorded nothing
        # Rollback: an older checkpoint, claimed to follow the cosigned one.
        old_note = log.anchors.checkpoint(8)[1]
        with pytest.raises(InputError, match="larger"):
            partner.witness.cosign(WitnessRequest(11, (), old_note))
    finally:
        fork.close()
        log.close()


def test_witness_conflict_unknown_log_and_bad_signature(pair, make_archive):
    log, partner = pair
    cosign_round(log, partner)
    fill(log, 2)
    stale, _ = log.anchors.witness_request(old=0)
    with pytest.raises(WitnessConflict, match="last cosigned size 8") as conflict:
        partner.witness.cosign(stale.render())
    assert conflict.value.exit_code == 1
    stranger = make_archive(entries=1, name="stranger")
    req, _ = stranger.anchors.witness_request()
    with pytest.raises(NotFound, match="does not know the log"):
        partner.witness.cosign(req.render())
    good, _ = log.anchors.witness_request()
    text = good.render().decode()
    at = len(text) - 4  # in the log's signature, past its key ID, before the padding
    forged = text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]
    with pytest.raises(VerificationError, match="invalid signature by trusted key"):
        partner.witness.cosign(forged.encode())


def test_witness_trust_rules(pair):
    log, partner = pair
    assert partner.witness.trust(log.log_key())["added"] is False
    with pytest.raises(InputError, match="cannot witness itself"):
        partner.witness.trust(partner.log_key())
    with pytest.raises(InputError, match="log key"):
        partner.witness.trust(partner.witness.key().vkey)  # a cosigner key is not a log key


def test_add_cosignature_refusals(pair, make_archive):
    log, partner = pair
    request, _ = log.anchors.witness_request()
    answer = partner.witness.cosign(request)
    line = answer["cosignature"]
    # Unknown witness: not added to this log's list, no --witness-key.
    other = make_archive(name="other")
    other.witness.trust(log.log_key())
    foreign = other.witness.cosign(request)["cosignature"]
    with pytest.raises(InputError, match="unknown witness key"):
        log.anchors.add_cosignatures(foreign)
    got = log.anchors.add_cosignatures(foreign, witness_keys=[other.witness.key().vkey])
    assert len(got["added"]) == 1
    # A bad signature by a known witness refuses the whole file.
    name, b64 = line[2:].split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    bad = f"— {name} {base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(VerificationError, match="bad cosignature"):
        log.anchors.add_cosignatures(bad + "\n" + line)
    with pytest.raises(VerificationError, match="malformed cosignature line"):
        log.anchors.add_cosignatures("— w not-base64!")
    with pytest.raises(VerificationError, match="does not verify for size 4"):
        log.anchors.add_cosignatures(line, size=4)


def test_cosignature_from_the_future_is_refused(tmp_path):
    log = Archive.init(tmp_path / "log", PASSPHRASE, kdf=FAST_KDF, now=clock(1_800_000_000))
    partner = Archive.init(tmp_path / "p", PASSPHRASE, kdf=FAST_KDF, now=clock(1_900_000_000))
    with log, partner:
        partner.witness.trust(log.log_key())
        request, _ = log.anchors.witness_request()
        line = partner.witness.cosign(request)["cosignature"]
        with pytest.raises(VerificationError, match="in the future"):
            log.anchors.add_cosignatures(line, witness_keys=[partner.witness.key().vkey])


# -- verify step 9: forged anchor entries (validly signed by a member) are caught --------------


def test_verify_catches_a_token_moved_to_another_checkpoint(make_archive, tsa, trust):
    arc = make_archive(entries=4, batch=2)
    got = arc.anchors.timestamp(tsa.url, trust)
    body = dict(arc.entry(got["seq"]).body)
    other_size, other_note = arc.anchors.checkpoint(4)
    from sahid.anchors.service import note_sha256

    body.update(size=other_size, note_sha256=note_sha256(other_note))
    bad = arc.append("checkpoint.anchored", body)
    with pytest.raises(VerificationError, match=f"step 9 \\(anchors\\): entry {bad.seq}: .*step 3"):
        arc.verify()


@pytest.mark.parametrize("field", ["tsr", "note_sha256", "nonce", "gen_time", "trust"])
def test_verify_catches_a_changed_token_field(make_archive, tsa, trust, tmp_path, field):
    arc = make_archive(entries=2)
    got = arc.anchors.timestamp(tsa.url, trust)
    body = dict(arc.entry(got["seq"]).body)
    if field == "tsr":
        raw = bytearray(base64.b64decode(body["tsr"]))
        raw[-3] ^= 0x55  # inside the signature
        body["tsr"] = base64.b64encode(bytes(raw)).decode()
    elif field == "note_sha256":
        body["note_sha256"] = "0" * 64
    elif field == "nonce":
        body["nonce"] = str(int(body["nonce"]) + 1)
    elif field == "gen_time":
        body["gen_time"] = "2020-01-01T00:00:00Z"
    else:
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = read_trust_file(make_ca(tmp_path / "x", "X"))[0]
        body["trust"] = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
    bad = arc.append("checkpoint.anchored", body)
    with pytest.raises(
        VerificationError, match=f"step 9 \\(anchors\\): entry {bad.seq}:"
    ) as caught:
        arc.verify()
    assert caught.value.exit_code == 2 and caught.value.where == f"entry {bad.seq}"


def test_verify_catches_a_forged_cosignature_entry(pair):
    log, partner = pair
    got = cosign_round(log, partner)
    body = dict(log.entry(got["added"][0]["seq"]).body)
    body["size"] = 4
    from sahid.anchors.service import note_sha256

    body["note_sha256"] = note_sha256(log.anchors.checkpoint(4)[1])
    bad = log.append("checkpoint.cosigned", body)
    with pytest.raises(
        VerificationError, match=f"entry {bad.seq}: checkpoint.cosigned: .*does not verify"
    ):
        log.verify()


def test_verify_replays_the_witness_decisions(pair, tmp_path):
    """A witness.cosigned entry for a checkpoint the witness should have refused."""
    log, partner = pair
    cosign_round(log, partner)
    good = partner.entry(partner.size - 1)
    body = dict(good.body)
    body["old"] = 0
    body["proof"] = []
    bad = partner.append("witness.cosigned", body)
    with pytest.raises(
        VerificationError,
        match=f"entry {bad.seq}: witness.cosigned: the witness should have refused",
    ):
        partner.verify()


def test_verify_catches_a_changed_anchor_row(make_archive, tsa, trust):
    arc = make_archive(entries=2)
    arc.anchors.timestamp(tsa.url, trust)
    with arc.engine.begin() as conn:
        conn.execute(update(anchors_table).values(time="2000-01-01T00:00:00Z"))
    with pytest.raises(VerificationError, match=r"step 6 .*table anchors"):
        arc.verify()
