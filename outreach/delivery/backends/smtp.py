"""``smtp://user:pass@host:587`` and ``smtps://user:pass@host:465`` over :mod:`smtplib`.

- ``smtp://`` requires STARTTLS unless the URL says ``starttls=false``;
  ``smtps://`` is TLS from the first byte. ``verify=false`` skips certificate
  checks (a local relay with a self-signed certificate), ``timeout`` is in
  seconds (default 30).
- One connection is opened and reused for every message; when the server
  drops it (or answers 421) the next message reconnects. Where the server
  offers PIPELINING (RFC 2920), each message's envelope (MAIL, RCPT, DATA)
  goes out in one write, and when the caller names the message that follows
  (``send_one``'s ``following``; ``send_messages`` does for its list), that
  message's envelope goes out in the same write as this one's body and final
  dot (RFC 2920 3.1: message content may start a group): one round trip a
  message instead of two. Nothing of the next message is handed over before
  its own body; if the caller then sends another message instead, or stops,
  the connection is closed, which ends the open transaction.
- Outcomes: 2xx sent; 4xx and a dropped connection temporary; 5xx at RCPT or
  DATA permanent. A 5xx to MAIL FROM refuses *our* sender, not the recipient,
  so it is reported as temporary and never suppresses the address.
"""

from __future__ import annotations

import contextlib
import io
import re
import smtplib
import socket
import ssl
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, unquote

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.errors import ConfigError, TemporaryDeliveryError, msg

_DOT = re.compile(rb"(?m)^\.")  # a line that starts with a dot gets another (RFC 5321 4.5.2)
# A plain ASCII addr-spec, as the product's own checks let through: its path is
# itself in angle brackets; anything else goes through smtplib.quoteaddr.
_PLAIN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _path(address: str) -> str:
    """``<address>`` for MAIL FROM and RCPT TO (smtplib.quoteaddr parses every time)."""
    return f"<{address}>" if _PLAIN.fullmatch(address) else smtplib.quoteaddr(address)


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {body}".strip()


def _status(code: int) -> str:
    return "permanent" if 500 <= code < 600 else "temporary"


def _nothing() -> None:
    return None


def _abandon(conn: smtplib.SMTP, code: int) -> None:
    """After a refusal: close on 421 (the server is going away), else reset the transaction."""
    if code == 421:
        conn.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        conn.rset()  # if the server has gone, the refusal is still the answer


