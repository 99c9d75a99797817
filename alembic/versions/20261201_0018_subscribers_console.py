"""subscribers in the console: leads (visit / cooperation interest and contact), list indexes

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.add_column(sa.Column('visit_interest_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('wants_cooperation', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('cooperation_interest_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.add_column(sa.Column('lead_contacted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lead_contacted_by', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_subscriptions_city_id_id', ['city_id', 'id'], unique=False)
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_subscription_id'), ['subscription_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_subscription_id'))
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.drop_index('ix_subscriptions_city_id_id')
        batch_op.drop_column('lead_contacted_by')
        batch_op.drop_column('lead_contacted_at')
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.drop_column('cooperation_interest_at')
        batch_op.drop_column('wants_cooperation')
        batch_op.drop_column('visit_interest_at')
