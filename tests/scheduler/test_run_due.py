"""``run-due`` with the clock controlled: what is due, the grace rule, the locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.db import get_engine, session_scope
from outreach.models import Campaign
from outreach.scheduler import run_due, status
from outreach.scheduler.locks import named_lock
from outreach.scheduler.messages import Msg, _n
from outreach.settings import Settings
from tests.scheduler.helpers import FakePipeline, read_log, write_campaign

KNOWN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # campaigns first synced
FIRE = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # first Tuesday of December, 9.00 EET


def rows(settings: Settings) -> dict[str, Campaign]:
    with session_scope(get_engine(settings)) as session:
        return {c.slug: c for c in session.scalars(select(Campaign))}


def campaign_calls(log: Path) -> list[tuple[str, str]]:
    return [(e["slug"], e["fire_time"]) for e in read_log(log) if e["call"] == "run_campaign"]


def test_first_pass_runs_periodic_work_and_a_second_pass_does_nothing(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    fake = FakePipeline(log)
    first = run_due(sched_settings, now=KNOWN, pipeline=fake)
    assert [o.name for o in first] == ["fetch", "purge"]
    assert run_due(sched_settings, now=KNOWN + timedelta(minutes=15), pipeline=fake) == []
    assert campaign_calls(log) == []


def test_due_campaigns_run_once_at_their_fire_time(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    fake = FakePipeline(log)
    run_due(sched_settings, now=KNOWN, pipeline=fake)
    outcomes = run_due(sched_settings, now=FIRE + timedelta(minutes=10), pipeline=fake)
    ran = {o.name: o for o in outcomes if o.fire_time is not None}
    assert set(ran) == {"vantaa-news", "kerava-news"}
    assert all(o.status == "ok" and o.fire_time == FIRE for o in ran.values())
    assert sorted(campaign_calls(log)) == [
        ("kerava-news", FIRE.isoformat()),
        ("vantaa-news", FIRE.isoformat()),
    ]
    state = rows(sched_settings)
    assert state["vantaa-news"].last_run_at == FIRE
    assert state["vantaa-news"].last_run_status == "ok"
    assert state["kerava-award"].last_run_at is None
    # The same pass again, a quarter of an hour later: nothing at all.
    assert run_due(sched_settings, now=FIRE + timedelta(minutes=25), pipeline=fake) == []
    assert len(campaign_calls(log)) == 2


def test_a_run_two_hours_late_is_recorded_missed_not_sent(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    fake = FakePipeline(log)
    run_due(sched_settings, now=KNOWN, pipeline=fake)
    outcomes = run_due(sched_settings, now=FIRE + timedelta(hours=2), pipeline=fake)
    missed = {o.name for o in outcomes if o.status == "missed"}
    assert missed == {"vantaa-news", "kerava-news"}
    assert campaign_calls(log) == []
    row = rows(sched_settings)["vantaa-news"]
    assert row.last_run_status == "missed"
    stored = Msg.load(row.last_run_message)
    assert stored is not None
    assert "Tue 1.12.2026 at 9:00 was missed by 120 minutes" in stored.render("en")
    report = status(sched_settings, now=FIRE + timedelta(hours=2))
    text = "\n".join(report.lines())
    assert "vantaa-news: next Tue 5.1.2027 at 9:00; last Tue 1.12.2026 at 9:00 missed" in text
    finnish = "\n".join(report.lines("fi"))
    assert (
        "vantaa-news: seuraava ti 5.1.2027 klo 9.00; edellinen ti 1.12.2026 klo 9.00 "
        "väliin jäänyt: ajo ti 1.12.2026 klo 9.00 jäi väliin: 120 minuuttia myöhässä "
        "(armonaika: 60 min); ei lähetetty myöhässä"
    ) in finnish
    assert [o.lines("sv")[0] for o in outcomes if o.name == "kerava-news"] == [
        "kerava-news (tis 1.12.2026 kl. 9.00): missad: körningen tis 1.12.2026 kl. 9.00 "
        "missades med 120 minuter (respittid: 60 min); skickades inte i efterhand"
    ]
    # Missed is final: the next pass does not send it late either.
    assert run_due(sched_settings, now=FIRE + timedelta(hours=2, minutes=30), pipeline=fake) == []


def test_overlapping_run_due_skips_with_a_message(sched_settings: Settings, tmp_path: Path) -> None:
    fake = FakePipeline(tmp_path / "calls.jsonl")
    with named_lock(sched_settings, "run-due") as got:
        assert got
        outcomes = run_due(sched_settings, now=KNOWN, pipeline=fake)
    assert [(o.name, o.status) for o in outcomes] == [("run-due", "skipped")]
    assert outcomes[0].lines() == ["run-due: skipped: another run-due is in progress"]
    assert outcomes[0].lines("fi") == ["run-due: ohitettu: toinen run-due on jo käynnissä"]
    assert read_log(tmp_path / "calls.jsonl") == []


def test_a_campaign_running_elsewhere_is_left_for_the_next_pass(
    sched_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    fake = FakePipeline(log)
    run_due(sched_settings, now=KNOWN, pipeline=fake)
    with named_lock(sched_settings, "campaign:vantaa-news"):
        outcomes = run_due(sched_settings, now=FIRE + timedelta(minutes=5), pipeline=fake)
    busy = [o for o in outcomes if o.status == "busy"]
    assert [o.name for o in busy] == ["vantaa-news"]
    assert rows(sched_settings)["vantaa-news"].last_run_at is None
    again = run_due(sched_settings, now=FIRE + timedelta(minutes=10), pipeline=fake)
    assert [(o.name, o.status) for o in again] == [("vantaa-news", "ok")]


def test_a_failing_campaign_is_recorded_and_the_others_still_run(
    sched_settings: Settings, tmp_path: Path
) -> None:
    fake = FakePipeline(tmp_path / "calls.jsonl", fail={"kerava-news"})
    run_due(sched_settings, now=KNOWN, pipeline=fake)
    outcomes = run_due(sched_settings, now=FIRE + timedelta(minutes=5), pipeline=fake)
    by_name = {o.name: o for o in outcomes}
    assert by_name["kerava-news"].status == "error"
    assert "RuntimeError: kerava-news broke" in str(by_name["kerava-news"].message)
    assert by_name["vantaa-news"].status == "ok"
    assert rows(sched_settings)["kerava-news"].last_run_status == "error"


def test_a_one_off_send_at_runs_once_within_grace(sched_settings: Settings, tmp_path: Path) -> None:
    write_campaign(sched_settings.campaigns_dir, "vantaa-dialogue", send_at="2026-11-24T10:00:00")
    log = tmp_path / "calls.jsonl"
    fake = FakePipeline(log)
    run_due(sched_settings, now=KNOWN, pipeline=fake)
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 10.00 EET
    before = run_due(sched_settings, now=at - timedelta(minutes=1), pipeline=fake)
    assert [o.name for o in before] == ["fetch", "purge"]
    outcomes = run_due(sched_settings, now=at + timedelta(minutes=3), pipeline=fake)
    assert [(o.name, o.status) for o in outcomes] == [("vantaa-dialogue", "ok")]
    assert run_due(sched_settings, now=at + timedelta(minutes=30), pipeline=fake) == []
    assert [slug for slug, _ in campaign_calls(log)] == ["vantaa-dialogue"]


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "haettiin 1 lähde, 0 virhetilassa", "haettiin 2 lähdettä, 1 virhetilassa"),
        ("sv", "hämtade 1 källa, 0 med fel", "hämtade 2 källor, 1 med fel"),
        ("en", "fetched 1 source, 0 in error", "fetched 2 sources, 1 in error"),
    ],
)
def test_a_stored_message_with_a_count_takes_the_form_of_its_number(
    lang: str, one: str, two: str
) -> None:
    def fetched(n: int, errors: int) -> Msg:
        return _n(
            "fetched {n} source, {errors} in error",
            "fetched {n} sources, {errors} in error",
            "n",
            n=n,
            errors=errors,
        )

    stored = [Msg.load(fetched(n, errors).dump()) for n, errors in ((1, 0), (2, 1))]
    assert [m.render(lang) for m in stored if m is not None] == [one, two]
