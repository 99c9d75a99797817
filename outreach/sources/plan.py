"""Planning an ingest run: one job per distinct source state.

Campaigns that use the same source definition share one job, so it is fetched
once (keyed by :meth:`Source.state_key`, which a ``per_city`` type keys per
city); the job asks for every language and the longest horizon of its uses and
remembers each (campaign, section) that reported it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from outreach.sources.base import Source, SourceUse

__all__ = ["Job", "plan"]


@dataclass
class Job:
    """One source state to fetch and store in this run."""

    key: str
    source: Source
    city: str
    timezone: str
    languages: list[str]
    horizon_days: int
    uses: list[tuple[str, str]] = field(default_factory=list)


def plan(uses: list[SourceUse]) -> list[Job]:
    """One job per distinct source state (identical definitions are fetched once)."""
    jobs: dict[str, Job] = {}
    for use in uses:
        key = use.source.state_key(use.city)
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = Job(key, use.source, use.city, use.timezone, [], 0)
        job.languages = list(dict.fromkeys([*job.languages, *use.languages]))
        job.horizon_days = max(job.horizon_days, use.horizon_days)
        job.uses.append((use.campaign, use.section))
    return list(jobs.values())
