"""Web capture against a local site: WACZ contents, screenshot, errors, network quiet."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from sahid.capture import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Capture,
    capture,
    capture_digests,
    launch_options,
    run_capture_job,
    screenshot_from_wacz,
)
from sahid.errors import InputError

PAGE_HEIGHT = 3000
HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Statement of the Ministry</title>
<link rel="stylesheet" href="/style.css"></head>
<body><h1>Statement</h1><img src="/photo.png" width="20" height="20">
<p id="out">waiting</p>
<div style="height:{PAGE_HEIGHT}px">tall</div>
<script>fetch("/data.json").then(r => r.json())
  .then(d => {{ document.getElementById("out").textContent = d.message; }});</script>
</body></html>
"""
CSS = b"h1 { color: #a00; }\n"
JSON = b'{"message": "loaded by fetch"}\n'


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Site:
    base: str
    root: Path
    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    seen: tuple[list[str], list[str]] = ([], [])


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install the Debian package "
            "(apt-get install chromium; `make unit` installs it)"
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, chromium: None) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(HTML, encoding="utf-8")
    (root / "style.css").write_bytes(CSS)
    (root / "photo.png").write_bytes(_png())
    (root / "data.json").write_bytes(JSON)
    (root / "moved").mkdir()
    (root / "moved" / "index.html").write_text(
        "<!doctype html><title>Moved here</title><p>new place</p>", encoding="utf-8"
    )
    log: Site = Site(base="", root=root)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_head(self) -> Any:
            log.paths.append(self.path)
            log.hosts.append(self.headers.get("Host", ""))
            return super().send_head()

    server, log.base = _serve(Handler)
    yield log
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def captured(site: Site) -> tuple[Capture, list[str]]:
    """The main capture; afterwards ``site.seen`` holds what the server got for it alone."""
    messages: list[str] = []
    site.paths.clear()
    site.hosts.clear()
    result = run_capture_job(site.base + "/index.html", messages.append)
    site.seen = (list(site.paths), list(site.hosts))
    return result, messages


def _warc(result: Capture) -> list[Any]:
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as zf:
        names = [n for n in zf.namelist() if n.startswith("archive/")]
        assert len(names) == 1 and names[0].endswith(".warc.gz")
        data = zf.read(names[0])
    records = []
    for rec in ArchiveIterator(io.BytesIO(data)):
        body = rec.content_stream().read()
        records.append((rec, body))
    return records


def test_capture_metadata(captured: tuple[Capture, list[str]], site: Site) -> None:
    result, messages = captured
    assert result.url == site.base + "/index.html"
    assert result.final_url == site.base + "/index.html"
    assert result.title == "Statement of the Ministry"
    assert result.status == 200
    assert result.resources == 4
    assert len(result.captured_at) == 20 and result.captured_at.endswith("Z")
    assert "." not in result.captured_at
    assert messages and any("screenshot" in m for m in messages)


def test_wacz_layout_and_validation(captured: tuple[Capture, list[str]], tmp_path: Path) -> None:
    result, _ = captured
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as zf:
        names = set(zf.namelist())
        assert {"datapackage.json", "pages/pages.jsonl", "indexes/index.cdx"} <= names
        assert any(n.startswith("archive/") and n.endswith(".warc.gz") for n in names)
        warc_info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
        assert warc_info.compress_type == zipfile.ZIP_STORED
        package = json.loads(zf.read("datapackage.json"))
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").splitlines()]
        index = zf.read("indexes/index.cdx").decode().splitlines()
    assert package["wacz_version"] == "1.1.1"
    assert {r["path"] for r in package["resources"]} == names - {
        "datapackage.json",
        "datapackage-digest.json",
    }
    assert pages[0]["format"] == "json-pages-1.0"
    assert pages[1]["url"] == result.final_url and pages[1]["title"] == result.title
    assert index == sorted(index) and len(index) == 5  # 4 responses + the screenshot

    path = tmp_path / "page.wacz"
    path.write_bytes(result.wacz)
    proc = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is valid" in proc.stdout


