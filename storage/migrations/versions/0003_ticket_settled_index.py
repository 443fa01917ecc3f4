"""an index for the digest's headline numbers: tickets resolved in a period, and those still open at its end

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:30:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SETTLED_COLUMNS = ["resolved_at", "closed_at", "created_at", "status", "due_at", "satisfaction", "community"]


def upgrade() -> None:
    # The headline numbers walked every ticket created before the period's end (a million rows took a second
    # on SQLite, twice per digest). With this index "resolved in the period" is a range and "still open at
    # its end" two (resolved_at IS NULL, resolved_at >= end), both answered from the index alone.
    op.create_index("ix_ticket_settled", "ticket", SETTLED_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_ticket_settled", table_name="ticket")
