"""A real threaded HTTP server on 127.0.0.1 with good and hostile answers.

Every path below answers one case of issue 3; ``FeedServer.hits`` counts the
requests per path and ``FeedServer.seen`` keeps the last request headers.
The name ``feeds.test`` resolves to 127.0.0.1 during the tests (see
``named_host``), so a Fetcher can reach the server as an allowed intranet host
while every other protection stays on.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from outreach.settings import Settings
from outreach.sources.base import FetchContext
from outreach.sources.fetch import Fetcher
from tests.conftest import ROOT, SHARED_FIXTURES

NAMED_HOST = "feeds.test"
MB = 1024 * 1024

GOOD_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Testikaupunki</title><language>fi</language>
<item><title>Energiakatselmus yrityksille</title><link>https://city.example/energia</link>
<guid>energia-1</guid><pubDate>Tue, 17 Nov 2026 10:30:00 +0200</pubDate>
<description>&lt;p&gt;Maksuton &lt;b&gt;katselmus&lt;/b&gt;.&lt;/p&gt;</description></item>
<item><title>Kiertotalouden materiaalitori</title><link>https://city.example/tori</link>
<guid>tori-1</guid><pubDate>Tue, 10 Nov 2026 08:00:00 +0200</pubDate>
<description>Materiaalia uuteen k\xc3\xa4ytt\xc3\xb6\xc3\xb6n.</description></item>
</channel></rss>"""

HOSTILE_ITEM_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>x</title>
<item><title>Hostile &lt;script&gt;alert(1)&lt;/script&gt;item</title>
<link>https://city.example/hostile</link><guid>hostile-1</guid>
<description>&lt;p onclick="steal()" style="color:red"&gt;Hi
&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;
&lt;iframe src="https://evil.example"&gt;&lt;/iframe&gt;
&lt;script&gt;alert(2)&lt;/script&gt;
&lt;form action="https://evil.example"&gt;&lt;input name=a&gt;&lt;/form&gt;&lt;/p&gt;
</description></item>
</channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title>
<guid>x</guid></item></channel></rss>"""

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<rss version="2.0"><channel><title>&lol9;</title>'
    + b"<item><title>&lol9;</title><guid>l</guid></item></channel></rss>"
)

EMPTY_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Tyhj\xc3\xa4</title><link>https://city.example/</link>
<description>none</description></channel></rss>"""

LATIN1_FEED = (
    '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>P\u00e4\u00e4st\u00f6t</title>'
    "<item><title>P\u00e4\u00e4st\u00f6t laskivat</title><guid>latin-1</guid>"
    "<link>https://city.example/paastot</link></item></channel></rss>"
).encode("latin-1")

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Uutiset</title></head><body><h1>Hei</h1></body></html>"
)


