"""The JSON API: keys, the same validation and consent rules, CRUD, OpenAPI."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.models import ApiKey, ConsentRecord
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, create_api_key, revoke_api_key
from outreach.suppression import SuppressionReason
from tests.web.conftest import TestClient


@pytest.fixture
def key(engine: Engine) -> str:
    with Session(engine) as s:
        _, plain = create_api_key(s, "hakosalo")
        s.commit()
    return plain


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_stored_hashed_and_required(client: TestClient, engine: Engine, key: str) -> None:
    with Session(engine) as s:
        row = s.scalars(select(ApiKey)).one()
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    assert client.get("/api/v1/subscribers").status_code == 401
    assert client.get("/api/v1/subscribers", headers=auth(key + "x")).status_code == 401
    assert client.get("/api/v1/subscribers", headers={"X-API-Key": key}).status_code == 200
    with Session(engine) as s:
        revoke_api_key(s, "hakosalo")
        s.commit()
    assert client.get("/api/v1/subscribers", headers=auth(key)).status_code == 401


def test_crud(client: TestClient, key: str, mailer: RecordingMailer, engine: Engine) -> None:
    body = {
        "email": "CRM@Yritys.fi",
        "company_name": "Yritys Oy",
        "business_id": "0112038-9",
        "language": "sv",
        "subscriptions": [{"city": "vantaa", "topics": ["climate", "procurement"]}],
    }
    created = client.post("/api/v1/subscribers", json=body, headers=auth(key))
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["email"] == "crm@yritys.fi" and data["subscriptions"][0]["status"] == "pending"
    assert len(mailer.sent) == 1 and mailer.sent[0].lang == "sv"
    with Session(engine) as s:
        assert "API key" in (s.scalars(select(ConsentRecord)).one().detail or "")
    confirmed = client.post(
        "/api/v1/subscribers/crm@yritys.fi/subscriptions",
        json={"city": "kerava", "topics": ["awards"], "confirmed": True},
        headers=auth(key),
    )
    assert confirmed.status_code == 422 and "consent note" in confirmed.json()["detail"]
    confirmed = client.post(
        "/api/v1/subscribers/crm@yritys.fi/subscriptions",
        json={
            "city": "kerava",
            "topics": ["awards"],
            "confirmed": True,
            "consent_note": "contract",
        },
        headers=auth(key),
    )
    assert confirmed.status_code == 201
    statuses = {s["city"]: s["status"] for s in confirmed.json()["subscriptions"]}
    assert statuses == {"vantaa": "pending", "kerava": "confirmed"}
    assert client.get("/api/v1/subscribers/crm@yritys.fi", headers=auth(key)).status_code == 200
    listed = client.get("/api/v1/subscribers?city=kerava&status=confirmed", headers=auth(key))
    assert [s["email"] for s in listed.json()] == ["crm@yritys.fi"]
    patched = client.patch(
        "/api/v1/subscribers/crm@yritys.fi",
        json={"business_id": "0112038-8"},
        headers=auth(key),
    )
    assert patched.status_code == 422
    patched = client.patch(
        "/api/v1/subscribers/crm@yritys.fi",
        json={"contact_name": "Matti", "interested_in_visit": True},
        headers=auth(key),
    )
    assert patched.json()["contact_name"] == "Matti" and patched.json()["interested_in_visit"]
    topics = client.patch(
        "/api/v1/subscribers/crm@yritys.fi/subscriptions/kerava",
        json={"topics": ["climate"]},
        headers=auth(key),
    )
    assert topics.status_code == 200
    gone = client.delete(
        "/api/v1/subscribers/crm@yritys.fi/subscriptions/kerava", headers=auth(key)
    )
    assert {s["city"]: s["status"] for s in gone.json()["subscriptions"]}[
        "kerava"
    ] == "unsubscribed"
    assert client.delete("/api/v1/subscribers/crm@yritys.fi", headers=auth(key)).status_code == 204
    assert client.get("/api/v1/subscribers/crm@yritys.fi", headers=auth(key)).status_code == 404
    again = client.post("/api/v1/subscribers", json=body, headers=auth(key))
    assert again.status_code == 409  # erased addresses cannot be re-added by the CRM


@pytest.mark.parametrize(
    "body",
    [
        {"email": "bad", "subscriptions": [{"city": "vantaa"}]},
        {"email": "a@b.fi\r\nBcc: x@y.fi", "subscriptions": [{"city": "vantaa"}]},
        {"email": "a@b.fi", "company_name": "A\r\nB", "subscriptions": [{"city": "vantaa"}]},
        {"email": "a@b.fi", "subscriptions": [{"city": "helsinki"}]},
        {"email": "a@b.fi", "subscriptions": [{"city": "vantaa", "topics": ["cats"]}]},
        {"email": "a@b.fi", "subscriptions": []},
        {"email": "a@b.fi", "subscriptions": [{"city": "vantaa"}], "password": "x"},
        {"email": 5},
    ],
)
def test_invalid_input_is_422(client: TestClient, key: str, body: dict[str, object]) -> None:
    resp = client.post("/api/v1/subscribers", json=body, headers=auth(key))
    assert resp.status_code == 422, resp.text


def test_a_language_the_city_does_not_send_in_is_422(
    client: TestClient, key: str, mailer: RecordingMailer
) -> None:
    body = {"email": "add1@x.fi", "language": "en", "subscriptions": [{"city": "vantaa"}]}
    resp = client.post("/api/v1/subscribers", json=body, headers=auth(key))
    assert resp.status_code == 422
    assert resp.json()["detail"] == "language 'en': vantaa sends its newsletter in fi, sv only"
    assert client.get("/api/v1/subscribers/add1@x.fi", headers=auth(key)).status_code == 404
    assert mailer.sent == []


def test_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/subscribers" in spec["paths"]
    assert "/api/v1/subscribers/{email}/subscriptions/{city}" in spec["paths"]


def test_a_city_key_acts_for_its_own_city_only(
    client: TestClient, key: str, engine: Engine
) -> None:
    with Session(engine) as s:
        _, kerava = create_api_key(s, "kerava-crm", ["kerava"])
        s.commit()
    both = {
        "email": "both@yritys.fi",
        "subscriptions": [
            {"city": "vantaa", "topics": ["climate"], "confirmed": True, "consent_note": "CRM"},
            {"city": "kerava", "topics": ["climate"], "confirmed": True, "consent_note": "CRM"},
        ],
    }
    assert client.post("/api/v1/subscribers", json=both, headers=auth(key)).status_code == 201
    only_vantaa = {**both, "email": "vantaa@yritys.fi", "subscriptions": both["subscriptions"][:1]}
    assert (
        client.post("/api/v1/subscribers", json=only_vantaa, headers=auth(key)).status_code == 201
    )

    # it sees its own city's part of a shared subscriber, and nothing of another city's
    seen = client.get("/api/v1/subscribers/both@yritys.fi", headers=auth(kerava)).json()
    assert [s["city"] for s in seen["subscriptions"]] == ["kerava"]
    hidden = client.get("/api/v1/subscribers/vantaa@yritys.fi", headers=auth(kerava))
    unknown = client.get("/api/v1/subscribers/nobody@yritys.fi", headers=auth(kerava))
    assert hidden.status_code == unknown.status_code == 404 and hidden.json() == unknown.json()
    listed = client.get("/api/v1/subscribers", headers=auth(kerava)).json()
    assert [x["email"] for x in listed] == ["both@yritys.fi"]

    # it cannot act for Vantaa, nor erase an address in every city
    vantaa_path = "/api/v1/subscribers/both@yritys.fi/subscriptions/vantaa"
    assert client.delete(vantaa_path, headers=auth(kerava)).status_code == 403
    assert client.get("/api/v1/subscribers?city=vantaa", headers=auth(kerava)).status_code == 403
    new_vantaa = {**only_vantaa, "email": "new@yritys.fi"}
    assert (
        client.post("/api/v1/subscribers", json=new_vantaa, headers=auth(kerava)).status_code == 403
    )
    assert (
        client.delete("/api/v1/subscribers/both@yritys.fi", headers=auth(kerava)).status_code == 403
    )
    kerava_path = "/api/v1/subscribers/both@yritys.fi/subscriptions/kerava"
    ended = client.delete(kerava_path, headers=auth(kerava))
    assert ended.status_code == 200
    assert [s["status"] for s in ended.json()["subscriptions"]] == ["unsubscribed"]
    full = client.get("/api/v1/subscribers/both@yritys.fi", headers=auth(key)).json()
    assert {s["city"]: s["status"] for s in full["subscriptions"]} == {
        "vantaa": "confirmed",
        "kerava": "unsubscribed",
    }


def test_adding_a_city_for_a_suppressed_address_is_refused(
    client: TestClient, key: str, engine: Engine, settings: Settings
) -> None:
    body = {
        "email": "bounced@yritys.fi",
        "subscriptions": [
            {"city": "vantaa", "topics": ["climate"], "confirmed": True, "consent_note": "CRM"}
        ],
    }
    assert client.post("/api/v1/subscribers", json=body, headers=auth(key)).status_code == 201
    with Session(engine) as s:  # the address bounced for good since
        suppression.add(
            s, settings, "bounced@yritys.fi", SuppressionReason.HARD_BOUNCE, "550 no such user"
        )
        s.commit()
    more = {"city": "kerava", "topics": ["climate"], "confirmed": True, "consent_note": "CRM"}
    path = "/api/v1/subscribers/bounced@yritys.fi/subscriptions"
    assert client.post(path, json=more, headers=auth(key)).status_code == 409
    subscriber = client.get("/api/v1/subscribers/bounced@yritys.fi", headers=auth(key)).json()
    assert [s["city"] for s in subscriber["subscriptions"]] == ["vantaa"]
