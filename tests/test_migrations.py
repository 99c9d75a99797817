"""The migrations give exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

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
