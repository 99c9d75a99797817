"""The console warns on the city's dashboard and on the issue page when an issue's
complaints pass 0.1 % or its hard bounces pass 2 % of its deliveries, in the
reader's language; another city's dashboard does not show it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.models import (
    BounceEvent,
    Delivery,
    DeliveryStatus,
    IssueStatus,
    StaffUser,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.web.staff.guard import COOKIE
from tests.staff.support import Clock, make_account, make_city_issue
from tests.web.conftest import TestClient

SENT_AT = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def sent_issue(engine: Engine, settings: Settings, *, complaints: int, hard: int) -> int:
    """A sent Vantaa issue with 200 deliveries, and bounce events about them."""
    config = load(settings.campaigns_path, settings.templates_path)
    with Session(engine, expire_on_commit=False) as s:
        issue = make_city_issue(s, config, "vantaa-monthly")
        issue.status = IssueStatus.SENT
        issue.send_started_at = issue.sent_at = SENT_AT
        city_id = issue.campaign.city_id
        people = [Subscriber(email=f"user{n}@example.fi", language="fi") for n in range(200)]
        s.add_all(people)
        s.flush()
        subs = [
            Subscription(
                subscriber_id=p.id,
                city_id=city_id,
                status=SubscriptionStatus.CONFIRMED,
                token_salt=f"salt{p.id:028d}",
            )
            for p in people
        ]
        s.add_all(subs)
        s.flush()
        s.add_all(
            Delivery(
                issue_id=issue.id, subscriber_id=p.id, subscription_id=sub.id, email=p.email,
                language="fi", status=DeliveryStatus.SENT, sent_at=SENT_AT,
            )
            for p, sub in zip(people, subs, strict=True)
        )  # fmt: skip
        kinds = [("complained", False)] * complaints + [("bounced", True)] * hard
        s.add_all(
            BounceEvent(
                report_hash=f"{n:064d}", kind=kind, hard=is_hard, email_hash=f"{n:064x}",
                issue_id=issue.id, city_id=city_id, source="test",
            )
            for n, (kind, is_hard) in enumerate(kinds)
        )  # fmt: skip
        s.commit()
        return issue.id


def sign_in(engine: Engine, client: TestClient, email: str, city: str) -> None:
    make_account(engine, email, "editor", city)
    with Session(engine) as s:
        user = s.query(StaffUser).filter_by(email=email).one()
        token = sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=Clock().now)
        s.commit()
    client.cookies.set(COOKIE, token)


@pytest.mark.parametrize(
    ("lang", "complaint", "bounce"),
    [
        ("en", "2 spam complaints, 1.00 % of 200 delivered", "hard bounces"),
        ("fi", "2 roskapostivalitusta, 1,00 % 200 toimitetusta", "pysyvää palautusta"),
        ("sv", "2 skräppostklagomål, 1,00 % av 200 levererade", "permanenta studsar"),
    ],
)
def test_complaints_over_the_limit_warn_on_the_dashboard_and_the_issue_page(
    engine: Engine, settings: Settings, client: TestClient, lang: str, complaint: str, bounce: str
) -> None:
    issue_id = sent_issue(engine, settings, complaints=2, hard=4)  # 1 % and 2 %: only one warns
    sign_in(engine, client, "eeva@vantaa.fi", "vantaa")
    board = client.get(f"/staff/vantaa/?lang={lang}")
    page = client.get(f"/staff/vantaa/issues/{issue_id}?lang={lang}")
    for response in (board, page):
        assert response.status_code == 200
        assert complaint in response.text
        assert bounce not in response.text  # 2 % is the limit, not over it


@pytest.mark.parametrize(
    ("lang", "one"),
    [
        ("en", "1 spam complaint, 0.50 % of 200 delivered"),
        ("fi", "1 roskapostivalitus, 0,50 % 200 toimitetusta"),
        ("sv", "1 skräppostklagomål, 0,50 % av 200 levererade"),
    ],
)
def test_one_complaint_is_counted_in_the_singular(
    engine: Engine, settings: Settings, client: TestClient, lang: str, one: str
) -> None:
    issue_id = sent_issue(engine, settings, complaints=1, hard=0)
    sign_in(engine, client, "eeva@vantaa.fi", "vantaa")
    page = client.get(f"/staff/vantaa/issues/{issue_id}?lang={lang}")
    assert page.status_code == 200 and one in page.text


def test_hard_bounces_over_the_limit_warn_and_other_cities_see_nothing(
    engine: Engine, settings: Settings, client: TestClient
) -> None:
    issue_id = sent_issue(engine, settings, complaints=0, hard=5)
    sign_in(engine, client, "eeva@vantaa.fi", "vantaa")
    warning = f"Issue #{issue_id}: 5 hard bounces, 2.50 % of 200 delivered"
    assert warning in client.get("/staff/vantaa/?lang=en").text
    assert warning in client.get(f"/staff/vantaa/issues/{issue_id}?lang=en").text
    client.cookies.clear()
    sign_in(engine, client, "kalle@kerava.fi", "kerava")
    kerava = client.get("/staff/kerava/?lang=en")
    assert kerava.status_code == 200 and "hard bounces" not in kerava.text


def test_an_issue_within_the_limits_warns_nowhere(
    engine: Engine, settings: Settings, client: TestClient
) -> None:
    issue_id = sent_issue(engine, settings, complaints=0, hard=1)
    sign_in(engine, client, "eeva@vantaa.fi", "vantaa")
    for path in ("/staff/vantaa/?lang=en", f"/staff/vantaa/issues/{issue_id}?lang=en"):
        text = client.get(path).text
        assert "hard bounces" not in text and "spam complaints" not in text
