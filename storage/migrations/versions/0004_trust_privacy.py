"""trust and privacy: rooms bound by platform id, subdistrict-wide staff, tickets by room, numbers as integers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

import math
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bound_by", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    # Until now a room's kind followed its topic: anyone who named a group like the committee's got its rights.
    # No room is bound yet, so every room is ordinary; the bot binds configured ids at its next start.
    op.execute("UPDATE room SET kind = 'leaders'")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subdistrict_wide", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Tickets per room and hour (the per-room limits) read only the rows they count.
    op.create_index("ix_ticket_room", "ticket", ["room_id", "created_at"])
    _numbers_as_integers(op.get_bind())


def _numbers_as_integers(conn) -> None:
    """Ticket numbers lose their leading zeros ("0023" is 23), so a number is compared as an integer and never
    means two tickets as the width grows. Where two old numbers are one integer ("0123" and "00123"), the
    older ticket keeps it and the other gets a new number, with an event saying which it had."""
    padded = conn.execute(sa.text("SELECT id, number FROM ticket WHERE number LIKE '0%' ORDER BY id")).all()
    if not padded:
        return
    taken_before: set[str] = set()
    targets = sorted({str(int(n)) for _, n in padded if int(n) > 0})
    for i in range(0, len(targets), 500):
        chunk = targets[i : i + 500]
        stmt = sa.text("SELECT number FROM ticket WHERE number IN :numbers").bindparams(
            sa.bindparam("numbers", expanding=True)
        )
        taken_before.update(r[0] for r in conn.execute(stmt, {"numbers": chunk}))
    claimed: set[str] = set()
    losers: list[tuple[int, str]] = []
    for ticket_id, number in padded:
        canonical = str(int(number))
        if int(number) == 0 or canonical in taken_before or canonical in claimed:
            losers.append((ticket_id, number))
        else:
            claimed.add(canonical)
    count = conn.execute(sa.text("SELECT count(*) FROM ticket")).scalar() or 0
    width = max(4, math.ceil(math.log10(max(count, 1) * 20)))
    now = datetime.now(UTC)
    for ticket_id, old in losers:
        new = _fresh_number(conn, width, claimed)
        claimed.add(new)
        conn.execute(sa.text("UPDATE ticket SET number = :new WHERE id = :id"), {"new": new, "id": ticket_id})
        conn.execute(sa.text("UPDATE ticket SET duplicate_of = :new WHERE duplicate_of = :old"), {"new": new, "old": old})
        conn.execute(sa.text("UPDATE inbox SET ticket_number = :new WHERE ticket_number = :old"), {"new": new, "old": old})
        conn.execute(
            sa.text(
                "INSERT INTO ticketevent (ticket_id, at, actor_id, actor_name, action, note) "
                "VALUES (:id, :at, 'migration', '系统', 'renumber', :note)"
            ),
            {"id": ticket_id, "at": now, "note": f"原工单号 #{old} 与另一工单重号，改为 #{new}"},
        )
    for table, column in (("ticket", "number"), ("ticket", "duplicate_of"), ("inbox", "ticket_number")):
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = ltrim({column}, '0') WHERE {column} LIKE '0%' AND ltrim({column}, '0') <> ''")
        )


def _fresh_number(conn, width: int, claimed: set[str]) -> str:
    exists = sa.text("SELECT 1 FROM ticket WHERE number = :n")
    for attempt in range(200):
        w = width + attempt // 50
        n = str(10 ** (w - 1) + secrets.randbelow(9 * 10 ** (w - 1)))
        if n not in claimed and conn.execute(exists, {"n": n}).first() is None:
            return n
    raise RuntimeError("could not find a free ticket number")


def downgrade() -> None:
    # Numbers keep their new form: the old zero-padded ones were ambiguous.
    op.drop_index("ix_ticket_room", table_name="ticket")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("subdistrict_wide")
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("bound_by")
