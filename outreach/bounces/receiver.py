"""An SMTP or LMTP receiver for bounces (``outreach bounces listen``).

Postfix hands the mail of the bounce domain to it through a ``transport``
entry (``smtp:[127.0.0.1]:2525`` or ``lmtp:inet:127.0.0.1:2525``). Each
message is parsed and acted on in its own transaction, once per envelope
recipient (the signed VERP return path); the reply is ``250`` once it is
committed, so Postfix keeps and retries whatever was not. Only the bounce
domains' addresses are accepted (no open relay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from sqlalchemy.exc import SQLAlchemyError

from outreach.bounces.act import Outcome, process_message
from outreach.db import get_engine, session_scope, unavailable
from outreach.settings import Settings

log = logging.getLogger(__name__)
MAX_SIZE = 10 * 1024 * 1024


class BounceHandler:
    """aiosmtpd handler: accepts mail for ``domains``, processes each message."""

    def __init__(
        self,
        settings: Settings,
        domains: set[str],
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.settings = settings
        self.domains = {d.lower() for d in domains}
        self.on_outcome = on_outcome

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.rpartition("@")[2].lower() not in self.domains:
            return "550 5.1.1 not a bounce address here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        try:
            self.process(data, list(envelope.rcpt_tos))
        except SQLAlchemyError as exc:  # the database is down: one line a message
            log.warning("processing a bounce failed: %s; the sender will retry", unavailable(exc))
            return "451 4.3.0 could not process the message now; try again later"
        except Exception:
            log.exception("processing a bounce failed; the sender will retry")
            return "451 4.3.0 could not process the message now; try again later"
        return "250 OK"

    def process(self, data: bytes, recipients: list[str]) -> Outcome:
        total = Outcome()
        with session_scope(get_engine(self.settings)) as session:
            for rcpt in recipients or [""]:
                total.add(process_message(session, self.settings, data, return_path=rcpt or None))
        if self.on_outcome is not None:
            self.on_outcome(total)
        return total


class _Controller(Controller):
    def __init__(self, handler: BounceHandler, *, lmtp: bool, **kwargs: Any) -> None:
        self.lmtp = lmtp
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cls = LMTP if self.lmtp else SMTP
        return cls(self.handler, data_size_limit=MAX_SIZE, enable_SMTPUTF8=True)


def bounce_domains(settings: Settings, addresses: list[str]) -> set[str]:
    """The domains of the configured bounce addresses (global and per city)."""
    found = [a for a in [settings.bounce_address, *addresses] if a]
    return {a.rpartition("@")[2].lower() for a in found}


def start(
    settings: Settings,
    domains: set[str],
    *,
    host: str = "127.0.0.1",
    port: int = 2525,
    lmtp: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Controller:
    """Start the receiver in a thread; ``stop()`` the returned controller."""
    handler = BounceHandler(settings, domains, on_outcome)
    controller = _Controller(handler, lmtp=lmtp, hostname=host, port=port)
    controller.start()
    return controller
