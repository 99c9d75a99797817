"""Fixtures for the scheduler tests: settings over a generated campaigns folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from outreach.db import dispose_engines
from outreach.settings import Settings
from tests.conftest import create_tables
from tests.scheduler.helpers import make_settings


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture
def sched_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    """Settings on SQLite with a schema and three announcement campaigns."""
    settings = make_settings(tmp_path)
    create_tables(settings.database_url, sqlite_template)
    return settings
