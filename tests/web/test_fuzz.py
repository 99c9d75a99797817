"""No input makes a 5xx: hypothesis in place of schemathesis (not installed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.subscriptions import create_api_key
from tests.web.conftest import TestClient, csrf_of

HS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
text = st.text(max_size=60)
subscription = st.fixed_dictionaries(
    {"city": st.sampled_from(["vantaa", "kerava", "x", ""]) | text},
    optional={
        "topics": st.lists(st.sampled_from(["climate", "awards", "?"]) | text, max_size=3),
        "confirmed": st.booleans() | json_values,
        "consent_note": text | json_values,
    },
)
subscriber = st.fixed_dictionaries(
    {"email": st.sampled_from(["a@b.fi", "A@B.FI", "bad"]) | text},
    optional={
        "company_name": text,
        "business_id": st.sampled_from(["0112038-9", "1"]) | text,
        "contact_name": text,
        "size_class": st.sampled_from(["small", "huge"]) | text,
        "industry_code": text,
        "language": st.sampled_from(["fi", "sv", "xx"]) | text,
        "interested_in_visit": st.booleans() | json_values,
        "subscriptions": st.lists(subscription, max_size=2) | json_values,
    },
)


@pytest.fixture
def api(app: FastAPI, engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with Session(engine) as s:
        _, key = create_api_key(s, "fuzz")
        s.commit()
    with TestClient(app, base_url="https://testserver") as c:
        yield c, {"Authorization": f"Bearer {key}"}


@HS
@given(body=subscriber | json_values, path_email=text)
def test_api_never_5xx(api: tuple[TestClient, dict[str, str]], body: Any, path_email: str) -> None:
    client, auth = api
    email = quote(path_email, safe="@") or "a@b.fi"
    calls = [
        client.post("/api/v1/subscribers", json=body, headers=auth),
        client.patch(f"/api/v1/subscribers/{email}", json=body, headers=auth),
        client.post(f"/api/v1/subscribers/{email}/subscriptions", json=body, headers=auth),
        client.patch("/api/v1/subscribers/a@b.fi/subscriptions/vantaa", json=body, headers=auth),
        client.get(f"/api/v1/subscribers/{email}", headers=auth),
        client.get(
            "/api/v1/subscribers", params={"city": path_email, "limit": path_email}, headers=auth
        ),
    ]
    for resp in calls:
        assert resp.status_code < 500, (resp.request.url, resp.text)


form_field = st.text(max_size=80) | st.sampled_from(["", "\r\n", "\x00", "a@b.fi", "0112038-9"])


@HS
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "email",
                "company_name",
                "business_id",
                "contact_name",
                "language",
                "topics",
                "consent",
                "website",
                "city",
                "title",
                "body",
                "link",
                "contact_email",
                "consent_to_publish",
                "scope",
                "cities",
            ]
        ),
        form_field,
        max_size=8,
    )
)
def test_forms_never_5xx(client: TestClient, fields: dict[str, str]) -> None:
    token = csrf_of(client.get("/vantaa/subscribe").text)
    data = {**fields, "csrf_token": token}
    for path in (
        "/vantaa/subscribe",
        "/kerava/embed",
        "/stories/submit",
        "/unsubscribe/u1.1.AAAA",
        "/confirm/c1.1.AAAA",
    ):
        resp = client.post(path, data=data)
        assert resp.status_code < 500, (path, resp.text)
