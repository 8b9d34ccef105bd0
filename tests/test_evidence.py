"""Evidence vault (issue 4): single-pass encrypted ingest, dedup + custody, retrieval,
verification of blobs, orphans and gc, age interoperability, nothing plain at rest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sahid import Archive, InputError, NotFound, VerificationError

from conftest import PASSPHRASE

MARKER = b"PLANTED-MARKER-7f3a-Imishli-witness"
GPS = b"39.8711N 48.0604E"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    src = tmp_path / "incoming"
    write(src / "a.txt", b"first file " + MARKER + b" " + GPS)
    write(src / "video.bin", os.urandom(3 * 1024 * 1024 + 7))
    write(src / "sub" / "empty.dat", b"")
    write(src / "sub" / "copy-of-a.txt", b"first file " + MARKER + b" " + GPS)
    return src


def test_add_ls_show_get_round_trip(make_archive, files, tmp_path):
    arc = make_archive()
    results = arc.add([files], source="Telegram channel X", note="sent by witness")
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["a.txt"].status == "added"
    assert by_name["copy-of-a.txt"].status == "received"
    assert by_name["copy-of-a.txt"].evidence == by_name["a.txt"].evidence
    assert by_name["empty.dat"].status == "added" and by_name["empty.dat"].size == 0
    listed = arc.evidence_list()
    assert len(listed) == 3
    assert {r["sha256"] for r in listed} == {
        hashlib.sha256((files / n).read_bytes()).hexdigest()
        for n in ("a.txt", "video.bin", "sub/empty.dat")
    }
    shown = arc.evidence(by_name["a.txt"].evidence)
    assert [e["event"] for e in shown["custody"]] == ["added", "received"]
    assert shown["custody"][0]["source"] == "Telegram channel X"
    assert shown["name"] == "a.txt"
    for name in ("a.txt", "video.bin", "sub/empty.dat"):
        ev = next(r for r in results if r.path.endswith(name))
        out = tmp_path / "out" / name.replace("/", "_")
        out.parent.mkdir(exist_ok=True)
        arc.get(ev.evidence[:8], out)
        assert out.read_bytes() == (files / name).read_bytes()
    # Only one blob per distinct content.
    assert len(list(arc.blobs.names())) == 3
    report = arc.verify()
    assert report.orphans == [] and "blobs" in report.steps[7]


def gps_photo(path: Path, marker: bytes = MARKER) -> Path:
    """A real JPEG whose EXIF holds GPS coordinates (Imishli) and the marker as its author."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = marker.decode()  # Artist
    exif[0x010F] = "PlantedMake"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (39.0, 52.0, 16.0), "E", (48.0, 3.0, 37.0)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 30)).save(buf, "JPEG", exif=exif)
    return write(path, buf.getvalue())


def test_nothing_readable_at_rest(tmp_path, files, monkeypatch):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    from conftest import FAST_KDF

    gps_photo(files / "photo.jpg")
    with Archive.init(tmp_path / "archive", PASSPHRASE, kdf=FAST_KDF) as arc:
        results = arc.add([files], source="witness", note="planted GPS " + GPS.decode())
        photo = next(r for r in results if r.path.endswith("photo.jpg"))
        # The metadata reader ran and recorded the coordinates (inside the encrypted entry).
        gps = arc.evidence(photo.evidence)["metadata"]["gps"]
        assert gps["latitude"].startswith("39.87111") and gps["longitude"].startswith("48.06027")
    # As stored (decimal text), as written in EXIF (rationals), and as planted in text.
    planted = [MARKER, GPS, b"39.87111", b"48.06027", b"PlantedMake", b"Telegram", b"witness"]
    rationals = [struct.pack(bo + "6I", 39, 1, 52, 1, 16, 1) for bo in "<>"]
    planted += [r for r in rationals if r in (files / "photo.jpg").read_bytes()]
    assert len(planted) > 7  # the EXIF latitude as the photo carries it
    for folder in (tmp_path / "archive", tmpdir):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for needle in planted:
                    assert needle not in data, (path, needle)


def test_unreadable_file_fails_alone(make_archive, files):
    """A read error (here EIO from /proc/self/mem) is one failed file, not a crash."""
    arc = make_archive()
    results = arc.add([Path("/proc/self/mem"), files / "a.txt"])
    assert [r.status for r in results] == ["failed", "added"]
    assert results[0].message == "cannot be read (Input/output error)"
    assert not list(arc.blobs.tmp.glob("*"))
    assert len(arc.evidence_list()) == 1


def test_metadata_comes_from_the_file_that_was_encrypted(make_archive, tmp_path):
    """Replacing the path while it is read changes neither the bytes nor the metadata."""
    from sahid.evidence import store_blob

    arc = make_archive()
    path = gps_photo(tmp_path / "photo.jpg")
    original = path.read_bytes()
    other = gps_photo(tmp_path / "other.jpg", marker=b"SWAPPED-IN")

    def swap(_n: int) -> None:
        if other.exists():
            os.replace(other, path)

    stored = store_blob(arc, path, source=None, note=None, progress=swap)
    assert stored.result.sha256 == hashlib.sha256(original).hexdigest()
    assert stored.entry is not None
    assert stored.entry[1]["metadata"]["exif"]["Artist"] == MARKER.decode()


