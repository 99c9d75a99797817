"""The bounce tests reuse the delivery tests' world: an issue, its subscribers
and a scripted aiosmtpd sink; and the console tests' app and client."""

from tests.delivery.conftest import (  # noqa: F401 - fixtures
    _dispose_engines,
    _fake_render,
    config,
    smtp_server,
    tls_files,
    world_factory,
)
from tests.staff.conftest import app, client, clock, limiter  # noqa: F401 - fixtures
