"""stories.updated_at: a story's last change, so that editing or translating a published
story moves the public pages' caches and ETags on

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stories') as batch:
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stories') as batch:
        batch.drop_column('updated_at')
