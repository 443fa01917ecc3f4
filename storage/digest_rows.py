"""The digest spreadsheet's rows: every ticket received in a period, one dict each, streamed.

Split from storage/digest_queries.py (the aggregates); the period and scope conditions are the same ones.
The rows are raw (original text, notes, display names): the spreadsheet takes them through the privacy module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.digest_queries import Period, _received, _scope
from storage.models import Attachment, Room, Ticket, TicketEvent, as_utc

T = Ticket.__table__.c
E = TicketEvent.__table__.c
# The steps whose note says how a ticket was settled (办结 / 归档).
SETTLING_STEPS = ("resolve", "close")

TICKET_COLUMNS = (
    "number",
    "created_at",
    "resolved_at",
    "closed_at",
    "due_at",
    "community",
    "area",
    "grp",
    "estate",
    "building",
    "unit",
    "category",
    "summary",
    "status",
    "assignee",
    "supporters",
    "satisfaction",
    "text",
    "reporter_id",
    "reporter_name",
    "relay_id",
    "relay_name",
    "room_id",
    "source",
    "urgent",
)


async def period_tickets(
    session: AsyncSession, p: Period, *, community: str | None = None, batch: int = 5000
) -> AsyncIterator[dict[str, Any]]:
    """Every ticket received in the period, oldest first, streamed, with its photo count, its group's name
    (`room`) and the note of its last 办结/归档 step that has one (`note`). Raw: personal data is the caller's to
    take out."""
    photos = (
        select(func.count()).select_from(Attachment.__table__).where(Attachment.__table__.c.ticket_id == T.id)
    ).scalar_subquery()
    room = select(col(Room.topic)).where(col(Room.platform_id) == T.room_id).limit(1).scalar_subquery()
    note = (
        select(E.note)
        .where(E.ticket_id == T.id, E.action.in_(SETTLING_STEPS), E.note.is_not(None), E.note != "")
        .order_by(E.at.desc(), E.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    cols: Sequence[Any] = [*(T[c] for c in TICKET_COLUMNS), photos, room, note]
    stmt = (
        select(*cols)
        .select_from(Ticket.__table__)
        .where(_received(p), _scope(community))
        .order_by(T.created_at, T.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(stmt)
    async for row in result:
        d = dict(zip((*TICKET_COLUMNS, "photos", "room", "note"), row, strict=True))
        for k in ("created_at", "resolved_at", "closed_at", "due_at"):
            d[k] = as_utc(d[k])
        yield d


__all__ = ["SETTLING_STEPS", "TICKET_COLUMNS", "period_tickets"]
