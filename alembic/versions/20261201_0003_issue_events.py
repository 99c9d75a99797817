"""issue history (issue_events)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'issue_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issue_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['issue_id'], ['issues.id'],
            name=op.f('fk_issue_events_issue_id_issues'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_events')),
    )
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_events_issue_id'), ['issue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_events_issue_id'))
    op.drop_table('issue_events')
