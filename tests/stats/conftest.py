"""The statistics' fixture: the hand-made history of tests/stats/fixture.py."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.settings import Settings
from tests.stats.fixture import populate


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path, settings.templates_path)


@pytest.fixture
def history(engine: Engine, config: Config) -> dict[str, int]:
    with Session(engine, expire_on_commit=False) as s:
        return populate(s, config)
