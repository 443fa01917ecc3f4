"""the web console: staff accounts (web_user), signed-in browsers (web_session) and Open311 keys (api_key)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("communities", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        _ts("created_at", False),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("web_user.id"), nullable=False, index=True),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("communities", sa.String(length=1000), nullable=False, server_default=""),
        _ts("created_at", False),
        _ts("revoked_at", True),
    )


def downgrade() -> None:
    op.drop_table("api_key")
    op.drop_table("web_session")
    op.drop_table("web_user")
