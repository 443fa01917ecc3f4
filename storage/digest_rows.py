"""The digest spreadsheet's rows: every ticket received in a period, one dict each, streamed.

Split from storage/digest_queries.py (the aggregates); the period and scope conditions are the same ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.digest_queries import Period, _received, _scope
from storage.models import Attachment, Ticket, as_utc

T = Ticket.__table__.c

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
)


async def period_tickets(
    session: AsyncSession, p: Period, *, community: str | None = None, batch: int = 5000
) -> AsyncIterator[dict[str, Any]]:
    """Every ticket received in the period, oldest first, streamed (no names, phones or room numbers)."""
    photos = (
        select(func.count()).select_from(Attachment.__table__).where(Attachment.__table__.c.ticket_id == T.id)
    ).scalar_subquery()
    cols: Sequence[Any] = [*(T[c] for c in TICKET_COLUMNS), photos]
    stmt = (
        select(*cols)
        .select_from(Ticket.__table__)
        .where(_received(p), _scope(community))
        .order_by(T.created_at, T.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(stmt)
    async for row in result:
        d = dict(zip((*TICKET_COLUMNS, "photos"), row, strict=True))
        for k in ("created_at", "resolved_at", "closed_at", "due_at"):
            d[k] = as_utc(d[k])
        yield d


__all__ = ["TICKET_COLUMNS", "period_tickets"]
