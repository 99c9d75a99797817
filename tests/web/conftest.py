"""Web fixtures: the app with a recording mailer and a TestClient over https."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from outreach.db import dispose_engines
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.subscriptions.support import with_campaigns

with warnings.catch_warnings():
    # Starlette 1.x warns that its test client prefers httpx2; httpx is what the
    # lock file installs (ask for httpx2 in the dev dependencies).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def edit_cities(settings: Settings, old: str, new: str) -> None:
    """Change the test's copy of cities.yaml: ``old``, which must be there, becomes ``new``."""
    cities = settings.campaigns_path / "cities.yaml"
    text = cities.read_text()
    assert old in text, f"cities.yaml no longer has {old!r}"
    cities.write_text(text.replace(old, new))


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return with_campaigns(settings, tmp_path)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter({"form": (10_000, 100.0), "unsubscribe": (10_000, 100.0)})


@pytest.fixture
def app(
    settings: Settings, engine: Engine, mailer: RecordingMailer, limiter: RateLimiter
) -> Iterator[FastAPI]:
    yield create_app(settings, mailer=mailer, rate_limiter=limiter)
    dispose_engines()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c
