"""The published site's ``verify/`` folder: written from an archive, checked offline, and
every kind of tampering named by the file it touched."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sahid import Archive
from sahid._internal.checkpoint import Checkpoint, sign_checkpoint
from sahid._internal.note import Signer
from sahid.errors import InputError, VerificationError
from sahid.keys import MemberKeys, b64
from sahid.ledger import Entry
from sahid.publish.proofs import MANIFEST, may_reveal, sign_manifest, verify_site, write_proofs

from conftest import FAST_KDF, PASSPHRASE, fill

PLANTED = "PLANTED-NOTE-7f3a"
PLANTED_NAME = "PLANTED-NAME-Aysel"


# -- the policy ----------------------------------------------------------------------------


def _entry(body: dict[str, Any], kind: str = "record.created") -> Entry:
    return Entry(5, "2026-01-01T00:00:00.000000Z", "m", kind, body, "n", "s", b"{}")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "incident", "fields": {"title": "t", "note": ""}},
        {"type": "incident", "fields": {"title": "t", "note": None}},
        {"original": "ev-1", "copy": "ev-2", "operations": [{"kind": "face", "box": [1, 2]}]},
        {"file": {"name": "redacted-ev-9.jpg"}, "source": "x"},
        {"archive": "a", "origin": "sahid/a", "log_key": "k"},
    ],
)
def test_may_reveal_allows_bodies_without_notes_or_names(body: dict[str, Any]):
    assert may_reveal(_entry(body)) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {"title": "t", "note": PLANTED}}, "body.fields.note"),
        ({"fields": {"title": "t"}, "sealed": "ciphertext"}, "body.sealed"),
        ({"fields": {"title": "t"}, "sealed": None}, "body.sealed"),
        ({"fields": {"name": PLANTED_NAME}}, "body.fields.name"),
        ({"member": "m", "name": "founder"}, "body.name"),
        ({"notes": [{"note": ["x"]}]}, "body.notes[0].note"),
    ],
)
def test_may_reveal_withholds_notes_sealed_data_and_names(body: dict[str, Any], field: str):
    reason = may_reveal(_entry(body))
    assert reason is not None and field in reason
    assert PLANTED not in reason and PLANTED_NAME not in reason and "founder" not in reason


# -- a published site ----------------------------------------------------------------------


@dataclass
class Site:
    path: Path
    signer: Signer
    summary: dict[str, Any]
    incident: int  # seq of a revealed record.created
    noted: int  # seq of a withheld source with a note
    person: int  # seq of a withheld person with a sealed name
    redaction: int  # seq of the revealed redaction.made entry


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _build(arc: Archive, out: Path) -> Site:
    """A log over one level-1 tile (> 256 entries), records, a redaction, a fake site."""
    fill(arc, 300, batch=120)
    inc = arc.records.add("incident", {"title": "Dispersal", "start": "2025", "type": "injury"})
    arc.records.add("source", {"name": "Radio X", "note": f"secret {PLANTED}"})
    arc.records.add(
        "person",
        {"roles": [{"incident": inc.ids[0], "role": "victim"}]},
        sealed={"name": PLANTED_NAME},
    )
    copy = b"redacted jpeg bytes"
    arc.append(
        "redaction.made",
        {
            "original": "ev-orig",
            "original_sha256": _sha(b"original jpeg bytes"),
            "copy": "ev-copy",
            "copy_sha256": _sha(copy),
            "operations": [{"kind": "face", "box": [1, 2, 3, 4]}],
        },
    )
    seqs = {arc.entry(s).kind: s for s in range(arc.size - 5, arc.size)}
    # Notes and sealed boxes are entries of their own (the public part stands alone).
    noted = next(s for s in range(arc.size) if "note" in arc.entry(s).body.get("set", {}))
    person = next(s for s in range(arc.size) if "sealed" in arc.entry(s).body.get("set", {}))
    assert arc.entry(person - 1).kind == "record.created"
    assert may_reveal(arc.entry(person - 1)) is None  # the person's pseudonymous record
    incident = next(
        s
        for s in range(arc.size)
        if arc.entry(s).body.get("type") == "incident" and arc.entry(s).kind == "record.created"
    )
    redaction = seqs["redaction.made"]

    out.mkdir()
    (out / "index.html").write_text("<html><body>Sahid: incidents</body></html>\n")
    (out / "about").mkdir()
    (out / "about" / "index.html").write_text("<html><body>About</body></html>\n")
    (out / "media").mkdir()
    (out / "media" / "ev-copy.jpg").write_bytes(copy)
    body = arc.entry(redaction).body
    derivation = {
        "seq": redaction,
        "original_sha256": body["original_sha256"],
        "copy_sha256": body["copy_sha256"],
        "operations": body["operations"],
        "file": "media/ev-copy.jpg",
    }
    summary = write_proofs(
        arc, out, revealed=[1, incident, noted, person, redaction, 0], derivations=[derivation]
    )
    return Site(out, arc.log_signer, summary, incident, noted, person, redaction)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHID_STATE_DIR", str(base / "state"))
        with Archive.init(base / "archive", PASSPHRASE, kdf=FAST_KDF) as arc:
            yield _build(arc, base / "out")


@pytest.fixture
def site(pristine: Site, tmp_path: Path) -> Site:
    """A fresh copy of the published site for one test to damage."""
    copy = tmp_path / "site"
    shutil.copytree(pristine.path, copy)
    return dataclasses.replace(pristine, path=copy)


def test_a_published_site_verifies_offline(site: Site):
    report = verify_site(site.path)
    s = site.summary
    assert report.size == s["size"] > 300
    assert report.origin == s["origin"] and report.key.startswith(s["origin"] + "+")
    assert base64.b64encode(report.root).decode() == s["root"]
    assert report.checkpoints == s["checkpoints"] >= 5
    assert report.revealed == s["revealed"] == sorted([1, site.incident, site.redaction])
    assert report.withheld == s["withheld"] == sorted([0, site.noted, site.person])
    assert report.derivations == 1 and report.members == 1
    assert report.tiles >= 3  # a full level-0 tile, a partial one, a level-1 tile
    assert report.files == s["files"]
    assert report.as_json()["ok"] is True
    v = site.path / "verify"
    for name in ("key", "checkpoint", "members.json", "derivations.json", "manifest.sig"):
        assert (v / name).is_file()
    assert (v / "tile" / "0" / "000").stat().st_size == 256 * 32
    assert (v / "tile" / "1" / "000.p" / "1").is_file()
    assert (v / "checkpoint").read_bytes() == (v / "checkpoints" / str(s["size"])).read_bytes()
    manifest = json.loads((site.path / MANIFEST).read_text())
    assert "index.html" in manifest["files"] and "verify/key" in manifest["files"]
    assert MANIFEST not in manifest["files"]
    # A reader who already knows the log key can pin it.
    assert verify_site(site.path, key=report.key).size == report.size


def test_revealed_entries_are_exact_and_withheld_ones_reveal_nothing(site: Site):
    bundles = sorted((site.path / "verify" / "entries").iterdir())
    # One bundle per 256 entries that has any published entry, named by seq // 256.
    asked = [0, 1, site.incident, site.noted, site.person, site.redaction]
    assert [p.name for p in bundles] == [f"{n}.json" for n in sorted({s // 256 for s in asked})]
    for path in bundles:
        seqs = [e["seq"] for e in json.loads(path.read_text())["entries"]]
        assert seqs == sorted(s for s in set(asked) if s // 256 == int(path.stem))
    shown = _item(json.loads((site.path / _bundle(site, site.incident)).read_text()), site.incident)
    assert set(shown) == {"seq", "entry", "leaf_hash", "inclusion"}
    data = shown["entry"].encode()
    assert base64.b64decode(shown["leaf_hash"]) == hashlib.sha256(b"\x00" + data).digest()
    assert json.loads(data)["seq"] == site.incident
    for seq in (0, site.noted, site.person):
        hidden = _item(json.loads((site.path / _bundle(site, seq)).read_text()), seq)
        assert set(hidden) == {"seq", "withheld", "leaf_hash", "inclusion"}
    everything = b"".join(p.read_bytes() for p in site.path.rglob("*") if p.is_file())
    assert PLANTED.encode() not in everything
    assert PLANTED_NAME.encode() not in everything
    assert b"founder" not in everything  # member.added carries the member's name


# -- tampering, caught by the signed manifest ----------------------------------------------


def _flip(path: Path, at: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _bundle(site: Site, seq: int) -> str:
    """The proof bundle holding entry ``seq`` (one file per 256 entries)."""
    return f"verify/entries/{seq // 256}.json"


def _item(doc: dict[str, Any], seq: int) -> dict[str, Any]:
    (item,) = (e for e in doc["entries"] if e["seq"] == seq)
    return item


def _edit_entry(site: Site, seq: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the proof of entry ``seq`` inside its bundle."""
    _edit_json(site.path / _bundle(site, seq), lambda doc: change(_item(doc, seq)))


