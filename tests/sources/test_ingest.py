"""The ingest step over the shipped campaigns: storing, conditional GET, dedupe, failures."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load, sync
from outreach.issues import approve_issue, build_issue, set_status
from outreach.models import ContentItem, Issue, IssueStatus, SourceState, SourceStatus
from outreach.settings import Settings
from outreach.sources import section_items
from outreach.sources.fetch import Fetcher, load_local_files
from outreach.sources.ingest import all_failed, fingerprint, ingest
from tests.conftest import ROOT
from tests.sources.conftest import NOW, FeedServer
from tests.sources.test_sanitize import audit

VANTAA_FI = "https://www.vantaa.fi/fi/rss/topical/all"
VANTAA_SV = "https://www.vantaa.fi/sv/rss/topical/all"
KERAVA = "https://www.kerava.fi/feed/"


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    dest = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", dest)
    return dest


@pytest.fixture
def config(session: Session) -> Config:
    cfg = load(ROOT / "campaigns")
    sync(session, cfg)
    session.commit()
    return cfg


def local_fetcher(settings: Settings, examples: Path, **override: Path) -> Fetcher:
    files = load_local_files(examples / "sources.yaml")
    files.update(override)
    return Fetcher(settings, local_files=files)


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ContentItem)) or 0


def test_demo_content_twice(db_session: Session, fetch_settings: Settings, examples: Path) -> None:
    """On SQLite and PostgreSQL: stored once, 304s the second time, parsed again
    from scratch a third time without a new or changed row."""
    session = db_session
    config = load(ROOT / "campaigns")
    sync(session, config)
    session.commit()
    fetcher = local_fetcher(fetch_settings, examples)
    first = ingest(session, fetch_settings, config, now=NOW, fetcher=fetcher)
    assert {r.status for r in first} == {"ok"}, [r.line() for r in first]
    assert not all_failed(first)
    stored = _count(session)
    assert stored > 20
    second = ingest(session, fetch_settings, config, now=NOW, fetcher=fetcher)
    remote = [r for r in second if not r.source.startswith(("stories", "file"))]
    assert remote and {r.status for r in remote} == {"not_modified"}
    assert sum(r.new + r.updated for r in second) == 0
    assert _count(session) == stored
    state = session.scalar(select(SourceState).where(SourceState.url == VANTAA_FI))
    assert state is not None and state.etag and state.status == SourceStatus.NOT_MODIFIED
    item = session.scalar(select(ContentItem).where(ContentItem.url.like("%energianeuvonta%")))
    assert item is not None and item.kind == "news" and item.language == "fi"
    assert "trackVisitor" not in item.summary_html and "<" not in item.summary
    assert item.published_at is not None and item.published_at.tzinfo is not None
    vantaa = config.campaign("vantaa-monthly")
    events = session.scalars(section_items(session, vantaa.sections[1], "vantaa")).all()  # type: ignore[union-attr]
    assert {e.kind for e in events} == {"event"} and len(events) > 5
    session.execute(update(SourceState).values(etag=None))  # parse everything again
    session.commit()
    third = ingest(session, fetch_settings, config, now=NOW, fetcher=fetcher)
    assert {r.status for r in third} == {"ok"}
    assert sum(r.new + r.updated for r in third) == 0
    assert _count(session) == stored


def test_one_broken_source_is_reported_the_others_stored(
    session: Session, config: Config, fetch_settings: Settings, examples: Path
) -> None:
    fetcher = local_fetcher(fetch_settings, examples, **{KERAVA: examples / "missing.xml"})
    fetcher.local_files.pop(VANTAA_SV)  # goes to the network: no name resolves in tests
    reports = ingest(session, fetch_settings, config, now=NOW, fetcher=fetcher)
    by_source = {r.source: r for r in reports}
    assert by_source[f"rss {KERAVA}"].status == "error"
    assert "cannot be read" in (by_source[f"rss {KERAVA}"].error or "")
    assert by_source[f"rss {VANTAA_SV}"].status == "error"
    assert "resolved" in (by_source[f"rss {VANTAA_SV}"].error or "")
    assert by_source[f"rss {VANTAA_FI}"].status == "ok" and by_source[f"rss {VANTAA_FI}"].new == 5
    assert not all_failed(reports)
    assert all_failed([r for r in reports if r.status == "error"])
    assert not all_failed([])


def test_validators_stored_only_after_processing(
    session: Session, config: Config, fetch_settings: Settings, examples: Path
) -> None:
    fetcher = local_fetcher(fetch_settings, examples)
    ingest(session, fetch_settings, config, ["kerava-monthly"], now=NOW, fetcher=fetcher)
    state = session.scalar(select(SourceState).where(SourceState.url == KERAVA))
    assert state is not None
    etag, ok_at = state.etag, state.last_ok_at
    (examples / "feeds/kerava-fi.xml").write_text("<html><body>huolto</body></html>")
    later = NOW.replace(hour=13)
    reports = ingest(
        session, fetch_settings, config, ["kerava-monthly"], now=later, fetcher=fetcher
    )
    assert [r.status for r in reports if r.source == f"rss {KERAVA}"] == ["error"]
    session.refresh(state)
    assert state.status == SourceStatus.ERROR and state.error
    assert state.etag == etag and state.last_ok_at == ok_at and state.last_fetched_at == later


def test_sent_items_never_return_within_the_campaign(
    session: Session, config: Config, fetch_settings: Settings, examples: Path
) -> None:
    fetcher = local_fetcher(fetch_settings, examples)
    ingest(session, fetch_settings, config, ["vantaa-monthly"], now=NOW, fetcher=fetcher)
    first = build_issue(session, fetch_settings, config, "vantaa-monthly", now=NOW)
    assert first.issue is not None
    sent = session.scalar(select(ContentItem).where(ContentItem.url.like("%paastot-laskivat%")))
    assert sent is not None and sent.title in _titles(first.issue)
    sent_title = sent.title
    approve_issue(session, first.issue.id, by="maija", now=NOW)
    set_status(session, first.issue, IssueStatus.SENDING)
    set_status(session, first.issue, IssueStatus.SENT)
    session.commit()
    feed = examples / "feeds/vantaa-fi.xml"
    text = feed.read_text()
    # the same story under a new guid, and an edit of the sent item
    text = text.replace("vantaa-news-2026-11-03-paastot", "vantaa-news-2026-11-03-paastot-v2")
    text = text.replace("Vantaan päästöt laskivat 4 prosenttia", "Vantaan päästöt laskivat 4 %")
    # a copy of the sent title with the same date at another URL (another source)
    sv = examples / "feeds/vantaa-sv.xml"
    sv.write_text(
        sv.read_text()
        .replace("Företagens klimatpartnernätverk har nu 60 medlemmar", sent_title)
        .replace("Tue, 24 Nov 2026 09:00:00", "Tue, 03 Nov 2026 12:00:00")
    )
    feed.write_text(text)
    later = NOW + timedelta(days=3)
    ingest(session, fetch_settings, config, ["vantaa-monthly"], now=later, fetcher=fetcher)
    second = build_issue(session, fetch_settings, config, "vantaa-monthly", now=later)
    assert second.issue is not None and second.issue.id != first.issue.id
    shown = _titles(second.issue)
    assert not any("päästöt laskivat" in t for t in shown), shown
    assert sent_title in _titles(first.issue)  # what went out stays as it went out


def _titles(issue: Issue) -> list[str]:
    return [
        str(entry["title"])
        for data in issue.snapshot["languages"].values()
        for section in data["sections"]
        for entry in section["entries"]
    ]


def test_fingerprint_normalises_title_and_date() -> None:
    a = fingerprint("Vantaan päästöt laskivat!", NOW)
    assert a == fingerprint("  VANTAAN   päästöt laskivat ", NOW.replace(hour=13))
    assert a != fingerprint("Vantaan päästöt laskivat", NOW.replace(day=27))


def _campaigns_with(tmp_path: Path, urls: dict[str, str]) -> Path:
    root = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", root)
    for path in root.glob("*.yaml"):
        text = path.read_text()
        for old, new in urls.items():
            text = text.replace(old, new)
        path.write_text(text)
    return root


def test_gone_source_is_disabled_and_not_fetched_again(
    session: Session, fetch_settings: Settings, server: FeedServer, tmp_path: Path
) -> None:
    root = _campaigns_with(tmp_path, {KERAVA: server.named("/410")})
    config = load(root)
    sync(session, config)
    # timeouts that a busy machine does not reach: a timed-out request is retried
    fetch_settings = fetch_settings.model_copy(
        update={"fetch_connect_timeout": 10, "fetch_read_timeout": 10}
    )
    fetcher = Fetcher(fetch_settings, backoff=0.01)
    first = ingest(session, fetch_settings, config, ["kerava-monthly"], now=NOW, fetcher=fetcher)
    gone = [r for r in first if "/410" in r.source]
    assert gone[0].status == "disabled" and "410" in (gone[0].error or "")
    again = ingest(session, fetch_settings, config, ["kerava-monthly"], now=NOW, fetcher=fetcher)
    assert [r.status for r in again if "/410" in r.source] == ["disabled"]
    assert server.hits["/410"] == 1


def test_slow_sources_cost_their_own_timeout_in_parallel(
    session: Session, fetch_settings: Settings, server: FeedServer, tmp_path: Path
) -> None:
    root = _campaigns_with(
        tmp_path,
        {
            KERAVA: server.named("/slow"),
            "https://www.jarvenpaa.fi/rss/uutiset": server.named("/drip"),
            VANTAA_FI: server.named("/hostile-item.xml"),
            VANTAA_SV: server.named("/feed.xml"),
        },
    )
    config = load(root)
    sync(session, config)
    fetcher = Fetcher(fetch_settings, backoff=0.01)
    started = time.monotonic()
    slugs = ["kerava-monthly", "jarvenpaa-monthly", "vantaa-monthly"]
    reports = ingest(session, fetch_settings, config, slugs, now=NOW, fetcher=fetcher)
    assert time.monotonic() - started < 4  # not the sum of the slow sources' timeouts
    status = {r.source: r.status for r in reports}
    assert status[f"rss {server.named('/slow')}"] == "error"
    assert status[f"rss {server.named('/drip')}"] == "error"
    assert status[f"rss {server.named('/feed.xml')}"] == "ok"
    hostile = session.scalar(select(ContentItem).where(ContentItem.external_id.like("%/hostile-1")))
    assert hostile is not None
    assert audit(hostile.summary_html) == []
    assert "alert" not in hostile.summary_html and "steal" not in hostile.summary_html
    # an RSS title is text: the decoded "<script>" is shown as text (templates escape
    # it), never read as markup a second time
    assert hostile.title == "Hostile <script>alert(1)</script>item"