def test_full_disk_is_one_clear_error(tmp_path, passfile):
    """A write failure of the blob store (file-size limit standing in for a full disk)."""
    import resource
    import signal
    import sys

    from conftest import FAST_KDF

    with Archive.init(tmp_path / "archive", PASSPHRASE, kdf=FAST_KDF):
        pass
    big = write(tmp_path / "big.bin", os.urandom(3 << 20))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    done = subprocess.run(
        [sys.executable, "-m", "sahid.cli.main", "add", str(big), "--archive",
         str(tmp_path / "archive"), "--passphrase-file", str(passfile)],
        capture_output=True, text=True, preexec_fn=limit, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "big.bin: cannot be stored in the archive" in line
    assert "File too large" in line and "Traceback" not in done.stderr
    with Archive.open(tmp_path / "archive", PASSPHRASE) as arc:
        assert arc.evidence_list() == []
        assert not list(arc.blobs.tmp.glob("*"))


def test_get_refuses_to_overwrite_and_unknown_ids(make_archive, files, tmp_path):
    arc = make_archive()
    [r] = arc.add([files / "a.txt"])
    existing = write(tmp_path / "exists.txt", b"keep me")
    with pytest.raises(Exception, match="already exists"):
        arc.get(r.evidence, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(NotFound):
        arc.get("abcdef123456", tmp_path / "x")
    with pytest.raises(NotFound):
        arc.evidence("not-hex")


def test_tampered_blob_is_exit_2_and_named(make_archive, files, tmp_path):
    arc = make_archive()
    [r] = arc.add([files / "video.bin"])
    [name] = list(arc.blobs.names())
    blob = arc.blobs.path(name)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x40
    blob.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="blobs/") as err:
        arc.get(r.evidence, tmp_path / "out.bin")
    assert err.value.exit_code == 2
    assert not (tmp_path / "out.bin").exists()
    assert not list(tmp_path.glob(".out.bin*"))
    with pytest.raises(VerificationError, match="step 8"):
        arc.verify()
    arc.verify(quick=True)  # presence only
    blob.unlink()
    with pytest.raises(VerificationError, match="blob is missing"):
        arc.verify(quick=True)


def test_orphans_are_reported_and_collected(make_archive, files):
    arc = make_archive()
    arc.add([files / "a.txt"])
    stray = arc.blobs.root / "ab" / "cd" / ("abcd" + "0" * 60)
    write(stray, b"encrypted leftovers")
    tmp = write(arc.blobs.tmp / ".deadbeef.tmp", b"half written")
    report = arc.verify()
    assert report.orphans == sorted([f"blobs/ab/cd/{stray.name}", f"blobs/tmp/{tmp.name}"])
    assert sorted(arc.gc()) == report.orphans
    assert arc.verify().orphans == []
    assert len(arc.evidence_list()) == 1


def test_bad_inputs(make_archive, tmp_path):
    arc = make_archive()
    fifo = tmp_path / "in" / "pipe"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    write(tmp_path / "in" / "ok.txt", b"ok")
    loop = tmp_path / "in" / "loop"
    loop.symlink_to(tmp_path / "in")
    raw_name = tmp_path / "in" / os.fsdecode(b"caf\xe9-\xff.jpg")
    write(raw_name, b"latin-1 name")
    results = {Path(r.path).name: r for r in arc.add([tmp_path / "in", tmp_path / "missing.txt"])}
    assert results["pipe"].status == "skipped" and "FIFO" in results["pipe"].message
    assert results["loop"].status == "skipped" and "loop" in results["loop"].message
    assert results["missing.txt"].status == "failed"
    assert results["ok.txt"].status == "added"
    odd = next(r for r in results.values() if r.path.startswith(str(tmp_path / "in" / "caf")))
    assert odd.status == "added"
    shown = arc.evidence(odd.evidence)
    import base64

    assert base64.b64decode(shown["name_b64"]) == b"caf\xe9-\xff.jpg"


def test_file_changing_while_read_is_refused(make_archive, tmp_path):
    arc = make_archive()
    path = write(tmp_path / "growing.bin", os.urandom(4 * 1024 * 1024))
    calls = []

    def on_file(p, size):
        def progress(n):
            if not calls:
                with open(p, "ab") as fh:  # another program appends while we read
                    fh.write(b"more")
            calls.append(n)

        return progress

    [r] = arc.add([path], on_file=on_file)
    assert r.status == "failed" and "changed while it was being read" in r.message
    assert arc.evidence_list() == []
    assert list(arc.blobs.names()) == [] and arc.blobs.temps() == []


@pytest.mark.skipif(shutil.which("age") is None, reason="Debian age is installed by .ci/run")
def test_blob_opens_with_the_age_cli(make_archive, files, tmp_path, cli, passfile):
    arc = make_archive()
    arc.add([files / "video.bin"])
    [name] = list(arc.blobs.names())
    root = arc.root
    arc.close()
    key = tmp_path / "vault.key"
    p = cli(
        "key",
        "export-vault",
        "-o",
        str(key),
        "--archive",
        str(root),
        "--passphrase-file",
        str(passfile),
    )
    assert p.returncode == 0, p.stderr
    assert "WARNING" in p.stderr
    assert os.stat(key).st_mode & 0o077 == 0
    out = subprocess.run(
        ["age", "-d", "-i", str(key), str(root / "blobs" / name[:2] / name[2:4] / name)],
        capture_output=True,
        check=True,
    ).stdout
    assert out == (files / "video.bin").read_bytes()
    again = cli(
        "key",
        "export-vault",
        "-o",
        str(key),
        "--archive",
        str(root),
        "--passphrase-file",
        str(passfile),
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_cli_add_ls_show_get(tmp_path, files, cli, passfile):
    root = tmp_path / "a"
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}
    assert cli("init", str(root), "--kdf-memory", "65536", env=env).returncode == 0
    p = cli(
        "add",
        str(files / "a.txt"),
        "--source",
        "Telegram channel X",
        "--note",
        "sent by witness",
        "--json",
        env=env,
    )
    assert p.returncode == 0, p.stderr
    [added] = json.loads(p.stdout)
    listed = json.loads(cli("ls", "--json", env=env).stdout)
    assert (
        listed[0]["evidence_id"] == added["evidence"]
        and listed[0]["source"] == "Telegram channel X"
    )
    shown = cli("show", added["evidence"], env=env)
    assert "custody" in shown.stdout and "sent by witness" in shown.stdout
    out = tmp_path / "original.txt"
    got = cli("get", added["evidence"], "-o", str(out), env=env)
    assert got.returncode == 0 and out.read_bytes() == (files / "a.txt").read_bytes()
    bad = cli("get", "ffffffffffff", "-o", str(tmp_path / "x"), env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error: evidence ffffffffffff not found")
    missing = cli("add", str(tmp_path / "nope.jpg"), env=env)
    assert missing.returncode == 1 and "nope.jpg" in missing.stderr


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian exiftool is installed by make")
def test_clean_copy_from_the_vault(make_archive, tmp_path):
    from PIL import Image

    from conftest import SHARED

    src = SHARED / "vectors" / "media" / "mei_issue508_tiny_gps.jpg"
    arc = make_archive()
    [r] = arc.add([src])
    shown = arc.evidence(r.evidence)
    assert shown["media_type"] == "image/jpeg" and "gps" in shown["metadata"]
    out = tmp_path / "safe.jpg"
    info = arc.clean(r.evidence, out)
    assert info["method"] == "lossless"
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-a", "-G1", str(out)], capture_output=True, check=True
        ).stdout
    )[0]
    assert not [k for k in tags if "GPS" in k or k.endswith(("Make", "Model", "SerialNumber"))], (
        tags
    )
    with Image.open(src) as a, Image.open(out) as b:
        assert a.tobytes() == b.tobytes()
    # Nothing of the original was left on disk beside the output.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".safe")) == []
    [other] = arc.add([write(tmp_path / "notes.bin", b"\x00\x01 not media")])
    with pytest.raises(Exception, match="cannot clean application/octet-stream"):
        arc.clean(other.evidence, tmp_path / "x.bin")


