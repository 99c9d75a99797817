"""What a city's public pages show: the archive of sent issues, the published stories
and the company directory, their feeds (the web face calls these; it writes no SQL).

- :func:`archive_entries`, :func:`web_version` — the archive and an issue's web version;
  :func:`stored_city` — the city as the archive shows it while ``cities.yaml`` is broken
- :func:`submit_from_form` — a story or listing request from the public form
- :func:`published_stories`, :func:`published_story`, :func:`story_image`,
  :func:`companies`, :func:`stories_version` — what the story pages show
- :func:`clean_image` — an upload checked and re-encoded; :func:`thumbnail` — a small copy
- :func:`keep_image`, :func:`kept_image`, :func:`discard_image` — an image of a story
  form that came back with an error, kept for the corrected form (:mod:`.kept`)
- :func:`translation` — a story's staff translation into a language, if any
- :func:`rss`, :func:`atom`, :func:`json_feed`, :func:`story_entries` — the feeds
"""

from outreach.publish.archive import (
    PUBLIC,
    ArchiveEntry,
    archive_entries,
    stored_city,
    web_version,
)
from outreach.publish.catalog import INDUSTRIES, THEMES, choices, label
from outreach.publish.feeds import FeedEntry, FeedInfo, atom, json_feed, rss, story_entries
from outreach.publish.images import MAX_BYTES as MAX_IMAGE_BYTES
from outreach.publish.images import CleanImage, clean_image, thumbnail
from outreach.publish.kept import (
    KEEP_FOR,
    KeptImage,
    discard_image,
    file_name,
    keep_image,
    kept_image,
)
from outreach.publish.stories import (
    Company,
    PublicStory,
    companies,
    published_stories,
    published_story,
    stories_version,
    story_image,
    story_received_mail,
    submit_from_form,
    translation,
)

__all__ = [
    "INDUSTRIES",
    "KEEP_FOR",
    "MAX_IMAGE_BYTES",
    "PUBLIC",
    "THEMES",
    "ArchiveEntry",
    "CleanImage",
    "Company",
    "FeedEntry",
    "FeedInfo",
    "KeptImage",
    "PublicStory",
    "archive_entries",
    "atom",
    "choices",
    "clean_image",
    "companies",
    "discard_image",
    "file_name",
    "json_feed",
    "keep_image",
    "kept_image",
    "label",
    "published_stories",
    "published_story",
    "rss",
    "stored_city",
    "stories_version",
    "story_entries",
    "story_image",
    "story_received_mail",
    "submit_from_form",
    "thumbnail",
    "translation",
    "web_version",
]
