"""Anchors travel with the published site (``verify/anchors/``) and the evidence package
(``anchors/``); verify-site and verify-package check them and name the file at fault.

The TSA is the local openssl authority of tests/tsa.py, standing in for a real one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sahid import Archive
from sahid._internal.note import sign_note
from sahid.anchors.service import read_trust_file
from sahid.errors import VerificationError
from sahid.package import build_package, verify_package
from sahid.publish.proofs import sign_manifest, verify_site, write_proofs
from tsa import Authority, Server, make_ca

from conftest import FAST_KDF, PASSPHRASE, fill


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An archive with an incident, two RFC 3161 anchors and a witness cosignature, its
    published verify/ folder and an evidence package."""
    base = tmp_path_factory.mktemp("published")
    authority = Authority.create(base / "tsa")
    server = Server(authority)
    stamp = [1_800_000_000]

    def now() -> datetime:
        stamp[0] += 1
        return datetime.fromtimestamp(stamp[0], UTC)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHID_STATE_DIR", str(base / "state"))
        with (
            Archive.init(base / "log", PASSPHRASE, kdf=FAST_KDF, now=now) as log,
            Archive.init(base / "partner", PASSPHRASE, kdf=FAST_KDF, now=now) as partner,
        ):
            fill(log, 4, 2)
            inc = log.records.add(
                "incident", {"title": "Dispersal", "start": "2025", "type": "injury"}
            )
            trust = read_trust_file(authority.ca)
            first = log.anchors.timestamp(server.url, trust)
            partner.witness.trust(log.log_key())
            log.anchors.add_witness(partner.witness.key().vkey)
            request, _ = log.anchors.witness_request()
            cosigned = partner.witness.cosign(request)
            log.anchors.add_cosignatures(cosigned["cosignature"])
            log.anchors.timestamp(server.url, trust)  # the newest checkpoint too
            site = base / "site"
            site.mkdir()
            (site / "index.html").write_text("<html><body>sahid</body></html>\n")
            summary = write_proofs(log, site, revealed=[], derivations=[])
            package = base / "case.zip"
            build_package(log, inc.ids[0], package)
            info = {
                "site": site,
                "package": package,
                "summary": summary,
                "signer": log.log_signer,
                "size": log.size,
                "anchored": first["size"],
                "cosigned": cosigned["size"],
                "witness": partner.witness.key().vkey,
                "ca": authority.ca,
                "other_ca": make_ca(base / "other", "Other"),
            }
    server.close()
    return info


@pytest.fixture
def site(world, tmp_path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(world["site"], copy)
    return copy


# -- the site -----------------------------------------------------------------------------------


def test_the_site_carries_and_verifies_its_anchors(world, site):
    a, c = world["anchored"], world["cosigned"]
    names = sorted(p.relative_to(site).as_posix() for p in (site / "verify" / "anchors").iterdir())
    assert f"verify/anchors/{a}.1.tsr" in names and f"verify/anchors/{c}.cosigned" in names
    assert "verify/anchors/tsa.pem" in names and "verify/anchors/witnesses" in names
    assert world["summary"]["anchors"] == len(names)
    report = verify_site(site).as_json()
    assert report["anchors"]["timestamps"] == 2 and report["anchors"]["cosignatures"] == 1
    assert report["anchors"]["witnesses"] == [world["witness"]]
    pinned = verify_site(
        site, tsa_trust=read_trust_file(world["ca"]), witnesses=[world["witness"]]
    ).as_json()
    assert pinned["anchors"] == report["anchors"]


def test_a_site_checked_against_another_tsa_fails_naming_the_token(world, site):
    with pytest.raises(
        VerificationError, match=r"verify/anchors/\d+\.1\.tsr: RFC 3161 step 5"
    ) as e:
        verify_site(site, tsa_trust=read_trust_file(world["other_ca"]))
    assert e.value.where.startswith("verify/anchors/")


def test_a_changed_token_is_named(world, site):
    token = site / "verify" / "anchors" / f"{world['anchored']}.1.tsr"
    data = bytearray(token.read_bytes())
    data[-4] ^= 1
    token.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=f"verify/anchors/{world['anchored']}.1.tsr"):
        verify_site(site)


