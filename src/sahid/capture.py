"""Web capture: save a page as WACZ plus a full-page screenshot (DESIGN §6, §10).

:func:`capture` drives Debian's headless Chromium through Playwright, records every HTTP
request and response the page made, and returns everything in memory: a WACZ file (a zip
holding a WARC of the exchanges, a CDXJ index, the page list and ``datapackage.json``), a
full-page PNG screenshot, the title and the HTTP status of the page.

Safety (DESIGN §10): the only network traffic is what the page itself asks for. Chromium
runs in its sandbox unless sahid runs as root (:func:`launch_options`), with background
networking, component updates, sync, metrics upload, pings, safe browsing and extensions
off, in an off-the-record browser context (memory cache only) with a throwaway profile
directory that Playwright deletes when the browser closes. Nothing of
the page is written to disk by this module.

Call it from a plain thread or process: Playwright's sync API refuses to run inside an
asyncio event loop.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sahid.errors import ConfigError, InputError

__all__ = [
    "CHROMIUM",
    "Capture",
    "capture",
    "capture_bundle",
    "capture_digests",
    "launch_options",
    "preflight",
    "run_capture_job",
    "screenshot_from_wacz",
    "screenshot_url",
]

#: The browser: Debian's ``chromium`` package (never Playwright's downloaded builds).
CHROMIUM = "/usr/bin/chromium"

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"
VIEWPORT = {"width": 1280, "height": 800}

# Everything that keeps Chromium quiet: no traffic the user did not ask for. No
# --no-sandbox here: see launch_options.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-component-extensions-with-background-pages",
    "--metrics-recording-only",  # record nothing for upload, report nothing
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--safebrowsing-disable-auto-update",
    "--no-pings",
    "--disable-pings",
    "--no-service-autorun",
    "--disable-notifications",
    "--media-router=0",
    "--disk-cache-size=1",
    "--media-cache-size=1",
    # Measured (tests/test_capture.py, through a logging proxy): even with the switches above,
    # Chromium 156 fetches an on-demand component from update.googleapis.com and POSTs to
    # accounts.google.com/ListAccounts at startup. Point both services at addresses that fail
    # inside the browser: a file URL for the updater, 0.0.0.0 on the blocked port 9 for GAIA.
    "--component-updater=url-source=file:///dev/null",
    "--gaia-url=http://0.0.0.0:9/",
    # Do not pass --disable-features/--enable-features here: the last one wins in Chromium,
    # and Playwright's own lists (network time, optimization hints, search preconnect) must
    # stay in force.
]

# Chromium net error codes a user can meet, in words.
_NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": "host not found (DNS lookup failed)",
    "ERR_NAME_RESOLUTION_FAILED": "host not found (DNS lookup failed)",
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_CONNECTION_CLOSED": "connection closed by the server",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_TIMED_OUT": "timed out",
    "ERR_ADDRESS_UNREACHABLE": "host unreachable",
    "ERR_ADDRESS_INVALID": "invalid address",
    "ERR_INTERNET_DISCONNECTED": "no network connection",
    "ERR_NETWORK_CHANGED": "the network changed during the capture",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
    "ERR_INVALID_RESPONSE": "the server sent an invalid response",
    "ERR_SSL_PROTOCOL_ERROR": "TLS handshake failed",
    "ERR_TOO_MANY_REDIRECTS": "too many redirects",
    "ERR_UNSAFE_PORT": "the port is blocked by the browser as unsafe",
    "ERR_PROXY_CONNECTION_FAILED": "could not connect to the proxy",
    "ERR_TUNNEL_CONNECTION_FAILED": "the proxy refused the connection",
    "ERR_ABORTED": "the page did not load (aborted; a download or an empty response?)",
}

# Response headers that describe the wire encoding, not the (decoded) body we store.
_WIRE_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Capture:
    """One captured page; every byte is in memory."""

    url: str
    final_url: str
    captured_at: str  # UTC, "YYYY-MM-DDTHH:MM:SSZ"
    wacz: bytes = field(repr=False)
    screenshot_png: bytes = field(repr=False)
    title: str
    status: int
    resources: int  # HTTP responses recorded in the WARC


@dataclass
class _Exchange:
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes | None
    status: int
    status_text: str
    response_headers: list[tuple[str, str]]
    body: bytes
    body_complete: bool
    when: datetime


def _utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_url(url: str) -> str:
    """Accept only absolute http(s) URLs with a host; return the URL stripped."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError("URL must start with http:// or https://")
    if not parts.hostname:
        raise InputError(f"URL has no host: {url}")
    return url


