"""The runtime check: Python and expat releases older than their security fixes."""

from __future__ import annotations

import logging

import pytest

from outreach.logthrottle import ThrottledLog
from outreach.runtime import expat_version, outdated


def test_python_and_expat_older_than_the_fixes_are_reported() -> None:
    found = outdated((3, 11, 7), "expat_2.5.0")
    assert [(o.component, o.running, o.fixed) for o in found] == [
        ("Python", "3.11.7", "3.11.10"),
        ("expat", "2.5.0", "2.6.0"),
    ]
    assert "CVE-2024-6923" in str(found[0]) and "CVE-2023-27043" in str(found[0])


@pytest.mark.parametrize(
    ("python", "expat", "components"),
    [
        ((3, 11, 9), "expat_2.6.0", ["Python"]),
        ((3, 11, 10), "expat_2.6.0", []),
        ((3, 11, 14), "expat_2.7.1", []),
        ((3, 12, 5), "expat_2.6.2", ["Python"]),  # has CVE-2024-6923's fix, not CVE-2023-27043's
        ((3, 12, 6), "expat_2.6.2", []),
        ((3, 13, 0), "expat_2.5.9", ["expat"]),
        ((3, 14, 1), "expat_2.7.3", []),
    ],
)
def test_the_fixed_release_per_branch(
    python: tuple[int, int, int], expat: str, components: list[str]
) -> None:
    assert [o.component for o in outdated(python, expat)] == components


def test_expat_version_text() -> None:
    assert expat_version("expat_2.5.0") == (2, 5, 0)
    assert expat_version("unknown") is None
    assert outdated((3, 12, 8), "unknown") == []


def test_a_recurring_failure_logs_once_per_window_with_the_count_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    throttled = ThrottledLog(logging.getLogger("test.throttle"), every=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "test.throttle"):
        for _ in range(20):  # one probe a second
            throttled.warning("health check failed: %s", "database unreachable")
            now[0] += 1
        now[0] += 11  # 31 s after the first line
        throttled.warning("health check failed: %s", "database unreachable")
        throttled.recovered("health check passes again")
        throttled.recovered("health check passes again")  # said once
        throttled.warning("health check failed: %s", "again")  # a new outage logs at once
    assert caplog.messages == [
        "health check failed: database unreachable",
        "health check failed: database unreachable (19 more in the last 30 s not logged)",
        "health check passes again",
        "health check failed: again",
    ]


def test_the_dockerfile_pins_a_patched_python_by_exact_version() -> None:
    import re

    from tests.conftest import ROOT

    base = re.search(r"^FROM python:(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base is not None
    pinned = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)-slim-(\w+)(@sha256:[0-9a-f]{64})?", base[1])
    assert pinned is not None, f"{base[1]} is not an exact version"
    version = (int(pinned[1]), int(pinned[2]), int(pinned[3]))
    assert outdated(version, "expat_2.7.1") == []
    assert pinned[4] != "bookworm"  # its libexpat1 reports 2.5.0
