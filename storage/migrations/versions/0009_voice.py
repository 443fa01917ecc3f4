"""voice messages: inbox.transcribed_by marks a row whose text is a voice message's transcript (and who made
it); candidate.media keeps the recording of a voice message held for staff

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("transcribed_by", sa.String(length=100), nullable=True))
    with op.batch_alter_table("candidate") as batch:
        batch.add_column(sa.Column("media", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidate") as batch:
        batch.drop_column("media")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("transcribed_by")
