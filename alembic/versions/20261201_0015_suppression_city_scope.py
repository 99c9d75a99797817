"""suppression city scope: a complaint suppresses the address for one city only

Revision ID: 0015
Revises: 0018
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing row applies everywhere (city_id NULL).
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("city_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_suppressions_email_hash"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_suppressions_email_hash_city_id", ["email_hash", "city_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_suppressions_city_id_cities"),
            "cities",
            ["city_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(
        "uq_suppressions_email_hash_everywhere",
        "suppressions",
        ["email_hash"],
        unique=True,
        sqlite_where=sa.text("city_id IS NULL"),
        postgresql_where=sa.text("city_id IS NULL"),
    )


def downgrade() -> None:
    # Before this revision the list had no city scope: a per-city row goes.
    op.execute(sa.text("DELETE FROM suppressions WHERE city_id IS NOT NULL"))
    op.drop_index("uq_suppressions_email_hash_everywhere", table_name="suppressions")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_suppressions_city_id_cities"), type_="foreignkey")
        batch_op.drop_constraint("uq_suppressions_email_hash_city_id", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_suppressions_email_hash"), ["email_hash"])
        batch_op.drop_column("city_id")
