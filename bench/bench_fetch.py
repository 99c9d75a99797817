"""Benchmark of issue 3: 40 feeds behind a local server that adds 300 ms to each answer.

1. Ingesting all 40 sources must take at most 3x the time of ingesting one.
2. A second run over unchanged feeds must get 304s and parse nothing.

Runs the real ingest step (thread pool, fetcher, parser, SQLite) against a
server on 127.0.0.1. Usage: ``python bench/bench_fetch.py``; exits 1 when a
limit is missed.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.campaigns import Config, NewsletterCampaign, load, sync  # noqa: E402
from outreach.db import create_db_engine  # noqa: E402
from outreach.models import Base  # noqa: E402
from outreach.settings import Settings  # noqa: E402
from outreach.sources import rss  # noqa: E402
from outreach.sources.fetch import Fetcher  # noqa: E402
from outreach.sources.ingest import ingest  # noqa: E402

SOURCES = 40
DELAY = 0.3
LIMIT = 3.0
WORKERS = Settings().fetch_workers  # the default, as users run it


def feed(number: int) -> bytes:
    items = "".join(
        f"<item><title>Uutinen {number}-{i}: energiatehokkuus</title>"
        f"<link>https://city.example/{number}/{i}</link><guid>{number}-{i}</guid>"
        f"<pubDate>Tue, 17 Nov 2026 10:{i:02d}:00 +0200</pubDate>"
        f"<description>&lt;p&gt;Kuvaus {i} &lt;b&gt;lihavoitu&lt;/b&gt;&lt;/p&gt;</description>"
        "</item>"
        for i in range(20)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {number}</title>{items}</channel></rss>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(DELAY)
        number = int(self.path.strip("/").split(".")[0])
        etag = f'"feed-{number}-v1"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = feed(number)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # 40 clients connect at once
    daemon_threads = True


def _serve(ports: multiprocessing.Queue[int]) -> None:
    httpd = Server(("127.0.0.1", 0), Handler)
    ports.put(httpd.server_address[1])
    httpd.serve_forever()


@contextmanager
def server() -> Iterator[int]:
    """The feed server in its own process, so its work does not share our GIL."""
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    process.start()
    try:
        yield ports.get(timeout=10)
    finally:
        process.terminate()
        process.join(5)


def config_with(base: Config, port: int, count: int) -> Config:
    campaign = NewsletterCampaign.model_validate(
        {
            "slug": "bench",
            "kind": "newsletter",
            "city": "vantaa",
            "languages": ["fi"],
            "schedule": {"day": 1, "hour": 9},
            "subject": {"fi": "Bench"},
            "sections": [
                {
                    "id": "news",
                    "kind": "news",
                    "title": {"fi": "Uutiset"},
                    "sources": [
                        {"type": "rss", "url": f"http://127.0.0.1:{port}/{n}.xml"}
                        for n in range(count)
                    ],
                }
            ],
        }
    )
    return Config(base.root, base.topics, base.cities, {"bench": campaign})


class ParseCounter:
    """Counts feedparser.parse calls made by the rss source."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.real = rss.feedparser.parse

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
        return self.real(*args, **kwargs)


def run(settings: Settings, config: Config, fetcher: Fetcher) -> tuple[float, list[str]]:
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        sync(session, config)
        session.commit()
        started = time.perf_counter()
        reports = ingest(session, settings, config, fetcher=fetcher)
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, [r.status for r in reports]


def main() -> int:
    base = load(ROOT / "campaigns")
    ok = True
    counter = ParseCounter()
    rss.feedparser.parse = counter  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp, server() as port:

        def settings(name: str) -> Settings:
            return Settings(
                database_url=f"sqlite:///{tmp}/{name}.db",
            )

        fetcher = Fetcher(settings("x"), allowed_networks=["127.0.0.1/32"])
        one, statuses = run(settings("one"), config_with(base, port, 1), fetcher)
        assert statuses == ["ok"], statuses
        many_settings = settings("many")
        many_config = config_with(base, port, SOURCES)
        every, statuses = run(many_settings, many_config, fetcher)
        assert statuses == ["ok"] * SOURCES, statuses
        ratio = every / one
        verdict = "OK" if ratio <= LIMIT else "TOO SLOW"
        ok &= ratio <= LIMIT
        print(
            f"fetch {SOURCES} sources: {ratio:.1f}x one source (limit {LIMIT:.0f}x) {verdict}"
            f"  [{every:.2f}s vs {one:.2f}s, {DELAY * 1000:.0f} ms per answer,"
            f" {WORKERS} workers]"
        )
        counter.calls = 0
        again, statuses = run(many_settings, many_config, fetcher)
        not_modified = statuses.count("not_modified")
        verdict = "OK" if not_modified == SOURCES and counter.calls == 0 else "FAILED"
        ok &= verdict == "OK"
        print(
            f"second run: {not_modified}/{SOURCES} answered 304, parsed {counter.calls}"
            f" (must parse 0) {verdict}  [{again:.2f}s]"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
