"""Evidence packages: build, verify offline, and catch every kind of tampering."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image

from sahid import Archive
from sahid._internal.note import Signer, sign_note
from sahid.errors import InputError, NotFound, VerificationError
from sahid.package import build_package, verify_package

TITLE = {
    "az": "Polis maşını məktəbliləri vurdu: İmişli, şəhər, ğ",
    "ru": "Служебный автомобиль сбил школьников",
    "en": "Police car hits schoolchildren",
}


def _jpeg(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    img = Image.new("RGB", (64, 48), color)
    img.save(path, "JPEG", quality=90)
    return path


@pytest.fixture
def case(make_archive: Callable[..., Archive], tmp_path: Path) -> dict[str, Any]:
    arc = make_archive()
    r = arc.records
    inc = r.add(
        "incident",
        {
            "title": TITLE,
            "start": "~2025-01-18",
            "place": {"name": "İmişli", "detail": "Şadlinski küçəsi"},
            "type": "killing",
            "summary": {"en": "A police vehicle hit children.", "az": "Uşaqlar vuruldu."},
        },
    ).ids[0]
    other = r.add(
        "incident", {"title": {"en": "Unrelated"}, "start": "2012", "type": "threat"}
    ).ids[0]
    person = r.add(
        "person",
        {"roles": [{"incident": inc, "role": "victim"}], "age_group": "child"},
        sealed={"name": "PLANTED-NAME", "contacts": "PLANTED-NAME contact"},
    ).ids[0]
    r.add("act", {"incident": inc, "victim": person, "type": "hit by vehicle"})
    stmt = r.add(
        "statement",
        {
            "incident": inc,
            "source": "Polis",
            "date": "2025-01-18",
            "language": "ru",
            "text": "В Имишли служебный автомобиль сбил детей.",
            "claims": [{"n": 1, "text": "It was an accident."}],
        },
    ).ids[0]
    src = tmp_path / "src"
    src.mkdir()
    photo = _jpeg(src / "photo.jpg")
    (src / "testimony.txt").write_text("Şahid: maşın sürətlə gəlirdi. Свидетель.\n")
    (ev_photo,) = arc.add([photo], source="Telegram", note="dashcam still")
    (ev_text,) = arc.add([src / "testimony.txt"], source="witness", note="written account")
    (src / "copy.txt").write_text("Şahid: maşın sürətlə gəlirdi. Свидетель.\n")
    (again,) = arc.add([src / "copy.txt"], source="second channel")
    assert again.status == "received"
    (unrelated,) = arc.add([_jpeg(src / "other.jpg", (0, 90, 200))], note="other")
    r.add("link", {"evidence": ev_photo.evidence, "target": inc})
    lnk = r.add(
        "link",
        {
            "evidence": "sha256:" + ev_text.sha256,
            "target": stmt,
            "claim": 1,
            "relation": "contradicts",
        },
    ).ids[0]
    r.update(lnk, {"status": "corroborated"})
    r.update(inc, {"status": "corroborated"})
    return {
        "arc": arc,
        "inc": inc,
        "other": other,
        "stmt": stmt,
        "photo": ev_photo,
        "text": ev_text,
        "unrelated": unrelated,
    }


@pytest.fixture
def package(case: dict[str, Any], tmp_path: Path) -> Path:
    out = tmp_path / "case.zip"
    result = build_package(case["arc"], case["inc"], out)
    assert result["evidence"] == 2
    return out


def test_package_verifies_and_holds_originals(case: dict[str, Any], package: Path) -> None:
    report = verify_package(package)
    assert report["ok"] and report["evidence"] == 2
    arc: Archive = case["arc"]
    assert report["size"] == arc.size
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
        photo, text = case["photo"], case["text"]
        pname = f"evidence/{photo.evidence}-{photo.sha256[:12]}.jpg"
        tname = f"evidence/{text.evidence}-{text.sha256[:12]}.txt"
        assert {pname, tname} <= names
        assert hashlib.sha256(zf.read(pname)).hexdigest() == photo.sha256
        assert zf.read(tname).decode().startswith("Şahid")
        assert zf.read("checkpoint").decode() == arc.checkpoint()
        assert zf.read("log-key").decode().strip() == arc.log_key()
        assert len([n for n in names if n.startswith("checkpoints/")]) == len(arc.checkpoints())
        # Entries are the exact signed bytes; the other incident is not in the package.
        for n in names:
            if n.startswith("entries/"):
                seq = int(n.split("/")[1].split(".")[0])
                assert zf.read(n) == arc.entry(seq).data
        kinds = [json.loads(zf.read(n))["kind"] for n in names if n.startswith("entries/")]
        assert {"member.added", "archive.created", "record.created", "record.updated"} <= set(kinds)
        assert kinds.count("link.added") == 2
        assert kinds.count("evidence.received") == 1
        bodies = [json.loads(zf.read(n))["body"] for n in names if n.startswith("entries/")]
        assert not any(b.get("type") == "person" for b in bodies)
        assert not any(b.get("id") == case["other"] for b in bodies)
        assert not any(b.get("evidence") == case["unrelated"].evidence for b in bodies)
        custody = json.loads(zf.read("custody.json"))
        events = custody[text.evidence]["events"]
        assert [e["event"] for e in events] == ["added", "received"]
        assert events[1]["source"] == "second channel" and events[0]["member_name"] == "founder"
        members = json.loads(zf.read("members.json"))
        assert members == {arc.member.member_id: base64.b64encode(arc.member.sign_public).decode()}
        readme = zf.read("README.txt").decode()
        assert "sahid verify-package" in readme and arc.log_key() in readme


def test_no_sealed_data_anywhere(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        for n in zf.namelist():
            assert b"PLANTED-NAME" not in zf.read(n), n
        pdf_bytes = zf.read("summary.pdf")
    assert b"PLANTED-NAME" not in package.read_bytes()
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        assert len(pdf.pages) >= 1
        for page in pdf.pages:
            for _, stream in _streams(page):
                assert b"PLANTED-NAME" not in stream


def _streams(page: pikepdf.Page) -> list[tuple[str, bytes]]:
    out = []
    contents = page.obj.get("/Contents")
    if isinstance(contents, pikepdf.Array):
        out += [("c", bytes(c.read_bytes())) for c in contents]
    elif contents is not None:
        out.append(("c", bytes(contents.read_bytes())))
    return out


def test_pdf_renders_azerbaijani_and_russian(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        pdf_bytes = zf.read("summary.pdf")
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        fonts = set()
        for page in pdf.pages:
            res = page.obj.get("/Resources")
            if res is not None and "/Font" in res:
                for _, font in res["/Font"].items():
                    fonts.add(str(font.get("/BaseFont")))
        assert any("DejaVu" in f for f in fonts), fonts
        # Title from the requested language reaches the document information.
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        assert "Police car" in str(pdf.docinfo.get("/Title", ""))


def test_pdf_title_in_azerbaijani(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "az.zip"
    build_package(case["arc"], case["inc"], out, lang="az")
    with zipfile.ZipFile(out) as zf, pikepdf.open(io.BytesIO(zf.read("summary.pdf"))) as pdf:
        assert str(pdf.docinfo["/Title"]).startswith("Polis maşını")
        # The glyphs used map back to ə ş ğ İ and Cyrillic И: the text is really there.
        cmaps = b""
        for page in pdf.pages:
            for _, font in page.obj.Resources.Font.items():
                if "/ToUnicode" in font:
                    cmaps += font.ToUnicode.read_bytes().upper()
        for code in (b"0259", b"015F", b"011F", b"0130", b"0418"):
            assert code in cmaps, code
    verify_package(out)


def test_refuses_existing_output_and_unknown_incident(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "exists.zip"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        build_package(case["arc"], case["inc"], out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(NotFound):
        build_package(case["arc"], "inc-nosuch", tmp_path / "x.zip")
    with pytest.raises(NotFound):
        build_package(case["arc"], case["stmt"], tmp_path / "y.zip")  # not an incident
    assert not (tmp_path / "x.zip").exists()
    assert not list(tmp_path.glob(".*partial"))


# -- tampering ----------------------------------------------------------------------------


def _rewrite(
    src: Path,
    dst: Path,
    change: Callable[[dict[str, bytes]], None],
    *,
    remanifest: bool,
    signer: Signer | None = None,
) -> Path:
    """The package with ``change`` made; ``remanifest``: the manifest made to match, and
    signed again by ``signer`` if given (someone holding the log key), else left unsigned."""
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    change(files)
    if remanifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for n, d in sorted(files.items())
            if n not in ("manifest.json", "manifest.sig")
        }
        files["manifest.json"] = json.dumps(manifest).encode()
        if signer is not None:
            digest = hashlib.sha256(files["manifest.json"]).hexdigest()
            files["manifest.sig"] = sign_note(
                f"{signer.name}/package\n{digest}\n", [signer]
            ).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return dst


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _first(files: dict[str, bytes], prefix: str, suffix: str = "") -> str:
    return sorted(n for n in files if n.startswith(prefix) and n.endswith(suffix))[0]


def _tamper_proof(files: dict[str, bytes], name: str) -> None:
    doc = json.loads(files[name])
    h = bytearray(base64.b64decode(doc["proof"][0]))
    h[0] ^= 1
    doc["proof"][0] = base64.b64encode(bytes(h)).decode()
    files[name] = json.dumps(doc).encode()


def _tamper_entry(files: dict[str, bytes], name: str) -> None:
    data = files[name]
    at = data.index(b'"nonce":"') + len(b'"nonce":"') + 2
    files[name] = data[:at] + (b"A" if data[at : at + 1] != b"A" else b"B") + data[at + 1 :]


def _tamper_checkpoint(files: dict[str, bytes], name: str) -> None:
    data = files[name]
    lines = data.split(b"\n")
    lines[1] = str(int(lines[1]) + 1).encode()  # the tree size
    files[name] = b"\n".join(lines)


CASES: list[tuple[str, str, Callable[[dict[str, bytes]], str]]] = []


def _case(label: str) -> Callable[[Callable[[dict[str, bytes]], str]], None]:
    def add(fn: Callable[[dict[str, bytes]], str]) -> None:
        CASES.append((label, label, fn))

    return add


@_case("evidence byte")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "evidence/", ".jpg")
    files[n] = _flip(files[n], len(files[n]) // 2)
    return n


@_case("entry byte")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "entries/")
    _tamper_entry(files, n)
    return n


@_case("proof")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "proofs/")
    _tamper_proof(files, n)
    return n


@_case("checkpoint")
def _(files: dict[str, bytes]) -> str:
    _tamper_checkpoint(files, "checkpoint")
    return "checkpoint"


@_case("older checkpoint")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "checkpoints/")
    _tamper_checkpoint(files, n)
    return n


@_case("custody")
def _(files: dict[str, bytes]) -> str:
    doc = json.loads(files["custody.json"])
    for item in doc.values():
        item["events"][0]["source"] = "someone else"
    files["custody.json"] = json.dumps(doc).encode()
    return "custody.json"


@_case("members")
def _(files: dict[str, bytes]) -> str:
    doc = json.loads(files["members.json"])
    doc["intruder"] = base64.b64encode(bytes(range(32))).decode()
    files["members.json"] = json.dumps(doc).encode()
    return "members.json"


@_case("drop evidence")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "evidence/", ".txt")
    del files[n]
    return n


@_case("drop entry")
def _(files: dict[str, bytes]) -> str:
    n = _first(files, "entries/")
    del files[n]
    return n


@_case("add file")
def _(files: dict[str, bytes]) -> str:
    files["evidence/extra.txt"] = b"planted"
    return "evidence/extra.txt"


@pytest.mark.parametrize("how", ["raw", "remanifested", "resigned"])
@pytest.mark.parametrize("label", [c[0] for c in CASES])
def test_tampering_is_caught_and_named(
    case: dict[str, Any], package: Path, tmp_path: Path, label: str, how: str
) -> None:
    """raw: the change alone; remanifested: the manifest made to match (its signature then
    fails); resigned: also signed again with the log key, so the deeper checks must hold."""
    fn = next(c[2] for c in CASES if c[0] == label)
    named: list[str] = []

    def change(files: dict[str, bytes]) -> None:
        named.append(fn(files))

    remanifest = how != "raw"
    signer = case["arc"].log_signer if how == "resigned" else None
    bad = _rewrite(
        package, tmp_path / f"bad-{how}.zip", change, remanifest=remanifest, signer=signer
    )
    with pytest.raises(VerificationError) as info:
        verify_package(bad)
    where = info.value.where
    name = named[0]
    if how == "remanifested":
        assert where == "manifest.json" and "does not match its signature" in info.value.message
    elif label == "drop entry" and remanifest:
        # Without its entry, the proof (or evidence/custody) has nothing to stand on.
        assert where is not None and where.startswith(("proofs/", "evidence/", "members.json"))
    elif label == "add file" and remanifest:
        assert where == name
    else:
        assert where == name, info.value.message
    assert info.value.message.startswith(f"{where}:")


def test_evidence_hash_message(case: dict[str, Any], package: Path, tmp_path: Path) -> None:
    def change(files: dict[str, bytes]) -> None:
        n = _first(files, "evidence/", ".jpg")
        files[n] = _flip(files[n], 10)

    signer = case["arc"].log_signer
    bad = _rewrite(package, tmp_path / "bad.zip", change, remanifest=True, signer=signer)
    with pytest.raises(VerificationError, match=r"SHA-256 does not match its evidence.added entry"):
        verify_package(bad)


@pytest.mark.parametrize("name", ["README.txt", "summary.pdf", "custody.json"])
def test_what_people_read_cannot_be_forged(package: Path, tmp_path: Path, name: str) -> None:
    """The README, the PDF and custody member names are covered by the log key's signature."""

    def change(files: dict[str, bytes]) -> None:
        if name == "custody.json":
            doc = json.loads(files[name])
            for item in doc.values():
                for ev in item["events"]:
                    ev["member_name"] = "someone else"
            files[name] = json.dumps(doc).encode()
        else:
            files[name] += b"\nThis evidence was fabricated.\n"

    bad = _rewrite(package, tmp_path / "forged.zip", change, remanifest=True)
    with pytest.raises(VerificationError) as info:
        verify_package(bad)
    assert info.value.where == "manifest.json"
    unsigned = _rewrite(package, tmp_path / "unsigned.zip", lambda f: f.pop("manifest.sig"),
                        remanifest=False)  # fmt: skip
    with pytest.raises(VerificationError) as info:
        verify_package(unsigned)
    assert info.value.where == "manifest.sig"


