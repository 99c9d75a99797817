"""The web app with the staff console, a movable clock and a client over https."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from outreach.db import dispose_engines
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.staff.support import Clock
from tests.web.conftest import TestClient


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter({"form": (10_000, 100.0), "staff": (10_000, 100.0)})


@pytest.fixture
def app(
    settings: Settings, engine: Engine, clock: Clock, limiter: RateLimiter
) -> Iterator[FastAPI]:
    yield create_app(settings, mailer=RecordingMailer(), rate_limiter=limiter, clock=clock)
    dispose_engines()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c
