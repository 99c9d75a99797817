"""staff test addresses: the list of addresses a city's tests go to

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'staff_test_addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('city', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=254), nullable=False),
        sa.Column('added_by', sa.String(length=100), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_test_addresses')),
        sa.UniqueConstraint('city', 'address', name=op.f('uq_staff_test_addresses_city')),
    )
    op.create_index(
        op.f('ix_staff_test_addresses_city'), 'staff_test_addresses', ['city'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_staff_test_addresses_city'), table_name='staff_test_addresses')
    op.drop_table('staff_test_addresses')
