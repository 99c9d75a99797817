"""Fixtures of the render tests: the shipped campaigns and content rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, NewsletterCampaign, load
from outreach.models import ContentItem, SourceState
from outreach.settings import Settings
from outreach.sources import registry


@pytest.fixture
def config(settings: Settings) -> Config:
    return load(settings.campaigns_path, settings.templates_path)


def source_row(session: Session, type_name: str, options: dict[str, Any], city: str) -> SourceState:
    """The SourceState row of a source definition, created on first use."""
    key = registry.build_source(type_name, options).state_key(city)
    row = session.scalar(select(SourceState).where(SourceState.key == key))
    if row is None:
        row = SourceState(key=key, type=type_name, url=options.get("url"))
        session.add(row)
        session.flush()
    return row


_counter = iter(range(1, 1_000_000))


def add_item(
    session: Session,
    config: Config,
    campaign: str,
    section: str,
    *,
    source: int = 0,
    **fields: Any,
) -> ContentItem:
    """A ContentItem of the ``source``-th source of ``campaign``'s ``section``."""
    camp = config.campaign(campaign)
    assert isinstance(camp, NewsletterCampaign)
    sec = next(s for s in camp.sections if s.id == section)
    src = sec.sources[source]
    state = source_row(session, src.type, src.options(), config.campaign(campaign).city)
    kind = {"news": "news", "events": "event", "stories": "story", "links": "link"}[sec.kind]
    n = next(_counter)
    values: dict[str, Any] = {
        "kind": kind,
        "external_id": f"item-{n}",
        "title": f"Item {n}",
        "summary": "",
        "fingerprint": f"fp-{n}",
        "first_seen_at": datetime(2026, 11, 1, tzinfo=UTC),
        **fields,
    }
    item = ContentItem(source_id=state.id, **values)
    session.add(item)
    session.flush()
    return item
