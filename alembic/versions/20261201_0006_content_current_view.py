"""content items as a current view; issue items per campaign

A source's items are refreshed and retired by every fetch (``last_seen_at``,
``retired_at``); which issue holds an item moves from the one global
``content_items.issue_id`` to ``issue_items`` rows, so one item can go out in
several campaigns (cities) and a recurring event's "also on" dates are not used
up. Calendars keep their last document to re-expand after a 304
(``source_states.cached_body``); an event's end may be a day without a time
(``ends_date_only``).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'issue_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issue_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('section', sa.String(length=64), nullable=False),
        sa.Column('lead', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_items_issue_id_issues'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_issue_items_item_id_content_items'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_items')),
        sa.UniqueConstraint('issue_id', 'item_id', name=op.f('uq_issue_items_issue_id')),
    )
    with op.batch_alter_table('issue_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_items_item_id'), ['item_id'], unique=False)
    # Every claim so far becomes an entry of its issue.
    op.execute(
        "INSERT INTO issue_items (issue_id, item_id, section, lead) "
        "SELECT issue_id, id, '', true FROM content_items WHERE issue_id IS NOT NULL"
    )
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_date_only', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_content_items_retired_at'), ['retired_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_content_items_issue_id'))
        batch_op.drop_constraint(batch_op.f('fk_content_items_issue_id_issues'), type_='foreignkey')
        batch_op.drop_column('issue_id')
    with op.batch_alter_table('source_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cached_body', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('source_states', schema=None) as batch_op:
        batch_op.drop_column('cached_body')
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issue_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_content_items_issue_id_issues'), 'issues', ['issue_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_content_items_issue_id'), ['issue_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_content_items_retired_at'))
        batch_op.drop_column('retired_at')
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('ends_date_only')
    # One issue per item again: the latest that held it as an entry.
    op.execute(
        "UPDATE content_items SET issue_id = (SELECT max(issue_id) FROM issue_items "
        "WHERE issue_items.item_id = content_items.id AND issue_items.lead = true)"
    )
    with op.batch_alter_table('issue_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_items_item_id'))
    op.drop_table('issue_items')
