"""indexes for the hot path: the duplicate check and a person's newest tickets read only the rows they return

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The duplicate check filtered on category (indexed alone) and community (indexed alone): SQLite read every
    # ticket of the community, more with each month. Now: recent tickets of the category in the building, or
    # in the estate, or (no place named) of the category.
    op.drop_index("ix_ticket_category", table_name="ticket")
    op.create_index("ix_ticket_duplicate", "ticket", ["category", "building", "created_at"])
    op.create_index("ix_ticket_category_estate", "ticket", ["category", "estate", "created_at"])
    op.create_index("ix_ticket_category_created", "ticket", ["category", "created_at"])
    # "我的工单": newest first as reporter and as relaying leader (relay_id was not indexed at all).
    op.drop_index("ix_ticket_reporter_id", table_name="ticket")
    op.create_index("ix_ticket_reporter", "ticket", ["reporter_id", "created_at"])
    op.create_index("ix_ticket_relay", "ticket", ["relay_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_relay", table_name="ticket")
    op.drop_index("ix_ticket_reporter", table_name="ticket")
    op.create_index("ix_ticket_reporter_id", "ticket", ["reporter_id"])
    op.drop_index("ix_ticket_category_created", table_name="ticket")
    op.drop_index("ix_ticket_category_estate", table_name="ticket")
    op.drop_index("ix_ticket_duplicate", table_name="ticket")
    op.create_index("ix_ticket_category", "ticket", ["category"])
