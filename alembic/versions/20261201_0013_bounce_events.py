"""bounce and complaint reports (bounce_events)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'bounce_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('hard', sa.Boolean(), nullable=False),
        sa.Column('email_hash', sa.String(length=64), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.Column('issue_id', sa.Integer(), nullable=True),
        sa.Column('city_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('status_code', sa.String(length=20), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['city_id'], ['cities.id'],
            name=op.f('fk_bounce_events_city_id_cities'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['delivery_id'], ['deliveries.id'],
            name=op.f('fk_bounce_events_delivery_id_deliveries'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['issue_id'], ['issues.id'],
            name=op.f('fk_bounce_events_issue_id_issues'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bounce_events')),
        sa.UniqueConstraint('report_hash', name=op.f('uq_bounce_events_report_hash')),
    )
    op.create_index(op.f('ix_bounce_events_email_hash'), 'bounce_events', ['email_hash'])
    op.create_index(op.f('ix_bounce_events_issue_id'), 'bounce_events', ['issue_id'])
    op.create_index(op.f('ix_bounce_events_city_id'), 'bounce_events', ['city_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_bounce_events_city_id'), table_name='bounce_events')
    op.drop_index(op.f('ix_bounce_events_issue_id'), table_name='bounce_events')
    op.drop_index(op.f('ix_bounce_events_email_hash'), table_name='bounce_events')
    op.drop_table('bounce_events')
