"""A world whose sources change between fetches, and whose clock moves.

:class:`ChangingServer` is a real HTTP server on 127.0.0.1 (reached as the
allowed intranet host ``feeds.test``) whose answers the test sets per path
and replaces between fetches; it honours If-None-Match with 304. :class:`World`
holds a campaigns folder written for the test (two cities' campaigns may share
a source), a database session, and fetch / build / approve at a given time.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, sync
from outreach.issues import BuildResult, build_issue
from outreach.models import ContentItem, Issue
from outreach.settings import Settings
from outreach.sources.fetch import Fetcher
from outreach.sources.ingest import SourceReport, ingest
from tests.conftest import ROOT
from tests.sources.conftest import NAMED_HOST


class ChangingServer:
    """Answers ``bodies[path]`` (ETag: a hash of it; 304 when the client has it)."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                state.hits[path] += 1
                body, ctype = state.bodies.get(path, (b"", ""))
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if not ctype:
                        self._answer(404, b"no such path", "text/plain", etag)
                    elif self.headers.get("If-None-Match") == etag:
                        state.not_modified[path] += 1
                        self._answer(304, b"", ctype, etag)
                    else:
                        self._answer(200, body, ctype, etag)

            def _answer(self, code: int, body: bytes, ctype: str, etag: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{NAMED_HOST}:{self.port}{path}"

    def set(self, path: str, body: str | bytes, ctype: str = "text/calendar") -> None:
        self.bodies[path] = (body.encode() if isinstance(body, str) else body, ctype)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def newsletter(
    slug: str, city: str, sections: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """A minimal newsletter campaign file (Finnish only)."""
    for section in sections:
        section.setdefault("title", {"fi": section["id"]})
    return {
        "slug": slug,
        "kind": "newsletter",
        "city": city,
        "languages": ["fi"],
        "schedule": {"day": 1, "hour": 9},
        "subject": {"fi": "Uutiskirje {{ issue.period_label }}"},
        "sections": sections,
        **extra,
    }


class World:
    """Campaign files, a database and the sources, at a clock the test moves."""

    def __init__(
        self, root: Path, session: Session, settings: Settings, server: ChangingServer
    ) -> None:
        self.root = root
        self.session = session
        self.settings = settings
        self.server = server
        self.fetcher = Fetcher(settings, backoff=0.01)
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "campaigns" / "cities.yaml", root / "cities.yaml")
        self.config: Config | None = None

    def campaigns(
        self, *files: dict[str, Any], approvers: dict[str, list[str]] | None = None
    ) -> Config:
        for path in self.root.glob("*.yaml"):
            if path.name != "cities.yaml":
                path.unlink()
        if approvers:
            cities = yaml.safe_load((ROOT / "campaigns" / "cities.yaml").read_text())
            for city in cities["cities"]:
                city["approvers"] = approvers.get(city["slug"], [])
            (self.root / "cities.yaml").write_text(yaml.safe_dump(cities, allow_unicode=True))
        for data in files:
            (self.root / f"{data['slug']}.yaml").write_text(
                yaml.safe_dump(data, allow_unicode=True)
            )
        self.config = load(self.root)
        sync(self.session, self.config)
        self.session.commit()
        return self.config

    def fetch(self, now: datetime, *slugs: str) -> list[SourceReport]:
        assert self.config is not None
        chosen = list(slugs) if slugs else None
        return ingest(
            self.session, self.settings, self.config, chosen, now=now, fetcher=self.fetcher
        )

    def build(self, slug: str, now: datetime, period: str | None = None) -> BuildResult:
        assert self.config is not None
        result = build_issue(self.session, self.settings, self.config, slug, period=period, now=now)
        self.session.commit()
        return result

    def items(self, **where: Any) -> list[ContentItem]:
        query = select(ContentItem).filter_by(**where).order_by(ContentItem.id)
        return list(self.session.scalars(query))


def entries(issue: Issue, section: str, lang: str = "fi") -> list[dict[str, Any]]:
    sections = issue.snapshot["languages"][lang]["sections"]
    found: list[dict[str, Any]] = next(s for s in sections if s["id"] == section)["entries"]
    return found


def titles(issue: Issue, section: str, lang: str = "fi") -> list[str]:
    return [str(e["title"]) for e in entries(issue, section, lang)]


def calendar(*events: str) -> str:
    """A VCALENDAR around VEVENT bodies (each without BEGIN/END lines)."""
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"
