"""The migrations give exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from outreach.db import downgrade, upgrade
from outreach.models import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _check(url: str) -> None:
    upgrade(url)
    assert _diff(url) == []
    assert _tables(url) >= set(Base.metadata.tables)
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)  # and back up again
    assert _diff(url) == []


def test_migrations_match_models(db_url: str) -> None:
    """On SQLite and PostgreSQL (``db_url``)."""
    _check(db_url)


def _upgrade_twice_at_once(url: str) -> list[BaseException]:
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def migrate() -> None:
        start.wait()
        try:
            upgrade(url)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.postgres
def test_two_upgrades_at_once_both_succeed(pg_url: str) -> None:
    """compose.yaml starts two containers that each run ``outreach db upgrade`` first:
    the second waits for the first and finds the schema done, instead of failing."""
    for _ in range(2):
        assert _upgrade_twice_at_once(pg_url) == []
        assert _diff(pg_url) == []
        downgrade(pg_url, "base")
