"""conversations: what the bot remembers of a person in a room; attachments; an image a message carried

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("room", sa.String(200), nullable=False),
        sa.Column("sender_id", sa.String(200), nullable=False),
        sa.Column("ticket_number", sa.String(12), nullable=True),
        sa.Column("ticket_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("question", sa.String(20), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("image", sa.String(500), nullable=True),
        sa.Column("image_message_id", sa.String(200), nullable=True),
        sa.Column("image_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("room", "sender_id", name="uq_conversation_room_sender"),
    )
    op.create_index("ix_conversation_expires_at", "conversation", ["expires_at"])
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("path", sa.String(500), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("ticket_id", "message_id", name="uq_attachment_ticket_message"),
    )
    op.create_index("ix_attachment_ticket_id", "attachment", ["ticket_id"])
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("media", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("media")
    op.drop_table("attachment")
    op.drop_table("conversation")
