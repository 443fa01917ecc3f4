"""Reads for the web console's overview, roster export and Open311 feed: a few aggregates and plain lists.

Nothing here commits. The digest's own numbers stay in storage/digest_queries.py; these add what only the
console shows (estate × category counts, the digests sent for a period, members, an Open311 query)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel import select as sm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.digest_queries import Period, _q
from storage.models import Digest, Member, Ticket, TicketStatus, as_utc

T = Ticket.__table__.c


async def estate_category_counts(
    session: AsyncSession, p: Period, *, community: str | None = None
) -> dict[tuple[str, str], int]:
    """Tickets received in the period by (estate, category code); tickets without an estate are left out."""
    stmt = (
        select(T.estate, T.category, func.count())
        .select_from(Ticket.__table__)
        .where(
            T.created_at >= as_utc(p.start), T.created_at < as_utc(p.end), T.status != TicketStatus.WITHDRAWN,
            T.estate.is_not(None), T.estate != "",
        )
        .group_by(T.estate, T.category)
    )
    if community:
        stmt = stmt.where(T.community == community)
    return {(e, c): n for e, c, n in (await session.exec(_q(stmt))).all()}


async def digests_for(session: AsyncSession, period: str, *, community: str | None = None) -> Sequence[Digest]:
    """The digest rows (claimed or sent) of a period, for one community ("" the whole subdistrict) or all."""
    stmt = sm_select(Digest).where(Digest.period == period)
    if community is not None:
        stmt = stmt.where(Digest.community == community)
    return (await session.exec(stmt.order_by(col(Digest.id)))).all()


async def members(session: AsyncSession, *, limit: int = 100_000) -> Sequence[Member]:
    """Everyone in the roster, by community then name."""
    stmt = sm_select(Member).order_by(col(Member.community), col(Member.display_name), col(Member.id)).limit(limit)
    return (await session.exec(stmt)).all()