def test_warc_has_every_response(captured: tuple[Capture, list[str]], site: Site) -> None:
    result, _ = captured
    records = _warc(result)
    responses = {
        rec.rec_headers.get_header("WARC-Target-URI"): (rec, body)
        for rec, body in records
        if rec.rec_type == "response"
    }
    html = (site.root / "index.html").read_bytes()
    expected = {
        "/index.html": (html, "text/html"),
        "/style.css": (CSS, "text/css"),
        "/photo.png": ((site.root / "photo.png").read_bytes(), "image/png"),
        "/data.json": (JSON, "application/json"),
    }
    assert set(responses) == {site.base + p for p in expected}
    for path, (body, mime) in expected.items():
        rec, got = responses[site.base + path]
        assert got == body, path
        assert rec.http_headers.get_statuscode() == "200"
        assert rec.http_headers.get_header("Content-Type").startswith(mime)
    requests = [rec for rec, _ in records if rec.rec_type == "request"]
    assert len(requests) == 4
    for rec in requests:
        assert urlsplit(rec.rec_headers.get_header("WARC-Target-URI")).hostname == "127.0.0.1"
    shots = [body for rec, body in records if rec.rec_type == "resource"]
    assert shots == [result.screenshot_png]


def test_screenshot_is_full_page(captured: tuple[Capture, list[str]]) -> None:
    result, _ = captured
    assert result.screenshot_png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(result.screenshot_png)) as img:
        assert img.format == "PNG"
        assert img.width == VIEWPORT["width"]
        assert img.height > PAGE_HEIGHT > VIEWPORT["height"]


def test_server_saw_only_our_files(captured: tuple[Capture, list[str]], site: Site) -> None:
    ours = {"/index.html", "/style.css", "/photo.png", "/data.json"}
    paths, hosts = site.seen
    assert sorted(p for p in paths if p != "/favicon.ico") == sorted(ours)  # each once
    assert set(hosts) == {urlsplit(site.base).netloc}


def test_http_error_page_is_captured(site: Site) -> None:
    result = capture(site.base + "/missing.html", timeout_s=20)
    assert result.status == 404
    records = _warc(result)
    statuses = [
        rec.http_headers.get_statuscode()
        for rec, _ in records
        if rec.rec_type == "response"
        and rec.rec_headers.get_header("WARC-Target-URI") == site.base + "/missing.html"
    ]
    assert statuses == ["404"]
    assert result.screenshot_png.startswith(b"\x89PNG")


def test_redirect_is_recorded(site: Site) -> None:
    result = capture(site.base + "/moved", timeout_s=20)  # the server answers 301 → /moved/
    assert result.url == site.base + "/moved"
    assert result.final_url == site.base + "/moved/"
    assert result.status == 200 and result.title == "Moved here"
    statuses = {
        rec.rec_headers.get_header("WARC-Target-URI"): rec.http_headers.get_statuscode()
        for rec, _ in _warc(result)
        if rec.rec_type == "response"
    }
    assert statuses == {site.base + "/moved": "301", site.base + "/moved/": "200"}


