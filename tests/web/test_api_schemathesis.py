"""schemathesis against ``/api/v1``: generated from ``/openapi.json``, run over ASGI.

Every operation gets 25 generated requests with a valid API key; no answer
may be a 5xx, and every answer must use a status code and a body the
OpenAPI document declares.

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


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, app: FastAPI, engine: Engine) -> None:
    with Session(engine) as s:
        _, key = create_api_key(s, f"schemathesis-{case.operation.label}")
        s.commit()
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {key}"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
