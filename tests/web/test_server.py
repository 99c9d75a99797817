"""Flows against a real uvicorn server on 127.0.0.1 (random free port)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.models import ConsentRecord, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, token_for
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.web.conftest import csrf_of


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Wait for ``condition``: confirmation mails go out after the answer."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@dataclass
class Served:
    url: str
    settings: Settings
    mailer: RecordingMailer


@contextmanager
def running(app: FastAPI, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[Served]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = settings.model_copy(update={"base_url": url})
    mailer = RecordingMailer()
    app = create_app(live, mailer=mailer, rate_limiter=RateLimiter({"form": (5000, 100.0)}))
    with running(app, port):
        yield Served(url, live, mailer)


def test_flow_through_the_real_render_and_delivery_stages(
    settings: Settings, engine: Engine
) -> None:
    """Sign-up mail rendered by the render stage and kept by the ``memory:`` backend."""
    memory = pytest.importorskip(
        "outreach.delivery.backends.memory", reason="the delivery stage is not on this branch yet"
    )
    memory.clear()
    port = free_port()
    live = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    with running(create_app(live), port), httpx.Client(base_url=live.base_url) as browser:
        form = browser.get("/vantaa/subscribe?lang=fi")
        browser.post(
            "/vantaa/subscribe?lang=fi",
            data={
                "email": "real@yritys.fi",
                "topics": ["climate"],
                "language": "fi",
                "consent": "v",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert eventually(lambda: len(memory.outbox) > 0)
        assert [m.recipients for m in memory.outbox] == [["real@yritys.fi"]]
        mail = memory.outbox[0].message
        text = mail.get_body(("plain",)).get_content()
        url = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text)
        assert url is not None, text
        page = browser.get(url[0])
        assert page.status_code == 200
        done = browser.post(url[0], data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 200 and "Tilaus on vahvistettu" in done.text


def test_sign_up_confirm_one_click_unsubscribe(served: Served, engine: Engine) -> None:
    with httpx.Client(base_url=served.url) as browser:
        form = browser.get("/vantaa/subscribe", headers={"Accept-Language": "sv"})
        assert form.status_code == 200 and '<html lang="sv">' in form.text
        done = browser.post(
            "/vantaa/subscribe?lang=sv",
            data={
                "email": "live@yritys.fi",
                "topics": ["climate", "trainings"],
                "language": "sv",
                "consent": "v",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert done.status_code == 200 and "Kontrollera din e-post" in done.text
        assert eventually(lambda: len(served.mailer.sent) > 0)
        assert len(served.mailer.sent) == 1
        confirm_url = served.mailer.sent[0].confirm_url
        assert confirm_url.startswith(served.url + "/confirm/")
        page = browser.get(confirm_url)
        assert page.status_code == 200
        ok = browser.post(confirm_url, data={"csrf_token": csrf_of(page.text)})
        assert ok.status_code == 200 and "bekräftad" in ok.text
    with Session(engine) as s:
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.CONFIRMED
        unsubscribe_url = (
            f"{served.url}/unsubscribe/{token_for(served.settings, sub, 'unsubscribe')}"
        )
    # what a mailbox provider does with List-Unsubscribe-Post: no cookies, no redirect
    with httpx.Client() as provider:
        resp = provider.post(
            unsubscribe_url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False
        )
    assert resp.status_code == 200
    with Session(engine) as s:
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.UNSUBSCRIBED
        last = s.scalars(select(ConsentRecord).order_by(ConsentRecord.id.desc())).first()
        assert last is not None and (last.action, last.channel) == ("withdrawn", "one-click")


def test_concurrent_sign_ups_for_one_address_send_one_mail(served: Served, engine: Engine) -> None:
    with httpx.Client(base_url=served.url) as first:
        token = csrf_of(first.get("/kerava/subscribe").text)
        cookies = dict(first.cookies)

    def post(i: int) -> int:
        with httpx.Client(base_url=served.url, cookies=cookies) as c:
            codes = []
            for _ in range(50):
                r = c.post(
                    "/kerava/subscribe",
                    data={
                        "email": "same@yritys.fi",
                        "topics": ["climate"],
                        "consent": "v",
                        "csrf_token": token,
                    },
                )
                codes.append(r.status_code)
            return codes.count(200)

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert sum(pool.map(post, range(20))) == 1000
    assert eventually(lambda: len(served.mailer.sent) > 0)
    time.sleep(0.2)  # any second mail would be on its way by now
    assert len(served.mailer.sent) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1


def test_sign_up_answers_before_the_confirmation_mail_is_sent(
    settings: Settings, engine: Engine
) -> None:
    """The answer's timing must not tell a new address (a mail to send) from a known one."""
    release = threading.Event()
    sent: list[str] = []

    def slow_mailer(mail: Any) -> None:
        release.wait(5)
        sent.append(mail.to)

    port = free_port()
    live = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    app = create_app(live, mailer=slow_mailer, rate_limiter=RateLimiter({"form": (50, 1.0)}))
    with running(app, port), httpx.Client(base_url=live.base_url, timeout=3) as browser:
        token = csrf_of(browser.get("/vantaa/subscribe").text)
        data = {"topics": ["climate"], "consent": "v", "csrf_token": token}
        done = browser.post("/vantaa/subscribe", data={**data, "email": "new@yritys.fi"})
        assert done.status_code == 200 and sent == []
        release.set()
        assert eventually(lambda: sent == ["new@yritys.fi"])


def test_pages_answer_head_as_get_and_change_nothing(served: Served, engine: Engine) -> None:
    """A link checker or a mail gateway asks with HEAD: it gets the page's headers, no
    body, and nothing changes; the JSON API's routes are left as they were."""
    with httpx.Client(base_url=served.url) as browser:
        form = browser.get("/vantaa/subscribe?lang=fi")
        browser.post(
            "/vantaa/subscribe?lang=fi",
            data={
                "email": "head@yritys.fi",
                "topics": ["climate"],
                "language": "fi",
                "consent": "v",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert eventually(lambda: len(served.mailer.sent) > 0)
        confirm_url = served.mailer.sent[0].confirm_url
        with Session(engine) as s:
            sub = s.scalars(select(Subscription)).one()
            unsubscribe_url = f"/unsubscribe/{token_for(served.settings, sub, 'unsubscribe')}"
        for path in ("/vantaa/subscribe?lang=fi", confirm_url, unsubscribe_url, "/vantaa/archive"):
            got, head = browser.get(path), browser.head(path)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.status_code == 200, path
            assert head.headers["content-type"] == got.headers["content-type"], path
        # Only the pages: the JSON API's schema lists no HEAD operations.
        schema = browser.get("/openapi.json").json()
        assert all("head" not in ops for ops in schema["paths"].values())
    with Session(engine) as s:
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.PENDING
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == 1
