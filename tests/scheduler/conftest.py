"""Fixtures for the scheduler tests: settings over a generated campaigns folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from outreach.db import create_db_engine, dispose_engines
from outreach.models import Base
from outreach.settings import Settings
from tests.scheduler.helpers import make_settings


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture
def sched_settings(tmp_path: Path) -> Settings:
    """Settings on SQLite with a schema and three announcement campaigns."""
    settings = make_settings(tmp_path)
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return settings
