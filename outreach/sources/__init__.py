"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`.
Other stages import what they need from here: the section queries the issue
builder uses (:mod:`outreach.sources.query`).
"""

from outreach.sources.query import section_items, section_source_keys
from outreach.sources.sanitize import clean_html
from outreach.sources.stories import feature_again, render_markdown

__all__ = [
    "clean_html",
    "feature_again",
    "render_markdown",
    "section_items",
    "section_source_keys",
]
