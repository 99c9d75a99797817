"""Campaign mail to one-click unsubscribe, end to end on a real uvicorn server.

Two companies sign up on the web and confirm; a real ``vantaa-monthly``
issue (the shipped campaign, a few content rows) is built, approved and sent
through the delivery stage to ``memory:``. The mailbox provider's side of
RFC 8058 follows: it reads ``List-Unsubscribe`` from the received message and
POSTs ``List-Unsubscribe=One-Click`` there with no cookies. The next issue
reaches only the company that stayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, sync
from outreach.delivery import send_issue
from outreach.issues import approve_issue, build_issue
from outreach.models import ConsentRecord, Subscriber, Subscription, SubscriptionStatus
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.render.conftest import add_item
from tests.web.conftest import csrf_of
from tests.web.live import LiveServer, live_server

STAYS, LEAVES = "pysyy@yritys.fi", "lahtee@yritys.fi"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shipped campaigns, sources and all (the web tests' default has only the cities)."""
    return settings.model_copy(update={"campaigns_dir": ROOT / "campaigns"})


@pytest.fixture
def server(settings: Settings, engine: Engine) -> Iterator[LiveServer]:
    with live_server(settings) as live:
        yield live


def sign_up_and_confirm(server: LiveServer, email: str) -> None:
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/vantaa/subscribe?lang=fi")
        done = browser.post(
            "/vantaa/subscribe?lang=fi",
            data={
                "email": email,
                "company_name": "Yritys Oy",
                "topics": ["climate"],
                "language": "fi",
                "consent": "v",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert done.status_code == 200
        url = server.confirm_url(email)
        page = browser.get(url)
        ok = browser.post(url, data={"csrf_token": csrf_of(page.text)})
        assert ok.status_code == 200


def send_monthly(server: LiveServer, config: Config, engine: Engine, now: datetime) -> int:
    """Build, approve and send this month's ``vantaa-monthly`` with two fresh news items."""
    with Session(engine, expire_on_commit=False) as s:
        sync(s, config)
        for n, title in enumerate(["Ilmastotyö etenee", "Energiaremontti alkaa"]):
            add_item(s, config, "vantaa-monthly", "news", title=f"{title} {now:%m}",
                     language="fi", url=f"https://www.vantaa.fi/uutiset/{now:%m}-{n}",
                     published_at=now - timedelta(days=n + 1),
                     first_seen_at=now - timedelta(days=n + 1))  # fmt: skip
        built = build_issue(s, server.settings, config, "vantaa-monthly",
                            period=f"{now:%Y-%m}", now=now)  # fmt: skip
        assert built.issue is not None, built.skipped
        approve_issue(s, built.issue.id, by="viestintä")
        s.commit()
        issue_id = built.issue.id
    report = send_issue(server.settings, config, issue_id, workers=1)
    assert not report.errors
    return issue_id


def status_of(engine: Engine, email: str) -> SubscriptionStatus:
    with Session(engine) as s:
        return s.scalars(
            select(Subscription.status).join(Subscriber).where(Subscriber.email == email)
        ).one()


def test_campaign_mail_one_click_unsubscribe_stops_the_next_issue(
    server: LiveServer, settings: Settings, engine: Engine
) -> None:
    for email in (STAYS, LEAVES):
        sign_up_and_confirm(server, email)
        assert status_of(engine, email) == SubscriptionStatus.CONFIRMED
    config = load(settings.campaigns_path, settings.templates_path)
    first = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)

    send_monthly(server, config, engine, first)
    campaign_mail = server.mails_to(LEAVES)[-1]
    assert "Ilmastotyö etenee 11" in campaign_mail.get_body(("plain",)).get_content()
    assert campaign_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", str(campaign_mail["List-Unsubscribe"]))
    https = [u for u in links if u.startswith(server.url + "/unsubscribe/")]
    assert len(https) == 1, campaign_mail["List-Unsubscribe"]

    # The mailbox provider: a fresh client, no cookies, no CSRF token, no redirects.
    with httpx.Client() as provider:
        answer = provider.post(
            https[0], data={"List-Unsubscribe": "One-Click"}, follow_redirects=False
        )
    assert answer.status_code == 200, answer.text
    assert status_of(engine, LEAVES) == SubscriptionStatus.UNSUBSCRIBED
    assert status_of(engine, STAYS) == SubscriptionStatus.CONFIRMED
    with Session(engine) as s:
        last = s.scalars(
            select(ConsentRecord)
            .join(Subscription, ConsentRecord.subscription_id == Subscription.id)
            .join(Subscriber)
            .where(Subscriber.email == LEAVES)
            .order_by(ConsentRecord.id.desc())
        ).first()
        assert last is not None and (last.action, last.channel) == ("withdrawn", "one-click")

    before = {e: len(server.mails_to(e)) for e in (STAYS, LEAVES)}
    send_monthly(server, config, engine, first + timedelta(days=35))
    assert len(server.mails_to(STAYS)) == before[STAYS] + 1
    assert "Ilmastotyö etenee 12" in server.mails_to(STAYS)[-1].get_body(("plain",)).get_content()
    assert len(server.mails_to(LEAVES)) == before[LEAVES]
