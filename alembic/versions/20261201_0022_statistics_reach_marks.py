"""statistics: who each settled issue reached, folded into one mask per subscriber;
the clicks whose network hash is kept, indexed for the sweep that blanks them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_reach",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("grp", sa.Integer(), nullable=False),
        sa.Column("bit", sa.Integer(), nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"],
            ["cities.id"],
            name=op.f("fk_issue_reach_city_id_cities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_reach_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issue_reach")),
        sa.UniqueConstraint("grp", "bit", name=op.f("uq_issue_reach_grp")),
    )
    op.create_table(
        "reach_marks",
        sa.Column("grp", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("mask", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_reach_marks_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grp", "subscriber_id", name=op.f("pk_reach_marks")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_reach_marks_subscriber_id"), "reach_marks", ["subscriber_id"], unique=False
    )
    op.create_index(
        "ix_link_clicks_net_kept",
        "link_clicks",
        ["created_at"],
        unique=False,
        sqlite_where=sa.text("net IS NOT NULL"),
        postgresql_where=sa.text("net IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_link_clicks_net_kept", table_name="link_clicks")
    op.drop_index(op.f("ix_reach_marks_subscriber_id"), table_name="reach_marks")
    op.drop_table("reach_marks")
    op.drop_table("issue_reach")
