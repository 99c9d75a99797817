"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`.
Other stages import what they need from here: the section queries the issue
builder uses (:mod:`outreach.sources.query`); fetching with each source's health
recorded, the console's sources page and "try this source"
(:mod:`outreach.sources.health`).
"""

from outreach.sources.health import (
    MAX_FAILURES,
    SourceHealth,
    Trial,
    enable,
    key_of,
    overview,
    try_source,
)
from outreach.sources.health import fetch as fetch_sources
from outreach.sources.query import section_items, section_source_keys

__all__ = [
    "MAX_FAILURES",
    "SourceHealth",
    "Trial",
    "enable",
    "fetch_sources",
    "key_of",
    "overview",
    "section_items",
    "section_source_keys",
    "try_source",
]
