"""Test helpers shared by tests/subscriptions and tests/web."""

from __future__ import annotations

import shutil
from pathlib import Path

from outreach.settings import Settings
from tests.conftest import ROOT


def campaigns_without_sources(tmp_path: Path) -> Path:
    """The shipped cities plus the one campaign that needs no source plug-ins.

    The subscription stage reads only cities and topics; the source plug-ins
    are another stage's, so these tests do not depend on them.
    """
    target = tmp_path / "campaigns"
    (target / "announcements").mkdir(parents=True)
    shutil.copy(ROOT / "campaigns" / "cities.yaml", target / "cities.yaml")
    shutil.copy(ROOT / "campaigns" / "kerava-environmental-award.yaml", target)
    for body in (ROOT / "campaigns" / "announcements").iterdir():
        shutil.copy(body, target / "announcements" / body.name)
    return target


def with_campaigns(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"campaigns_dir": campaigns_without_sources(tmp_path)})
