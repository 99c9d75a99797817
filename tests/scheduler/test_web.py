"""``outreach daemon --web``: the web app in the daemon's process, with its health check."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from outreach.settings import Settings
from outreach.web import daemon_app
from tests.scheduler.helpers import wait_for
from tests.scheduler.test_daemon import make_daemon

pytest.importorskip("outreach.web")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_daemon_serves_the_web_app_and_reports_the_scheduler_alive(
    sched_settings: Settings, tmp_path: Path
) -> None:
    d = make_daemon(sched_settings, tmp_path / "calls.jsonl")
    port = free_port()
    web = daemon_app(sched_settings)
    thread = threading.Thread(target=d.run, kwargs={"web": web, "port": port})
    thread.start()
    url = f"http://127.0.0.1:{port}/healthz"

    def healthz() -> httpx.Response | None:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            return None

    try:
        assert wait_for(lambda: d.is_leader and healthz() is not None, 15)
        reply = healthz()
        assert reply is not None and reply.status_code == 200
        assert reply.json()["checks"] == {"database": True, "scheduler": True}
        d.options.poll_interval = 600.0  # the loop's next wait is long ...
        time.sleep(0.5)
        d.heartbeat -= 4 * 600  # ... and its last tick is older than three waits
        stale = healthz()
        assert stale is not None and stale.status_code == 503
        assert stale.json()["checks"]["scheduler"] is False
    finally:
        d.stop()
        thread.join(15)
    assert not thread.is_alive()
    assert healthz() is None  # the server went down with the daemon