@pytest.mark.parametrize(
    "url", ["ftp://example.org/file", "file:///etc/passwd", "javascript:alert(1)", "example.org"]
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(InputError, match="URL must start with http:// or https://"):
        capture(url)


def test_connection_refused(chromium: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(InputError) as err:
        capture(url, timeout_s=10)
    assert url in err.value.message and "connection refused" in err.value.message


def test_timeout(chromium: None) -> None:
    with socket.socket() as s:  # listens but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/slow"
        with pytest.raises(InputError) as err:
            capture(url, timeout_s=2)
    assert url in err.value.message and "timed out" in err.value.message


def test_browser_talks_only_to_the_server(site: Site) -> None:
    """Every request Chromium sends, page or background, goes through a logging proxy."""
    seen: list[str] = []
    target = urlsplit(site.base)

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_CONNECT(self) -> None:
            seen.append("CONNECT " + self.path)
            self.send_error(403)

        def do_GET(self) -> None:
            seen.append(self.path)
            parts = urlsplit(self.path)
            if parts.netloc != target.netloc:
                self.send_error(403)
                return
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
            conn.request("GET", parts.path or "/", headers={"Host": parts.netloc})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_POST = do_GET

    server, proxy = _serve(Proxy)
    try:
        result = capture(site.base + "/index.html", timeout_s=20, proxy=proxy)
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == 200 and result.resources == 4
    assert seen, "the browser did not use the proxy"
    for url in seen:
        assert urlsplit(url).netloc == target.netloc, f"unexpected request: {url}"


def test_screenshot_and_members_hashed_for_the_ledger(
    captured: tuple[Capture, list[str]],
) -> None:
    result, _ = captured
    digests = capture_digests(result)
    assert screenshot_from_wacz(result.wacz) == result.screenshot_png
    assert digests["screenshot"]["sha256"] == hashlib.sha256(result.screenshot_png).hexdigest()
    assert digests["screenshot"]["record"] == "urn:screenshot:" + result.final_url
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as zf:
        package = json.loads(zf.read("datapackage.json"))
    members = digests["wacz_members"]
    assert set(members) >= {"datapackage.json", "datapackage-digest.json"}
    for resource in package["resources"]:  # agrees with the WACZ's own manifest
        assert members[resource["path"]] == resource["hash"]
    with pytest.raises(InputError, match="not a WACZ"):
        screenshot_from_wacz(b"PK\x03\x04 not really")


def test_sandbox_is_off_only_for_root() -> None:
    assert "--no-sandbox" not in CHROMIUM_ARGS
    args, sandbox = launch_options(euid=1000)
    assert sandbox and "--no-sandbox" not in args
    args, sandbox = launch_options(euid=0)
    assert not sandbox and args[-1] == "--no-sandbox"


_AS_USER = """
import os, sys, threading, time
from sahid.capture import capture, launch_options

args, sandbox = launch_options()
assert sandbox and "--no-sandbox" not in args, args
seen, done = [], threading.Event()

def watch():  # the command lines of this user's Chromium processes, while they run
    while not done.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid != os.getuid():
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"chromium"):
                seen.append(cmd)
        time.sleep(0.05)

threading.Thread(target=watch, daemon=True).start()
result = capture(sys.argv[1], timeout_s=20)
done.set()
assert seen, "no Chromium process seen"
assert not any(b"--no-sandbox" in cmd for cmd in seen)
print(result.status, result.title)
"""


def _closed_to_others(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users may not enter, if any."""
    import stat

    resolved = path.resolve()
    for folder in [*reversed(resolved.parents), resolved]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def test_capture_as_an_ordinary_user_keeps_the_sandbox(site: Site) -> None:
    """Chromium's sandbox on for untrusted pages: run a capture as user nobody (65534)."""
    import shutil
    import tempfile

    import playwright

    import sahid

    python = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}", path="/usr/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to become nobody) and a system Python of this version")
    paths = [Path(sahid.__file__).parents[1], Path(playwright.__file__).parents[1]]
    for path in paths:
        closed = _closed_to_others(path)
        if closed is not None:  # e.g. a checkout inside a mode-0700 `mktemp -d` folder
            pytest.skip(f"user nobody cannot reach {path}: {closed} is closed to others")
    home = Path(tempfile.mkdtemp(prefix="sahid-nobody-"))
    try:
        home.chmod(0o777)
        env = {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join(map(str, paths)),
        }

        proc = subprocess.run(
            [python, "-c", _AS_USER, site.base + "/index.html"],
            capture_output=True,
            text=True,
            env=env,
            cwd=home,
            timeout=120,
            user=65534,
            group=65534,
            extra_groups=[],
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "200 Statement of the Ministry"
