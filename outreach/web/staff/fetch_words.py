"""What "Try this source" found, in the reader's language: the fetch's status and error.

The sources stage reports a fetch as a status (``ok``, ``error`` …) and one line
in English, the words of the log and of ``outreach sources`` (the safe fetcher,
its address guard, each parser). Here the status and the common lines (an address
that is not public, a timeout, an HTTP status, not a feed, too large …) are said
again in Finnish, Swedish or English from the ``web`` catalog; any other line
keeps its technical words after a sentence in the reader's language.
"""

from __future__ import annotations

import re

from outreach.l10n import gettext_for

#: A fetch's status (``outreach.models.SourceStatus``) as the page says it (msgids).
STATUS_WORDS = {
    "new": "not fetched yet",
    "ok": "fetched",
    "not_modified": "not changed",
    "error": "failed",
    "disabled": "disabled",
}
#: Said before a line that is not in :data:`MESSAGES`, which then follows as it is.
LEAD = "The fetch did not succeed:"

#: (pattern of the stage's English line, msgid with the groups it takes).
MESSAGES: list[tuple[str, str]] = [
    (r"^(?P<host>\S+): address (?P<ip>\S+) is not public",
     "The address {host} ({ip}) is in a local or private network, so it is not fetched. "
     "An administrator can allow a trusted intranet server (OUTREACH_FETCH_ALLOWED_HOSTS)."),
    (r"^(?P<host>\S+): address (?P<ip>\S+) is a cloud metadata endpoint",
     "The address {host} ({ip}) is internal to the server's cloud and is never fetched."),
    (r": only http and https URLs are fetched$",
     "Only addresses that start with https:// or http:// are fetched."),
    (r": (connection|read) timed out$|: body took longer than the timeout$",
     "The server did not answer in time."),
    (r"^HTTP (?P<status>\d{3}) from ", "The server answered with the HTTP status {status}."),
    (r" answered 410 Gone", "The server answered 410 Gone: the address no longer exists."),
    (r": not an RSS or Atom feed",
     "The address does not give an RSS or Atom feed (it may be a web page)."),
    (r": not an iCalendar file", "The address does not give an iCalendar file."),
    (r": (decompressed )?body (of \d+ bytes )?is over the (?P<limit>\d+)-byte limit",
     "The answer is too large: over {size}."),
    (r": host name could not be resolved$", "The host name was not found."),
    (r": connection refused$", "The server refused the connection."),
    (r": TLS failed", "The secure connection failed: the certificate is not trusted or not for "
     "this host."),
    (r": more than \d+ redirects$", "The address redirects too many times."),
]  # fmt: skip
_COMPILED = [(re.compile(p), msgid) for p, msgid in MESSAGES]


def _size(limit: str) -> str:
    n = int(limit)
    return f"{n / 1048576:.0f} MB" if n >= 1048576 else f"{max(1, n // 1024)} KB"


def status_word(status: str, lang: str) -> str:
    """A fetch's status in ``lang`` (an unknown one as it is)."""
    msgid = STATUS_WORDS.get(status)
    return gettext_for(lang, "web", msgid) if msgid else status


def fetch_error(error: str | None, lang: str) -> str | None:
    """The stage's error line in ``lang``: a known one said again, any other after
    a lead sentence."""
    if not error:
        return None
    line = error.strip().splitlines()[0] if error.strip() else error
    for pattern, msgid in _COMPILED:
        found = pattern.search(line)
        if found is None:
            continue
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        if "limit" in values:
            values["size"] = _size(values.pop("limit"))
        return gettext_for(lang, "web", msgid).format(**values)
    return f"{gettext_for(lang, 'web', LEAD)} {line}"