def test_key_pins_whose_package_it_is(case: dict[str, Any], package: Path, tmp_path: Path) -> None:
    """A whole package signed by another archive (an impostor's) verifies on its own;
    --key with the real log key refuses it. The CLI takes the key as text or as a file."""
    from conftest import FAST_KDF, PASSPHRASE, run_cli

    real_key = case["arc"].log_key()
    assert verify_package(package, key=real_key)["key"] == real_key
    forged = tmp_path / "forged.zip"
    with Archive.init(tmp_path / "impostor", PASSPHRASE, kdf=FAST_KDF) as other:
        made_up = {"title": {"en": TITLE["en"]}, "start": "2025-01-18", "type": "killing"}
        build_package(other, other.records.add("incident", made_up).ids[0], forged)
    assert verify_package(forged)["ok"]  # whole, but signed by someone else
    with pytest.raises(VerificationError) as info:
        verify_package(forged, key=real_key)
    assert info.value.where == "log-key" and "not the log key you trust" in info.value.message
    key_file = tmp_path / "trusted.key"
    key_file.write_text(real_key + "\n")
    for given in (real_key, str(key_file)):
        ok = run_cli("verify-package", str(package), "--key", given)
        assert ok.returncode == 0, ok.stderr
        refused = run_cli("verify-package", str(forged), "--key", given)
        assert refused.returncode == 2 and "log-key" in refused.stderr


def test_unreadable_zip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(VerificationError) as info:
        verify_package(bad)
    assert info.value.where == "bad.zip"


def test_redacted_copies_are_included(case: dict[str, Any], tmp_path: Path) -> None:
    from sahid.protect import redact

    arc: Archive = case["arc"]
    done = redact(arc, case["photo"].evidence, faces=False, regions=[(0, 0, 16, 16)])
    out = tmp_path / "with-copy.zip"
    assert build_package(arc, case["inc"], out)["evidence"] == 3
    report = verify_package(out)
    assert report["evidence"] == 3
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert any(n.startswith(f"evidence/{done['copy']}-") for n in names)
        kinds = [json.loads(zf.read(n))["kind"] for n in names if n.startswith("entries/")]
        assert kinds.count("redaction.made") == 1
        custody = json.loads(zf.read("custody.json"))
        assert custody[done["copy"]]["redacted_copy_of"] == case["photo"].evidence
