"""issues.outbox_complete: False while a send on PostgreSQL is still filling the outbox
in slices; an issue whose outbox is not complete never becomes sent

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issues') as batch_op:
        batch_op.add_column(
            sa.Column('outbox_complete', sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('issues') as batch_op:
        batch_op.drop_column('outbox_complete')
