"""/hooks/mailgun: good, bad, stale and replayed signatures; events map to
the same normalised actions as a DSN."""

from __future__ import annotations

import hashlib
import hmac
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from outreach.db import dispose_engines
from outreach.delivery import send_issue
from outreach.models import BounceEvent, Subscription, SubscriptionStatus
from outreach.suppression import is_suppressed
from outreach.web import create_app
from tests.delivery.conftest import SMTPServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

KEY = "mailgun-signing-key-0123456789"


def signed(event: dict[str, Any], *, token: str, key: str = KEY, at: int | None = None) -> Any:
    timestamp = str(int(time.time()) if at is None else at)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event,
    }


def failed(recipient: str, message_id: str, severity: str = "permanent") -> dict[str, Any]:
    return {
        "id": f"ev-{recipient}-{severity}",
        "event": "failed",
        "severity": severity,
        "recipient": recipient,
        "delivery-status": {"code": 550, "enhanced-code": "5.1.1", "message": "no such user"},
        "message": {"headers": {"message-id": message_id.strip("<>")}},
    }


@pytest.fixture
def world(world_factory: Any, smtp_server: SMTPServer) -> Iterator[Any]:
    w = world_factory(2, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"mailgun_webhook_key": SecretStr(KEY)})
    send_issue(w.settings, w.config, w.issue_id)
    w.ids = {}
    for rcpt, data in smtp_server.handler.received:
        line = next(x for x in data.split(b"\r\n") if x.lower().startswith(b"message-id:"))
        w.ids[rcpt] = line.split(b":", 1)[1].strip().decode()
    yield w
    dispose_engines()


@pytest.fixture
def client(world: Any) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings), base_url="https://testserver") as c:
        yield c


def test_good_signature_acts(world: Any, client: TestClient) -> None:
    body = signed(failed("user0@example.fi", world.ids["user0@example.fi"]), token="t1")
    reply = client.post("/hooks/mailgun", json=body)
    assert reply.status_code == 200 and reply.json()["events"] == 1
    complaint = {
        "id": "ev-c",
        "event": "complained",
        "recipient": "user1@example.fi",
        "message": {"headers": {"message-id": world.ids["user1@example.fi"].strip("<>")}},
    }
    assert client.post("/hooks/mailgun", json=signed(complaint, token="t2")).status_code == 200
    with world.session() as s:
        assert is_suppressed(s, world.settings, "user0@example.fi") == "bounce"
        assert set(s.scalars(select(Subscription.status))) == {
            SubscriptionStatus.UNSUBSCRIBED,
            SubscriptionStatus.BOUNCED,
        }


@pytest.mark.parametrize(
    "make",
    [
        lambda e: signed(e, token="t3", key="wrong-key"),
        lambda e: signed(e, token="t4", at=int(time.time()) - 3600),  # stale
        lambda e: signed(e, token="t5", at=int(time.time()) + 3600),  # from the future
        lambda e: {"event-data": e},  # unsigned
    ],
    ids=["bad-key", "stale", "future", "unsigned"],
)
def test_bad_signature_refused(world: Any, client: TestClient, make: Any) -> None:
    body = make(failed("user0@example.fi", world.ids["user0@example.fi"]))
    assert client.post("/hooks/mailgun", json=body).status_code == 406
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(BounceEvent)) == 0
        assert is_suppressed(s, world.settings, "user0@example.fi") is None


def test_replay_refused(world: Any, client: TestClient) -> None:
    soft = failed("user0@example.fi", world.ids["user0@example.fi"], "temporary")
    body = signed(soft, token="t6")
    assert client.post("/hooks/mailgun", json=body).status_code == 200
    assert client.post("/hooks/mailgun", json=body).status_code == 406
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(BounceEvent)) == 1


def test_unknown_provider_and_no_key(world: Any, client: TestClient) -> None:
    assert client.post("/hooks/nosuch", json={}).status_code == 404
    assert client.get("/hooks/mailgun").status_code == 405
    app = create_app(world.settings.model_copy(update={"mailgun_webhook_key": None}))
    with TestClient(app, base_url="https://testserver") as c:
        body = signed(failed("user0@example.fi", world.ids["user0@example.fi"]), token="t7")
        assert c.post("/hooks/mailgun", json=body).status_code == 406