def _first_proof_hash(doc: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(doc["inclusion"]["proof"][0]))
    raw[0] ^= 1
    doc["inclusion"]["proof"][0] = base64.b64encode(bytes(raw)).decode()


def _rehash_manifest(root: Path) -> None:
    """Recompute every hash in the manifest, keeping the old signature."""

    def rehash(doc: dict[str, Any]) -> None:
        doc["files"] = {rel: _sha((root / rel).read_bytes()) for rel in doc["files"]}

    (root / "index.html").write_text("<html>forged</html>\n")
    _edit_json(root / MANIFEST, rehash)


MUTATIONS: dict[str, tuple[Callable[[Site], None], Callable[[Site], str]]] = {
    "html byte": (lambda s: _flip(s.path / "index.html"), lambda s: "index.html"),
    "revealed entry": (
        lambda s: _flip(s.path / _bundle(s, s.incident), 40),
        lambda s: _bundle(s, s.incident),
    ),
    "proof hash": (
        lambda s: _edit_entry(s, s.incident, _first_proof_hash),
        lambda s: _bundle(s, s.incident),
    ),
    "withheld proof": (
        lambda s: _edit_entry(s, s.noted, _first_proof_hash),
        lambda s: _bundle(s, s.noted),
    ),
    "old checkpoint": (
        lambda s: _flip(s.path / "verify/checkpoints/2", 45),
        lambda s: "verify/checkpoints/2",
    ),
    "newest checkpoint": (
        lambda s: _flip(s.path / "verify/checkpoint", 45),
        lambda s: "verify/checkpoint",
    ),
    "tile": (lambda s: _flip(s.path / "verify/tile/0/000", 100), lambda s: "verify/tile/0/000"),
    "members": (
        lambda s: _flip(s.path / "verify/members.json", 20),
        lambda s: "verify/members.json",
    ),
    "extra file": (
        lambda s: (s.path / "about" / "new.html").write_text("<p>added</p>"),
        lambda s: "about/new.html",
    ),
    "deleted file": (
        lambda s: (s.path / "about" / "index.html").unlink(),
        lambda s: "about/index.html",
    ),
    "deleted proof": (
        lambda s: (s.path / _bundle(s, s.person)).unlink(),
        lambda s: _bundle(s, s.person),
    ),
    "derivations": (
        lambda s: _edit_json(
            s.path / "verify/derivations.json", lambda d: d[0].update(operations=[])
        ),
        lambda s: "verify/derivations.json",
    ),
    "redacted media": (
        lambda s: (s.path / "media" / "ev-copy.jpg").write_bytes(b"unredacted!"),
        lambda s: "media/ev-copy.jpg",
    ),
    "re-hashed manifest": (lambda s: _rehash_manifest(s.path), lambda s: MANIFEST),
    "manifest signature": (
        lambda s: _flip(s.path / "verify/manifest.sig", -5),
        lambda s: "verify/manifest.sig",
    ),
    "key": (
        lambda s: _flip(s.path / "verify/key", -5),
        lambda s: "verify/key",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_tampering_is_named_by_file(site: Site, name: str):
    mutate, where = MUTATIONS[name]
    verify_site(site.path)
    mutate(site)
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path)
    assert caught.value.where == where(site), caught.value.message
    assert caught.value.message.startswith(where(site) + ": ")
    assert caught.value.exit_code == 2


def test_a_site_resigned_by_another_key_fails_against_the_trusted_key(site: Site):
    trusted = verify_site(site.path).key
    forger = MemberKeys.generate()
    fake = Signer(site.signer.name, forger.signing_key)
    (site.path / "verify" / "key").write_text(fake.verifier.vkey + "\n")
    sign_manifest(site.path, fake, site.summary["size"])
    # Self-consistent now: the key file and the manifest signature agree ...
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path)
    # ... but the checkpoints are signed by the real log key.
    assert caught.value.where == f"verify/checkpoints/{min(_sizes(site))}"
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path, key=trusted)
    assert caught.value.where == "verify/key"


