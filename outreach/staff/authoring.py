"""What the console's campaign and source pages do, audited: the stage under
``outreach.web.staff.campaigns`` / ``sources`` and ``outreach campaigns import``.

Every change is one transaction with its audit event. The campaign work is
:mod:`outreach.campaigns.console` (one schema, two origins); the source work
:mod:`outreach.sources` (health, fetch now, try a source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import sources
from outreach.campaigns import Audience, Config, Section, console, form
from outreach.delivery import audience_query
from outreach.errors import CampaignError, OutreachError
from outreach.issues import passes_rules
from outreach.models import City, SubscriptionStatus
from outreach.settings import Settings
from outreach.staff import audit
from outreach.suppression import suppression_key

__all__ = [
    "audience_count",
    "campaign_state",
    "check_campaign",
    "city_sources",
    "fetch_now",
    "import_campaign",
    "re_enable",
    "save_campaign",
    "try_section_source",
]


@dataclass(frozen=True)
class Who:
    """Who acts, and from where (the audit log's actor and address)."""

    email: str
    ip: str | None = None


def save_campaign(
    session: Session,
    config: Config,
    document: dict[str, Any],
    who: Who,
    *,
    city: str,
    texts: dict[str, str] | None,
    templates_dir: Path | None,
    create: bool,
) -> console.Saved:
    """Create or change a console campaign of ``city`` (audited); raises DocumentError."""
    saved = console.save(
        session,
        config,
        document,
        actor=who.email,
        city=city,
        texts=texts,
        templates_dir=templates_dir,
        create=create,
    )
    action = "campaign.create" if saved.created else "campaign.edit"
    detail = {"campaign": saved.row.slug, "revision": saved.row.revision}
    audit.record(session, action, who.email, city=city, ip=who.ip, detail=detail)
    return saved


def check_campaign(
    session: Session,
    config: Config,
    document: dict[str, Any],
    *,
    city: str,
    texts: dict[str, str] | None,
    templates_dir: Path | None,
    create: bool,
    form_errors: Sequence[str] = (),
) -> list[str]:
    """Every error :func:`save_campaign` would refuse the document for; nothing written.

    ``form_errors``: the editor's fields that could not be read (``campaigns.form``);
    they come first, in place of what the validator says about the same fields."""
    _camp, errors = console.problems(
        session, config, document, city=city, texts=texts, templates_dir=templates_dir,
        create=create,
    )  # fmt: skip
    return form.with_form_errors(form_errors, errors)


def campaign_state(session: Session, slug: str, state: str, who: Who, *, city: str) -> None:
    """Pause, archive or re-activate a console campaign of ``city`` (audited)."""
    row = console.set_state(session, slug, state, actor=who.email, city=city)
    detail = {"campaign": slug, "state": state, "revision": row.revision}
    audit.record(session, f"campaign.{state}", who.email, city=city, ip=who.ip, detail=detail)


def import_campaign(
    session: Session, config: Config, path: Path, who: Who, templates_dir: Path | None
) -> console.Saved:
    """``outreach campaigns import``: a campaign file into the console (audited)."""
    saved = console.import_file(session, config, path, actor=who.email, templates_dir=templates_dir)
    detail = {"campaign": saved.row.slug, "file": path.name, "revision": saved.row.revision}
    audit.record(
        session, "campaign.import", who.email, city=saved.campaign.city, ip=who.ip, detail=detail
    )
    return saved


def audience_count(
    session: Session, settings: Settings, city: str, audience: Audience, languages: list[str]
) -> int:
    """Confirmed, mailable subscribers of ``city`` the audience reaches now."""
    city_id = session.scalar(select(City.id).where(City.slug == city))
    if city_id is None or not languages:
        return 0
    from outreach.models import Subscription

    rows = audience_query(city_id, audience, languages, key=suppression_key(settings)).where(
        Subscription.status == SubscriptionStatus.CONFIRMED
    )
    return int(session.scalar(select(func.count()).select_from(rows.subquery())) or 0)


def city_sources(
    session: Session, config: Config, city: str, *, now: datetime, every: timedelta
) -> list[sources.SourceHealth]:
    """Every source the city's campaigns use, with its health."""
    slugs = [slug for slug, camp in config.campaigns.items() if camp.city == city]
    return sources.overview(session, config.source_uses(slugs), now=now, every=every)


def _city_uses(config: Config, city: str, key: str) -> list[str]:
    slugs = [slug for slug, camp in config.campaigns.items() if camp.city == city]
    return [u.campaign for u in config.source_uses(slugs) if sources.key_of(u) == key]


def fetch_now(
    session: Session, settings: Settings, config: Config, city: str, key: str, who: Who
) -> list[Any] | None:
    """Fetch one source of the city now (audited); None: the city has no such source."""
    if not _city_uses(config, city, key):
        return None
    audit.record(session, "source.fetch", who.email, city=city, ip=who.ip, detail={"source": key})
    session.commit()
    return sources.fetch_sources(session, settings, config, None, keys=[key])


def re_enable(session: Session, config: Config, city: str, key: str, who: Who) -> bool:
    """Fetch a disabled source of the city again (audited); False: no such source."""
    if not _city_uses(config, city, key) or sources.enable(session, key) is None:
        return False
    audit.record(session, "source.enable", who.email, city=city, ip=who.ip, detail={"source": key})
    return True


@dataclass
class TrialView:
    """ "Try this source": what it gives, and what the section's filters keep."""

    status: str
    error: str | None
    items: list[Any]
    kept: list[Any]


def try_section_source(
    settings: Settings,
    config: Config,
    city: str,
    section_doc: dict[str, Any],
    source_index: int = 0,
    *,
    session: Session | None = None,
    now: datetime | None = None,
) -> TrialView:
    """Fetch one source of an unsaved section and apply the section's filters."""
    try:
        section = Section.model_validate(section_doc)
        source = section.sources[source_index].source
    except IndexError:
        raise CampaignError("sources: the section has no such source") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CampaignError(f"{loc}: {first['msg'].removeprefix('Value error, ')}") from None
    except OutreachError as exc:
        raise CampaignError(str(exc)) from None
    cfg = config.cities[city]
    trial = sources.try_source(
        settings,
        source,
        city=city,
        timezone=cfg.timezone,
        languages=list(cfg.languages),
        horizon_days=section.horizon_days,
        now=now,
        session=session,
        root=config.root,
    )
    kept = [item for item in trial.items if passes_rules(item, section)]
    return TrialView(trial.status, trial.error, trial.items, kept)
