"""story_uploads: an image sent with the story form kept (re-encoded) for a short
time while the form comes back with an error in another field

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("holder_hash", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_uploads")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_story_uploads_token_hash")),
    )
    with op.batch_alter_table("story_uploads") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_story_uploads_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_story_uploads_holder_hash"), ["holder_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("story_uploads") as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_uploads_holder_hash"))
        batch_op.drop_index(batch_op.f("ix_story_uploads_expires_at"))
    op.drop_table("story_uploads")
