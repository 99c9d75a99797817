"""A story's staff translation in the newsletter's language editions.

Vantaa's newsletter is in Finnish and Swedish, with Finnish as the fallback. A
Finnish story without a Swedish translation comes in the Swedish edition as
the Finnish original, marked "på finska"; once staff translate it, rebuilding
the draft (without fetching again: a story a draft holds is not fetched) shows
the translated title, text and image description without the badge, while the
Finnish edition keeps the original. An approved issue keeps its snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, sync
from outreach.issues import approve_issue, build_issue
from outreach.models import City, ContentItem, Issue, Story, StoryStatus
from outreach.render import render_issue
from outreach.settings import Settings
from outreach.sources import refresh_story_items
from outreach.sources.ingest import ingest

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
TITLE_FI = "Leipomon uunien hukkalämpö lämmittää koko kiinteistön"
TITLE_SV = "Bageriets spillvärme värmer hela fastigheten"
SWEDISH = {
    "title": TITLE_SV,
    "body": "Ugnarnas **spillvärme** täcker nu hela uppvärmningen.",
    "figures": "70 % mindre fjärrvärme",
    "image_alt": "Bageriets ugn med värmeåtervinning",
}


def _story(session: Session, config: Config) -> Story:
    """An approved Finnish story of Vantaa with an image and its description."""
    sync(session, config)
    city = session.scalars(select(City).where(City.slug == "vantaa")).one()
    story = Story(
        city_id=city.id,
        company_name="Leipomo Ruislinna Oy",
        title=TITLE_FI,
        body="Uunien **hukkalämpö** kattaa nyt koko lämmityksen.",
        language="fi",
        link="https://www.ruislinna.example.fi/ilmasto",
        image_url="https://www.ruislinna.example.fi/uuni.jpg",
        image_alt="Leipomon uuni ja lämmöntalteenotto",
        consent_to_publish=True,
        status=StoryStatus.APPROVED,
        decided_at=NOW - timedelta(days=2),
        translations={},
    )
    session.add(story)
    session.commit()
    return story


def _entry(issue: Issue, lang: str) -> dict[str, Any]:
    sections = issue.snapshot["languages"][lang]["sections"]
    (entry,) = next(s for s in sections if s["id"] == "stories")["entries"]
    return dict(entry)


def _build(session: Session, settings: Settings, config: Config) -> Issue:
    built = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert built.issue is not None, built.skipped
    session.commit()
    return built.issue


def test_a_swedish_edition_shows_the_staff_translation_of_a_story(
    session: Session, settings: Settings, config: Config
) -> None:
    story = _story(session, config)
    ingest(session, settings, config, ["vantaa-monthly"], now=NOW)
    issue = _build(session, settings, config)

    # not translated: the Finnish original in the Swedish edition, marked as such
    entry = _entry(issue, "sv")
    assert (entry["title"], entry["language"], entry["fallback"]) == (TITLE_FI, "fi", True)
    assert entry["image_alt"] == "Leipomon uuni ja lämmöntalteenotto"
    sv = render_issue(settings, config, issue, "sv")
    assert TITLE_FI in sv.html and "på finska</span>" in sv.html
    assert "på finska" in sv.text

    # staff translate it into Swedish; the draft's rebuild shows the translation
    story.translations = {"sv": SWEDISH}
    session.commit()
    rebuilt = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert rebuilt.issue is not None and rebuilt.issue.id == issue.id and not rebuilt.created
    session.commit()
    issue = rebuilt.issue
    entry = _entry(issue, "sv")
    assert (entry["title"], entry["language"], entry["fallback"]) == (TITLE_SV, "sv", False)
    assert entry["summary"] == "Ugnarnas spillvärme täcker nu hela uppvärmningen."
    assert entry["company"] == "Leipomo Ruislinna Oy"
    assert entry["image_alt"] == "Bageriets ugn med värmeåtervinning"
    sv = render_issue(settings, config, issue, "sv")
    assert TITLE_SV in sv.html and TITLE_FI not in sv.html
    assert "på finska" not in sv.html and "på finska" not in sv.text
    assert 'alt="Bageriets ugn med värmeåtervinning"' in sv.html
    assert ">Ugnarnas spillvärme täcker nu hela uppvärmningen.</p>" in sv.html
    assert TITLE_SV in sv.text and "Leipomo Ruislinna Oy" in sv.text
    # the Finnish edition keeps the original
    fi_entry = _entry(issue, "fi")
    assert (fi_entry["title"], fi_entry["language"], fi_entry["fallback"]) == (
        TITLE_FI,
        "fi",
        False,
    )
    fi = render_issue(settings, config, issue, "fi")
    assert TITLE_FI in fi.html and TITLE_SV not in fi.html
    assert 'alt="Leipomon uuni ja lämmöntalteenotto"' in fi.html

    # approved: the issue keeps its snapshot, whatever the translation says now
    approve_issue(session, issue.id, by="hyvaksyja@vantaa.fi", now=NOW)
    session.commit()
    story.translations = {"sv": {**SWEDISH, "title": "En annan rubrik"}}
    session.commit()
    again = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert again.issue is not None and not again.created
    assert _entry(again.issue, "sv")["title"] == TITLE_SV


def test_a_translation_without_an_image_description_leaves_the_title_as_alt_text(
    session: Session, settings: Settings, config: Config
) -> None:
    story = _story(session, config)
    story.translations = {"sv": {"title": TITLE_SV, "body": "Ugnarnas spillvärme."}}
    session.commit()
    ingest(session, settings, config, ["vantaa-monthly"], now=NOW)  # fetched translated
    item = session.scalars(
        select(ContentItem).where(ContentItem.external_id == f"story:{story.id}")
    ).one()
    assert item.translations["sv"]["title"] == TITLE_SV
    issue = _build(session, settings, config)
    entry = _entry(issue, "sv")
    assert (entry["title"], entry["fallback"], entry["image_alt"]) == (TITLE_SV, False, "")
    assert f'alt="{TITLE_SV}"' in render_issue(settings, config, issue, "sv").html


def test_refreshing_leaves_other_items_and_current_ones_alone(
    session: Session, settings: Settings, config: Config
) -> None:
    story = _story(session, config)
    ingest(session, settings, config, ["vantaa-monthly"], now=NOW)
    items = list(session.scalars(select(ContentItem)))
    assert any(i.external_id == f"story:{story.id}" for i in items)
    assert refresh_story_items(session, items, NOW) == 0  # nothing changed since
    story.translations = {"sv": SWEDISH}
    story.title = "Leipomon hukkalämpö"
    session.commit()
    assert refresh_story_items(session, items, NOW + timedelta(hours=1)) == 1
    item = next(i for i in items if i.external_id == f"story:{story.id}")
    assert item.title == "Leipomon hukkalämpö" and item.translations["sv"]["title"] == TITLE_SV
    assert item.updated_at.replace(tzinfo=UTC) == NOW + timedelta(hours=1)