def test_corrupt_media_is_stored_and_the_problem_reported(make_archive, tmp_path):
    from conftest import SHARED

    whole = (SHARED / "vectors" / "media" / "mei_nikon_d5000.jpg").read_bytes()
    broken = write(tmp_path / "broken.jpg", whole[: len(whole) // 3])
    arc = make_archive()
    [r] = arc.add([broken])
    assert r.status == "added" and r.media_type == "image/jpeg"
    out = tmp_path / "back.jpg"
    arc.get(r.evidence, out)
    assert out.read_bytes() == broken.read_bytes()  # the bytes are kept exactly
    shown = arc.evidence(r.evidence)
    assert any("truncated" in p for p in shown["metadata_problems"])
    assert r.problems == shown["metadata_problems"]
    assert "exif" in shown["metadata"]  # what could be read was kept
    # A copy cannot be made of it; the message names the evidence, not a file descriptor.
    with pytest.raises(InputError, match=rf"^evidence {r.evidence}: truncated JPEG"):
        arc.clean(r.evidence, tmp_path / "safe.jpg")
    assert not (tmp_path / "safe.jpg").exists()
    mp4 = (SHARED / "vectors" / "media" / "mei_with_gps.mp4").read_bytes()
    [cut] = arc.add([write(tmp_path / "cut.mp4", mp4[: len(mp4) // 2])])
    with pytest.raises(InputError, match=rf"evidence {cut.evidence}") as err:
        arc.clean(cut.evidence, tmp_path / "safe.mp4")
    assert "/proc" not in err.value.message and not (tmp_path / "safe.mp4").exists()
