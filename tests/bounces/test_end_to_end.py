"""End to end: an issue goes to an aiosmtpd sink with signed VERP return paths;
a DSN for one recipient and an ARF for another come back through the SMTP
receiver (fed by smtplib); the next issue reaches neither. A forged VERP
address changes nothing, and the same DSN twice counts once. A complaint keeps
only the city complained about away: another city's issue reaches the person."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from outreach.bounces import process_message
from outreach.bounces.receiver import start
from outreach.delivery import send_issue
from outreach.models import (
    BounceEvent,
    ConsentRecord,
    Issue,
    IssueStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from outreach.suppression import is_suppressed
from tests.bounces.reports import arf, dsn
from tests.bounces.test_city_scope import kerava_issue, next_issue
from tests.delivery.conftest import SMTPServer, free_port

BOUNCE = "bounces@news.example.fi"


@pytest.fixture
def receiver(world_factory: Any) -> Iterator[Any]:
    started: list[Any] = []

    def make(settings: Any) -> int:
        port = free_port()
        started.append(start(settings, {"news.example.fi"}, port=port))
        return port

    yield make
    for controller in started:
        controller.stop()


def sent(server: SMTPServer) -> dict[str, tuple[str, bytes]]:
    """recipient → (envelope sender, message) of what the sink received."""
    h = server.handler
    return {
        rcpt: (mail_from, data)
        for (rcpt, data), mail_from in zip(h.received, h.envelopes, strict=True)
    }


def message_id(data: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Message-ID")


def deliver(port: int, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("", [rcpt], data)


def test_bounce_and_complaint_keep_the_next_issue_away(
    world_factory: Any, smtp_server: SMTPServer, receiver: Any
) -> None:
    w = world_factory(3, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"bounce_address": BOUNCE})
    assert send_issue(w.settings, w.config, w.issue_id).sent == 3
    first = sent(smtp_server)
    envelope0, data0 = first["user0@example.fi"]
    assert envelope0.startswith("bounces+") and envelope0.endswith("@news.example.fi")
    assert len({env for env, _ in first.values()}) == 3  # one return path per delivery

    port = receiver(w.settings)
    deliver(port, envelope0, dsn("user0@example.fi", message_id(data0)))
    _, data1 = first["user1@example.fi"]
    # Feedback loops report to their own address, not the return path.
    deliver(port, "complaints@news.example.fi", arf("user1@example.fi", message_id(data1)))

    with w.session() as s:
        assert is_suppressed(s, w.settings, "user0@example.fi") == "bounce"
        assert is_suppressed(s, w.settings, "user1@example.fi") is None
        status = dict(s.execute(select(Subscription.subscriber_id, Subscription.status)).all())
        assert sorted(status.values()) == [
            SubscriptionStatus.BOUNCED,
            SubscriptionStatus.CONFIRMED,
            SubscriptionStatus.UNSUBSCRIBED,
        ]
        channels = s.scalars(
            select(ConsentRecord.channel).where(ConsentRecord.action == "withdrawn")
        )
        assert list(channels) == ["complaint"]
        issue = Issue(campaign_id=s.get(Issue, w.issue_id).campaign_id, period="2026-12")
        issue.status = IssueStatus.APPROVED
        s.add(issue)
        s.commit()
        next_issue = issue.id

    smtp_server.handler.received.clear()
    smtp_server.handler.envelopes.clear()
    report = send_issue(w.settings, w.config, next_issue)
    assert report.sent == 1
    assert list(sent(smtp_server)) == ["user2@example.fi"]


def test_forged_verp_changes_nothing(
    world_factory: Any, smtp_server: SMTPServer, receiver: Any
) -> None:
    w = world_factory(2, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"bounce_address": BOUNCE})
    send_issue(w.settings, w.config, w.issue_id)
    envelope, data = sent(smtp_server)["user0@example.fi"]
    local, _, domain = envelope.partition("@")
    forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    port = receiver(w.settings)
    # Forged MAC, then an unsigned VERP address of the old kind.
    deliver(port, forged, dsn("user0@example.fi", message_id(data)))
    deliver(port, "bounces+user0=example.fi@news.example.fi", dsn("user0@example.fi", "<x@y>"))
    with w.session() as s:
        assert s.scalar(select(func.count()).select_from(Suppression)) == 0
        assert s.scalar(select(func.count()).select_from(BounceEvent)) == 0
        assert set(s.scalars(select(Subscription.status))) == {SubscriptionStatus.CONFIRMED}


def test_message_id_needs_the_matching_recipient(
    world_factory: Any, smtp_server: SMTPServer
) -> None:
    w = world_factory(2, mail_url=smtp_server.url())
    send_issue(w.settings, w.config, w.issue_id)
    _, data = sent(smtp_server)["user0@example.fi"]
    with w.session() as s:
        wrong = process_message(s, w.settings, dsn("someone@example.org", message_id(data)))
        assert (wrong.events, wrong.unmatched) == (0, 1)
        right = process_message(s, w.settings, dsn("user0@example.fi", message_id(data)))
        assert (right.events, right.suppressed) == (1, 1)


def test_same_dsn_twice_counts_once(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(1, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"bounce_address": BOUNCE})
    send_issue(w.settings, w.config, w.issue_id)
    envelope, data = sent(smtp_server)["user0@example.fi"]
    report = dsn("user0@example.fi", message_id(data), status="4.2.2")
    with w.session() as s:
        first = process_message(s, w.settings, report, return_path=envelope)
        again = process_message(s, w.settings, report, return_path=envelope)
        assert (first.events, first.counted, again.events, again.duplicates) == (1, 1, 0, 1)
        assert s.scalar(select(func.count()).select_from(BounceEvent)) == 1


def test_soft_bounces_suppress_at_the_threshold_within_the_window(
    world_factory: Any, smtp_server: SMTPServer
) -> None:
    w = world_factory(1, mail_url=smtp_server.url())
    settings = w.settings.model_copy(
        update={"bounce_address": BOUNCE, "bounce_soft_threshold": 3, "bounce_soft_days": 7}
    )
    send_issue(settings, w.config, w.issue_id)
    envelope, data = sent(smtp_server)["user0@example.fi"]
    start_at = datetime(2026, 12, 1, tzinfo=UTC)

    def soft(n: int, at: datetime) -> Any:
        report = dsn("user0@example.fi", message_id(data), status="4.2.2", attempt=n)
        with w.session() as s:
            outcome = process_message(s, settings, report, return_path=envelope, now=at)
            s.commit()
            return outcome

    assert soft(1, start_at).counted == 1
    assert soft(2, start_at + timedelta(days=1)).counted == 1
    # The first is now older than the window: two within 7 days, not yet three.
    assert soft(3, start_at + timedelta(days=7, hours=1)).counted == 1
    assert soft(4, start_at + timedelta(days=8)).suppressed == 1
    with w.session() as s:
        assert is_suppressed(s, settings, "user0@example.fi") == "bounce"
        assert s.scalar(select(Subscription.status)) == SubscriptionStatus.BOUNCED


def test_receiver_speaks_lmtp_and_refuses_other_domains(
    world_factory: Any, smtp_server: SMTPServer
) -> None:
    w = world_factory(1, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"bounce_address": BOUNCE})
    send_issue(w.settings, w.config, w.issue_id)
    envelope, data = sent(smtp_server)["user0@example.fi"]
    port = free_port()
    controller = start(w.settings, {"news.example.fi"}, port=port, lmtp=True)
    try:
        with smtplib.LMTP("127.0.0.1", port) as client:
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("", ["postmaster@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")
            client.sendmail("", [envelope], dsn("user0@example.fi", message_id(data)))
    finally:
        controller.stop()
    with w.session() as s:
        assert is_suppressed(s, w.settings, "user0@example.fi") == "bounce"


def test_a_complainer_still_gets_another_citys_issue(
    world_factory: Any, smtp_server: SMTPServer, receiver: Any, two_cities: Any
) -> None:
    """A complaint about Vantaa's mail keeps Vantaa away only: Kerava's issue still
    reaches the complainer, while the hard bounce keeps both cities away."""
    w = world_factory(3, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"bounce_address": BOUNCE})
    with w.session() as s:
        kerava = kerava_issue(s, w.emails)
    assert send_issue(w.settings, two_cities, w.issue_id).sent == 3
    first = sent(smtp_server)
    port = receiver(w.settings)
    envelope0, data0 = first["user0@example.fi"]
    deliver(port, envelope0, dsn("user0@example.fi", message_id(data0)))
    _, data1 = first["user1@example.fi"]
    deliver(port, "complaints@news.example.fi", arf("user1@example.fi", message_id(data1)))
    with w.session() as s:
        entries = s.execute(select(Suppression.city_id, Suppression.reason)).all()
        assert sorted(entries, key=str) == sorted(
            [(None, "bounce"), (w.city_id, "complaint")], key=str
        )
        again = next_issue(s, w.issue_id).id

    smtp_server.handler.received.clear()
    smtp_server.handler.envelopes.clear()
    assert send_issue(w.settings, two_cities, again).sent == 1
    assert list(sent(smtp_server)) == ["user2@example.fi"]
    smtp_server.handler.received.clear()
    smtp_server.handler.envelopes.clear()
    assert send_issue(w.settings, two_cities, kerava).sent == 2
    assert sorted(sent(smtp_server)) == ["user1@example.fi", "user2@example.fi"]
