"""The bounce tests reuse the delivery tests' world: an issue, its subscribers
and a scripted aiosmtpd sink; and the console tests' app and client."""

from pathlib import Path

import pytest

from outreach.campaigns import Config, load
from tests.delivery.conftest import (  # noqa: F401 - fixtures
    _dispose_engines,
    _fake_render,
    config,
    smtp_server,
    tls_files,
    world_factory,
    write_campaigns,
)
from tests.staff.conftest import app, client, clock, limiter  # noqa: F401 - fixtures

KERAVA = """\
slug: kerava-monthly
kind: announcement
city: kerava
languages: [fi]
send_at: 2026-12-01T09:00:00
subject: {fi: "Ilmastouutiset"}
body: {fi: body.fi.md}
audience: {topics: [climate]}
"""


@pytest.fixture
def two_cities(tmp_path: Path) -> Config:
    """The delivery tests' Vantaa campaign plus a Kerava one."""
    root = write_campaigns(tmp_path / "two-cities")
    (root / "kerava-monthly.yaml").write_text(KERAVA)
    return load(root)
