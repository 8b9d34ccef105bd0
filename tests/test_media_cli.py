"""Media protection commands as a user runs them (issue 6)."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mediagen import encoded, photo
from sahid.capture import screenshot_from_wacz

KDF_ARGS = ["--kdf-memory", "65536", "--kdf-time", "3"]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "news.html").write_text(
        "<html><head><title>Official statement</title></head>"
        "<body><h1>A fatal traffic accident</h1></body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_redact_thumbs_similar_capture_commands(tmp_path, passfile, cli, site):
    root = tmp_path / "arc"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}

    def ok(*args: str):
        p = cli(*args, "--json", env=env)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    (tmp_path / "a.jpg").write_bytes(encoded(photo("astronaut"), quality=90))
    (tmp_path / "b.jpg").write_bytes(encoded(photo("astronaut").resize((300, 300)), quality=35))
    a = ok("add", str(tmp_path / "a.jpg"))[0]["evidence"]
    b = ok("add", str(tmp_path / "b.jpg"))[0]["evidence"]

    out = tmp_path / "safe.jpg"
    done = ok("redact", a, "--region", "0,0,50,50", "-o", str(out))
    assert done["faces"] >= 1 and out.is_file()
    assert done["no_face_found"] is False
    (tmp_path / "c.jpg").write_bytes(encoded(photo("coffee"), quality=90))
    c = ok("add", str(tmp_path / "c.jpg"))[0]["evidence"]
    p = cli("redact", c, env=env)
    assert p.returncode == 0
    assert f"warning: no face was found in {c}: look at the copy" in p.stderr
    thumbs = ok("thumbs", a, "-o", str(tmp_path / "thumbs"))
    assert len(thumbs["thumbnails"]) == 1 and (tmp_path / "thumbs" / "thumb-00.jpg").is_file()
    near = ok("similar", a)
    assert b in [n["evidence"] for n in near["similar"]] and near["skipped"] == []
    whole = encoded(photo("coffee"), quality=90)
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    cut = ok("add", str(tmp_path / "cut.jpg"))[0]["evidence"]
    p = cli("similar", a, env=env)
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert f"warning: not compared: {cut} is truncated or damaged" in p.stderr
    assert b in p.stdout
    p = cli("similar", cut, env=env)
    assert p.returncode == 1 and p.stderr.startswith(f"error: {cut} is truncated or damaged")

    cap = ok("capture", f"{site}/news.html")
    assert cap["capture"]["title"] == "Official statement"
    # the screenshot's own hash is in the entry: check it apart from the WACZ
    wacz = tmp_path / "capture.wacz"
    ok("get", cap["evidence"], "-o", str(wacz))
    shot = screenshot_from_wacz(wacz.read_bytes())
    assert shot.startswith(b"\x89PNG")
    assert cap["capture"]["screenshot"] == {
        "record": f"urn:screenshot:{site}/news.html",
        "sha256": hashlib.sha256(shot).hexdigest(),
        "size": len(shot),
    }
    with zipfile.ZipFile(wacz) as zf:
        assert cap["capture"]["wacz_members"] == {
            n: "sha256:" + hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()
        }
    assert cap["media_type"] == "application/zip" or cap["media_type"].endswith("zip")
    assert cli("verify", env=env).returncode == 0

    bad = cli("capture", "file:///etc/passwd", env=env)
    assert bad.returncode == 1 and "URL must start with http:// or https://" in bad.stderr
    region = cli("redact", a, "--region", "1,2,3", env=env)
    assert region.returncode == 1 and "write x,y,w,h" in region.stderr
    mute = cli("redact", a, "--mute", "00:10-00:05", env=env)
    assert mute.returncode == 1 and "the end must come after the start" in mute.stderr


def test_outputs_and_urls_checked_before_any_work(tmp_path, passfile, cli):
    """Regression: `redact -o EXISTING` said "already exists" only after the copy had been
    stored and its redaction.made entry written."""
    from sahid import Archive
    from sahid.protect import list_thumbnails

    from conftest import PASSPHRASE

    root = tmp_path / "arc"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}
    (tmp_path / "a.jpg").write_bytes(encoded(photo("astronaut"), quality=90))
    a = json.loads(cli("add", str(tmp_path / "a.jpg"), "--json", env=env).stdout)[0]["evidence"]

    def size() -> int:
        return json.loads(cli("log", "checkpoint", "--json", env=env).stdout)["size"]

    before = size()
    taken = tmp_path / "taken.jpg"
    taken.write_bytes(b"someone's file")
    p = cli("redact", a, "-o", str(taken), env=env)
    assert p.returncode == 1 and f"error: {taken} already exists" in p.stderr
    assert taken.read_bytes() == b"someone's file"
    assert size() == before  # no copy stored, no redaction.made entry
    p = cli("redact", a, "-o", str(tmp_path / "no-such-folder" / "x.jpg"), env=env)
    assert p.returncode == 1 and "does not exist; create the folder first" in p.stderr
    p = cli("thumbs", a, "-o", str(taken), env=env)
    assert p.returncode == 1 and f"error: {taken} already exists" in p.stderr
    assert size() == before and len(json.loads(cli("ls", "--json", env=env).stdout)) == 1
    with Archive.open(root, PASSPHRASE) as arc:
        assert list_thumbnails(arc, a) == []  # not made either
    # a URL that cannot be captured is refused before the passphrase is asked for
    p = cli("capture", "ftp://example.org/", env={"SAHID_ARCHIVE": str(root)})
    assert p.returncode == 1 and "URL must start with http:// or https://" in p.stderr
