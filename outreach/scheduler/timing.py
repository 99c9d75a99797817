"""When a campaign fires: cron fire times in the city's timezone, and what is due now.

Pure functions of a campaign, its city's timezone and the clock, so the daemon,
``run-due`` and ``status`` agree, and tests control time by passing ``now``.

Two DST rules on top of APScheduler's ``CronTrigger``:

* a wall-clock time that happens twice (the last Sunday of October, 03:00–04:00
  in Europe/Helsinki) fires once, at its first occurrence;
* a wall-clock time that does not exist (the last Sunday of March, 03:00–04:00)
  fires once, an hour later by the clock (what the trigger gives).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from outreach.campaigns import CampaignBase

#: Stop walking cron fire times after this many steps (a minutely cron over a
#: pause of a year is about 525,000; we only ever need the latest one).
_MAX_STEPS = 100_000


@dataclass(frozen=True)
class Due:
    """The fire time a campaign owes, and whether it is too late to run it."""

    fire_time: datetime
    late_by: timedelta
    missed: bool


def send_at_utc(campaign: CampaignBase, timezone: str) -> datetime | None:
    """The one-off ``send_at`` as an aware UTC time (naive means the city's time)."""
    if campaign.send_at is None:
        return None
    at = campaign.send_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(timezone))
    return at.astimezone(UTC)


def fire_times(
    campaign: CampaignBase, timezone: str, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Fire times ``t`` with ``after < t <= until``, in UTC, oldest first."""
    if campaign.schedule is None:
        at = send_at_utc(campaign, timezone)
        if at is not None and after < at <= until:
            yield at
        return
    trigger = campaign.schedule.trigger(timezone)
    tz = ZoneInfo(timezone)
    previous: datetime | None = None
    cursor = after + timedelta(microseconds=1)
    for _ in range(_MAX_STEPS):
        nxt = trigger.get_next_fire_time(previous, cursor)
        if nxt is None:
            return
        nxt = nxt.astimezone(UTC)
        if nxt > until:
            return
        if not _second_occurrence(nxt, tz):
            yield nxt
        previous = nxt
        cursor = nxt + timedelta(microseconds=1)


def _second_occurrence(moment: datetime, tz: ZoneInfo) -> bool:
    """True for the repeat of a wall-clock time when the clocks go back."""
    wall = moment.astimezone(tz).replace(tzinfo=None)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC) != moment


def latest_fire_time(
    campaign: CampaignBase, timezone: str, after: datetime, now: datetime
) -> datetime | None:
    """The latest fire time in ``(after, now]`` (runs missed before it coalesce into it)."""
    if campaign.schedule is None:
        return next(fire_times(campaign, timezone, after, now), None)
    # Walk back in widening windows so a long pause costs a few steps, not thousands.
    window = timedelta(days=2)
    while True:
        start = max(after, now - window)
        found = None
        for found in fire_times(campaign, timezone, start, now):  # noqa: B007
            pass
        if found is not None or start == after:
            return found
        window *= 8


def next_fire_time(campaign: CampaignBase, timezone: str, now: datetime) -> datetime | None:
    """The first fire time after ``now`` (None when a one-off is past)."""
    far = now + timedelta(days=366 * 5)
    return next(fire_times(campaign, timezone, now, far), None)


def due(
    campaign: CampaignBase,
    timezone: str,
    *,
    last_run_at: datetime | None,
    known_since: datetime,
    now: datetime,
) -> Due | None:
    """What the campaign owes at ``now``: the latest fire time after its last run.

    ``last_run_at`` is the fire time last handled (run or recorded missed); a
    campaign never run counts from ``known_since`` (when its file was first
    synced), except a one-off ``send_at``, which counts whenever it falls. A fire
    time older than the campaign's grace time is missed: recorded, never run late.
    """
    if last_run_at is not None:
        after = last_run_at
    elif campaign.schedule is None:
        after = datetime.min.replace(tzinfo=UTC)
    else:
        after = known_since
    fire = latest_fire_time(campaign, timezone, after, now)
    if fire is None:
        return None
    late_by = now - fire
    return Due(fire, late_by, late_by > timedelta(minutes=campaign.grace_minutes))


def local_label(moment: datetime, timezone: str) -> str:
    """``2026-12-01 09:00 EET``: a fire time as the city's staff read it."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def next_runs(
    campaign: CampaignBase, timezone: str, now: datetime, count: int = 3
) -> list[datetime]:
    """The next ``count`` fire times after ``now`` (fewer for a one-off, or none)."""
    return list(islice(fire_times(campaign, timezone, now, now + timedelta(days=366 * 5)), count))
