"""The published demo site in a real browser (DESIGN §7).

Debian's Chromium, driven by Playwright, opens the demo site from a local server with
JavaScript turned off, walks every page it can reach from ``/index.html`` in all three
languages and checks: every page type is there in each language, every link and embedded
resource answers 200, nothing was requested from any host but the local server, every page
links the same page in the other two languages, and no page carries a script. One
full-page screenshot per page type and language is kept in ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit
from xml.etree import ElementTree

import pytest

from sahid import Archive
from sahid.capture import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from sahid.demo import build_demo
from sahid.publish.build import publish_site

from conftest import FAST_KDF, PASSPHRASE

LANGS = ("az", "ru", "en")
PAGE_TYPES = (
    "index",
    "incident",
    "map",
    "timeline",
    "stats",
    "unit",
    "district",
    "verify",
    "feed",
)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
ATOM = "{http://www.w3.org/2005/Atom}"


def page_type(path: str) -> tuple[str, str] | None:
    """(language, type) of a site path such as ``/en/units/u-mia.html``; None otherwise."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] not in LANGS:
        return None
    rest = "/".join(parts[1:])
    single = {
        "index.html": "index",
        "map.html": "map",
        "timeline.html": "timeline",
        "stats.html": "stats",
        "verify.html": "verify",
        "feed.xml": "feed",
    }
    if rest in single:
        return parts[0], single[rest]
    folders = {"incidents": "incident", "units": "unit", "districts": "district"}
    if len(parts) == 3 and parts[1] in folders and parts[2].endswith(".html"):
        return parts[0], folders[parts[1]]
    return None


class Links(HTMLParser):
    """The links, embedded resources, scripts and language switch of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.follow: list[str] = []  # <a href>
        self.embedded: list[str] = []  # <img src>, <link href>, <source src>, ...
        self.scripts = 0
        self.handlers: list[str] = []  # inline on* attributes
        self.switch: dict[str, str] = {}  # hreflang -> href inside <nav class="langs">
        self._in_langs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.handlers.extend(f"<{tag} {k}>" for k in a if k.startswith("on"))
        if tag == "script":
            self.scripts += 1
        if tag == "nav" and "langs" in a.get("class", "").split():
            self._in_langs += 1
        if tag == "a" and a.get("href"):
            self.follow.append(a["href"])
            if self._in_langs and a.get("hreflang"):
                self.switch[a["hreflang"]] = a["href"]
        elif tag == "link" and a.get("href"):
            self.embedded.append(a["href"])
        elif tag in ("img", "source", "iframe", "embed", "audio", "video") and a.get("src"):
            self.embedded.append(a["src"])
        elif tag == "object" and a.get("data"):
            self.embedded.append(a["data"])
        elif tag in ("image", "use") and (a.get("href") or a.get("xlink:href")):
            self.embedded.append(a.get("href") or a["xlink:href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._in_langs:
            self._in_langs -= 1


@dataclass
class Crawl:
    base: str
    pages: dict[str, int] = field(default_factory=dict)  # HTML/feed path -> status
    files: dict[str, int] = field(default_factory=dict)  # other same-origin path -> status
    referrers: dict[str, set[str]] = field(default_factory=dict)  # path -> linking pages
    requests: list[str] = field(default_factory=list)  # every URL the browser asked for
    failed: list[str] = field(default_factory=list)  # browser requests that failed
    undecoded: list[str] = field(default_factory=list)  # <img> the browser could not show
    server_hosts: set[str] = field(default_factory=set)  # Host headers the server saw
    scripts: dict[str, int] = field(default_factory=dict)
    handlers: dict[str, list[str]] = field(default_factory=dict)
    switches: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> lang -> path
    texts: dict[str, str] = field(default_factory=dict)  # page path -> visible text
    external_links: dict[str, set[str]] = field(default_factory=dict)
    shots: dict[tuple[str, str], Path] = field(default_factory=dict)

    @property
    def types(self) -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = {}
        for path in sorted(self.pages):
            key = page_type(path)
            if key is not None:
                found.setdefault(key, []).append(path)
        return found


@pytest.fixture(scope="module")
def chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install the Debian package "
            "(apt-get install chromium; `make unit` installs it)"
        )


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo archive, published in az/ru/en (built once for the module)."""
    tmp = tmp_path_factory.mktemp("site-browser")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHID_STATE_DIR", str(tmp / "state"))
        mp.delenv("SAHID_ARCHIVE", raising=False)
        mp.delenv("SAHID_PASSPHRASE_FILE", raising=False)
        build_demo(tmp / "demo", PASSPHRASE, kdf=FAST_KDF)
        with Archive.open(tmp / "demo", PASSPHRASE) as arc:
            publish_site(arc, tmp / "site", langs=list(LANGS), include=["unverified"])
        yield tmp / "site"


