"""Fixtures of the delivery tests: a scripted aiosmtpd server, a provider API
server, a populated outbox world and a stand-in for the render stage."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.delivery import send as worker
from outreach.models import (
    Campaign,
    City,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.delivery.stand_in import FakeRendered as FakeRendered
from tests.delivery.stand_in import fake_render


@pytest.fixture(autouse=True)
def _fake_render(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed, known body keeps delivery's assertions independent of the templates.
    monkeypatch.setattr(worker, "render", fake_render)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PipeliningOffer:
    """An aiosmtpd handler's EHLO hook: with ``pipelining`` set, the reply offers
    PIPELINING (RFC 2920), as Postfix's does; aiosmtpd itself never offers it."""

    pipelining = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses


class ScriptedHandler(PipeliningOffer):
    """Answers per recipient from a script: each attempt pops the next action.

    Actions: ``421``/``451``/``550`` at RCPT, ``drop`` (close at RCPT),
    ``drop-data`` (close after the data arrived, without keeping it),
    ``554-data`` (refuse at DATA). An empty script accepts.

    With ``hold_after`` set, every message that arrives once that many were
    received waits, its data and final dot in, before the server answers it (in
    flight: the client waits for the reply) until :meth:`release`;
    ``holding`` counts the connections waiting so.
    """

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = defaultdict(list)
        self.received: list[tuple[str, bytes]] = []
        self.envelopes: list[str] = []
        self.delay = 0.0
        self.sender_refusal = ""  # a reply to MAIL FROM instead of 250
        self._data_action: dict[int, str] = {}
        self.hold_after: int | None = None
        self.holding = 0
        self._released = threading.Event()

    def release(self) -> None:
        """Answer the messages held, and hold no more."""
        self._released.set()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        if self.sender_refusal:
            return self.sender_refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def on(self, address: str, *actions: str) -> None:
        self.script[address].extend(actions)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = defaultdict(int)
        for rcpt, _ in self.received:
            result[rcpt] += 1
        return dict(result)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        actions = self.script.get(address)
        action = actions.pop(0) if actions else ""
        if action == "421":
            return "421 4.3.2 service shutting down"
        if action == "451":
            return "451 4.7.1 greylisted, try again"
        if action == "550":
            return "550 5.1.1 no such mailbox"
        if action == "drop":
            server.transport.close()
            return "250 OK"
        if action in ("drop-data", "554-data"):
            self._data_action[id(envelope)] = action
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        action = self._data_action.pop(id(envelope), "")
        if action == "554-data":
            return "554 5.6.0 message refused"
        if action == "drop-data":
            server.transport.close()
            return "250 OK"
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold_after is not None and len(self.received) >= self.hold_after:
            self.holding += 1
            while not self._released.is_set():
                await asyncio.sleep(0.01)
            self.holding -= 1
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, envelope.original_content or envelope.content))
        self.envelopes.append(envelope.mail_from)
        return "250 2.0.0 OK queued"


@dataclass
class SMTPServer:
    handler: ScriptedHandler
    port: int

    def url(self, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"starttls": "false", **options}.items())
        return f"smtp://127.0.0.1:{self.port}?{query}"


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SMTPServer(handler, port)
    finally:
        controller.stop()


@dataclass
class ProviderServer:
    """A local stand-in for Mailgun's messages.mime endpoint."""

    port: int
    received: list[tuple[str, bytes]] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    auth: list[str] = field(default_factory=list)

    def url(self, key: str = "key-123", domain: str = "mg.example.org") -> str:
        return f"mailgun://{key}@{domain}?base_url=http://127.0.0.1:{self.port}"


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """multipart/form-data fields by name, bodies kept byte for byte."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        fields[name] = value[:-2]  # the CRLF before the next boundary
    return fields


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    state = ProviderServer(0)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fields = parse_form(self.headers["Content-Type"], body)
            to = fields.get("to", b"").decode()
            state.auth.append(self.headers.get("Authorization", ""))
            steps = state.script.get(to)
            code, headers = steps.pop(0) if steps else (200, {})
            if code == 200 and self.path.endswith("/messages.mime"):
                state.received.append((to, fields["message"]))
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            reply = b'{"id": "<x@mg>", "message": "Queued. Thank you."}'
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


CAMPAIGN = """\
slug: vantaa-monthly
kind: announcement
city: vantaa
languages: [fi, sv]
send_at: 2026-12-01T09:00:00
subject: {fi: "Ilmastouutiset", sv: "Klimatnytt"}
body: {fi: body.fi.md, sv: body.sv.md}
audience: {topics: [climate]}
"""


def write_campaigns(root: Path) -> Path:
    """The shipped cities plus one two-language campaign that needs no source plug-ins."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cities.yaml").write_text((ROOT / "campaigns" / "cities.yaml").read_text())
    (root / "vantaa-monthly.yaml").write_text(CAMPAIGN)
    (root / "body.fi.md").write_text("Hei")
    (root / "body.sv.md").write_text("Hej")
    return root


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load(write_campaigns(tmp_path / "campaigns"))


