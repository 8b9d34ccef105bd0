"""The anchor commands as a user runs them: exit codes, one-line errors, --json shapes.

The TSA is the local openssl authority of tests/tsa.py, standing in for a real one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sahid import Archive
from tsa import Authority, Server

from conftest import FAST_KDF, PASSPHRASE, fill


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa(authority):
    server = Server(authority)
    yield server
    server.close()


def new_archive(root: Path, entries: int = 3) -> Path:
    with Archive.init(root, PASSPHRASE, kdf=FAST_KDF) as arc:
        fill(arc, entries, 2)
    return root


def out_json(done) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_log_anchor_and_its_errors(cli, tmp_path, passfile, tsa, authority):
    root = new_archive(tmp_path / "a")
    base = ["--archive", str(root), "--passphrase-file", str(passfile)]
    got = out_json(
        cli("log", "anchor", "--tsa", tsa.url, "--ca", str(authority.ca), "--json", *base)
    )
    assert set(got) == {
        "seq", "kind", "size", "note_sha256", "tsa", "gen_time", "serial", "nonce", "signer",
        "trust",
    }  # fmt: skip
    assert got["size"] == 5 and got["signer"] == "CN=Test TSA"

    tsa.mode = "wrong-nonce"
    bad = cli("log", "anchor", "--tsa", tsa.url, "--ca", str(authority.ca), "--json", *base)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "step 4: the nonce differs" in bad.stderr
    assert json.loads(bad.stdout)["error"] == "verification"

    unreachable = cli(
        "log", "anchor", "--tsa", "http://127.0.0.1:9/tsr", "--ca", str(authority.ca), *base
    )
    assert unreachable.returncode == 1 and "error: cannot reach TSA" in unreachable.stderr
    no_ca = cli("log", "anchor", "--tsa", tsa.url, *base)
    assert no_ca.returncode == 1 and "pass --ca FILE" in no_ca.stderr

    # A TSA configured in sahid.toml (URL and trust file; no secrets).
    (root / "tsa-ca.pem").write_bytes(authority.ca.read_bytes())
    with (root / "sahid.toml").open("a") as fh:
        fh.write(f'\n[[anchors.tsa]]\nurl = "{tsa.url}"\nca = "tsa-ca.pem"\n')
    tsa.mode = "ok"
    again = cli("log", "anchor", *base)
    assert again.returncode == 0, again.stderr
    assert f"anchored checkpoint 6 at {tsa.url}" in again.stdout

    listed = out_json(cli("log", "anchors", "--json", *base))["anchors"]
    assert [(a["kind"], a["size"]) for a in listed] == [("rfc3161", 5), ("rfc3161", 6)]
    report = out_json(cli("verify", "--json", *base))
    assert report["anchors"] == {"rfc3161": 2, "cosignatures": 0, "witnessed": 0}
    assert report["steps"][-1] == "anchors"


def test_witness_round_trip_on_the_command_line(cli, tmp_path, passfile):
    log = new_archive(tmp_path / "log")
    partner = new_archive(tmp_path / "partner", entries=0)
    at_log = ["--archive", str(log), "--passphrase-file", str(passfile)]
    at_partner = ["--archive", str(partner), "--passphrase-file", str(passfile)]

    log_key = cli("log", "key", "--archive", str(log)).stdout.strip()
    trusted = out_json(cli("witness", "trust", log_key, "--json", *at_partner))
    assert trusted["added"] is True and trusted["origin"] == log_key.split("+")[0]
    wkey = out_json(cli("witness", "key", "--json", *at_partner))
    assert wkey["name"].endswith("/witness")
    assert out_json(cli("log", "witness", "add", wkey["vkey"], "--json", *at_log))["added"]

    req = tmp_path / "req"
    made = out_json(cli("log", "witness-request", "-o", str(req), "--json", *at_log))
    assert (made["old"], made["size"], made["proof"]) == (0, 6, 0)
    assert req.read_text().startswith("old 0\n\n")
    cos = tmp_path / "cos"
    signed = out_json(cli("witness", "cosign", str(req), "-o", str(cos), "--json", *at_partner))
    assert cos.read_text() == signed["cosignature"] + "\n"
    added = out_json(cli("log", "add-cosignature", str(cos), "--json", *at_log))
    assert [a["size"] for a in added["added"]] == [6] and added["ignored"] == []

    # A request printed to stdout, cosigned from stdin, the line printed to stdout.
    request = cli("log", "witness-request", *at_log)
    assert request.returncode == 0 and request.stdout.startswith("old 6\n")
    line = cli("witness", "cosign", "-", *at_partner, input=request.stdout.encode())
    assert line.returncode == 0 and line.stdout.startswith("— ")
    stale = cli("witness", "cosign", str(req), *at_partner)  # from size 0 again
    assert stale.returncode == 1 and "make a new request with `--old 7`" in stale.stderr

    listed = out_json(cli("witness", "ls", "--json", *at_partner))["logs"]
    assert listed[0]["size"] == 7
    assert (
        out_json(cli("log", "witness", "ls", "--json", *at_log))["witnesses"][0]["cosigned_size"]
        == 6
    )
    assert out_json(cli("verify", "--json", *at_partner))["anchors"]["witnessed"] == 2


def test_cli_refusals(cli, tmp_path, passfile):
    log = new_archive(tmp_path / "log")
    at_log = ["--archive", str(log), "--passphrase-file", str(passfile)]
    junk = tmp_path / "junk"
    junk.write_text("— someone not-a-signature\n")
    bad = cli("log", "add-cosignature", str(junk), *at_log)
    assert bad.returncode == 2 and "malformed cosignature line" in bad.stderr
    notreq = tmp_path / "notreq"
    notreq.write_text("hello\n")
    partner = new_archive(tmp_path / "partner", entries=0)
    refused = cli(
        "witness",
        "cosign",
        str(notreq),
        "--archive",
        str(partner),
        "--passphrase-file",
        str(passfile),
    )
    assert refused.returncode == 1 and "malformed witness request" in refused.stderr
    unknown = cli("log", "witness", "add", "example.org/w+00000000+AAAA", *at_log)
    assert unknown.returncode == 1 and "witness key" in unknown.stderr
