"""``when_empty`` per language, the issue's history and discarding a draft."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, NewsletterCampaign
from outreach.delivery import issue_overview
from outreach.delivery.audience import audience_query
from outreach.errors import IssueError
from outreach.issues import approve_issue, build_issue, discard_issue
from outreach.issues.editions import send_as
from outreach.issues.history import history
from outreach.models import (
    City,
    ContentItem,
    Issue,
    IssueItem,
    IssueStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.settings import Settings
from outreach.suppression import suppression_key
from tests.render.conftest import add_item

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def finnish_news_only(session: Session, config: Config) -> None:
    """A month with Finnish news only: Vantaa's news section says ``fallback: false``."""
    add_item(
        session, config, "vantaa-monthly", "news", source=0, title="Ilmastotyö etenee",
        language="fi", published_at=NOW - timedelta(days=3),
    )  # fmt: skip


def with_when_empty(config: Config, value: str) -> None:
    camp = config.campaign("vantaa-monthly")
    assert isinstance(camp, NewsletterCampaign)
    config.campaigns["vantaa-monthly"] = camp.model_copy(update={"when_empty": value})


def test_an_empty_language_is_skipped_not_sent_empty(
    session: Session, settings: Settings, config: Config
) -> None:
    finnish_news_only(session, config)
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None and result.items == 1
    assert result.languages == {"sv": None}
    assert send_as(result.issue.snapshot) == {"fi": "fi", "sv": None}


def test_when_empty_fallback_gives_the_fallback_version(
    session: Session, settings: Settings, config: Config
) -> None:
    with_when_empty(config, "fallback")
    finnish_news_only(session, config)
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None
    assert result.languages == {"sv": "fi"}


def test_the_version_its_readers_get_is_named_in_the_staffs_language(
    session: Session, settings: Settings, config: Config
) -> None:
    with_when_empty(config, "fallback")
    finnish_news_only(session, config)
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None
    overview = issue_overview(session, settings, config, result.issue)
    said = {lang: "\n".join(overview.lines(lang)) for lang in ("fi", "sv", "en")}
    assert (
        "sv: tällä kielellä ei ole juttuja; sen lukijat saavat suomenkielisen version ("
        in (said["fi"])
    )
    assert (
        "sv: inga poster på det här språket; dess läsare får den finska versionen (" in (said["sv"])
    )
    assert "sv: no items in this language; its readers get the Finnish version (" in said["en"]


def test_when_empty_send_sends_every_language(
    session: Session, settings: Settings, config: Config
) -> None:
    with_when_empty(config, "send")
    finnish_news_only(session, config)
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None and result.languages == {}


def test_a_language_with_content_is_never_skipped(
    session: Session, settings: Settings, config: Config
) -> None:
    finnish_news_only(session, config)
    add_item(
        session, config, "vantaa-monthly", "news", source=1, title="Klimatarbetet går framåt",
        language="sv", published_at=NOW - timedelta(days=2),
    )  # fmt: skip
    result = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert result.issue is not None and result.languages == {}


def _subscriber(session: Session, city: City, email: str, language: str) -> None:
    person = Subscriber(email=email, language=language)
    session.add(person)
    session.flush()
    session.add(
        Subscription(
            subscriber_id=person.id,
            city_id=city.id,
            topics=["climate"],
            status=SubscriptionStatus.CONFIRMED,
            token_salt="salt",
        )
    )
    session.flush()


@pytest.mark.parametrize(
    ("when_empty", "expected"),
    [
        # skipped: the Swedish reader is left out, never sent Finnish instead
        ("skip", {"fi@example.fi": "fi", "en@example.fi": "fi"}),
        ("fallback", {"fi@example.fi": "fi", "sv@example.fi": "fi", "en@example.fi": "fi"}),
    ],
)
def test_audience_follows_the_languages_sent(
    session: Session, settings: Settings, config: Config, when_empty: str, expected: dict[str, str]
) -> None:
    with_when_empty(config, when_empty)
    finnish_news_only(session, config)
    issue = build_issue(session, settings, config, "vantaa-monthly", now=NOW).issue
    assert issue is not None
    city = session.scalar(select(City).where(City.slug == "vantaa"))
    assert city is not None
    for email, lang in (("fi@example.fi", "fi"), ("sv@example.fi", "sv"), ("en@example.fi", "en")):
        _subscriber(session, city, email, lang)
    camp = config.campaign("vantaa-monthly")
    query = audience_query(
        city.id,
        camp.audience,
        camp.languages,
        key=suppression_key(settings),
        send_as=send_as(issue.snapshot),
    )
    got = {row.email: row.language for row in session.execute(query)}
    assert got == expected


def holders(session: Session, item_id: int) -> list[int]:
    """The issues that hold ``item_id``."""
    return list(session.scalars(select(IssueItem.issue_id).where(IssueItem.item_id == item_id)))


def test_discard_a_draft_returns_its_items(
    session: Session, settings: Settings, config: Config
) -> None:
    finnish_news_only(session, config)
    wrong = build_issue(
        session, settings, config, "vantaa-monthly", period="2027-01", now=NOW, by="maija"
    ).issue
    assert wrong is not None
    item = session.scalar(select(ContentItem))
    assert item is not None and holders(session, item.id) == [wrong.id]
    issue, released = discard_issue(session, wrong.id, by="maija")
    assert issue.status == IssueStatus.DISCARDED and released == 1
    assert holders(session, item.id) == []
    assert [(e.action, e.actor) for e in history(session, wrong.id)] == [
        ("built", "maija"),
        ("discarded", "maija"),
    ]
    # the item is free for the right period's issue
    right = build_issue(session, settings, config, "vantaa-monthly", now=NOW).issue
    assert right is not None and right.id != wrong.id
    assert holders(session, item.id) == [right.id]
    assert right.snapshot["number"] == 1  # a discarded draft does not use up a number


def test_only_drafts_can_be_discarded(session: Session, settings: Settings, config: Config) -> None:
    finnish_news_only(session, config)
    issue = build_issue(session, settings, config, "vantaa-monthly", now=NOW).issue
    assert issue is not None
    approve_issue(session, issue.id, by="maija")
    with pytest.raises(IssueError, match=r"is approved; only a draft can be discarded"):
        discard_issue(session, issue.id, by="maija")
    assert session.get(Issue, issue.id) is not None
    assert [e.action for e in history(session, issue.id)] == ["built", "approved"]


def test_building_a_discarded_period_starts_a_fresh_draft(
    session: Session, settings: Settings, config: Config
) -> None:
    finnish_news_only(session, config)
    issue = build_issue(session, settings, config, "vantaa-monthly", now=NOW).issue
    assert issue is not None
    discard_issue(session, issue.id, by="maija")
    again = build_issue(session, settings, config, "vantaa-monthly", now=NOW, by="maija")
    assert again.issue is not None and again.issue.id == issue.id
    assert again.issue.status == IssueStatus.DRAFT and again.items == 1
    assert [e.action for e in history(session, issue.id)] == ["built", "discarded", "rebuilt"]
