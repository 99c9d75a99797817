"""Content sources: fetch → parse → sanitise → ContentItem rows.

One module per source type, found through :mod:`outreach.sources.registry`.
Other stages import what they need from here: the section queries the issue
builder uses (:mod:`outreach.sources.query`) and the one builder of
:class:`~outreach.models.Story` rows with the stories' staff actions
(:mod:`outreach.sources.stories`), which the CLI and the web form share.
"""

from outreach.sources.query import section_items, section_source_keys
from outreach.sources.stories import (
    add_story_from_markdown,
    decide_story,
    feature_again,
    import_stories,
    list_stories,
    render_markdown,
    submit_story,
)

__all__ = [
    "add_story_from_markdown",
    "decide_story",
    "feature_again",
    "import_stories",
    "list_stories",
    "render_markdown",
    "section_items",
    "section_source_keys",
    "submit_story",
]