def test_a_re_signed_site_with_a_moved_token_is_still_caught(world, site):
    """Even the log key's holder cannot re-date a checkpoint with another one's token."""
    anchors = site / "verify" / "anchors"
    a = world["anchored"]
    other = next(
        int(p.name)
        for p in (site / "verify" / "checkpoints").iterdir()
        if int(p.name) != a and not (anchors / f"{p.name}.1.tsr").exists()
    )
    (anchors / f"{a}.1.tsr").rename(anchors / f"{other}.1.tsr")
    sign_manifest(site, world["signer"], world["size"])
    with pytest.raises(VerificationError, match=f"verify/anchors/{other}.1.tsr: RFC 3161 step 3"):
        verify_site(site)


def test_a_re_signed_site_with_a_forged_cosignature_is_caught(world, site):
    cosigned = site / "verify" / "anchors" / f"{world['cosigned']}.cosigned"
    data = cosigned.read_bytes()
    at = len(data) - 10  # a base64 digit of the signature, before the padding
    cosigned.write_bytes(data[:at] + (b"B" if data[at : at + 1] == b"A" else b"A") + data[at + 1 :])
    sign_manifest(site, world["signer"], world["size"])
    with pytest.raises(VerificationError, match=f"verify/anchors/{world['cosigned']}.cosigned"):
        verify_site(site)


def test_verify_site_cli_pins_trust(world, site, cli):
    done = cli(
        "verify-site", str(site), "--tsa-ca", str(world["ca"]), "--witness", world["witness"]
    )
    assert done.returncode == 0, done.stderr
    assert "anchors: 2 RFC 3161 timestamp(s), 1 witness cosignature(s)" in done.stdout
    bad = cli("verify-site", str(site), "--tsa-ca", str(world["other_ca"]))
    assert bad.returncode == 2 and "verify/anchors/" in bad.stderr


# -- the package --------------------------------------------------------------------------------


def rewrite(src: Path, dst: Path, change, signer) -> Path:
    """The package changed, its manifest made to match and signed again with the log key
    (someone holding it), so that the anchor checks themselves must catch the change."""
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    change(files)
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {
        n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for n, d in sorted(files.items())
        if n not in ("manifest.json", "manifest.sig")
    }
    files["manifest.json"] = json.dumps(manifest).encode()
    digest = hashlib.sha256(files["manifest.json"]).hexdigest()
    files["manifest.sig"] = sign_note(f"{signer.name}/package\n{digest}\n", [signer]).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return dst


def test_the_package_carries_and_verifies_its_anchors(world):
    summary = verify_package(world["package"])
    assert summary["anchors"]["timestamps"] == 2 and summary["anchors"]["cosignatures"] == 1
    with zipfile.ZipFile(world["package"]) as zf:
        names = zf.namelist()
        readme = zf.read("README.txt").decode()
    assert f"anchors/{world['anchored']}.1.tsr" in names and "anchors/" in readme
    pinned = verify_package(world["package"], witnesses=[world["witness"]])
    assert pinned["anchors"]["cosignatures"] == 1


def test_package_anchor_tampering_is_named(world, tmp_path):
    a, c = world["anchored"], world["cosigned"]

    def swap(files: dict[str, bytes]) -> None:
        files[f"anchors/{c}.1.tsr"] = files.pop(f"anchors/{a}.1.tsr")

    with pytest.raises(VerificationError, match=f"anchors/{c}.1.tsr: RFC 3161 step 3"):
        verify_package(rewrite(world["package"], tmp_path / "a.zip", swap, world["signer"]))

    def stray(files: dict[str, bytes]) -> None:
        files["anchors/readme.txt"] = b"trust me"

    with pytest.raises(VerificationError, match=r"anchors/readme.txt: is not an anchor file"):
        verify_package(rewrite(world["package"], tmp_path / "b.zip", stray, world["signer"]))

    def unlisted_witness(files: dict[str, bytes]) -> None:
        files["anchors/witnesses"] = b""

    with pytest.raises(VerificationError, match="anchors/witnesses"):
        verify_package(
            rewrite(world["package"], tmp_path / "c.zip", unlisted_witness, world["signer"])
        )
    with pytest.raises(VerificationError, match=f"anchors/{a}.1.tsr: RFC 3161 step 5"):
        verify_package(world["package"], tsa_trust=read_trust_file(world["other_ca"]))


def test_verify_package_cli(world, cli):
    done = cli("verify-package", str(world["package"]), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["anchors"]["timestamps"] == 2
