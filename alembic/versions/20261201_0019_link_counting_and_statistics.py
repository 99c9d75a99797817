"""link counting and statistics: issue links, their clicks, indexes for the figures

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-01 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("section", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_links_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_links")),
        sa.UniqueConstraint("issue_id", "lang", "n", name=op.f("uq_issue_links_issue_id")),
    )
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("net", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["issue_links.id"],
            name=op.f("fk_link_clicks_link_id_issue_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    op.create_index(op.f("ix_link_clicks_link_id"), "link_clicks", ["link_id"], unique=False)
    op.create_index(op.f("ix_link_clicks_created_at"), "link_clicks", ["created_at"], unique=False)
    op.create_index(
        "ix_link_clicks_issue", "link_clicks", ["issue_id", "counted", "link_id"], unique=False
    )
    op.create_index(
        "ix_link_clicks_net", "link_clicks", ["issue_id", "net", "created_at"], unique=False
    )
    op.create_index(
        "ix_deliveries_reached", "deliveries", ["issue_id", "status", "subscriber_id"], unique=False
    )
    op.create_index("ix_deliveries_sent", "deliveries", ["issue_id", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deliveries_sent", table_name="deliveries")
    op.drop_index("ix_deliveries_reached", table_name="deliveries")
    op.drop_index("ix_link_clicks_net", table_name="link_clicks")
    op.drop_index("ix_link_clicks_issue", table_name="link_clicks")
    op.drop_index(op.f("ix_link_clicks_created_at"), table_name="link_clicks")
    op.drop_index(op.f("ix_link_clicks_link_id"), table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("issue_links")