def _sizes(site: Site) -> list[int]:
    return [int(p.name) for p in (site.path / "verify" / "checkpoints").iterdir()]


# -- tampering below the manifest (a faulty publisher or a key holder) -----------------------


def _reseal(site: Site) -> None:
    sign_manifest(site.path, site.signer, site.summary["size"])


def _replace_old_checkpoint(site: Site) -> None:
    cp = Checkpoint(site.summary["origin"], 2, bytes(32))
    (site.path / "verify/checkpoints/2").write_text(sign_checkpoint(cp, site.signer))


def _swap_member(site: Site) -> None:
    other = MemberKeys.generate()
    (site.path / "verify/members.json").write_text(
        json.dumps({other.member_id: b64(other.sign_public)})
    )


def _change_entry(site: Site) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["entry"] = doc["entry"].replace("Dispersal", "Dispersai")

    _edit_entry(site, site.incident, change)


def _change_entry_and_leaf(site: Site) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["entry"] = doc["entry"].replace("Dispersal", "Dispersai")
        doc["leaf_hash"] = base64.b64encode(
            hashlib.sha256(b"\x00" + doc["entry"].encode()).digest()
        ).decode()

    _edit_entry(site, site.incident, change)


def _uncanonical_entry(site: Site) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["entry"] = doc["entry"].replace('{"body":', '{ "body":', 1)

    _edit_entry(site, site.incident, change)


