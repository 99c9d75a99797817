"""pre-flight check reports (issue_checks) and the link-check cache (link_checks)

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'issue_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issue_id', sa.Integer(), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('snapshot_digest', sa.String(length=64), nullable=False),
        sa.Column('errors', sa.Integer(), nullable=False),
        sa.Column('warnings', sa.Integer(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ['issue_id'], ['issues.id'],
            name=op.f('fk_issue_checks_issue_id_issues'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_checks')),
        sa.UniqueConstraint('issue_id', name=op.f('uq_issue_checks_issue_id')),
    )
    op.create_table(
        'link_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url_hash', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_link_checks')),
    )
    with op.batch_alter_table('link_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_checks_url_hash'), ['url_hash'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_link_checks_checked_at'), ['checked_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('link_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_checks_checked_at'))
        batch_op.drop_index(batch_op.f('ix_link_checks_url_hash'))
    op.drop_table('link_checks')
    op.drop_table('issue_checks')
