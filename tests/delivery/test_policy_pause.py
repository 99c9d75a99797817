"""A burst of policy refusals pauses the send and tells the city's approvers.

End to end against aiosmtpd: one receiving domain answers ``550 5.7.26``
(DMARC) to every recipient; after the burst the issue is paused with the
reason in its history, the approver has the mail, the addresses not yet
tried are untouched, nobody is suppressed, and resuming sends the rest.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy import select, update

from outreach.delivery import resume_issue, send_issue
from outreach.delivery.backends.base import SendResult
from outreach.delivery.policy import PolicyWatch, is_policy_refusal, provider_of
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueEvent,
    IssueStatus,
    StaffGrant,
    StaffUser,
    Subscriber,
    Suppression,
)
from tests.delivery.conftest import SMTPServer

DMARC = "550 5.7.26 Unauthenticated email from vantaa.fi is not accepted due to DMARC policy"


@pytest.mark.parametrize(
    ("reply", "policy"),
    [
        (DMARC, True),
        ("550 5.7.1 Service unavailable; client host blocked using Spamhaus", True),
        ("421 4.7.0 Try again later, closing connection (rate limited)", True),
        ("421 Too many messages from your IP", True),
        ("451 4.7.28 Unusual rate of unsolicited mail, try later", True),
        ("sender refused: 550 5.7.1 SPF check failed", True),
        ("550 Message rejected: sender is on our block list", True),
        ("550 5.1.1 no such mailbox", False),
        ("552 5.2.2 mailbox full", False),
        ("451 4.3.0 temporary local problem", False),
        ("250 2.0.0 OK", False),
        ("connection lost: timed out", False),
        (None, False),
    ],
)
def test_policy_refusals_are_told_from_address_refusals(reply: str | None, policy: bool) -> None:
    assert is_policy_refusal(reply) is policy


def test_providers_group_their_domains() -> None:
    assert provider_of("a@Gmail.com") == provider_of("b@googlemail.com") == "google"
    assert provider_of("c@hotmail.fi") == "microsoft"
    assert provider_of("d@vantaa.fi") == "vantaa.fi"


def test_the_window_slides_and_counts_per_provider() -> None:
    watch = PolicyWatch(3, 60)
    refused = SendResult("permanent", DMARC)
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    assert watch.refusal(1, "a@strict.example", refused, t0)
    assert watch.refusal(2, "b@other.example", refused, t0)  # another provider
    assert watch.refusal(3, "c@strict.example", refused, t0 + timedelta(seconds=30))
    assert not watch.refusal(4, "d@strict.example", SendResult("permanent", "550 5.1.1 x"), t0)
    assert watch.burst is None
    # The first refusal has left the window: still two in it.
    assert watch.refusal(5, "e@strict.example", refused, t0 + timedelta(seconds=61))
    assert watch.burst is None
    assert watch.refusal(6, "f@strict.example", refused, t0 + timedelta(seconds=62))
    assert watch.burst is not None
    assert (watch.burst.provider, watch.burst.refusals) == ("strict.example", 3)
    assert PolicyWatch(0, 60).refusal(1, "a@x.example", refused, t0)  # 0: counted, never paused
    never = PolicyWatch(0, 60)
    for i in range(50):
        never.refusal(i, "a@x.example", refused, t0)
    assert never.burst is None


class DmarcStrict:
    """The sink's answer for recipients at strict.example while ``refusing``."""

    def __init__(self, server: SMTPServer) -> None:
        self.refusing = True
        handler = server.handler
        original = handler.handle_RCPT

        async def handle_rcpt(
            srv: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if self.refusing and address.endswith("@strict.example"):
                return DMARC
            return await original(srv, session, envelope, address, options)

        handler.handle_RCPT = handle_rcpt  # type: ignore[method-assign]


def subject_of(data: bytes) -> str:
    return str(make_header(decode_header(email.message_from_bytes(data)["Subject"])))


def test_a_burst_of_dmarc_refusals_pauses_the_send_and_tells_the_approver(
    world_factory: Any, smtp_server: SMTPServer
) -> None:
    w = world_factory(30, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"policy_pause_refusals": 3})
    with w.session() as s:
        # Every other subscriber reads mail at the strict provider.
        for i in range(0, 30, 2):
            s.execute(
                update(Subscriber)
                .where(Subscriber.email == f"user{i}@example.fi")
                .values(email=f"user{i}@strict.example")
            )
        user = StaffUser(email="hyvaksyja@vantaa.fi")
        other = StaffUser(email="muokkaaja@vantaa.fi")
        s.add_all([user, other])
        s.flush()
        s.add_all(
            [
                StaffGrant(user_id=user.id, city="vantaa", role="approver"),
                StaffGrant(user_id=other.id, city="vantaa", role="editor"),
            ]
        )
        s.commit()
    sink = DmarcStrict(smtp_server)
    received = smtp_server.handler.received

    # One connection, so the order is the outbox's: user0 (refused), user1, user2
    # (refused), user3, user4 (refused: the third, a burst) and then nothing more.
    report = send_issue(w.settings, w.config, w.issue_id, workers=1)
    assert report.status == "paused"
    assert report.burst is not None and report.burst.provider == "strict.example"
    assert report.burst.told == 1
    assert (report.sent, report.retrying, report.failed) == (2, 3, 0)
    newsletter = [rcpt for rcpt, _ in received if rcpt.startswith("user")]
    assert newsletter == ["user1@example.fi", "user3@example.fi"]
    to_approvers = [(rcpt, data) for rcpt, data in received if not rcpt.startswith("user")]
    assert [rcpt for rcpt, _ in to_approvers] == ["hyvaksyja@vantaa.fi"]
    mail = to_approvers[0][1]
    assert subject_of(mail).startswith("Lähetys keskeytetty")  # the city's first language
    assert b"5.7.26" in mail and b"outreach issue resume" in mail
    line = report.lines("fi")[1]
    assert "5.7.26" in line and f"outreach issue resume {w.issue_id}" in line
    assert "keskeytetty" in line
    with w.session() as s:
        assert s.get(Issue, w.issue_id).status == IssueStatus.PAUSED
        event = s.scalars(select(IssueEvent).where(IssueEvent.action == "paused")).one()
        assert event.actor == "delivery" and "5.7.26" in (event.detail or "")
        rows = {r.email: r for r in s.scalars(select(Delivery))}
        for i in (0, 2, 4):  # refused: pending, due again at once, nobody suppressed
            row = rows[f"user{i}@strict.example"]
            assert row.status == DeliveryStatus.PENDING and row.next_attempt_at is None
            assert (row.last_error or "").startswith("550 5.7.26")
        untried = [r for r in rows.values() if r.attempts == 0]
        assert len(untried) == 25
        assert {r.status for r in untried} == {DeliveryStatus.PENDING}
        assert s.scalar(select(Suppression.id)) is None

    # The city fixes its DMARC record; resuming sends the rest, each once.
    sink.refusing = False
    with w.session() as s:
        resume_issue(s, w.issue_id)
        s.commit()
    report = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert (report.status, report.sent, report.burst) == ("sent", 28, None)
    newsletter = sorted(rcpt for rcpt, _ in received if rcpt.startswith("user"))
    with w.session() as s:
        everyone = sorted(s.scalars(select(Subscriber.email)))
    assert newsletter == everyone
