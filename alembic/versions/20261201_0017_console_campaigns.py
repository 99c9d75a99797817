"""console campaigns and source health: campaign documents, states, fetch bookkeeping

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(
            sa.Column('origin', sa.String(length=10), server_default='file', nullable=False)
        )
        batch.add_column(sa.Column('document', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('bodies', sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column('state', sa.String(length=10), server_default='active', nullable=False)
        )
        batch.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('updated_by', sa.String(length=100), nullable=True))
    with op.batch_alter_table('source_states') as batch:
        batch.add_column(sa.Column('last_http_status', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('last_new', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('failures', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('source_states') as batch:
        batch.drop_column('failures')
        batch.drop_column('last_new')
        batch.drop_column('last_http_status')
    with op.batch_alter_table('campaigns') as batch:
        for name in ('updated_by', 'updated_at', 'revision', 'state', 'bodies', 'document',
                     'origin'):
            batch.drop_column(name)
