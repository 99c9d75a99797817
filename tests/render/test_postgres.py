"""The assembly flow on PostgreSQL: claims, rebuild, approval, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import create_db_engine
from outreach.issues import approve_issue, build_issue, get_issue
from outreach.models import Base, IssueItem, IssueStatus
from outreach.render import render_issue
from outreach.settings import Settings
from tests.render.conftest import add_item

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def pg_session(pg_url: str) -> Iterator[Session]:
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def test_build_rebuild_approve_render(
    pg_session: Session, settings: Settings, config: Config
) -> None:
    session = pg_session
    add_item(
        session, config, "vantaa-monthly", "news", title="Ilmastotyö", language="fi",
        published_at=NOW - timedelta(days=2), url="https://www.vantaa.fi/1",
    )  # fmt: skip
    first = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert first.issue is not None and first.items == 1
    session.commit()
    add_item(
        session, config, "vantaa-monthly", "events", title="Energiawebinaari", language="fi",
        starts_at=datetime(2026, 12, 8, 7, tzinfo=UTC), url="https://www.vantaa.fi/2",
    )  # fmt: skip
    again = build_issue(session, settings, config, "vantaa-monthly", now=NOW)
    assert again.issue is not None and again.issue.id == first.issue.id and again.items == 2
    approve_issue(session, again.issue.id, by="maija", now=NOW)
    session.commit()
    issue = get_issue(session, "vantaa-monthly/2026-12")
    assert issue.status == IssueStatus.APPROVED and issue.approved_at == NOW
    claimed = session.scalars(select(IssueItem.issue_id).where(IssueItem.lead)).all()
    assert claimed == [issue.id, issue.id]
    message = render_issue(settings, config, issue, "sv")
    assert "tis 8.12.2026 kl. 9.00" in message.text
