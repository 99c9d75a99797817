"""Every backend passes the same tests (one parametrised fixture), then each
backend's own behaviour: SMTP replies and drops, the provider's HTTP answers,
the registry's errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from outreach.campaigns import Sender
from outreach.delivery.backends import get_backend, known_schemes
from outreach.delivery.backends import memory as memory_backend
from outreach.delivery.backends.base import MailBackend, OutgoingMessage
from outreach.delivery.backends.mailgun import retry_after_seconds
from outreach.delivery.message import MessageTemplate, Recipient
from outreach.errors import (
    ConfigError,
    TemporaryDeliveryError,
    UnknownPluginError,
    UnsupportedFeature,
)
from tests.delivery.conftest import FakeRendered, ProviderServer, SMTPServer

SENDER = Sender(name={"fi": "Vantaan kaupunki"}, address="ilmasto@vantaa.fi")
RENDERED = FakeRendered("fi", "Aihe ä", "", "<p>Hei@@CONTACT_NAME@@</p>", "Hei@@CONTACT_NAME@@")


def message(to: str, n: int = 0) -> OutgoingMessage:
    template = MessageTemplate(SENDER, "fi", RENDERED, list_id="<l.vantaa.outreach>")
    return template.fill(
        Recipient(
            to,
            f"<m{n}.{to.replace('@', '.')}@vantaa.fi>",
            "https://x/unsubscribe/t",
            "https://x/p/t",
            "Ö",
        )
    )


@dataclass
class Kit:
    url: str
    delivered: Callable[[], list[tuple[str, bytes]]]


@pytest.fixture(params=["memory", "file", "smtp", "mailgun"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    name = request.param
    if name == "memory":
        yield Kit("memory:", lambda: [(m.recipients[0], m.data) for m in memory_backend.outbox])
    elif name == "file":
        folder = tmp_path / "out"

        def files() -> list[tuple[str, bytes]]:
            out = []
            for p in sorted(folder.glob("*.eml")):
                data = p.read_bytes()
                out.append((str(message_from_bytes(data, policy=policy.default)["To"]), data))
            return out

        yield Kit(f"file://{folder}", files)
    elif name == "smtp":
        server: SMTPServer = request.getfixturevalue("smtp_server")
        yield Kit(server.url(), lambda: list(server.handler.received))
    else:
        provider: ProviderServer = request.getfixturevalue("provider_server")
        yield Kit(provider.url(), lambda: list(provider.received))


class TestEveryBackend:
    def test_sends_each_message_once_and_intact(self, kit: Kit) -> None:
        messages = [message(f"r{i}@example.fi", i) for i in range(3)]
        with get_backend(kit.url) as backend:
            results = backend.send_messages(messages)
            results += backend.send_messages([message("r9@example.fi", 9)])
        assert [r.status for r in results] == ["sent"] * 4
        got = sorted(kit.delivered())
        assert [to for to, _ in got] == [
            "r0@example.fi",
            "r1@example.fi",
            "r2@example.fi",
            "r9@example.fi",
        ]
        parsed = message_from_bytes(got[0][1], policy=policy.default)
        assert parsed["Subject"] == "Aihe ä"
        assert parsed.get_body(("plain",)).get_content().strip() == "Hei Ö"

    def test_open_says_whether_it_opened(self, kit: Kit, request: pytest.FixtureRequest) -> None:
        """Django's rule: open() is True only when it opened a connection, so a send
        closes only what it opened. The memory and file backends hold none."""
        connects = request.node.callspec.params["kit"] in ("smtp", "mailgun")
        backend = get_backend(kit.url)
        assert backend.open() is connects
        assert backend.open() is False  # already open
        backend.close()
        backend.close()  # closing twice is harmless
        assert backend.open() is connects  # closed, so opened again
        backend.close()

    def test_unknown_option_is_refused(self, kit: Kit) -> None:
        sep = "&" if "?" in kit.url else "?"
        with pytest.raises(UnsupportedFeature, match='does not support the option "frobnicate"'):
            get_backend(kit.url + sep + "frobnicate=1")


def test_unknown_scheme_lists_known() -> None:
    with pytest.raises(UnknownPluginError) as err:
        get_backend("carrier-pigeon://coop")
    assert "smtp" in str(err.value) and "memory" in str(err.value)
    assert {"smtp", "smtps", "file", "console", "memory", "mailgun"} <= set(known_schemes())


def test_console_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with get_backend("console:") as backend:
        [result] = backend.send_messages([message("a@example.fi")])
    assert result.status == "sent"
    assert "To: a@example.fi" in capsys.readouterr().out


def test_memory_surfaces_header_errors() -> None:
    bad = OutgoingMessage("a@b.fi", ["c@d.fi"], b"From: <<<\r\nTo: c@d.fi\r\n\r\nx\r\n", "<x@b>")
    [result] = get_backend("memory:").send_messages([bad])
    assert result.status == "permanent" and "malformed" in (result.reply or "")


def test_file_backend_is_atomic_and_named_by_message_id(tmp_path: Path) -> None:
    with get_backend(f"file://{tmp_path}/o") as backend:
        backend.send_messages([message("a@example.fi", 1), message("a@example.fi", 1)])
    names = [p.name for p in (tmp_path / "o").iterdir()]
    assert names == ["m1.a.example.fi@vantaa.fi.eml"]  # a retry overwrites, no temp left


def test_file_backend_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with get_backend("file://var/outbox") as backend:
        backend.send_messages([message("a@example.fi")])
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 1


# -- SMTP ---------------------------------------------------------------------


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
def test_smtp_replies_map_to_outcomes(smtp_server: SMTPServer, pipelining: bool) -> None:
    h = smtp_server.handler
    h.pipelining = pipelining
    h.on("greylist@example.fi", "451")
    h.on("gone@example.fi", "550")
    h.on("busy@example.fi", "421")
    h.on("refused@example.fi", "554-data")
    h.on("dropped@example.fi", "drop")
    h.on("lost@example.fi", "drop-data")
    names = ["ok1", "greylist", "gone", "busy", "ok2", "refused", "dropped", "lost", "ok3"]
    with get_backend(smtp_server.url()) as backend:
        results = backend.send_messages([message(f"{n}@example.fi") for n in names])
    statuses = dict(zip(names, [r.status for r in results], strict=True))
    assert statuses == {
        "ok1": "sent",
        "greylist": "temporary",
        "gone": "permanent",
        "busy": "temporary",
        "ok2": "sent",  # reconnected after the 421
        "refused": "permanent",
        "dropped": "temporary",
        "lost": "temporary",
        "ok3": "sent",  # reconnected after the drops
    }
    assert results[2].reply is not None and results[2].reply.startswith("550")
    assert sorted(h.counts()) == ["ok1@example.fi", "ok2@example.fi", "ok3@example.fi"]


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
def test_smtp_refused_sender_is_temporary_and_the_connection_stays_usable(
    smtp_server: SMTPServer, pipelining: bool
) -> None:
    """A 5xx to MAIL FROM refuses our sender: temporary, nothing delivered; the
    replies to a pipelined RCPT and DATA are read, so the next message on the
    same connection gets its own replies."""
    h = smtp_server.handler
    h.pipelining = pipelining
    with get_backend(smtp_server.url()) as backend:
        h.sender_refusal = "550 5.7.1 SPF check failed"
        [refused] = backend.send_messages([message("a@example.fi")])
        h.sender_refusal = ""
        [after] = backend.send_messages([message("b@example.fi", 1)])
        assert backend.open() is False  # still the first connection
    assert refused.status == "temporary"
    assert refused.reply == "sender refused: 550 5.7.1 SPF check failed"
    assert after.status == "sent"
    assert h.counts() == {"b@example.fi": 1}


def _lockstep_refusing_server(listener: socket.socket, seen: list[bytes]) -> None:
    """A server that offers PIPELINING and answers MAIL only once RCPT and DATA
    have arrived with it: a client that waits for each reply gets a 421."""
    listener.settimeout(10)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5)
        reader = conn.makefile("rb")
        conn.sendall(b"220 test ESMTP\r\n")
        reader.readline()  # EHLO
        conn.sendall(b"250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        conn.settimeout(1)
        envelope = b""
        try:
            while not envelope.upper().endswith(b"DATA\r\n"):
                envelope += reader.readline()
        except TimeoutError:
            seen.append(envelope)
            conn.sendall(b"421 4.4.2 send the envelope in one go\r\n")
            return
        seen.append(envelope)
        conn.sendall(b"250 ok\r\n250 ok\r\n354 go on\r\n")
        body = b""
        while not body.endswith(b"\r\n.\r\n"):
            body += reader.readline()
        conn.sendall(b"250 2.0.0 queued\r\n")
        if reader.readline().upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")


def test_smtp_sends_the_envelope_in_one_write_where_pipelining_is_offered() -> None:
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        server = threading.Thread(target=_lockstep_refusing_server, args=(listener, seen))
        server.start()
        with get_backend(f"smtp://127.0.0.1:{port}?starttls=false&timeout=5") as backend:
            [result] = backend.send_messages([message("a@example.fi")])
        server.join(10)
    assert result.status == "sent", result
    [envelope] = seen
    assert envelope.upper().split(b"\r\n")[:-1] == [
        b"MAIL FROM:<ILMASTO@VANTAA.FI>",
        b"RCPT TO:<A@EXAMPLE.FI>",
        b"DATA",
    ]


class _LineReader:
    """A server's lines from a socket, with a timeout per line; None when it ran out."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def line(self, timeout: float = 5.0) -> bytes | None:
        self.conn.settimeout(timeout)
        while b"\r\n" not in self.buffer:
            try:
                data = self.conn.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return b""
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line + b"\r\n"


