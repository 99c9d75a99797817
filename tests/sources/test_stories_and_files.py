"""Company stories (add, approve, use once, per city) and hand-kept listing files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, sync
from outreach.errors import StoryError
from outreach.models import Campaign, Issue, IssueItem, SourceStatus, StoryStatus
from outreach.settings import Settings
from outreach.sources import section_items, section_source_keys
from outreach.sources.base import FetchContext
from outreach.sources.fetch import Fetcher
from outreach.sources.ingest import ingest
from outreach.sources.registry import build_source
from outreach.sources.stories import (
    add_story_from_markdown,
    decide_story,
    feature_again,
    list_stories,
)
from tests.conftest import ROOT
from tests.sources.conftest import NOW

STORIES = ROOT / "examples" / "stories"


@pytest.fixture
def config(session: Session) -> Config:
    cfg = load(ROOT / "campaigns")
    sync(session, cfg)
    session.commit()
    return cfg


def _add_all(session: Session) -> None:
    for city in ("vantaa", "kerava", "jarvenpaa"):
        for path in sorted((STORIES / city).glob("*.md")):
            story = add_story_from_markdown(session, path, city)
            if story.consent_to_publish:
                decide_story(session, story.id, True, "staff@vantaa.fi")
    session.commit()


def test_add_list_approve_reject(session: Session, config: Config) -> None:
    story = add_story_from_markdown(session, STORIES / "vantaa/lampopumppu-leipomo.md", "vantaa")
    assert story.status == StoryStatus.SUBMITTED and story.consent_to_publish
    assert story.company_name == "Leipomo Ruislinna Oy" and story.language == "fi"
    assert story.body.startswith("Vantaalainen perheleipomo")
    assert list_stories(session, "vantaa", "submitted") == [story]
    assert list_stories(session, "kerava") == []
    approved = decide_story(session, story.id, True, "anna")
    assert approved.status == StoryStatus.APPROVED and approved.decided_by == "anna"
    no_consent = add_story_from_markdown(session, STORIES / "vantaa/kuljetus-ei-lupaa.md", "vantaa")
    with pytest.raises(StoryError, match="no consent to publish"):
        decide_story(session, no_consent.id, True, "anna")
    assert decide_story(session, no_consent.id, False, "anna").status == StoryStatus.REJECTED
    with pytest.raises(StoryError, match="no story status"):
        list_stories(session, status="maybe")
    with pytest.raises(StoryError, match="no story with id 999"):
        decide_story(session, 999, True, "anna")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "expected YAML front matter"),
        ("---\ncompany: [x\n---\nbody", "not valid YAML"),
        ("---\ntitle: T\n---\nbody", "company: Field required"),
        ("---\ncompany: C\ntitle: T\nlink: javascript:x\n---\nbody", "link: Value error"),
        ("---\ncompany: C\ntitle: T\nlink: http://c.fi\n---\nbody", "expected an https URL"),
        ("---\ncompany: C\ntitle: T\nlanguage: de\n---\nbody", "language"),
        ("---\ncompany: C\ntitle: T\n---\n", "no text"),
    ],
)
def test_bad_story_files_name_the_problem(
    session: Session, config: Config, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "story.md"
    path.write_text(text)
    with pytest.raises(StoryError, match=message) as info:
        add_story_from_markdown(session, path, "vantaa")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_city(session: Session, config: Config) -> None:
    with pytest.raises(StoryError, match='no city "espoo"'):
        add_story_from_markdown(session, STORIES / "kerava/aurinkopaneelit.md", "espoo")


def test_stories_are_per_city_and_used_once(
    session: Session, config: Config, fetch_settings: Settings
) -> None:
    _add_all(session)
    fetcher = Fetcher(fetch_settings, local_files={})
    ingest(
        session,
        fetch_settings,
        config,
        ["vantaa-monthly", "kerava-monthly"],
        now=NOW,
        fetcher=fetcher,
    )
    vantaa, kerava = config.campaign("vantaa-monthly"), config.campaign("kerava-monthly")
    v_section = vantaa.sections[2]  # type: ignore[union-attr]
    k_section = kerava.sections[2]  # type: ignore[union-attr]
    v_items = session.scalars(section_items(session, v_section, "vantaa")).all()
    k_items = session.scalars(section_items(session, k_section, "kerava")).all()
    assert sorted(i.language or "" for i in v_items) == ["fi", "sv"]  # no consent: not there
    assert [i.title for i in k_items] == ["Konepajan katolle 300 aurinkopaneelia"]
    assert all(i.kind == "story" and i.external_id.startswith("story:") for i in v_items)
    assert "<strong>Leipomo Ruislinna Oy</strong>" in next(
        i.summary_html for i in v_items if i.language == "fi"
    )
    assert section_source_keys(v_section, "vantaa") != section_source_keys(k_section, "kerava")
    assert section_source_keys(v_section) == []  # the city is needed for stories
    # used in an issue: not offered again; featured again: back
    camp = session.scalar(select(Campaign).where(Campaign.slug == "vantaa-monthly"))
    assert camp is not None
    issue = Issue(campaign_id=camp.id, period="2026-11")
    session.add(issue)
    session.flush()
    used = v_items[0]
    session.add(IssueItem(issue_id=issue.id, item_id=used.id, section="stories"))
    session.commit()
    ctx = FetchContext(
        settings=fetch_settings, fetcher=fetcher, now=NOW, timezone="Europe/Helsinki",
        languages=["fi", "sv"], city="vantaa", session=session,
    )  # fmt: skip
    stories = build_source("stories", {})
    offered = {i.external_id for i in stories.fetch(ctx).items}
    assert used.external_id not in offered and len(offered) == 1
    feature_again(session, int(used.external_id.split(":")[1]))
    assert used.external_id in {i.external_id for i in stories.fetch(ctx).items}
    assert session.scalar(select(IssueItem).where(IssueItem.item_id == used.id)) is None


def _file_ctx(make_ctx: Callable[..., FetchContext], root: Path) -> FetchContext:
    return make_ctx(root=root, languages=["fi", "sv"])


def test_file_listing_formats(tmp_path: Path, make_ctx: Callable[..., FetchContext]) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists/a.json").write_text(
        '{"items": [{"id": 7, "title": "Kurssi", "summary": "Tervetuloa", '
        '"url": "https://x.fi/k", "starts": "2026-12-01T10:00:00", "location": "Sali"}]}'
    )
    (tmp_path / "lists/b.csv").write_text(
        "id,title_fi,title_sv,summary_fi,url,published,categories\n"
        "c1,Hankinta,Upphandling,Tarjouspyyntö <b>auki</b>,https://x.fi/h,2026-11-10,a;b\n"
    )
    json_items = build_source("file", {"path": "lists/a.json"}).fetch(_file_ctx(make_ctx, tmp_path))
    assert json_items.status == SourceStatus.OK
    course = json_items.items[0]
    assert course.external_id == "7" and course.kind == "event" and course.location == "Sali"
    assert course.starts_at is not None and course.starts_at.utcoffset() is not None
    csv_items = build_source("file", {"path": "lists/b.csv"}).fetch(_file_ctx(make_ctx, tmp_path))
    item = csv_items.items[0]
    assert item.title == "Hankinta" and item.translations["sv"]["title"] == "Upphandling"
    assert item.categories == ["a", "b"] and "&lt;b&gt;" in item.summary_html
    assert item.published_at is not None and item.published_at.tzinfo is not None


def test_shipped_listing_and_bad_items(
    tmp_path: Path, make_ctx: Callable[..., FetchContext]
) -> None:
    shipped = build_source("file", {"path": "lists/vantaa-procurement.yaml"})
    result = shipped.fetch(_file_ctx(make_ctx, ROOT / "campaigns"))
    assert result.status == SourceStatus.OK and result.items[0].kind is None
    assert set(result.items[0].translations) == {"fi", "sv"}
    (tmp_path / "bad.yaml").write_text("items:\n  - {title: no id}\n  - {id: x, title: ok}\n")
    partly = build_source("file", {"path": "bad.yaml"}).fetch(_file_ctx(make_ctx, tmp_path))
    assert partly.status == SourceStatus.OK and len(partly.items) == 1
    assert partly.warning and "items.0.id" in partly.warning
    (tmp_path / "broken.yaml").write_text("items: [unclosed\n")
    broken = build_source("file", {"path": "broken.yaml"}).fetch(_file_ctx(make_ctx, tmp_path))
    assert broken.status == SourceStatus.ERROR and broken.error


def test_file_paths_stay_inside_the_campaigns_folder(
    tmp_path: Path, make_ctx: Callable[..., FetchContext]
) -> None:
    for bad in ("/etc/passwd.yaml", "../outside.yaml", "lists/../../x.yaml", "notes.txt"):
        with pytest.raises(ValidationError):
            build_source("file", {"path": bad})
    root = tmp_path / "campaigns"
    root.mkdir()
    outside = tmp_path / "secret.yaml"
    outside.write_text("items: [{id: s, title: secret}]\n")
    os.symlink(outside, root / "link.yaml")
    result = build_source("file", {"path": "link.yaml"}).fetch(_file_ctx(make_ctx, root))
    assert result.status == SourceStatus.ERROR and "outside" in (result.error or "")


def test_stories_without_session_and_missing_file(make_ctx: Callable[..., FetchContext]) -> None:
    assert build_source("stories", {}).fetch(make_ctx()).status == SourceStatus.ERROR
    missing = build_source("file", {"path": "lists/none.yaml"}).fetch(make_ctx())
    assert missing.status == SourceStatus.ERROR and "cannot read" in (missing.error or "")


def test_import_example_stories_once(session: Session, config: Config) -> None:
    from outreach.sources.stories import import_stories

    first = import_stories(session, STORIES, approve_by="demo")
    assert len(first) == 5
    assert sum(s.status == StoryStatus.APPROVED for s in first) == 4
    assert import_stories(session, STORIES, approve_by="demo") == []
    assert len(list_stories(session)) == 5
