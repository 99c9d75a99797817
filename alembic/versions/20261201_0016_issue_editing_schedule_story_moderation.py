"""issue schedule and story moderation: scheduled sends, kept-back issues, featured
stories, rejection reasons, the editors' story digest

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issues') as batch:
        batch.add_column(sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('scheduled_by', sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column('kept_back', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('stories') as batch:
        batch.add_column(
            sa.Column('featured', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column('rejection_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('editors_told_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stories') as batch:
        batch.drop_column('editors_told_at')
        batch.drop_column('rejection_reason')
        batch.drop_column('featured')
    with op.batch_alter_table('issues') as batch:
        batch.drop_column('kept_back')
        batch.drop_column('scheduled_by')
        batch.drop_column('scheduled_at')