def _next_envelope_server(
    listener: socket.socket, seen: list[bytes], dot_reply: bytes, close: bool
) -> None:
    """A server that offers PIPELINING and answers a message's final dot only
    once it has read what came with it (waiting one second at most), which it
    keeps in ``seen``. The first message's dot gets ``dot_reply`` (none if
    empty); with ``close`` the first connection then ends, and a second one
    takes one message."""
    listener.settimeout(10)
    for n in range(2 if close else 1):
        conn, _ = listener.accept()
        with conn:
            lines = _LineReader(conn)
            conn.sendall(b"220 test ESMTP\r\n")
            lines.line()  # EHLO
            conn.sendall(b"250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            envelope = True
            while envelope:
                while (line := lines.line()) and not line.upper().startswith(b"DATA"):
                    pass
                conn.sendall(b"250 ok\r\n250 ok\r\n354 go on\r\n")
                while lines.line() not in (b".\r\n", b"", None):
                    pass
                behind = b""
                while (line := lines.line(1.0)) and not line.upper().startswith(b"QUIT"):
                    behind += line
                    if line.upper().startswith(b"DATA"):
                        break
                seen.append(behind)
                if n == 0 and (close or dot_reply != b"250 2.0.0 queued\r\n"):
                    conn.sendall(dot_reply)
                    break
                conn.sendall(b"250 2.0.0 queued\r\n")
                envelope = bool(behind)
            if not close and lines.line() is not None:
                conn.sendall(b"221 bye\r\n")


def _serve(dot_reply: bytes, close: bool) -> tuple[Iterator[int], list[bytes]]:
    seen: list[bytes] = []

    def run() -> Iterator[int]:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            server = threading.Thread(
                target=_next_envelope_server, args=(listener, seen, dot_reply, close)
            )
            server.start()
            try:
                yield listener.getsockname()[1]
            finally:
                server.join(15)

    return run(), seen


def test_smtp_sends_the_next_envelope_with_the_body_where_pipelining_is_offered() -> None:
    """Two messages on one connection: the second's envelope goes out in the same
    write as the first's body and dot, before the server has answered the dot."""
    ports, seen = _serve(b"250 2.0.0 queued\r\n", close=False)
    port = next(ports)
    with get_backend(f"smtp://127.0.0.1:{port}?starttls=false&timeout=5") as backend:
        results = backend.send_messages([message("a@example.fi"), message("b@example.fi", 1)])
    next(ports, None)
    assert [r.status for r in results] == ["sent", "sent"], results
    assert [b.upper().split(b"\r\n")[:-1] for b in seen] == [
        [b"MAIL FROM:<ILMASTO@VANTAA.FI>", b"RCPT TO:<B@EXAMPLE.FI>", b"DATA"],
        [],  # the last message: nothing behind it
    ]


@pytest.mark.parametrize(
    ("dot_reply", "first"),
    [
        (b"250 2.0.0 queued\r\n", "sent"),
        (b"421 4.4.2 closing\r\n", "temporary"),
        (b"", "temporary"),  # no answer to the dot: its fate is unknown
    ],
    ids=["closed-after-250", "closed-with-421", "closed-unanswered"],
)
def test_smtp_next_envelope_lost_with_the_connection_is_sent_afresh(
    dot_reply: bytes, first: str
) -> None:
    """The server ends the connection after the first message: the envelope sent
    ahead of the second was never answered, so the second goes out on a new
    connection at once, not as a temporary failure."""
    ports, seen = _serve(dot_reply, close=True)
    port = next(ports)
    with get_backend(f"smtp://127.0.0.1:{port}?starttls=false&timeout=5") as backend:
        results = backend.send_messages([message("a@example.fi"), message("b@example.fi", 1)])
    next(ports, None)
    assert [r.status for r in results] == [first, "sent"], results
    assert len(seen) == 2 and seen[0].upper().startswith(b"MAIL FROM:"), seen


@pytest.mark.parametrize("ending", ["another-message", "close"])
def test_smtp_envelope_sent_ahead_is_never_handed_over_unless_sent(
    smtp_server: SMTPServer, ending: str
) -> None:
    """The caller named a following message, then sent another one, or none: the
    envelope sent ahead is ended by closing the connection, and that message
    never reaches the server; the other one is sent on a new connection."""
    h = smtp_server.handler
    h.pipelining = True
    ready_calls: list[str] = []
    with get_backend(smtp_server.url()) as backend:
        first = backend.send_one(
            message("a@example.fi"), lambda: ready_calls.append("a"), message("b@example.fi", 1)
        )
        assert backend.ahead is not None
        if ending == "another-message":
            other = backend.send_one(message("c@example.fi", 2), lambda: ready_calls.append("c"))
            assert other.status == "sent"
            assert backend.open() is False  # the new connection stays
    assert first.status == "sent"
    assert backend.ahead is None and backend.connection is None
    expected = ["a@example.fi", "c@example.fi"] if ending == "another-message" else ["a@example.fi"]
    assert sorted(h.counts()) == expected
    assert ready_calls == [a[0] for a in expected]


def test_smtp_requires_starttls_unless_turned_off(smtp_server: SMTPServer) -> None:
    backend = get_backend(f"smtp://127.0.0.1:{smtp_server.port}")
    with pytest.raises(ConfigError, match="does not offer STARTTLS"):
        backend.open()


def test_smtp_unreachable_is_temporary() -> None:
    from tests.delivery.conftest import free_port

    backend = get_backend(f"smtp://127.0.0.1:{free_port()}?starttls=false&timeout=2")
    [result] = backend.send_messages([message("a@example.fi")])
    assert result.status == "temporary" and "cannot connect" in (result.reply or "")


def test_smtp_timeout_is_temporary_and_the_next_message_reconnects(
    smtp_server: SMTPServer,
) -> None:
    """A server that answers DATA later than ``timeout``: the message is a temporary
    failure saying so (the kernel keeps a plain connection's timeout), the next one
    goes out on a new connection."""
    smtp_server.handler.delay = 2.0
    with get_backend(smtp_server.url(timeout="0.3")) as backend:
        [slow] = backend.send_messages([message("slow@example.fi")])
        smtp_server.handler.delay = 0.0
        [after] = backend.send_messages([message("after@example.fi")])
    assert slow.status == "temporary" and "timed out" in (slow.reply or ""), slow
    assert after.status == "sent"


def test_smtp_bad_option_values() -> None:
    with pytest.raises(ConfigError, match="expected"):
        get_backend("smtp://127.0.0.1:25?starttls=maybe")
    with pytest.raises(ConfigError, match="TLS already"):
        get_backend("smtps://127.0.0.1:465?starttls=true")


# -- Mailgun --------------------------------------------------------------------


def test_provider_statuses_and_retry_after(provider_server: ProviderServer) -> None:
    provider_server.script = {
        "slow@example.fi": [(429, {"Retry-After": "120"})],
        "bad@example.fi": [(400, {})],
        "down@example.fi": [(503, {})],
    }
    with get_backend(provider_server.url()) as backend:
        a = backend.send_messages([message("ok@example.fi"), message("bad@example.fi")])
        b = backend.send_messages([message("down@example.fi")])
        c = backend.send_messages([message("slow@example.fi"), message("never@example.fi")])
    assert [r.status for r in a] == ["sent", "permanent"]
    assert b[0].status == "temporary" and b[0].retry_after is None
    assert [(r.status, r.retry_after) for r in c] == [("temporary", 120.0), ("temporary", 120.0)]
    assert [to for to, _ in provider_server.received] == ["ok@example.fi"]
    assert provider_server.auth[0].startswith("Basic ")


def test_provider_bad_key_is_a_config_error(provider_server: ProviderServer) -> None:
    provider_server.script = {"a@example.fi": [(401, {})]}
    with get_backend(provider_server.url()) as backend, pytest.raises(ConfigError, match="API key"):
        backend.send_messages([message("a@example.fi")])


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None


def test_entry_point_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from outreach.delivery import backends

    class Pigeon(MailBackend):
        scheme = "pigeon"

    monkeypatch.setattr(
        backends.BACKENDS, "plugins", lambda: {"pigeon": "tests.delivery.test_backends:PIGEON"}
    )
    monkeypatch.setattr("tests.delivery.test_backends.PIGEON", Pigeon, raising=False)
    assert isinstance(get_backend("pigeon:"), Pigeon)
    monkeypatch.setattr("tests.delivery.test_backends.PIGEON", object, raising=False)
    with pytest.raises(ConfigError, match="is not a MailBackend"):
        get_backend("pigeon:")


def test_smtp_tls_and_login(tls_smtp_server: tuple[str, Any]) -> None:
    from urllib.parse import quote

    url, handler = tls_smtp_server
    good = url.format(user=f"outreach:{quote('s3cret:/@', safe='')}@")
    with get_backend(good) as backend:
        [result] = backend.send_messages([message("a@example.fi")])
    assert result.status == "sent" and list(handler.counts()) == ["a@example.fi"]
    with pytest.raises(ConfigError, match="refused the login"):
        get_backend(url.format(user="outreach:wrong@")).open()
    # The self-signed certificate is refused unless verify=false.
    strict = good.replace("?verify=false", "")
    with pytest.raises(TemporaryDeliveryError, match="cannot connect"):
        get_backend(strict).open()