def _reveal_as_other_seq(site: Site) -> None:
    """Move the incident's proof to the slot of the entry before it (not revealed)."""
    assert (site.incident - 1) // 256 == site.incident // 256
    assert site.incident - 1 not in site.summary["revealed"] + site.summary["withheld"]
    _edit_entry(site, site.incident, lambda d: d.update(seq=site.incident - 1))


def _bundle_of_other_entries(site: Site) -> None:
    """Put the incident's proof into the bundle of another range of entries."""
    src = site.path / _bundle(site, site.incident)
    other = site.path / "verify/entries/7.json"
    other.write_text(src.read_text())
    src.unlink()


DEEP: dict[str, tuple[Callable[[Site], None], Callable[[Site], str], str]] = {
    "proof hash": (
        lambda s: _edit_entry(s, s.incident, _first_proof_hash),
        lambda s: _bundle(s, s.incident),
        "inclusion proof does not lead to the checkpoint root",
    ),
    "withheld leaf": (
        lambda s: _edit_entry(
            s, s.person, lambda d: d.update(leaf_hash=base64.b64encode(bytes(32)).decode())
        ),
        lambda s: _bundle(s, s.person),
        "inclusion proof does not lead to the checkpoint root",
    ),
    "entry text": (
        _change_entry,
        lambda s: _bundle(s, s.incident),
        "leaf_hash is not the hash of the entry",
    ),
    "entry text and leaf": (
        _change_entry_and_leaf,
        lambda s: _bundle(s, s.incident),
        "signature by member",
    ),
    "non-canonical entry": (
        _uncanonical_entry,
        lambda s: _bundle(s, s.incident),
        "canonical",
    ),
    "entry under another seq": (
        _reveal_as_other_seq,
        lambda s: _bundle(s, s.incident),
        "entry says seq",
    ),
    "bundle of other entries": (
        _bundle_of_other_entries,
        lambda s: "verify/entries/7.json",
        "but is the bundle of entries 1792..2047",
    ),
    "unknown signer": (
        _swap_member,
        lambda s: _bundle(s, min(s.summary["revealed"])),
        "not listed in verify/members.json",
    ),
    "member id": (
        lambda s: _edit_json(
            s.path / "verify/members.json",
            lambda d: d.update({"0000000000000000": next(iter(d.values()))}),
        ),
        lambda s: "verify/members.json",
        "does not match its id",
    ),
    "level-0 tile": (
        lambda s: _flip(s.path / "verify/tile/0/000", 100),
        lambda s: "verify/tile/0/000",
        "does not hash to entry 0 of verify/tile/1/000.p/1",
    ),
    "partial tile": (
        lambda s: _flip(s.path / f"verify/tile/0/001.p/{s.summary['size'] - 256}", 5),
        lambda s: "verify/checkpoint",
        "root hash does not match the tree in verify/tile",
    ),
    "stray tile": (
        lambda s: (s.path / "verify/tile/0/002").write_bytes(bytes(32)),
        lambda s: "verify/tile/0/002",
        "is not a tile of the tree",
    ),
    "old checkpoint root": (
        _replace_old_checkpoint,
        lambda s: "verify/checkpoints/2",
        "root hash does not match",
    ),
    "derivation": (
        lambda s: _edit_json(
            s.path / "verify/derivations.json", lambda d: d[0].update(copy_sha256="0" * 64)
        ),
        lambda s: "verify/derivations.json",
        "copy_sha256 differs from the redaction.made entry",
    ),
    "derivation of a withheld entry": (
        lambda s: _edit_json(s.path / "verify/derivations.json", lambda d: d[0].update(seq=0)),
        lambda s: "verify/derivations.json",
        "does not name a revealed redaction.made entry",
    ),
    "derivation file": (
        lambda s: _edit_json(
            s.path / "verify/derivations.json", lambda d: d[0].update(file="index.html")
        ),
        lambda s: "verify/derivations.json",
        "is not the copy",
    ),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_tampering_under_a_valid_manifest_is_caught_by_the_proofs(site: Site, name: str):
    mutate, where, message = DEEP[name]
    mutate(site)
    _reseal(site)
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path)
    assert caught.value.where == where(site), caught.value.message
    assert message in caught.value.message


