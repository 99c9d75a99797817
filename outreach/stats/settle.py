"""When a send settles: fold its issue, and count its city's year, before anyone asks.

The figures fold a settled issue themselves when they first need it
(:mod:`outreach.stats.marks`), but at a million deliveries that is seconds of
the first page after a send. So whatever finishes a send calls :func:`settle`
(the scheduler's send pass, the console's and the command line's send): the
issue is folded there, and the year's reach of its city is counted and kept
(:mod:`outreach.stats.summaries`), so the city's dashboard finds both. The
scheduler's pass also settles what finished elsewhere (a cancel, another host).

It never fails a send: a busy database leaves the work to the figures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import OutreachError
from outreach.models import ISSUE_FINISHED, Campaign, City, Delivery, Issue, IssueReach
from outreach.stats.city import roomy
from outreach.stats.figures import year_reach
from outreach.stats.marks import UNSETTLED_ROWS, fold

log = logging.getLogger(__name__)

#: The issues the scheduler's pass settles: those whose send started this long ago at
#: most (older ones the figures of their year fold when asked).
RECENT = timedelta(days=400)


def settle(
    engine: Engine,
    config: Config,
    issue_ids: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Fold the settled issues among ``issue_ids`` (None: every finished issue of the
    last :data:`RECENT` days) that are not folded yet, and count and keep the year's
    reach of each of their cities. Returns how many issues were folded."""
    moment = now if now is not None else datetime.now(UTC)
    try:
        with Session(engine) as session:
            waiting = _waiting(session, issue_ids, moment)
            if not waiting:
                return 0
            done = fold(session, [issue_id for issue_id, _, _ in waiting], moment)
            roomy(session)
            for city, year in sorted({(city, year) for _, city, year in waiting}):
                if city in config.cities and year <= moment.year:
                    year_reach(session, config, city, year, now=moment)
            return done
    except (SQLAlchemyError, OutreachError) as exc:
        log.warning("statistics: settled issues not folded now (%s)", exc)
        return 0


def _waiting(
    session: Session, issue_ids: Sequence[int] | None, now: datetime
) -> list[tuple[int, str, int]]:
    """(issue, city slug, year in the city's time zone) of the settled issues not folded."""
    unsettled = exists().where(Delivery.issue_id == Issue.id, Delivery.status.in_(UNSETTLED_ROWS))
    query = (
        select(Issue.id, City.slug, City.timezone, Issue.send_started_at)
        .join(Campaign, Campaign.id == Issue.campaign_id)
        .join(City, City.id == Campaign.city_id)
        .where(
            Issue.status.in_(ISSUE_FINISHED),
            Issue.send_started_at.is_not(None),
            ~exists().where(IssueReach.issue_id == Issue.id),
            ~unsettled,
        )
    )
    if issue_ids is None:
        query = query.where(Issue.send_started_at >= now - RECENT)
    else:
        query = query.where(Issue.id.in_(issue_ids))
    found = []
    for issue_id, city, tz, started in session.execute(query.order_by(Issue.id)):
        when = started or now  # (never None: see the query)
        found.append((int(issue_id), str(city), when.astimezone(ZoneInfo(tz)).year))
    return found
