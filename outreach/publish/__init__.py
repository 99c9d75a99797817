"""What a city's public pages show: the archive of sent issues and the stories
companies submit (the web face calls these; it writes no SQL).

- :func:`archive_entries`, :func:`web_version` — the archive and an issue's web version
- :func:`submit_from_form` — a story from the public submission form
"""

from outreach.publish.archive import PUBLIC, ArchiveEntry, archive_entries, web_version
from outreach.publish.stories import submit_from_form

__all__ = ["PUBLIC", "ArchiveEntry", "archive_entries", "submit_from_form", "web_version"]
