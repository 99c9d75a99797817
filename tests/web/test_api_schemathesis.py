"""schemathesis against ``/api/v1``: generated from ``/openapi.json``, run over ASGI.

Every operation gets schemathesis's example and coverage phases plus 25
hypothesis-generated requests (valid and schema-violating), all with a valid
API key; no answer may be a 5xx, and every answer must use a status code and
a body the OpenAPI document declares. A subscriber with the schema's example
address exists, so reads, updates and deletes reach their success paths too.

The schema is read at import time from an app on an in-memory database (the
document depends only on the routes); each test then sends its cases to the
test's own app (``app=``), whose database has tables and an API key.
``schemathesis.pytest.from_fixture`` would avoid the import-time app, but its
lazy loader sets ``Function._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, create_api_key
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.conftest import ROOT
from tests.web.conftest import TestClient

_SCHEMA_APP = create_app(
    Settings(
        database_url="sqlite://",
        mail_url="memory:",
        secret_key="schema-only-0123456789abcdef0123456789abcdef",
        campaigns_dir=ROOT / "campaigns",
    ),
    mailer=RecordingMailer(),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _SCHEMA_APP).include(
    path_regex="^/api/v1/"
)


@pytest.fixture
def limiter() -> RateLimiter:
    """The API's own limit (120, then 5/s) would answer most generated requests 429."""
    return RateLimiter({"api": (10_000, 100.0)})


@pytest.fixture
def auth(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        _, key = create_api_key(s, "schemathesis")
        s.commit()
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def known_subscriber(client: TestClient, auth: dict[str, str]) -> None:
    """The address and city of the schema's examples exist, so reads and updates find them."""
    created = client.post(
        "/api/v1/subscribers",
        json={
            "email": "info@yritys.fi",
            "company_name": "Yritys Oy",
            "subscriptions": [
                {"city": "vantaa", "topics": ["climate"], "confirmed": True,
                 "consent_note": "customer since 2020"},
            ],
        },
        headers=auth,
    )  # fmt: skip
    assert created.status_code == 201, created.text


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.usefixtures("known_subscriber")
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, app: FastAPI, auth: dict[str, str]
) -> None:
    case.call_and_validate(
        app=app,
        headers=auth,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )


@pytest.mark.parametrize("offset", ["-1", "1000000001", "9223372036854775808"])
def test_list_offset_out_of_range_is_422(
    client: TestClient, auth: dict[str, str], offset: str
) -> None:
    """Found by schemathesis: an offset past 2**63 made the database driver raise (500)."""
    resp = client.get("/api/v1/subscribers", params={"offset": offset}, headers=auth)
    assert resp.status_code == 422, resp.text