@pytest.fixture(scope="module")
def crawl(site_dir: Path, chromium: None) -> Iterator[Crawl]:
    hosts: set[str] = set()
    lock = threading.Lock()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site_dir), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_head(self) -> Any:
            with lock:
                hosts.add(self.headers.get("Host", ""))
            return super().send_head()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = _crawl(f"http://127.0.0.1:{server.server_address[1]}")
        result.server_hosts = set(hosts)
        yield result
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _crawl(base: str) -> Crawl:
    from playwright.sync_api import Route, sync_playwright

    out = Crawl(base=base)
    origin = urlsplit(base).netloc
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()

    def local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.netloc == origin

    def guard(route: Route) -> None:
        # Record everything; never let a request leave this machine.
        if local(route.request.url) or route.request.url.startswith(("data:", "about:")):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport=VIEWPORT,  # type: ignore[arg-type]
                java_script_enabled=False,
                service_workers="block",
                accept_downloads=False,
            )
            context.route("**/*", guard)
            context.on("request", lambda r: out.requests.append(r.url))
            context.on(
                "requestfailed", lambda r: out.failed.append(f"{r.url} ({r.failure or 'failed'})")
            )

            def on_response(resp: Any) -> None:
                if local(resp.url):
                    path = urlsplit(resp.url).path
                    if path not in out.pages:
                        out.files.setdefault(path, resp.status)

            context.on("response", on_response)
            page = context.new_page()
            queue: deque[str] = deque(["/index.html"])
            queued = {"/index.html"}
            out.referrers["/index.html"] = {"(start)"}

            def enqueue(ref: str, from_path: str, from_url: str) -> None:
                url = urldefrag(urljoin(from_url, ref)).url
                if not local(url):
                    if not url.startswith(("data:", "mailto:")):
                        out.external_links.setdefault(from_path, set()).add(url)
                    return
                path = urlsplit(url).path
                out.referrers.setdefault(path, set()).add(from_path)
                if path not in queued:
                    queued.add(path)
                    queue.append(path)

            while queue:
                path = queue.popleft()
                url = base + path
                kind = page_type(path)
                if path.endswith(".html") or path.endswith("/"):
                    resp = page.goto(url, wait_until="load")
                    out.pages[path] = resp.status if resp is not None else 0
                    out.files.pop(path, None)
                    if resp is None or resp.status != 200:
                        continue
                    html = page.content()
                    parser = Links()
                    parser.feed(html)
                    parser.close()
                    out.scripts[path] = parser.scripts
                    if parser.handlers:
                        out.handlers[path] = parser.handlers
                    out.texts[path] = page.inner_text("body")
                    out.switches[path] = {
                        lang: urlsplit(urljoin(url, href)).path
                        for lang, href in parser.switch.items()
                    }
                    for ref in parser.follow + parser.embedded:
                        enqueue(ref, path, url)
                    # "load" waited for the page's images and style sheet (see on_response).
                    # Playwright's own evaluation still runs with page scripts turned off.
                    for src in page.eval_on_selector_all(
                        "img", "els => els.filter(e => !e.naturalWidth).map(e => e.src)"
                    ):
                        out.undecoded.append(f"{src} on {path}")
                    if kind is not None and kind not in out.shots:
                        shot = SCREENSHOTS / f"{kind[0]}-{kind[1]}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        out.shots[kind] = shot
                elif kind is not None and kind[1] == "feed":
                    resp = page.goto(url, wait_until="load")
                    out.pages[path] = resp.status if resp is not None else 0
                    out.files.pop(path, None)
                    if resp is None or resp.status != 200:
                        continue
                    body = resp.body()
                    out.texts[path] = body.decode("utf-8")
                    root = ElementTree.fromstring(body)
                    for link in root.iter(f"{ATOM}link"):
                        if link.get("href"):
                            enqueue(link.get("href", ""), path, url)
                    if kind not in out.shots:
                        shot = SCREENSHOTS / f"{kind[0]}-{kind[1]}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        out.shots[kind] = shot
                elif path not in out.files:
                    # A data file, a picture or a proof: fetched, not navigated to.
                    fetched = context.request.get(url, max_redirects=0)
                    out.files[path] = fetched.status
                    fetched.dispose()
            context.close()
        finally:
            browser.close()
    return out