def launch_options(euid: int | None = None) -> tuple[list[str], bool]:
    """Chromium's switches, and whether its sandbox is on, for a process of user ``euid``
    (default: this process's).

    The captured pages are untrusted, so Chromium's sandbox stays on (Playwright turns it
    off unless asked). Only as root is it off: Chromium refuses to start as root with its
    sandbox, and a root process is not confined by it anyway. Run sahid as an ordinary
    user to capture with the sandbox.
    """
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return [*CHROMIUM_ARGS, "--no-sandbox"], False
    return list(CHROMIUM_ARGS), True


def preflight(url: str) -> str:
    """What :func:`capture` checks before it starts: an http(s) URL (returned stripped)
    and Chromium installed. Callers run it before asking for a passphrase."""
    url = check_url(url)
    if not os.path.exists(CHROMIUM):
        raise ConfigError(
            f"Chromium not found at {CHROMIUM}: install the Debian package "
            "(apt-get install chromium)"
        )
    return url


def _reason(exc: BaseException, timeout_s: float) -> str:
    text = str(exc)
    m = re.search(r"net::(ERR_[A-Z0-9_]+)", text)
    if m:
        code = m.group(1)
        if code.startswith("ERR_CERT_"):
            return f"TLS certificate error ({code})"
        return _NET_ERRORS.get(code, code)
    if "Timeout" in type(exc).__name__ or "Timeout " in text:
        return f"timed out after {timeout_s:g} s"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first


def capture(
    url: str,
    *,
    timeout_s: float = 30,
    progress: Callable[[str], None] | None = None,
    proxy: str | None = None,
) -> Capture:
    """Capture ``url`` with headless Chromium: WACZ, full-page PNG, title and status.

    ``timeout_s`` bounds the page load; the whole capture may take a few seconds more
    (network settling, screenshot). ``proxy`` (e.g. ``socks5://127.0.0.1:9050``) sends every
    request of the browser through that proxy.

    HTTP error pages (404, 500…) are captured; ``status`` says what the server answered.
    Raises :class:`InputError` for a non-http(s) URL or when the page cannot be reached
    (DNS failure, refused connection, timeout…), :class:`ConfigError` when Chromium is missing.
    """
    url = preflight(url)
    say = progress or (lambda _msg: None)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Request, sync_playwright

    timeout_ms = max(1.0, timeout_s * 1000)
    exchanges: list[_Exchange] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).scheme not in ("http", "https"):
            return
        try:
            response = request.response()
            if response is None:
                return
            try:
                body, complete = response.body(), True
            except PlaywrightError:
                body, complete = b"", response.status in range(300, 400)
            start = request.timing.get("startTime", -1)
            when = (
                datetime.fromtimestamp(start / 1000, UTC)
                if start and start > 0
                else datetime.now(UTC)
            )
            exchanges.append(
                _Exchange(
                    method=request.method,
                    url=request.url,
                    request_headers=[(h["name"], h["value"]) for h in request.headers_array()],
                    request_body=request.post_data_buffer,
                    status=response.status,
                    status_text=response.status_text,
                    response_headers=[(h["name"], h["value"]) for h in response.headers_array()],
                    body=body,
                    body_complete=complete,
                    when=when,
                )
            )
        except PlaywrightError:
            return  # the browser is closing

    started = time.monotonic()
    captured_at = _utc_iso(datetime.now(UTC))
    say("starting Chromium")
    with sync_playwright() as pw:
        args, sandbox = launch_options()
        try:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=args,
                chromium_sandbox=sandbox,
                proxy={"server": proxy} if proxy else None,
            )
        except PlaywrightError as exc:
            hint = ""
            if sandbox and "sandbox" in str(exc).lower():
                hint = (
                    "; its sandbox needs unprivileged user namespaces "
                    "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu "
                    "kernel.apparmor_restrict_unprivileged_userns=0)"
                )
            raise ConfigError(
                f"could not start Chromium ({CHROMIUM}): {_reason(exc, 0)}{hint}"
            ) from exc
        try:
            context = browser.new_context(
                viewport=VIEWPORT,  # type: ignore[arg-type]
                service_workers="block",
                accept_downloads=False,
            )
            context.on("requestfinished", record)
            context.on("requestfailed", record)
            page = context.new_page()
            say(f"loading {url}")
            try:
                response = page.goto(url, timeout=timeout_ms, wait_until="load")
            except PlaywrightError as exc:
                raise InputError(f"could not capture {url}: {_reason(exc, timeout_s)}") from exc
            if response is None:
                raise InputError(f"could not capture {url}: the browser got no response")
            status = response.status
            say(f"page loaded: HTTP {status}")
            settle_ms = min(5000.0, max(500.0, timeout_ms - (time.monotonic() - started) * 1000))
            try:
                page.wait_for_load_state("networkidle", timeout=settle_ms)
            except PlaywrightError:
                say("the page kept loading; capturing what arrived")
            final_url = page.url
            title = page.title()
            say("taking a full-page screenshot")
            try:
                screenshot = page.screenshot(full_page=True, type="png", timeout=timeout_ms)
            except PlaywrightError as exc:
                raise InputError(f"could not screenshot {url}: {_reason(exc, timeout_s)}") from exc
            page.close()
            context.close()
        finally:
            browser.close()

    say(f"writing WACZ ({len(exchanges)} responses)")
    wacz = _build_wacz(
        exchanges,
        page_url=final_url,
        title=title,
        captured_at=captured_at,
        screenshot=screenshot,
    )
    say(f"captured {url} in {time.monotonic() - started:.1f} s")
    return Capture(
        url=url,
        final_url=final_url,
        captured_at=captured_at,
        wacz=wacz,
        screenshot_png=screenshot,
        title=title,
        status=status,
        resources=len(exchanges),
    )


