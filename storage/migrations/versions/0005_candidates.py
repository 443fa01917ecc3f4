"""candidates: messages held for staff review (待确认) instead of being filed at once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candidate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("inbox_message_id", sa.String(200), nullable=False),
        sa.Column("room_id", sa.String(200), nullable=True),
        sa.Column("room_topic", sa.String(200), nullable=True),
        sa.Column("community", sa.String(100), nullable=True),
        sa.Column("area", sa.String(100), nullable=True),
        sa.Column("grp", sa.String(100), nullable=True),
        sa.Column("sender_id", sa.String(200), nullable=False),
        sa.Column("sender_name", sa.String(200), nullable=False),
        sa.Column("sender_role", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("estate", sa.String(100), nullable=True),
        sa.Column("building", sa.String(20), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_by_name", sa.String(200), nullable=True),
        sa.Column("ticket_number", sa.String(12), nullable=True),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("inbox_message_id"),
    )
    op.create_index("ix_candidate_community", "candidate", ["community"])
    op.create_index("ix_candidate_status", "candidate", ["status"])
    op.create_index("ix_candidate_created_at", "candidate", ["created_at"])


def downgrade() -> None:
    op.drop_table("candidate")
