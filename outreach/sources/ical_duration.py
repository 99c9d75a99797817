"""DURATION as RFC 5545 (3.3.6) means it, for the ``ical`` source.

A duration's days and weeks are nominal: the same local time that many days
later, whatever the clocks did in between. Its hours, minutes and seconds are
exact: elapsed time, so ``PT4H`` from 1.00 on the night the clocks go forward
ends at 6.00 local time. icalendar parses a DURATION into a ``timedelta``,
which cannot tell ``PT24H`` from ``P1D``, and recurring-ical-events adds it on
the wall clock; :class:`Calendar` parses DURATION values as :class:`Span`,
which keeps the two parts and computes the end.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

__all__ = ["Calendar", "Span"]

_DURATION = re.compile(
    r"([+-]?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.IGNORECASE
)


class Span(timedelta):
    """A DURATION as written: ``days_nominal`` (days and weeks: the same local time that
    many days later) and ``exact`` (hours, minutes and seconds: elapsed time)."""

    days_nominal: int
    exact: timedelta

    @classmethod
    def of(cls, text: str, parsed: timedelta) -> timedelta:
        match = _DURATION.fullmatch(text.strip())
        if match is None:
            return parsed
        sign = -1 if match.group(1) == "-" else 1
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups()[1:])
        span = cls(days=parsed.days, seconds=parsed.seconds, microseconds=parsed.microseconds)
        span.days_nominal = sign * (weeks * 7 + days)
        span.exact = sign * timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return span

    def end(self, starts: datetime) -> datetime:
        """The end of an event that starts at ``starts`` and lasts this long."""
        day = starts + timedelta(days=self.days_nominal)  # aware + days: the same wall time
        return (day.astimezone(UTC) + self.exact).astimezone(starts.tzinfo)


class _DurationValue(icalendar.vDDDTypes):
    """DURATION values parsed as :class:`Span` (the parser hands over the text)."""

    @classmethod
    def from_ical(cls, ical: Any, timezone: Any = None) -> Any:
        value = super().from_ical(ical, timezone)  # type: ignore[no-untyped-call]
        if isinstance(value, timedelta) and isinstance(ical, str):
            try:
                return Span.of(ical, value)
            except OverflowError:
                return value
        return value


_TYPES = icalendar.TypesFactory()
_TYPES["duration"] = _DurationValue


class Calendar(icalendar.Calendar):
    """A calendar whose DURATION values are :class:`Span`."""

    types_factory = _TYPES
