"""content_items.series: the recurring series an event is an occurrence of, as its
source says (a calendar's UID, a Linked Events super event), so a draft's edits of a
recurring event hold for the series

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.add_column(sa.Column('series', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.drop_column('series')