def test_symlinks_are_refused(site: Site, tmp_path: Path):
    (tmp_path / "outside.html").write_text("x")
    (site.path / "link.html").symlink_to(tmp_path / "outside.html")
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path)
    assert caught.value.where == "link.html"


# -- writing -------------------------------------------------------------------------------


def test_republishing_after_the_log_grew(make_archive: Callable[..., Archive], tmp_path: Path):
    arc = make_archive(entries=3, batch=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("<p>one</p>")
    first = write_proofs(arc, out, revealed=[1], derivations=[])
    assert verify_site(out).size == first["size"] == 5
    fill(arc, 4, batch=2)
    (out / "index.html").write_text("<p>two</p>")
    second = write_proofs(arc, out, revealed=[1, 6], derivations=[])
    report = verify_site(out)
    assert report.size == second["size"] == 9 and report.checkpoints == 4
    assert report.revealed == [1] and report.withheld == [6]  # fill() records carry names
    assert not (out / "verify" / "tile" / "0" / "000.p" / "5").exists()


def test_write_proofs_refuses_bad_requests(make_archive: Callable[..., Archive], tmp_path: Path):
    arc = make_archive(entries=2)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="not covered"):
        write_proofs(arc, out, revealed=[99], derivations=[])
    with pytest.raises(InputError, match=r"not a revealed redaction\.made entry"):
        write_proofs(arc, out, revealed=[1], derivations=[{"seq": 1}])
    with pytest.raises(InputError, match="is not a folder"):
        write_proofs(arc, tmp_path / "missing", revealed=[], derivations=[])


def test_write_proofs_refuses_symlinks_and_verify_needs_the_folder(
    make_archive: Callable[..., Archive], tmp_path: Path
):
    arc = make_archive()
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "secret.txt").write_text("not for publication")
    (out / "page.html").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InputError, match="symbolic link"):
        write_proofs(arc, out, revealed=[], derivations=[])
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "index.html").write_text("<p>no proofs</p>")
    with pytest.raises(VerificationError) as caught:
        verify_site(bare)
    assert caught.value.where == "verify/key"  # pages without proofs: unverifiable (exit 2)
    with pytest.raises(InputError, match="is not a folder"):  # a wrong path (exit 1)
        verify_site(tmp_path / "nowhere")


def test_place_names_inside_fields_are_not_private_names():
    body = {"type": "incident", "fields": {"place": {"name": "İmişli", "place": "gn-1"}}}
    assert may_reveal(_entry(body)) is None


def test_unit_names_are_public_but_their_notes_are_not():
    unit = {"type": "unit", "id": "u-dyp", "fields": {"name": {"en": "State Traffic Police"}}}
    assert may_reveal(_entry(unit)) is None
    noted = {**unit, "fields": {**unit["fields"], "note": "informant said"}}
    assert may_reveal(_entry(noted)) == "body.fields.note holds a private note"


def test_files_the_manifest_does_not_mention_at_all_are_reported_not_checked(site: Site):
    """``.git/``, ``CNAME``: top-level names no signed file uses are the user's."""
    (site.path / "CNAME").write_text("sahid.example.org\n")
    (site.path / ".git" / "objects").mkdir(parents=True)
    (site.path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    report = verify_site(site.path)
    assert report.unlisted == [".git/", "CNAME"]
    assert report.as_json()["unlisted"] == [".git/", "CNAME"]
    # ... but inside a folder the manifest covers, an unlisted file is an error.
    (site.path / "media" / "CNAME").write_text("x")
    with pytest.raises(VerificationError) as caught:
        verify_site(site.path)
    assert caught.value.where == "media/CNAME"
