"""The ingest step on PostgreSQL (skipped without OUTREACH_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.campaigns import load, sync
from outreach.db import create_db_engine
from outreach.models import Base, Campaign, ContentItem, Issue, SourceState
from outreach.settings import Settings
from outreach.sources.fetch import Fetcher, load_local_files
from outreach.sources.ingest import ingest
from tests.conftest import ROOT
from tests.sources.conftest import NOW

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_session(pg_url: str) -> Iterator[Session]:
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def test_ingest_twice_and_sent_dedupe(
    pg_session: Session, fetch_settings: Settings, tmp_path: Path
) -> None:
    config = load(ROOT / "campaigns")
    sync(pg_session, config)
    pg_session.commit()
    fetcher = Fetcher(fetch_settings, local_files=load_local_files(ROOT / "examples/sources.yaml"))
    first = ingest(pg_session, fetch_settings, config, now=NOW, fetcher=fetcher)
    assert {r.status for r in first} == {"ok"}
    count = pg_session.scalar(select(func.count()).select_from(ContentItem))
    camp = pg_session.scalar(select(Campaign).where(Campaign.slug == "vantaa-monthly"))
    assert camp is not None and count
    issue = Issue(campaign_id=camp.id, period="2026-11")
    pg_session.add(issue)
    pg_session.flush()
    for item in pg_session.scalars(select(ContentItem)):
        item.issue_id = issue.id
    pg_session.execute(update(SourceState).values(etag=None))  # parse everything again
    pg_session.commit()
    second = ingest(pg_session, fetch_settings, config, now=NOW, fetcher=fetcher)
    assert {r.status for r in second} == {"ok"}
    assert sum(r.new + r.updated for r in second) == 0
    assert pg_session.scalar(select(func.count()).select_from(ContentItem)) == count