@dataclass
class World:
    settings: Settings
    config: Config
    engine: Engine
    issue_id: int
    city_id: int
    emails: list[str]

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


def populate(
    session: Session,
    n: int,
    *,
    city_slug: str = "vantaa",
    campaign_slug: str = "vantaa-monthly",
    status: IssueStatus = IssueStatus.APPROVED,
    topics: list[str] | None = None,
) -> tuple[int, int, list[str]]:
    city = City(slug=city_slug, names={"fi": city_slug}, languages=["fi", "sv"])
    session.add(city)
    session.flush()
    campaign = Campaign(slug=campaign_slug, city_id=city.id, kind="newsletter")
    session.add(campaign)
    session.flush()
    emails = [f"user{i}@example.fi" for i in range(n)]
    session.add_all(
        Subscriber(
            email=e, language="sv" if i % 3 == 0 else "fi", contact_name=f"Yhteyshenkilö {i}"
        )
        for i, e in enumerate(emails)
    )
    session.flush()
    ids = dict(session.query(Subscriber.email, Subscriber.id).all())
    session.add_all(
        Subscription(
            subscriber_id=ids[e],
            city_id=city.id,
            topics=topics if topics is not None else ["climate"],
            status=SubscriptionStatus.CONFIRMED,
            token_salt=f"salt{i:028d}",
        )
        for i, e in enumerate(emails)
    )
    issue = Issue(campaign_id=campaign.id, period="2026-11", status=status)
    session.add(issue)
    session.commit()
    return issue.id, city.id, emails


def _world_maker(settings: Settings, engine: Engine, config: Config) -> Any:
    def make(n: int = 10, mail_url: str = "memory:", **kwargs: Any) -> World:
        s = settings.model_copy(update={"mail_url": mail_url})
        with Session(engine, expire_on_commit=False) as session:
            issue_id, city_id, emails = populate(session, n, **kwargs)
        return World(s, config, engine, issue_id, city_id, emails)

    return make


@pytest.fixture
def world_factory(settings: Settings, engine: Engine, config: Config) -> Iterator[Any]:
    yield _world_maker(settings, engine, config)


@pytest.fixture
def db_world_factory(db_settings: Settings, db_engine: Engine, config: Config) -> Iterator[Any]:
    """``world_factory`` on SQLite and on PostgreSQL (``db_url``)."""
    yield _world_maker(db_settings, db_engine, config)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    from outreach import db
    from outreach.delivery.backends import memory

    memory.clear()
    yield
    db.dispose_engines()
    memory.clear()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (needs the openssl tool)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == b"outreach" and auth_data.password == b"s3cret:/@"
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


@pytest.fixture(params=["starttls", "smtps"])
def tls_smtp_server(
    request: pytest.FixtureRequest, tls_files: tuple[Path, Path]
) -> Iterator[tuple[str, ScriptedHandler]]:
    """An aiosmtpd server that requires TLS and a login; yields (URL without user, handler)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    handler = ScriptedHandler()
    port = free_port()
    common: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
    if request.param == "smtps":
        # aiosmtpd counts only STARTTLS as TLS for AUTH (and warns when AUTH is required
        # without it); this connection is TLS throughout, and our client logs in anyway.
        common.update(auth_require_tls=False, auth_required=False)
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=context, **common
        )
        url = f"smtps://{{user}}127.0.0.1:{port}?verify=false"
    else:
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            **common,
        )
        url = f"smtp://{{user}}127.0.0.1:{port}?verify=false"
    controller.start()
    try:
        yield url, handler
    finally:
        controller.stop()
