from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from outreach.models import Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, token_for
from tests.web.conftest import csrf_of


def test_sign_up_confirm_unsubscribe(
    client: TestClient, mailer: RecordingMailer, engine: Engine, settings: Settings
) -> None:
    page = client.get("/vantaa/subscribe?lang=fi")
    assert page.status_code == 200
    token = csrf_of(page.text)
    resp = client.post(
        "/vantaa/subscribe",
        data={
            "email": "Matti@Yritys.fi",
            "topics": ["climate"],
            "language": "sv",
            "consent": "1",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 200, resp.text
    assert len(mailer.sent) == 1
    url = mailer.sent[0].confirm_url
    path = url.split("outreach.example.fi")[1]
    page = client.get(path)
    assert page.status_code == 200
    resp = client.post(path, data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200
    # the link every mail carries: GET shows a button and changes nothing, POST leaves
    with Session(engine) as s:
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.CONFIRMED
        unsubscribe = f"/unsubscribe/{token_for(settings, sub, 'unsubscribe')}"
    page = client.get(unsubscribe)
    assert page.status_code == 200
    with Session(engine) as s:
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.CONFIRMED
    resp = client.post(unsubscribe, data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200
    with Session(engine) as s:
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.UNSUBSCRIBED
