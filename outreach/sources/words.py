"""A fetch's status and the safe fetcher's error lines, in the reader's language.

The fetcher (:mod:`outreach.sources.fetch`), its address guard and each parser
report a failure as one line in English, the words of the log and of
``outreach sources``. Here the status and the common lines (an address that is
not public, a timeout, an HTTP status, not a feed, too large …) are said again
in Finnish, Swedish or English from the ``fetch`` catalog. The console's "try
this source" and the pre-flight link check (:mod:`outreach.checks`) both say
them through :func:`fetch_error`; any other line keeps its technical words,
after a sentence in the reader's language where the caller wants one.
"""

from __future__ import annotations

import re

from outreach.l10n import gettext_for

DOMAIN = "fetch"

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
#: A size limit as a sentence says it (msgids).
SIZE_WORDS = {"MB": "{n} MB", "KB": "{n} KB"}

#: (pattern of the stage's English line, msgid with the groups it takes). A line
#: comes with the address in front (``https://x.fi/feed: connection refused``) from
#: the fetcher, without it from the link check (``connection refused``).
MESSAGES: list[tuple[str, str]] = [
    (r"^(?P<host>\S+): address (?P<ip>\S+) is not public",
     "The address {host} ({ip}) is in a local or private network, so it is not fetched. "
     "An administrator can allow a trusted intranet server (OUTREACH_FETCH_ALLOWED_HOSTS)."),
    (r"^(?P<host>\S+): address (?P<ip>\S+) is a cloud metadata endpoint",
     "The address {host} ({ip}) is internal to the server's cloud and is never fetched."),
    (r": only http and https URLs are fetched$",
     "Only addresses that start with https:// or http:// are fetched."),
    (r"^not an http\(s\) address$",
     "The link leads on to an address that does not start with https:// or http://."),
    (r"(^|: )(connection|read) timed out$|: body took longer than the timeout$"
     r"|^not answered (in time|within \S+ s)$",
     "The server did not answer in time."),
    (r"^HTTP (?P<status>\d{3})( from |$)", "The server answered with the HTTP status {status}."),
    (r" answered 410 Gone", "The server answered 410 Gone: the address no longer exists."),
    (r": not an RSS or Atom feed",
     "The address does not give an RSS or Atom feed (it may be a web page)."),
    (r": not an iCalendar file", "The address does not give an iCalendar file."),
    (r": (decompressed )?body (of \d+ bytes )?is over the (?P<limit>\d+)-byte limit",
     "The answer is too large: over {size}."),
    (r"(^|: )host name could not be resolved$", "The host name was not found."),
    (r"(^|: )connection refused$", "The server refused the connection."),
    (r"(^|: )TLS failed", "The secure connection failed: the certificate is not trusted or not for "
     "this host."),
    (r"(^|: )more than \d+ redirects$", "The address redirects too many times."),
]  # fmt: skip
_COMPILED = [(re.compile(p), msgid) for p, msgid in MESSAGES]


def _t(lang: str, msgid: str) -> str:
    return gettext_for(lang, DOMAIN, msgid)


def _size(limit: str, lang: str) -> str:
    n = int(limit)
    if n >= 1048576:
        return _t(lang, SIZE_WORDS["MB"]).format(n=round(n / 1048576))
    return _t(lang, SIZE_WORDS["KB"]).format(n=max(1, n // 1024))


def status_word(status: str, lang: str) -> str:
    """A fetch's status in ``lang`` (an unknown one as it is)."""
    msgid = STATUS_WORDS.get(status)
    return _t(lang, msgid) if msgid else status


def fetch_error(error: str | None, lang: str, *, lead: bool = True) -> str | None:
    """The stage's error line in ``lang``: a known one said again, any other as it is
    (after a lead sentence unless ``lead`` is false)."""
    if not error:
        return None
    line = error.strip().splitlines()[0] if error.strip() else error
    for pattern, msgid in _COMPILED:
        found = pattern.search(line)
        if found is None:
            continue
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        if "limit" in values:
            values["size"] = _size(values.pop("limit"), lang)
        return _t(lang, msgid).format(**values)
    return f"{_t(lang, LEAD)} {line}" if lead else line
