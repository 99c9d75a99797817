from __future__ import annotations

from starlette.testclient import TestClient

from outreach.subscriptions import RecordingMailer
from tests.web.conftest import csrf_of


def test_sign_up_confirm_unsubscribe(client: TestClient, mailer: RecordingMailer) -> None:
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
