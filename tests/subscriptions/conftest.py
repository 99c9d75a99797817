"""Fixtures for the subscriptions stage: settings, loaded config and a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, SignUp
from tests.subscriptions.support import with_campaigns


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return with_campaigns(settings, tmp_path)


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


def signup(
    config: Config, email: str = "matti@yritys.fi", city: str = "vantaa", **kw: Any
) -> SignUp:
    kw.setdefault("topics", ["climate"])
    return SignUp.clean(config, city, email=email, **kw)