def run_capture_job(url: str, progress: Callable[[str], None] | None = None) -> Capture:
    """Job-queue entry point: one capture with progress messages, default timeout."""
    return capture(url, progress=progress)


def capture_bundle(result: Capture) -> bytes:
    """The one file to keep as evidence: the WACZ, which already holds the screenshot.

    The screenshot is the WARC ``resource`` record ``urn:screenshot:<final URL>`` (the
    Browsertrix convention), so replay tools show it beside the page.
    """
    return result.wacz


def screenshot_url(page_url: str) -> str:
    """The WARC target URI of a page's screenshot record."""
    return f"urn:screenshot:{page_url}"


def capture_digests(result: Capture) -> dict[str, Any]:
    """SHA-256 of the screenshot and of every member of the WACZ, for the ledger entry.

    The screenshot lives only inside the WARC (record ``urn:screenshot:<final URL>``); with
    its own hash in the entry, a verifier can check it apart from the WACZ file:
    :func:`screenshot_from_wacz` takes it out again.
    """
    with zipfile.ZipFile(io.BytesIO(result.wacz)) as zf:
        members = {
            info.filename: "sha256:" + hashlib.sha256(zf.read(info)).hexdigest()
            for info in zf.infolist()
        }
    return {
        "screenshot": {
            "record": screenshot_url(result.final_url),
            "sha256": hashlib.sha256(result.screenshot_png).hexdigest(),
            "size": len(result.screenshot_png),
        },
        "wacz_members": members,
    }


def screenshot_from_wacz(wacz: bytes) -> bytes:
    """The PNG of the screenshot record in a WACZ made by :func:`capture`."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        with zipfile.ZipFile(io.BytesIO(wacz)) as zf:
            warc = zf.read(f"archive/{WARC_NAME}")
        for record in ArchiveIterator(io.BytesIO(warc)):
            target = record.rec_headers.get_header("WARC-Target-URI") or ""
            if record.rec_type == "resource" and target.startswith("urn:screenshot:"):
                data: bytes = record.content_stream().read()
                return data
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(f"not a WACZ made by sahid capture: {exc}") from None
    raise InputError("the WACZ holds no screenshot record (urn:screenshot:…)")


# --- WACZ ------------------------------------------------------------------------------


def _surt(url: str) -> str:
    """A SURT-style sort key (``com,example)/path?a=1``) for the CDXJ index."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower()
    host = re.sub(r"^www\d*\.", "", host)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    key = ",".join(reversed(host.split(".")))
    if port is not None and port != default:
        key += f":{port}"
    path = parts.path or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return (key + ")" + path + ("?" + query if query else "")).lower()


