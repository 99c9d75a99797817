"""``outreach status`` on the command line over time: an approved issue is listed as
waiting to be sent (for the next send check, or for its send time in the city's
time, in the reader's format), never as a send in progress; a send in progress is an
issue being sent."""

from __future__ import annotations

import importlib
import re
import threading
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from outreach.settings import get_settings
from tests.test_cli import _fresh_link, invoke
from tests.test_cli import run as run  # the fixture


class _MovedOn(datetime):
    """The real clock moved on by ``ahead``: ``outreach status`` an hour or a day later."""

    ahead = timedelta(0)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + cls.ahead


def test_status_keeps_approved_issues_apart_from_sends_in_progress(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approved issue waits: for the next send check, or for its time (shown in the
    city's time, in the reader's format), and once that time has come for the next
    send check; it is a send in progress only once it is sent. The schedule is set
    three days from the real today, and the status's clock moves past it."""
    assert invoke(run, "demo").exit_code == 0
    _fresh_link("Markkinavuoropuhelu: aurinkovoimalat")
    built = invoke(run, "issue", "build", "kerava-monthly", "--period", "2027-01")
    assert built.exit_code == 0, built.output
    ref = "kerava-monthly/2027-01"
    assert invoke(run, "issue", "approve", ref).exit_code == 0
    issue_id = re.match(r"issue (\d+):", invoke(run, "issue", "show", ref).output)
    assert issue_id is not None
    head = f"  issue #{issue_id.group(1)} kerava-monthly 2027-01"

    def status(lang: str = "en") -> list[str]:
        monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
        get_settings.cache_clear()
        result = invoke(run, "status")
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    def part(lines: list[str], title: str) -> list[str]:
        """The lines under the heading that starts with ``title``, the heading first."""
        start = next((n for n, line in enumerate(lines) if line.startswith(title)), None)
        assert start is not None, f"no heading {title!r} in {lines}"
        end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith("  ")),
                   len(lines))  # fmt: skip
        return lines[start:end]

    lines = status()
    assert part(lines, "approved, waiting") == [
        "approved, waiting to be sent: 1",
        f"{head}: sent at the next send check",
    ]
    assert part(lines, "sends in progress") == ["sends in progress: none"]

    helsinki = ZoneInfo("Europe/Helsinki")
    day = datetime.now(helsinki).date() + timedelta(days=3)
    send_at = datetime.combine(day, time(9, 0), helsinki)
    scheduled = invoke(run, "issue", "schedule", ref, f"{day} 09:00")
    assert scheduled.exit_code == 0, scheduled.output
    weekday = day.weekday()
    date = f"{day.day}.{day.month}.{day.year}"
    when = {
        "en": f"{('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[weekday]} {date} at 9:00",
        "fi": f"{('ma', 'ti', 'ke', 'to', 'pe', 'la', 'su')[weekday]} {date} klo 9.00",
        "sv": f"{('mån', 'tis', 'ons', 'tors', 'fre', 'lör', 'sön')[weekday]} {date} kl. 9.00",
    }
    assert part(status(), "approved, waiting") == [
        "approved, waiting to be sent: 1",
        f"{head}: scheduled for {when['en']}",
    ]
    finnish = status("fi")
    assert part(finnish, "hyväksytty, odottaa") == [
        "hyväksytty, odottaa lähettämistä: 1",
        f"  numero {head.split('#')[1]}: ajastettu lähtemään {when['fi']}",
    ]
    assert "lähetyksiä käynnissä: ei yhtään" in finnish
    swedish = status("sv")
    assert f"  nummer {head.split('#')[1]}: schemalagt att skickas {when['sv']}" in swedish

    # the package's ``status`` is the function: the module is taken by its name
    monkeypatch.setattr(importlib.import_module("outreach.scheduler.status"), "datetime", _MovedOn)
    # an hour before its send time
    monkeypatch.setattr(_MovedOn, "ahead", send_at - datetime.now(UTC) - timedelta(hours=1))
    assert f"{head}: scheduled for {when['en']}" in status()
    # five minutes after its send time: its time has come
    monkeypatch.setattr(_MovedOn, "ahead", send_at - datetime.now(UTC) + timedelta(minutes=5))
    lines = status()
    assert part(lines, "approved, waiting") == [
        "approved, waiting to be sent: 1",
        f"{head}: scheduled for {when['en']}; sent at the next send check",
    ]
    assert part(lines, "sends in progress") == ["sends in progress: none"]

    assert invoke(run, "issue", "schedule", ref, "--cancel").exit_code == 0
    assert f"{head}: its schedule was cancelled: waiting to be sent or scheduled" in status()

    from outreach.campaigns import load
    from outreach.delivery import send_issue

    settings = get_settings()
    stop = threading.Event()
    stop.set()  # the outbox written, the issue sending, nothing sent yet
    send_issue(settings, load(settings.campaigns_path, settings.templates_path),
               int(head.split("#")[1].split()[0]), stop=stop)  # fmt: skip
    lines = status()
    assert part(lines, "approved, waiting") == ["approved, waiting to be sent: none"]
    in_progress = part(lines, "sends in progress")
    assert in_progress[0] == "sends in progress: 1"
    assert in_progress[1].startswith(f"{head} (sending"), in_progress
    swedish = status("sv")
    assert "godkända, väntar på att skickas: inga" in swedish
