"""A real uvicorn server whose mail goes through the delivery stage to ``memory:``.

Shared by the end-to-end tests (browser, campaign mail to one-click unsubscribe).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from outreach.delivery.backends import memory
from outreach.settings import Settings
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.web.test_server import free_port, running


def generous_limits() -> RateLimiter:
    """Limits no test flow reaches (the limits themselves are tested in test_security)."""
    return RateLimiter(
        {"form": (10_000, 100.0), "unsubscribe": (10_000, 100.0), "api": (10_000, 100.0)}
    )


@dataclass
class LiveServer:
    url: str
    settings: Settings

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every message the ``memory:`` backend kept for ``address``, oldest first."""
        return [m.message for m in memory.outbox if address in m.recipients]

    def wait_for_mail(self, address: str, timeout: float = 5.0) -> list[EmailMessage]:
        """:meth:`mails_to`, once there is one: the sign-up answer does not wait for it."""
        deadline = time.monotonic() + timeout
        while not (mails := self.mails_to(address)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return mails

    def confirm_url(self, address: str) -> str:
        """The confirmation link of the last confirmation mail to ``address``."""
        mails = self.wait_for_mail(address)
        assert mails, f"no mail to {address}"
        text = mails[-1].get_body(("plain",))
        assert text is not None
        found = re.search(re.escape(self.url) + r"/confirm/\S+", text.get_content())
        assert found is not None, text.get_content()
        return found[0]


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The web app on 127.0.0.1 (a free port), mailing through ``settings.mail_url``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = settings.model_copy(update={"base_url": url, "mail_url": "memory:"})
    memory.clear()
    try:
        with running(create_app(live, rate_limiter=generous_limits()), port):
            yield LiveServer(url, live)
    finally:
        memory.clear()
