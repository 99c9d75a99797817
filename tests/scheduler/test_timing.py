"""Cron fire times in the city's timezone, with the clock given explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outreach.campaigns import AnnouncementCampaign
from outreach.scheduler.timing import due, fire_times, latest_fire_time, next_fire_time

HKI = "Europe/Helsinki"


def campaign(**timing: Any) -> AnnouncementCampaign:
    return AnnouncementCampaign(
        slug="t",
        kind="announcement",
        city="vantaa",
        languages=["fi"],
        subject={"fi": "x"},
        body={"fi": "x.md"},
        **timing,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_first_tuesday_at_nine_helsinki_across_both_dst_changes() -> None:
    camp = campaign(schedule={"day": "1st tue", "hour": 9})
    got = list(fire_times(camp, HKI, utc(2026, 1, 1), utc(2026, 12, 31)))
    assert len(got) == 12
    # 09.00 local is 07.00 UTC in winter (EET) and 06.00 UTC in summer (EEST).
    assert got[2] == utc(2026, 3, 3, 7)  # before the last Sunday of March (29th)
    assert got[3] == utc(2026, 4, 7, 6)
    assert got[9] == utc(2026, 10, 6, 6)  # before the last Sunday of October (25th)
    assert got[10] == utc(2026, 11, 3, 7)
    assert got[11] == utc(2026, 12, 1, 7)
    for moment in got:  # always a Tuesday in the first seven days, at 9.00 local
        local = moment.astimezone(ZoneInfo(HKI))
        assert (local.weekday(), local.hour, local.minute) == (1, 9, 0)
        assert local.day <= 7


def test_repeated_hour_in_october_fires_once() -> None:
    camp = campaign(schedule={"hour": 3, "minute": 30})
    got = list(fire_times(camp, HKI, utc(2026, 10, 24), utc(2026, 10, 27)))
    # 03.30 happens twice on 25 October 2026 (EEST then EET): one run, the first.
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_skipped_hour_in_march_still_fires_that_day() -> None:
    camp = campaign(schedule={"hour": 3, "minute": 30})
    got = list(fire_times(camp, HKI, utc(2026, 3, 28), utc(2026, 3, 31)))
    # 03.30 does not exist on 29 March 2026; that day fires once, at 04.30 EEST.
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_latest_fire_time_coalesces_a_long_pause() -> None:
    camp = campaign(schedule={"minute": "*/15"})
    latest = latest_fire_time(camp, HKI, utc(2026, 1, 1), utc(2026, 6, 1, 12, 7))
    assert latest == utc(2026, 6, 1, 12, 0)
    assert latest_fire_time(camp, HKI, utc(2026, 6, 1, 12, 0), utc(2026, 6, 1, 12, 7)) is None


def test_due_applies_the_grace_time() -> None:
    camp = campaign(schedule={"day": "1st tue", "hour": 9}, grace_minutes=60)
    fire = utc(2026, 12, 1, 7)
    since = utc(2026, 11, 20)
    on_time = due(camp, HKI, last_run_at=None, known_since=since, now=fire + timedelta(minutes=59))
    assert on_time is not None and on_time.fire_time == fire and not on_time.missed
    late = due(camp, HKI, last_run_at=None, known_since=since, now=fire + timedelta(hours=2))
    assert late is not None and late.missed and late.late_by == timedelta(hours=2)
    assert (
        due(camp, HKI, last_run_at=fire, known_since=since, now=fire + timedelta(hours=2)) is None
    )
    # A campaign first seen after the fire time does not owe it.
    assert (
        due(
            camp,
            HKI,
            last_run_at=None,
            known_since=fire + timedelta(minutes=1),
            now=fire + timedelta(minutes=2),
        )
        is None
    )


def test_send_at_is_in_the_city_timezone_when_naive() -> None:
    camp = campaign(send_at=datetime(2026, 12, 4, 10, 0))
    assert next_fire_time(camp, HKI, utc(2026, 12, 1)) == utc(2026, 12, 4, 8)
    assert next_fire_time(camp, HKI, utc(2026, 12, 5)) is None
    owed = due(
        camp, HKI, last_run_at=None, known_since=utc(2026, 12, 10), now=utc(2026, 12, 4, 8, 30)
    )
    assert owed is not None and owed.fire_time == utc(2026, 12, 4, 8) and not owed.missed
