"""public stories: business ID, industry, theme, figures, image and its alt text,
commitment, listing requests, translations

Revision ID: 0020
Revises: 0014
Create Date: 2026-12-01 07:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stories') as batch:
        batch.add_column(sa.Column('business_id', sa.String(length=9), nullable=True))
        batch.add_column(sa.Column('industry', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('theme', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('figures', sa.Text(), nullable=True))
        batch.add_column(sa.Column('image_alt', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('commitment', sa.Text(), nullable=True))
        batch.add_column(
            sa.Column('listing_only', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column('translations', sa.JSON(), nullable=False, server_default='{}')
        )
        batch.create_index(batch.f('ix_stories_business_id'), ['business_id'], unique=False)
    op.create_table(
        'story_images',
        sa.Column('story_id', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(length=20), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ['story_id'], ['stories.id'],
            name=op.f('fk_story_images_story_id_stories'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('story_id', name=op.f('pk_story_images')),
    )


def downgrade() -> None:
    op.drop_table('story_images')
    with op.batch_alter_table('stories') as batch:
        batch.drop_index(batch.f('ix_stories_business_id'))
        for column in ('translations', 'listing_only', 'commitment', 'image_alt',
                       'figures', 'theme', 'industry', 'business_id'):
            batch.drop_column(column)
