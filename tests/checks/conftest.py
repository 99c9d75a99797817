"""Fixtures of the pre-flight check tests: real HTTP servers on 127.0.0.1 under host
names of their own, a host that never answers, one that does not resolve, and issues
written as snapshots."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, sync
from outreach.issues.snapshot import SNAPSHOT_VERSION, city_snapshot
from outreach.models import Issue, IssueStatus
from outreach.settings import Settings
from tests.conftest import ROOT

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
#: Host names the tests give to 127.0.0.1 (the city's website, a host that never answers).
SITE = "www.vantaa.fi"
SILENT = "hidas.example"
OTHER = "muualla.example"
#: A host name that does not resolve (answered here, never asked of a DNS server).
NOWHERE = "ei-ole.example"


class Handler(BaseHTTPRequestHandler):
    """``/missing`` 404, ``/nohead`` refuses HEAD, ``/moved`` redirects to another host."""

    other_port = 0

    def _answer(self, body: bool) -> None:
        path = self.path.split("?")[0]
        if path == "/missing":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/nohead" and self.command == "HEAD":
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/moved":
            self.send_response(301)
            self.send_header("Location", f"http://{OTHER}:{self.other_port}/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = b"\x89PNG" + b"0" * 996 if path.endswith(".png") else b"<p>ok</p>"
        self.send_response(200)
        self.send_header("Content-Type", "image/png" if path.endswith(".png") else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Servers:
    port: int  # SITE and OTHER answer here
    silent_port: int  # SILENT accepts and never answers

    @property
    def site(self) -> str:
        return f"http://{SITE}:{self.port}/"

    @property
    def silent(self) -> str:
        return f"http://{SILENT}:{self.silent_port}/"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Handler.other_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])  # accepted, never answered
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    # the test host names resolve to 127.0.0.1 (only loopback is ever reached)
    guarded = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NOWHERE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host in (SITE, SILENT, OTHER):
            host = "127.0.0.1"
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield Servers(server.server_address[1], silent.getsockname()[1])
    stop.set()
    server.shutdown()
    server.server_close()
    silent.close()
    for conn in held:
        conn.close()


@pytest.fixture
def check_settings(settings: Settings, tmp_path: Path) -> Settings:
    """DKIM for vantaa.fi, the test hosts allowed past the fetch guard, a 3 s link limit."""
    key = tmp_path / "dkim.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    return settings.model_copy(
        update={
            "dkim_selector": "s2026",
            "dkim_domain": "vantaa.fi",
            "dkim_key_file": key,
            "fetch_allowed_hosts": [SITE, SILENT, OTHER],
            "check_link_seconds": 3.0,
            "templates_dir": templates,
        }
    )


@pytest.fixture
def config(check_settings: Settings, servers: Servers) -> Config:
    """The shipped campaigns; Vantaa's website is the local server, approvers set."""
    config = load(check_settings.campaigns_path, check_settings.templates_path)
    city = config.cities["vantaa"]
    footer = city.footer.model_copy(update={"website": servers.site})
    config.cities["vantaa"] = city.model_copy(
        update={"footer": footer, "approvers": ["viestinta@vantaa.fi"]}
    )
    return config


def entry(title: str, url: str = "", **fields: Any) -> dict[str, Any]:
    return {
        "id": abs(hash(title)) % 100000,
        "kind": "news",
        "title": title,
        "summary": f"{title}: lyhyt kuvaus.",
        "language": "fi",
        "fallback": False,
        "url": url,
        "image_url": None,
        "published_at": "2026-11-20T08:00:00+00:00",
        "starts_at": None,
        "ends_at": None,
        "all_day": False,
        "ends_date_only": False,
        "location": None,
        "online_url": None,
        "is_online": False,
        "price": None,
        "event_status": None,
        "also_starts": [],
        "company": "",
        **fields,
    }


def make_issue(
    session: Session,
    config: Config,
    entries: dict[str, list[dict[str, Any]]],
    *,
    intro: dict[str, str] | None = None,
    period: str = "2026-12",
) -> Issue:
    """A draft of vantaa-monthly whose news section holds ``entries`` per language."""
    rows = sync(session, config)
    campaign = config.campaign("vantaa-monthly")
    city = config.cities["vantaa"]
    languages = {}
    for lang in campaign.languages:
        languages[lang] = {
            "period_label": {"fi": "joulukuu 2026", "sv": "december 2026"}[lang],
            "subject": {
                "fi": "Vantaan yritysten ilmastouutiset joulukuu 2026",
                "sv": "Klimatnytt för företag i Vanda december 2026",
            }[lang],
            "preheader": {
                "fi": "Kaupungin ilmastotyö ja koulutukset",
                "sv": "Stadens klimatarbete och utbildningar",
            }[lang],
            "city": city_snapshot(city, lang),
            "title": campaign.title[lang],
            "intro": (intro or {}).get(lang, ""),
            "sections": [
                {
                    "id": "news",
                    "kind": "news",
                    "title": {"fi": "Kaupungin ilmastotyö", "sv": "Stadens klimatarbete"}[lang],
                    "intro": "",
                    "entries": entries.get(lang, []),
                }
            ],
        }
    snapshot = {
        "version": SNAPSHOT_VERSION,
        "kind": "newsletter",
        "campaign": "vantaa-monthly",
        "city": "vantaa",
        "template": "newsletter",
        "period": period,
        "number": 1,
        "built_at": NOW.isoformat(),
        "languages": languages,
    }
    issue = Issue(
        campaign_id=rows["vantaa-monthly"].id,
        period=period,
        status=IssueStatus.DRAFT,
        snapshot=snapshot,
        built_at=NOW,
    )
    session.add(issue)
    session.flush()
    return issue
