"""A stand-in for the render stage: a fixed body, so the delivery tests see
delivery alone. Kept light (no pytest, no aiosmtpd), because the crash tests
start a sending process that imports it many times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FakeRendered:
    """Shaped like outreach.render.RenderedMessage: a fixed body, so these tests see delivery alone.

    The real render → delivery path runs in tests/test_demo.py and
    tests/web/test_unsubscribe_e2e.py.
    """

    lang: str
    subject: str
    preheader: str
    html: str
    text: str
    web_url: str | None = None


def fake_render(_settings: Any, _config: Any, issue: Any, lang: str) -> FakeRendered:
    greeting = {"fi": "Hei", "sv": "Hej", "en": "Hello"}[lang]
    return FakeRendered(
        lang=lang,
        subject=f"Ilmastouutiset {issue.period} ({lang})",
        preheader="",
        html=(
            f"<html><body><p>{greeting}@@CONTACT_NAME@@,</p>"
            + "<p>Uutinen: hiilineutraali Vantaa 2030 ä ö å €.</p>" * 50
            + '<p><a href="@@UNSUBSCRIBE_URL@@">Peru tilaus</a> '
            '<a href="@@PREFERENCES_URL@@">Asetukset</a></p></body></html>'
        ),
        text=(
            f"{greeting}@@CONTACT_NAME@@,\n\n"
            + "Uutinen: hiilineutraali Vantaa 2030 ä ö å €.\n" * 50
            + "\nPeru tilaus: @@UNSUBSCRIBE_URL@@\nAsetukset: @@PREFERENCES_URL@@\n"
        ),
    )
