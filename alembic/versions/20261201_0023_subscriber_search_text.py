"""subscribers: one search text (address, company, business ID, name; case and accents
folded) instead of the three prefix keys, so a search finds a word or part anywhere

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 13:00:00.000000
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_KEY = sa.String(254).with_variant(sa.String(254, collation='C'), 'postgresql')


def search_fold(text: str | None) -> str:
    """As outreach.models.search_fold (copied: a migration keeps the rule it was written with)."""
    if not text:
        return ''
    decomposed = unicodedata.normalize('NFKD', text.casefold())
    return ' '.join(''.join(c for c in decomposed if not unicodedata.combining(c)).split())


def search_text_of(*fields: str | None) -> str | None:
    return '\n'.join(f for f in (search_fold(x) for x in fields) if f) or None


def old_key(text: str | None) -> str | None:
    """As outreach.models.search_key of revision 0018."""
    if not text:
        return None
    return ' '.join(text.casefold().split())[:254] or None


PEOPLE = sa.table(
    'subscribers', sa.column('id', sa.Integer), sa.column('email', sa.String),
    sa.column('company_name', sa.String), sa.column('business_id', sa.String),
    sa.column('contact_name', sa.String), sa.column('search_text', sa.Text),
    sa.column('email_key', sa.String), sa.column('company_key', sa.String),
    sa.column('contact_key', sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    found = op.get_bind().execute(sa.select(
        PEOPLE.c.id, PEOPLE.c.email, PEOPLE.c.company_name, PEOPLE.c.business_id,
        PEOPLE.c.contact_name)).all()
    update = (sa.update(PEOPLE).where(PEOPLE.c.id == sa.bindparam('row_id'))
              .values(search_text=sa.bindparam('st')))
    bind = op.get_bind()
    for start in range(0, len(found), 5000):
        bind.execute(update, [{'row_id': r[0], 'st': search_text_of(*r[1:])}
                              for r in found[start:start + 5000]])
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.drop_index('ix_subscribers_email_key')
        batch_op.drop_index('ix_subscribers_company_key')
        batch_op.drop_index('ix_subscribers_contact_key')
        batch_op.drop_column('contact_key')
        batch_op.drop_column('company_key')
        batch_op.drop_column('email_key')


def downgrade() -> None:
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.add_column(sa.Column('email_key', SEARCH_KEY, nullable=True))
        batch_op.add_column(sa.Column('company_key', SEARCH_KEY, nullable=True))
        batch_op.add_column(sa.Column('contact_key', SEARCH_KEY, nullable=True))
    found = op.get_bind().execute(sa.select(
        PEOPLE.c.id, PEOPLE.c.email, PEOPLE.c.company_name, PEOPLE.c.contact_name)).all()
    update = (sa.update(PEOPLE).where(PEOPLE.c.id == sa.bindparam('row_id'))
              .values(email_key=sa.bindparam('ek'), company_key=sa.bindparam('ck'),
                      contact_key=sa.bindparam('nk')))
    bind = op.get_bind()
    for start in range(0, len(found), 5000):
        bind.execute(update, [{'row_id': r[0], 'ek': old_key(r[1]), 'ck': old_key(r[2]),
                               'nk': old_key(r[3])} for r in found[start:start + 5000]])
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.create_index('ix_subscribers_email_key', ['email_key'], unique=False)
        batch_op.create_index('ix_subscribers_company_key', ['company_key'], unique=False)
        batch_op.create_index('ix_subscribers_contact_key', ['contact_key'], unique=False)
        batch_op.drop_column('search_text')
