"""deliveries: the claim's index holds only the rows still to be sent (pending, sending),
in id order, instead of (issue_id, status, next_attempt_at), which a claim in id order
could not use

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('pending', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_index('ix_deliveries_due')
        batch_op.create_index(
            'ix_deliveries_active', ['issue_id', 'id'], unique=False,
            sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_index('ix_deliveries_active')
        batch_op.create_index(
            'ix_deliveries_due', ['issue_id', 'status', 'next_attempt_at'], unique=False
        )