def _gzip_bomb(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * MB
    parts = [comp.compress(zeros) for _ in range(size // MB)]
    parts.append(comp.flush())
    return b"".join(parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (the point of several tests) are not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeedServer:
    """Holds the running server, its hit counters and the last headers per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.seen: dict[str, Message] = {}
        self.queries: dict[str, dict[str, list[str]]] = {}
        self.bomb = _gzip_bomb(50 * MB)
        self.files: dict[str, Path] = {}
        handler = type("Handler", (_Handler,), {"state": self})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def named(self, path: str) -> str:
        return self.url(path, NAMED_HOST)

    def reset(self) -> None:
        self.hits.clear()
        self.seen.clear()
        self.queries.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    state: FeedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, code: int, body: bytes = b"", ctype: str = "application/rss+xml", **hdr: str
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in hdr.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", Location=location)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        state = self.state
        state.hits[path] += 1
        state.seen[path] = self.headers
        state.queries[path] = parse_qs(parts.query)
        port = state.port
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(path, port)

    def _route(self, path: str, port: int) -> None:
        state = self.state
        if path == "/feed.xml":
            self._send(200, GOOD_FEED)
        elif path == "/etag-feed.xml":
            etag, modified = '"v1"', "Tue, 24 Nov 2026 09:00:00 GMT"
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", ETag=etag)
            else:
                self._send(200, GOOD_FEED, ETag=etag, Last_Modified=modified)
        elif path == "/gzip-feed.xml":
            body = gzip.compress(GOOD_FEED)
            self._send(200, body, Content_Encoding="gzip")
        elif path == "/gzip-truncated":
            self._send(200, gzip.compress(GOOD_FEED)[:-12], Content_Encoding="gzip")
        elif path == "/hostile-item.xml":
            self._send(200, HOSTILE_ITEM_FEED)
        elif path == "/slow":
            time.sleep(3)
            self._send(200, GOOD_FEED)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
        elif path == "/500":
            self._send(500, b"oops", "text/plain")
        elif path == "/flaky":
            if state.hits[path] == 1:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, GOOD_FEED)
        elif path == "/busy":
            if state.hits[path] == 1:
                self._send(429, b"slow down", "text/plain", Retry_After="3600")
            else:
                self._send(200, GOOD_FEED)
        elif path == "/404":
            self._send(404, b"no", "text/plain")
        elif path == "/410":
            self._send(410, b"gone", "text/plain")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/hop":
            self._redirect("/feed.xml")
        elif path == "/to-loopback":
            self._redirect(f"http://127.0.0.1:{port}/feed.xml")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-file":
            self._redirect("file:///etc/passwd")
        elif path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(50 * MB))
            self.end_headers()
            chunk = b"<" * (256 * 1024)
            for _ in range(200):
                self.wfile.write(chunk)
        elif path == "/big-unannounced":
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"<" * (256 * 1024)
            for _ in range(200):
                self.wfile.write(chunk)
            self.close_connection = True
        elif path == "/gzip-bomb":
            self._send(200, state.bomb, Content_Encoding="gzip")
        elif path == "/xxe":
            self._send(200, XXE)
        elif path == "/billion-laughs":
            self._send(200, LAUGHS)
        elif path == "/wrong-charset":
            self._send(200, LATIN1_FEED, "application/rss+xml; charset=utf-8")
        elif path == "/html":
            self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        elif path == "/empty-feed":
            self._send(200, EMPTY_FEED)
        elif path.startswith("/le/page/"):
            self._linked_events_page(int(path.rsplit("/", 1)[1]), port)
        elif path == "/le/other-host":
            data = json.loads((SHARED_FIXTURES / "linkedevents/event-list-page1.json").read_bytes())
            data["meta"]["next"] = "https://api.hel.fi/linkedevents/v1/event/?page=2"
            self._send(200, json.dumps(data).encode(), "application/json")
        elif path.startswith("/file/") and path[6:] in state.files:
            self._send(200, state.files[path[6:]].read_bytes(), "application/octet-stream")
        else:
            self._send(404, b"unknown test path", "text/plain")

    def _linked_events_page(self, number: int, port: int) -> None:
        data = json.loads((SHARED_FIXTURES / "linkedevents/event-list-page1.json").read_bytes())
        for event in data["data"]:
            event["id"] = f"{event['id']}-p{number}"
        data["meta"]["next"] = f"http://{NAMED_HOST}:{port}/le/page/{number + 1}"
        self._send(200, json.dumps(data).encode(), "application/json")


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def server(feed_server: FeedServer) -> FeedServer:
    feed_server.reset()
    return feed_server


@pytest.fixture(autouse=True)
def named_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """``feeds.test`` and ``rebind.test`` resolve to 127.0.0.1; nothing else resolves."""
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (NAMED_HOST, "rebind.test"):
            return real("127.0.0.1", port, *args, **kwargs)
        if host in ("127.0.0.1", "169.254.169.254", "::1", "localhost"):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(
            socket.EAI_NONAME, "Name or service not known (tests resolve no names)"
        )

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture
def fetch_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/outreach.db",
        campaigns_dir=ROOT / "campaigns",
        var_dir=tmp_path / "var",
        fetch_connect_timeout=0.5,
        fetch_read_timeout=0.5,
        fetch_max_bytes=1 * MB,
        fetch_retries=1,
        fetch_allowed_hosts=[NAMED_HOST],
    )


@pytest.fixture
def fetcher(fetch_settings: Settings) -> Fetcher:
    """Reaches the test server as the allowed intranet host ``feeds.test`` only."""
    return Fetcher(fetch_settings, backoff=0.01)


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_ctx(fetch_settings: Settings, fetcher: Fetcher) -> Callable[..., FetchContext]:
    def make(**kw: Any) -> FetchContext:
        values: dict[str, Any] = {
            "settings": fetch_settings,
            "fetcher": fetcher,
            "now": NOW,
            "timezone": "Europe/Helsinki",
            "languages": ["fi", "sv"],
            "city": "vantaa",
            "root": ROOT / "campaigns",
        }
        values.update(kw)
        return FetchContext(**values)

    return make