def _warc_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _build_warc(
    exchanges: list[_Exchange], *, page_url: str, captured_at: str, screenshot: bytes
) -> tuple[bytes, list[str]]:
    """Return the gzipped WARC and the CDXJ lines (sorted) indexing it."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from sahid import __version__

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    cdx: list[str] = []

    def write(record: object, *, url: str, mime: str, status: str, when: datetime) -> None:
        offset = out.tell()
        writer.write_record(record)
        if status:
            entry = {
                "url": url,
                "mime": mime,
                "status": status,
                "digest": record.rec_headers.get_header("WARC-Payload-Digest"),  # type: ignore[attr-defined]
                "length": str(out.tell() - offset),
                "offset": str(offset),
                "filename": WARC_NAME,
            }
            cdx.append(f"{_surt(url)} {_warc_ts(when)} {json.dumps(entry, ensure_ascii=False)}")

    info = writer.create_warcinfo_record(
        WARC_NAME,
        {
            "software": f"sahid {__version__} (Playwright + Chromium)",
            "format": "WARC File Format 1.1",
        },
    )
    writer.write_record(info)

    for ex in exchanges:
        when_iso = ex.when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        headers = [(k, v) for k, v in ex.response_headers if not k.startswith(":")]
        kept = [(k, v) for k, v in headers if k.lower() not in _WIRE_HEADERS]
        kept += [(f"x-sahid-orig-{k}", v) for k, v in headers if k.lower() in _WIRE_HEADERS]
        kept.append(("Content-Length", str(len(ex.body))))
        warc_headers = {"WARC-Date": when_iso}
        if not ex.body_complete:
            warc_headers["WARC-Truncated"] = "unspecified"
        http_headers = StatusAndHeaders(
            f"{ex.status} {ex.status_text}".strip(), kept, protocol="HTTP/1.1"
        )
        resp = writer.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(ex.body),
            length=len(ex.body),
            http_headers=http_headers,
            warc_headers_dict=warc_headers,
        )
        mime = next((v for k, v in kept if k.lower() == "content-type"), "")
        write(
            resp, url=ex.url, mime=mime.split(";")[0].strip(), status=str(ex.status), when=ex.when
        )

        parts = urlsplit(ex.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req_headers = [(k, v) for k, v in ex.request_headers if not k.startswith(":")]
        if not any(k.lower() == "host" for k, _ in req_headers):
            req_headers.insert(0, ("Host", parts.netloc))
        req_body = ex.request_body or b""
        req = writer.create_warc_record(
            ex.url,
            "request",
            payload=io.BytesIO(req_body),
            length=len(req_body),
            http_headers=StatusAndHeaders(
                f"{ex.method} {target} HTTP/1.1", req_headers, is_http_request=True
            ),
            warc_headers_dict={
                "WARC-Date": when_iso,
                "WARC-Concurrent-To": resp.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        write(req, url=ex.url, mime="", status="", when=ex.when)

    shot_url = screenshot_url(page_url)
    shot = writer.create_warc_record(
        shot_url,
        "resource",
        payload=io.BytesIO(screenshot),
        length=len(screenshot),
        warc_content_type="image/png",
        warc_headers_dict={"WARC-Date": captured_at},
    )
    when = datetime.strptime(captured_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    write(shot, url=shot_url, mime="image/png", status="200", when=when)
    return out.getvalue(), sorted(cdx)


def _build_wacz(
    exchanges: list[_Exchange], *, page_url: str, title: str, captured_at: str, screenshot: bytes
) -> bytes:
    from sahid import __version__

    warc, cdx = _build_warc(
        exchanges, page_url=page_url, captured_at=captured_at, screenshot=screenshot
    )
    pages = (
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})
        + "\n"
        + json.dumps(
            {"id": uuid.uuid4().hex, "url": page_url, "ts": captured_at, "title": title},
            ensure_ascii=False,
        )
        + "\n"
    ).encode("utf-8")
    index = ("\n".join(cdx) + "\n").encode("utf-8")
    files = [
        (f"archive/{WARC_NAME}", warc, zipfile.ZIP_STORED),
        ("indexes/index.cdx", index, zipfile.ZIP_DEFLATED),
        ("pages/pages.jsonl", pages, zipfile.ZIP_DEFLATED),
    ]
    stamp = datetime.strptime(captured_at, "%Y-%m-%dT%H:%M:%SZ").timetuple()[:6]
    package = {
        "profile": "data-package",
        "resources": [
            {
                "name": os.path.basename(path),
                "path": path,
                "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
            for path, data, _ in files
        ],
        "title": title or page_url,
        "mainPageURL": page_url,
        "mainPageDate": captured_at,
        "created": captured_at,
        "wacz_version": WACZ_VERSION,
        "software": f"sahid {__version__}",
    }
    package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    digest = json.dumps(
        {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()},
        indent=2,
    ).encode("utf-8")
    files += [
        ("datapackage.json", package_bytes, zipfile.ZIP_DEFLATED),
        ("datapackage-digest.json", digest, zipfile.ZIP_DEFLATED),
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data, method in files:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = method
            zf.writestr(info, data)
    return buf.getvalue()
