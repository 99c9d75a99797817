"""``issue preview``: what a subscriber would get, filled in by the send's own code.

The issue is rendered as for the send and personalised with
:func:`outreach.delivery.message.fill_values`, the values the send puts in
each recipient's copy, with example links and an example name.
"""

from __future__ import annotations

from outreach.campaigns import Config
from outreach.delivery.message import Recipient, personalise
from outreach.models import Issue
from outreach.render import EXAMPLE_NAMES, render_issue
from outreach.settings import Settings


def preview(settings: Settings, config: Config, issue: Issue, lang: str | None, text: bool) -> str:
    """The HTML (or, with ``text``, the plain text) of issue ``issue`` in ``lang``
    (default: its first language), with example links and name."""
    message = render_issue(settings, config, issue, lang or "")  # "": its first language
    base = settings.base_url_clean
    example = Recipient(
        to="example@example.fi",
        message_id="<preview@example.fi>",
        unsubscribe_url=f"{base}/unsubscribe/EXAMPLE-TOKEN",
        preferences_url=f"{base}/preferences/EXAMPLE-TOKEN",
        contact_name=EXAMPLE_NAMES.get(message.lang, "Alex Example"),
    )
    html_part, text_part = personalise(message, example)
    return text_part if text else html_part
