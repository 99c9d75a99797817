"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`;
what a source type is: :mod:`outreach.sources.base` (which other stages may
import too, to write one). The ingest step (:mod:`outreach.sources.ingest`)
is put together from rooms of its own: planning (``plan``), the fetch thread
pool (``pool``), source state bookkeeping (``state``), the current view of a
source's items (``store``), dedupe keys (``dedupe``), the report lines
(``report``). HTML from outside is made safe by :mod:`outreach.sources.sanitize`,
the one sanitiser configuration of the project. Stories are kept and decided
in :mod:`outreach.sources.stories`; fetching with each source's health recorded,
the console's sources page and "try this source" in :mod:`outreach.sources.health`;
the fetcher's error lines in the reader's language in :mod:`outreach.sources.words`.

Other stages import what they need from here, and only from here.
"""

from outreach.sources.fetch import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    Fetcher,
    failure_reason,
    load_local_files,
)
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
from outreach.sources.ingest import ingest
from outreach.sources.options import (
    OptionSpec,
    OptionTextError,
    option_specs,
    option_text,
    option_value,
)
from outreach.sources.query import section_items, section_source_keys
from outreach.sources.registry import SOURCES, build_source, known_types
from outreach.sources.report import SourceReport, all_failed
from outreach.sources.sanitize import (
    body_html,
    clean_body_html,
    clean_html,
    html_as_text,
    markdown_html,
    to_text,
)
from outreach.sources.stories import (
    add_story_from_markdown,
    decide_story,
    feature_again,
    import_stories,
    list_stories,
    refresh_story_items,
    story_went_out,
    submit_story,
)
from outreach.sources.words import fetch_error, status_word

__all__ = [
    "MAX_FAILURES",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "SOURCES",
    "Fetcher",
    "OptionSpec",
    "OptionTextError",
    "SourceHealth",
    "SourceReport",
    "Trial",
    "add_story_from_markdown",
    "all_failed",
    "body_html",
    "build_source",
    "clean_body_html",
    "clean_html",
    "decide_story",
    "enable",
    "failure_reason",
    "feature_again",
    "fetch_error",
    "fetch_sources",
    "html_as_text",
    "import_stories",
    "ingest",
    "key_of",
    "known_types",
    "list_stories",
    "load_local_files",
    "markdown_html",
    "option_specs",
    "option_text",
    "option_value",
    "overview",
    "refresh_story_items",
    "section_items",
    "section_source_keys",
    "status_word",
    "story_went_out",
    "submit_story",
    "to_text",
    "try_source",
]
