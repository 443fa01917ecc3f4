"""ticketevent.before: what an action changed, so staff can take it back (撤回) within a window

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticketevent") as batch:
        batch.add_column(sa.Column("before", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticketevent") as batch:
        batch.drop_column("before")
