"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`.
Other stages import what they need from here: the section queries the issue
builder uses (:mod:`outreach.sources.query`).
"""

from outreach.sources.query import section_items, section_source_keys

__all__ = ["section_items", "section_source_keys"]
