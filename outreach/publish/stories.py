"""Stories as the public pages take them in: the submission form's record."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.models import Story
from outreach.sources import submit_story
from outreach.subscriptions import city_row


def submit_from_form(
    session: Session,
    config: Config,
    city: str,
    *,
    company: str,
    title: str,
    body: str,
    language: str,
    link: str | None,
    contact_email: str | None,
) -> Story:
    """A submitted story from the public form (consent given), through the one builder
    the CLI uses; the city's row is made from ``cities.yaml`` when missing."""
    city_row(session, config, city)
    return submit_story(
        session,
        city,
        company=company,
        title=title,
        body=body,
        link=link,
        language=language,
        consent=True,
        contact_email=contact_email,
    )
