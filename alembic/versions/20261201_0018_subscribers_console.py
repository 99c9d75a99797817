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


SEARCH_KEY = sa.String(254).with_variant(sa.String(254, collation='C'), 'postgresql')


def search_key(text: str | None) -> str | None:
    """As outreach.models.search_key (copied: a migration keeps the rule it was written with)."""
    if not text:
        return None
    return ' '.join(text.casefold().split())[:254] or None


def upgrade() -> None:
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.add_column(sa.Column('visit_interest_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('wants_cooperation', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('cooperation_interest_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('email_key', SEARCH_KEY, nullable=True))
        batch_op.add_column(sa.Column('company_key', SEARCH_KEY, nullable=True))
        batch_op.add_column(sa.Column('contact_key', SEARCH_KEY, nullable=True))
    subscribers = sa.table(
        'subscribers', sa.column('id', sa.Integer), sa.column('email', sa.String),
        sa.column('company_name', sa.String), sa.column('contact_name', sa.String),
        sa.column('email_key', sa.String), sa.column('company_key', sa.String),
        sa.column('contact_key', sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.company_name,
                                  subscribers.c.contact_name)).all()
    update = (
        sa.update(subscribers)
        .where(subscribers.c.id == sa.bindparam('row_id'))
        .values(email_key=sa.bindparam('ek'), company_key=sa.bindparam('ck'), contact_key=sa.bindparam('nk'))
    )
    for start in range(0, len(rows), 5000):
        batch = [
            {'row_id': r[0], 'ek': search_key(r[1]), 'ck': search_key(r[2]), 'nk': search_key(r[3])}
            for r in rows[start:start + 5000]
        ]
        bind.execute(update, batch)
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.create_index(batch_op.f('ix_subscribers_email_key'), ['email_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscribers_company_key'), ['company_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscribers_contact_key'), ['contact_key'], unique=False)
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.add_column(sa.Column('lead_contacted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lead_contacted_by', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_subscriptions_city_id_id', ['city_id', 'id'], unique=False)
        batch_op.create_index('ix_subscriptions_city_id_status', ['city_id', 'status'], unique=False)
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_subscription_id'), ['subscription_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_subscription_id'))
    with op.batch_alter_table('subscriptions') as batch_op:
        batch_op.drop_index('ix_subscriptions_city_id_status')
        batch_op.drop_index('ix_subscriptions_city_id_id')
        batch_op.drop_column('lead_contacted_by')
        batch_op.drop_column('lead_contacted_at')
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscribers_contact_key'))
        batch_op.drop_index(batch_op.f('ix_subscribers_company_key'))
        batch_op.drop_index(batch_op.f('ix_subscribers_email_key'))
        batch_op.drop_column('contact_key')
        batch_op.drop_column('company_key')
        batch_op.drop_column('email_key')
        batch_op.drop_column('cooperation_interest_at')
        batch_op.drop_column('wants_cooperation')
        batch_op.drop_column('visit_interest_at')
