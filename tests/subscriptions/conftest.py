"""Fixtures for the subscriptions stage: settings, loaded config and a session."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.campaigns import Config, load
from outreach.settings import Settings
from tests.subscriptions.support import with_campaigns


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return with_campaigns(settings, tmp_path)


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path)
