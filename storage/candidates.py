"""Candidates: messages held for staff review (待确认), on a session the caller owns. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.core import connection, take_write_lock
from storage.models import Candidate, CandidateStatus

C = CandidateStatus
# A settled candidate keeps its number this long, so a second staff member typing 确认 K is told it was
# settled instead of reaching another one.
KEEP_SETTLED_NUMBER = timedelta(days=1)


_T = Candidate.__table__  # type: ignore[attr-defined]
_NEXT = _T.alias("next")
# The smallest number no candidate holds: 1, or one past a held number whose successor is free. Answered from
# the unique index on number (reading every held number per hold grew with the queue: 2.6 ms a hold at 700).
_FREE_NUMBER = select(
    func.coalesce(
        select(literal(1)).where(~select(_T.c.id).where(_T.c.number == 1).exists()).scalar_subquery(),
        select(func.min(_T.c.number) + 1)
        .where(_T.c.number.is_not(None), ~select(_NEXT.c.id).where(_NEXT.c.number == _T.c.number + 1).exists())
        .scalar_subquery(),
    )
)
_HELD = select(_T.c.id).where(_T.c.inbox_message_id == bindparam("message_id"))


async def _free_number(session: AsyncSession) -> int:
    """The smallest number no candidate holds."""
    [(n,)] = await core.rows(session, _FREE_NUMBER)
    return int(n)


async def add_candidate(session: AsyncSession, **values: Any) -> Candidate:
    """Hold a message for review under the smallest free number (retried if another process took it)."""
    if await core.rows(session, _HELD, {"message_id": values["inbox_message_id"]}):
        existing = await by_message(session, values["inbox_message_id"])
        if existing is not None:
            return existing
    for _ in range(20):
        cand = Candidate(number=await _free_number(session), **values)
        try:
            async with session.begin_nested():
                session.add(cand)
                await session.flush()
            return cand
        except IntegrityError:
            existing = await by_message(session, values["inbox_message_id"])
            if existing is not None:  # the same message held by another instance meanwhile
                return existing
    raise RuntimeError("could not allocate a candidate number")


async def by_message(session: AsyncSession, message_id: str) -> Candidate | None:
    return (await session.exec(select(Candidate).where(Candidate.inbox_message_id == message_id))).first()


async def by_number(session: AsyncSession, number: int, *, for_update: bool = False) -> Candidate | None:
    """A held candidate; with `for_update` locked until the commit (staff settle it once, not twice)."""
    stmt = select(Candidate).where(Candidate.number == number)
    if for_update:
        await take_write_lock(session)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.exec(stmt)).first()


async def pending(
    session: AsyncSession, *, communities: Sequence[str] | None = None, limit: int = 20
) -> tuple[Sequence[Candidate], int]:
    """The oldest waiting candidates (of these communities, when given) and how many wait in all."""
    where: list[ColumnElement[bool]] = [col(Candidate.status) == C.PENDING]
    if communities is not None:
        where.append(col(Candidate.community).in_(list(communities)))
    rows = (await session.exec(select(Candidate).where(*where).order_by(col(Candidate.id)).limit(limit))).all()
    total = (await session.exec(select(func.count()).select_from(Candidate).where(*where))).one()
    return rows, total


async def pending_by_community(session: AsyncSession) -> dict[str, int]:
    rows = (
        await session.exec(
            select(Candidate.community, func.count()).where(Candidate.status == C.PENDING).group_by(Candidate.community)
        )
    ).all()
    return {community or "": n for community, n in rows}


def settle(
    session: AsyncSession,
    cand: Candidate,
    status: str,
    *,
    actor_id: str | None,
    actor_name: str | None,
    now: datetime,
    ticket_number: str | None = None,
) -> None:
    cand.status = status
    cand.decided_at = now
    cand.decided_by = actor_id
    cand.decided_by_name = actor_name
    cand.ticket_number = ticket_number
    session.add(cand)


async def expire(session: AsyncSession, *, now: datetime, max_age: timedelta) -> int:
    """Drop candidates waiting longer than `max_age`, and free the numbers of old settled ones; returns how
    many expired."""
    conn = await connection(session)
    expired = await conn.execute(
        update(Candidate)
        .where(col(Candidate.status) == C.PENDING)
        .where(col(Candidate.created_at) < now - max_age)
        .values(status=C.EXPIRED, decided_at=now, number=None)
    )
    await conn.execute(
        update(Candidate)
        .where(col(Candidate.status) != C.PENDING)
        .where(col(Candidate.number).is_not(None))
        .where(or_(col(Candidate.decided_at).is_(None), col(Candidate.decided_at) < now - KEEP_SETTLED_NUMBER))
        .values(number=None)
    )
    session.expire_all()  # rows loaded before now may show the old status
    return int(expired.rowcount or 0)


async def labelled(session: AsyncSession, *, limit: int = 100_000) -> Sequence[tuple[str, str, str | None]]:
    """(text, status, ticket number) of every candidate staff settled: 确认 (a report) or 忽略 (not one); not
    the voice messages held as recordings ("[语音] 待转写" says nothing about what they said)."""
    stmt = (
        select(Candidate.text, Candidate.status, Candidate.ticket_number)
        .where(col(Candidate.status).in_([C.CONFIRMED, C.IGNORED]))
        .where(col(Candidate.stage) != "voice")  # a recording held untranscribed: its text is a placeholder
        .order_by(col(Candidate.id).desc())
        .limit(limit)
    )
    return (await session.exec(stmt)).all()
