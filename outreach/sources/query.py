"""Which stored items belong to a section: its sources' state keys and a query for them."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from outreach.models import ContentItem, SourceState
from outreach.sources.base import SourceSection

__all__ = ["section_items", "section_source_keys"]

log = logging.getLogger(__name__)


def section_source_keys(section: SourceSection, city: str | None = None) -> list[str]:
    """SourceState keys of a section's sources (``city`` is needed for per-city types)."""
    keys: list[str] = []
    for cfg in section.sources:
        source = cfg.source
        if source.per_city and city is None:
            log.warning("section %s: %s needs the city; pass city=", section.id, source.type_name)
            continue
        keys.append(source.state_key(city))
    return list(dict.fromkeys(keys))


def section_items(session: Session, section: SourceSection, city: str | None = None) -> Select[Any]:
    """A query for the ContentItem rows of a section's sources (not filtered further)."""
    keys = section_source_keys(section, city)
    return (
        select(ContentItem)
        .join(SourceState, ContentItem.source_id == SourceState.id)
        .where(SourceState.key.in_(keys))
    )
