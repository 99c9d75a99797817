"""What an ingest run reports: one line per source and section, and the exit rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from outreach.models import SourceStatus

__all__ = ["Outcome", "SourceReport", "all_failed"]

_OK = (SourceStatus.OK, SourceStatus.NOT_MODIFIED)


@dataclass
class Outcome:
    """What fetching and storing one source came to: its status and counts."""

    status: str
    new: int = 0
    updated: int = 0
    error: str | None = None
    warning: str | None = None
    retired: int = 0
    cancelled: int = 0


@dataclass(kw_only=True)
class SourceReport(Outcome):
    """What happened to one source of one section in one ingest run."""

    campaign: str
    section: str
    source: str

    def line(self) -> str:
        """One line for ``outreach fetch``."""
        text = f"{self.campaign}/{self.section}: {self.source}: {self.status}"
        if self.status in _OK:
            counts = f"{self.new} new, {self.updated} updated"
            if self.retired:
                counts += f", {self.retired} retired"
            if self.cancelled:
                counts += f" ({self.cancelled} cancelled at the source)"
            text += f" ({counts})"
        if self.error:
            text += f" - {self.error}"
        if self.warning:
            text += f" [warning: {self.warning}]"
        return text


def all_failed(reports: Iterable[SourceReport]) -> bool:
    """True when there were sources and none of them worked (``outreach fetch`` exits 1)."""
    statuses = [r.status for r in reports]
    return bool(statuses) and not any(s in _OK for s in statuses)
