"""statistics: who the settled issues reached, counted once (reach_summaries) and kept
while no subscriber is deleted or changes company and no issue is unfolded
(reach_stamp and its triggers); indexes for the subscriptions and leads the figures count

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As outreach.models.REACH_STAMP_DDL (copied: a migration keeps what it was written with).
FUNCTION = (
    "CREATE OR REPLACE FUNCTION reach_stamp_raise() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' THEN UPDATE reach_stamp SET n = n + 1; "
    "ELSIF EXISTS (SELECT FROM gone) THEN UPDATE reach_stamp SET n = n + 1; END IF; "
    "RETURN NULL; END $$"
)
TRIGGERS = {
    "postgresql": [
        FUNCTION,
        "CREATE TRIGGER subscribers_reach_deleted AFTER DELETE ON subscribers "
        "REFERENCING OLD TABLE AS gone "
        "FOR EACH STATEMENT EXECUTE FUNCTION reach_stamp_raise()",
        "CREATE TRIGGER subscribers_reach_changed "
        "AFTER UPDATE OF business_id, company_name, size_class ON subscribers "
        "FOR EACH ROW WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id "
        "OR OLD.company_name IS DISTINCT FROM NEW.company_name "
        "OR OLD.size_class IS DISTINCT FROM NEW.size_class) "
        "EXECUTE FUNCTION reach_stamp_raise()",
        "CREATE TRIGGER issue_reach_deleted AFTER DELETE ON issue_reach "
        "REFERENCING OLD TABLE AS gone "
        "FOR EACH STATEMENT EXECUTE FUNCTION reach_stamp_raise()",
    ],
    "sqlite": [
        "CREATE TRIGGER subscribers_reach_deleted AFTER DELETE ON subscribers "
        "BEGIN UPDATE reach_stamp SET n = n + 1; END",
        "CREATE TRIGGER subscribers_reach_changed "
        "AFTER UPDATE OF business_id, company_name, size_class ON subscribers "
        "WHEN OLD.business_id IS NOT NEW.business_id "
        "OR OLD.company_name IS NOT NEW.company_name "
        "OR OLD.size_class IS NOT NEW.size_class "
        "BEGIN UPDATE reach_stamp SET n = n + 1; END",
        "CREATE TRIGGER issue_reach_deleted AFTER DELETE ON issue_reach "
        "BEGIN UPDATE reach_stamp SET n = n + 1; END",
    ],
}
DROP_TRIGGERS = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS issue_reach_deleted ON issue_reach",
        "DROP TRIGGER IF EXISTS subscribers_reach_changed ON subscribers",
        "DROP TRIGGER IF EXISTS subscribers_reach_deleted ON subscribers",
        "DROP FUNCTION IF EXISTS reach_stamp_raise()",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS issue_reach_deleted",
        "DROP TRIGGER IF EXISTS subscribers_reach_changed",
        "DROP TRIGGER IF EXISTS subscribers_reach_deleted",
    ],
}


def upgrade() -> None:
    op.create_table(
        "reach_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reach_stamp")),
    )
    op.execute("INSERT INTO reach_stamp (id, n) VALUES (1, 0)")
    op.create_table(
        "reach_summaries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_reach_summaries")),
    )
    op.create_index(
        "ix_subscribers_visit",
        "subscribers",
        ["id"],
        unique=False,
        sqlite_where=sa.text("interested_in_visit = 1"),
        postgresql_where=sa.text("interested_in_visit"),
    )
    op.create_index(
        "ix_subscriptions_joined",
        "subscriptions",
        ["city_id", "confirmed_at", "status"],
        unique=False,
    )
    op.create_index(
        "ix_subscriptions_lead_contacted",
        "subscriptions",
        ["city_id", "lead_contacted_at"],
        unique=False,
        sqlite_where=sa.text("lead_contacted_at IS NOT NULL"),
        postgresql_where=sa.text("lead_contacted_at IS NOT NULL"),
    )
    for statement in TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_index("ix_subscriptions_lead_contacted", table_name="subscriptions")
    op.drop_index("ix_subscriptions_joined", table_name="subscriptions")
    op.drop_index("ix_subscribers_visit", table_name="subscribers")
    op.drop_table("reach_summaries")
    op.drop_table("reach_stamp")