class _Replies(io.RawIOBase):
    """The reading side of a plain connection whose timeout the kernel keeps
    (``SO_RCVTIMEO``): a read that runs out of time raises ``TimeoutError``, as
    a socket with a Python timeout does."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self.sock.recv_into(buffer)
        except BlockingIOError:  # SO_RCVTIMEO ran out
            raise TimeoutError("timed out") from None


def _kernel_timeouts(conn: smtplib.SMTP, seconds: float) -> None:
    """Make a plain connection's socket blocking, its timeout kept by the kernel.

    A socket with a Python timeout polls before every send and every read
    (two system calls, and the GIL let go twice, for one); a message takes
    about ten of each. With ``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` a send or a
    read that makes no progress for ``seconds`` fails as before; smtplib's
    reply reader is replaced by one that raises ``TimeoutError`` then. Not for
    TLS, whose reads retry when the kernel's timeout runs out.
    """
    sock = conn.sock
    assert sock is not None
    whole = int(seconds)
    limit = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
    sock.settimeout(None)
    old, conn.file = conn.file, io.BufferedReader(_Replies(sock))
    if old is not None:
        old.close()


class SMTPBackend(MailBackend):
    scheme = "smtp"
    options = frozenset({"starttls", "timeout", "verify"})

    def __init__(self, url: SplitResult, params: Mapping[str, str]) -> None:
        super().__init__(url, params)
        self.ssl_on_connect = url.scheme.lower() == "smtps"
        if not url.hostname:
            raise ConfigError(
                msg("{scheme} mail URL needs a host, e.g. smtp://mail.example.org"),
                scheme=url.scheme,
            )
        self.host = url.hostname
        self.port = url.port or (465 if self.ssl_on_connect else 587)
        self.username = unquote(url.username) if url.username else None
        self.password = unquote(url.password) if url.password else None
        self.starttls = self.bool_option("starttls", not self.ssl_on_connect)
        if self.ssl_on_connect and "starttls" in self.params:
            raise ConfigError(msg("smtps:// is TLS already; drop the starttls option"))
        self.timeout = self.float_option("timeout", 30.0)
        self.verify = self.bool_option("verify", True)
        self.connection: smtplib.SMTP | None = None
        # The message whose envelope went out after the last body (replies not read).
        self.ahead: OutgoingMessage | None = None
        self.heard = False  # the current envelope's first reply was read

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _handshake(self, conn: smtplib.SMTP) -> None:
        conn.ehlo()
        if self.starttls:
            if not conn.has_extn("starttls"):
                raise ConfigError(
                    msg(
                        "{host}:{port} does not offer STARTTLS; use smtps:// or, "
                        "only for a trusted local relay, add ?starttls=false to the mail URL"
                    ),
                    host=self.host,
                    port=self.port,
                )
            conn.starttls(context=self._context())
            conn.ehlo()
        if self.username:
            conn.login(self.username, self.password or "")

    def open(self) -> bool:
        if self.connection is not None and self.connection.sock is not None:
            return False
        self.close()
        conn: smtplib.SMTP | None = None
        try:
            if self.ssl_on_connect:
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self._handshake(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, smtplib.SMTPAuthenticationError):
                raise ConfigError(
                    msg(
                        "{host}:{port} refused the login ({reply}); check the user and "
                        "password in the mail URL"
                    ),
                    host=self.host,
                    port=self.port,
                    reply=_reply(exc.smtp_code, exc.smtp_error),
                ) from exc
            if isinstance(exc, smtplib.SMTPException | OSError):
                raise TemporaryDeliveryError(
                    msg("cannot connect to {host}:{port}: {error}"),
                    reply=str(exc),
                    host=self.host,
                    port=self.port,
                    error=exc,
                ) from exc
            raise
        if conn.sock is not None:
            # Each command, and a long message's last segment, goes out at once:
            # Nagle's algorithm would hold a short segment back for an ACK.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not isinstance(conn.sock, ssl.SSLSocket):
                _kernel_timeouts(conn, self.timeout)
        self.connection = conn
        return True

    def close(self) -> None:
        if self.ahead is not None:
            # An envelope is out, maybe answered with 354: a QUIT now would be
            # taken for message text. Closing ends the transaction unsent.
            self._drop()
            return
        conn, self.connection = self.connection, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    @staticmethod
    def _envelope(conn: smtplib.SMTP, m: OutgoingMessage) -> list[str]:
        """MAIL, each RCPT and DATA, as smtplib's mail(), rcpt() and data() write them."""
        size = f" size={len(m.data)}" if conn.does_esmtp and conn.has_extn("size") else ""
        return [
            f"mail from:{_path(m.envelope_from)}{size}\r\n",
            *(f"rcpt to:{_path(rcpt)}\r\n" for rcpt in m.recipients),
            "data\r\n",
        ]

    def _transfer(
        self,
        conn: smtplib.SMTP,
        m: OutgoingMessage,
        ready: Callable[[], None],
        following: OutgoingMessage | None,
        written: bool,
    ) -> dict[str, tuple[int, bytes]]:
        """``sendmail``, except that ``ready()`` runs once the server has taken the
        envelope (its 354 to DATA), before the body and the final dot go out.

        The server cannot accept the message before the dot, so the message
        is not handed over before ``ready()`` returns, and the caller's wait
        (the previous outcome's commit) overlaps the envelope's round trips.
        The body and the dot then go out in one write, followed, where the
        server offers PIPELINING, by ``following``'s envelope (``self.ahead``).
        ``written``: this message's envelope went out so already. Raises
        smtplib's exceptions as ``sendmail`` does.
        """
        conn.ehlo_or_helo_if_needed()
        commands = self._envelope(conn, m)
        # RFC 2920: where the server offers PIPELINING the envelope goes out in one
        # write and its replies are read after, one round trip instead of three.
        pipelined = conn.does_esmtp and conn.has_extn("pipelining")
        if not written:
            conn.send("".join(commands) if pipelined else commands[0])
        self.heard = False
        mail_code, mail_resp = conn.getreply()
        self.heard = True
        sender_refused = mail_code != 250
        if sender_refused and (mail_code == 421 or not pipelined):
            _abandon(conn, mail_code)
            raise smtplib.SMTPSenderRefused(mail_code, mail_resp, m.envelope_from)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt, command in zip(m.recipients, commands[1:-1], strict=True):
            if not pipelined:
                conn.send(command)
            code, resp = conn.getreply()
            if code not in (250, 251):
                refused[rcpt] = (code, resp)
            if code == 421:
                conn.close()
                if sender_refused:
                    raise smtplib.SMTPSenderRefused(mail_code, mail_resp, m.envelope_from)
                raise smtplib.SMTPRecipientsRefused(refused)
        no_one = len(refused) == len(m.recipients)
        if no_one and not pipelined:
            conn.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        if not pipelined:
            conn.send(commands[-1])
        code, resp = conn.getreply()
        if sender_refused or no_one:  # pipelined: DATA went out regardless
            if code == 354:  # a server that takes DATA with no one to deliver to
                conn.send(".\r\n")  # an empty message ends it (RFC 2920 3.1)
                code, resp = conn.getreply()
            _abandon(conn, code)
            if sender_refused:
                raise smtplib.SMTPSenderRefused(mail_code, mail_resp, m.envelope_from)
            raise smtplib.SMTPRecipientsRefused(refused)
        if code != 354:
            _abandon(conn, code)
            raise smtplib.SMTPDataError(code, resp)
        body = m.data
        dot_lines = m.dot_lines
        if dot_lines is None:  # a scan in C; the regex only when needed
            dot_lines = body.startswith(b".") or b"\n." in body
        if dot_lines:
            body = _DOT.sub(b"..", body)
        ready()
        next_envelope = b""
        if pipelined and following is not None:
            # RFC 2920 3.1: message content may be the first "command" of a group
            # that ends with DATA. An address smtplib could not send either goes
            # out on its own, and fails there as it would have.
            with contextlib.suppress(UnicodeEncodeError):
                next_envelope = "".join(self._envelope(conn, following)).encode("ascii")
        # The body and the final dot in one write (and the next envelope).
        end = b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"
        conn.send(body + end + next_envelope)
        self.ahead = following if next_envelope else None
        code, resp = conn.getreply()
        if code != 250:
            # The dot's reply ends the transaction either way: a reset would also
            # end the next one, whose envelope is out already.
            if self.ahead is None or code == 421:
                _abandon(conn, code)
            raise smtplib.SMTPDataError(code, resp)
        return refused

    def _send_one(
        self,
        m: OutgoingMessage,
        ready: Callable[[], None] | None,
        following: OutgoingMessage | None,
        written: bool,
    ) -> SendResult:
        conn = self.connection
        assert conn is not None
        try:
            refused = self._transfer(conn, m, ready or _nothing, following, written)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return SendResult(
                "permanent" if _status(code) == "permanent" else "temporary", _reply(code, text)
            )
        except smtplib.SMTPSenderRefused as exc:
            return SendResult(
                "temporary", "sender refused: " + _reply(exc.smtp_code, exc.smtp_error)
            )
        except smtplib.SMTPResponseException as exc:
            return SendResult(
                "permanent" if _status(exc.smtp_code) == "permanent" else "temporary",
                _reply(exc.smtp_code, exc.smtp_error),
            )
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if written and not self.heard:
                # The connection was gone before the envelope sent ahead had any
                # answer (the server closed it after the message before): nothing
                # of this one went out, and nothing refused it. Once more, afresh.
                failed = self._ensure_open()
                if failed is not None:
                    if ready is not None:
                        ready()
                    return failed
                return self._send_one(m, ready, following, False)
            return SendResult("temporary", f"connection lost: {exc or exc.__class__.__name__}")
        except BaseException:
            # ready() refused (or we were interrupted) in the middle of DATA: the
            # message was not handed over, and this connection is unusable.
            self._drop()
            raise
        if refused:
            return SendResult(
                "sent",
                "partly refused: "
                + "; ".join(
                    f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in refused.items()
                ),
            )
        return SendResult("sent", "250 accepted")

    def _drop(self) -> None:
        conn, self.connection, self.ahead = self.connection, None, None
        if conn is not None:
            conn.close()

    def _ensure_open(self) -> SendResult | None:
        if self.connection is None or self.connection.sock is None:
            try:
                self.open()
            except TemporaryDeliveryError as exc:
                return SendResult("temporary", str(exc))
        return None

    def _written(self, message: OutgoingMessage) -> bool:
        """Whether ``message``'s envelope went out after the last body; any other
        envelope out so is ended by closing the connection."""
        ahead, self.ahead = self.ahead, None
        conn = self.connection
        if ahead is message and conn is not None and conn.sock is not None:
            return True
        if ahead is not None:
            self._drop()
        return False

    def send_one(
        self,
        message: OutgoingMessage,
        ready: Callable[[], None],
        following: OutgoingMessage | None = None,
    ) -> SendResult:
        written = self._written(message)
        if not written:
            failed = self._ensure_open()
            if failed is not None:
                ready()
                return failed
        return self._send_one(message, ready, following, written)

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for i, m in enumerate(messages):
            written = self._written(m)
            if not written:
                failed = self._ensure_open()
                if failed is not None:
                    results.extend(failed for _ in range(len(messages) - len(results)))
                    return results
            following = messages[i + 1] if i + 1 < len(messages) else None
            results.append(self._send_one(m, None, following, written))
        return results