def _where(crawl: Crawl, path: str) -> str:
    return f"{path} (linked from {', '.join(sorted(crawl.referrers.get(path, {'?'})))})"


def test_every_page_type_in_every_language(crawl: Crawl) -> None:
    found = crawl.types
    missing = [f"{lang}/{t}" for lang in LANGS for t in PAGE_TYPES if (lang, t) not in found]
    assert not missing, f"page types not reachable from /index.html: {missing}"
    # Every language has the same pages (no page exists in one language only).
    per_lang = {
        lang: {p.split("/", 2)[2] for paths in found.values() for p in paths if p[1:3] == lang}
        for lang in LANGS
    }
    assert per_lang["az"] == per_lang["ru"] == per_lang["en"], per_lang
    assert "/index.html" in crawl.pages
    for lang in LANGS:
        assert (
            f"/{lang}/index.html" in crawl.referrers
            and "/index.html" in crawl.referrers[f"/{lang}/index.html"]
        ), f"the root page does not link /{lang}/index.html"


def test_no_broken_links(crawl: Crawl) -> None:
    broken = [
        f"{status}: {_where(crawl, path)}"
        for path, status in sorted({**crawl.files, **crawl.pages}.items())
        if status != 200
    ]
    failed = [f for f in crawl.failed if urlsplit(f.split(" ")[0]).netloc in crawl.base]
    assert not broken and not failed, "broken links:\n" + "\n".join(broken + failed)
    assert not crawl.undecoded, "pictures that do not display:\n" + "\n".join(crawl.undecoded)
    # The walk really reached the data files, the pictures and the proofs.
    files = set(crawl.files)
    for needed in (
        "/site.css",
        "/data/incidents.json",
        "/data/incidents.csv",
        "/data/incidents.geojson",
        "/verify/manifest.json",
        "/verify/manifest.sig",
        "/verify/key",
        "/verify/checkpoint",
    ):
        assert needed in files, f"{needed} was never linked"
    assert any(p.startswith("/media/") for p in files), "no published picture was linked"
    assert any(p.startswith("/verify/entries/") for p in files), "no revealed entry was linked"


def test_no_request_leaves_the_local_server(crawl: Crawl) -> None:
    origin = urlsplit(crawl.base).netloc
    outside = sorted(
        {
            u
            for u in crawl.requests
            if not u.startswith(("data:", "about:")) and urlsplit(u).netloc != origin
        }
    )
    assert not outside, f"requests outside {origin}: {outside}"
    assert crawl.server_hosts == {origin}
    assert len(crawl.requests) >= len(crawl.pages)
    # The pages do not even link elsewhere (sources would be shown as text, not fetched).
    assert not crawl.external_links, f"links to other hosts: {crawl.external_links}"


def test_language_switch_on_every_page(crawl: Crawl) -> None:
    problems = []
    for path in sorted(crawl.switches):
        kind = page_type(path)
        if kind is None:
            continue
        lang, rest = path[1:3], path[3:]
        want = {other: f"/{other}{rest}" for other in LANGS if other != lang}
        if crawl.switches[path] != want:
            problems.append(f"{path}: switch {crawl.switches[path]}, expected {want}")
    assert not problems, "language switch:\n" + "\n".join(problems)
    # Each language's pages are in that language.
    en = crawl.texts["/en/stats.html"]
    assert crawl.texts["/az/stats.html"] != en != crawl.texts["/ru/stats.html"]


def test_readable_without_javascript(crawl: Crawl) -> None:
    with_scripts = {p: n for p, n in crawl.scripts.items() if n}
    assert not with_scripts, f"pages with <script>: {with_scripts}"
    assert not crawl.handlers, f"inline event handlers: {crawl.handlers}"
    # JavaScript was off for the whole walk; the content is there regardless.
    for lang in LANGS:
        for kind in ("index", "incident", "unit", "district", "timeline", "stats", "verify"):
            path = crawl.types[(lang, kind)][0]
            assert len(crawl.texts[path].strip()) > 100, f"{path} shows almost no text"
        feed = crawl.texts[f"/{lang}/feed.xml"]
        assert "<entry>" in feed and f'xml:lang="{lang}"' in feed
    incidents = crawl.types[("en", "incident")]
    assert any("unverified" in crawl.texts[p].lower() for p in incidents)


def test_screenshots_saved(crawl: Crawl) -> None:
    expected = {(lang, t) for lang in LANGS for t in PAGE_TYPES}
    assert set(crawl.shots) == expected
    for (lang, kind), shot in sorted(crawl.shots.items()):
        assert shot == SCREENSHOTS / f"{lang}-{kind}.png"
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, shot
