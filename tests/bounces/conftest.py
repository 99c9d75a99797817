"""The bounce tests reuse the delivery tests' world: an issue, its subscribers
and a scripted aiosmtpd sink."""

from tests.delivery.conftest import (  # noqa: F401 - fixtures
    _dispose_engines,
    _fake_render,
    config,
    smtp_server,
    tls_files,
    world_factory,
)
