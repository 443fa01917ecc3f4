"""Reads about tickets that change nothing: staff lists, a rating due, counts for the limits, supporters.

Nothing here commits. The limits' counts and the supporter check run for every report and query by number,
so they are Core statements built once (see storage/core.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, exists, func, literal, true
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.models import Ticket, TicketEvent, TicketStatus

_TICKET = Ticket.__table__
_EVENT = TicketEvent.__table__


def _recent(column, sources: tuple[str, ...]):
    hour = _TICKET.c.created_at >= bindparam("hour")
    urgent = _TICKET.c.urgent == true()
    return (
        core_select(
            func.count(),
            func.coalesce(func.sum(case((hour, 1), else_=0)), 0),
            func.coalesce(func.sum(case((urgent, 1), else_=0)), 0),
            func.coalesce(func.sum(case((hour & urgent, 1), else_=0)), 0),
        )
        .where(column == bindparam("who"))
        .where(_TICKET.c.created_at >= bindparam("day"))
        # The sources given as fixed values (not an expanding IN list, which the fast path does not take).
        .where(_TICKET.c.source.in_([literal(s) for s in sources]))
    )


_COLUMNS = {"reporter": _TICKET.c.reporter_id, "room": _TICKET.c.room_id}
_RECENT: dict[tuple[str, tuple[str, ...]], Any] = {}  # built once per (by, sources)


@dataclass(frozen=True, slots=True)
class Recent:
    """Tickets filed from chat by one person or in one room: in the last day and hour, and how many urgent."""

    day: int
    hour: int
    urgent_day: int
    urgent_hour: int


async def recent_tickets(
    session: AsyncSession, *, by: str, who: str, day: datetime, hour: datetime, sources: Collection[str]
) -> Recent:
    """Counts for the limits: `by` is "reporter" or "room" (each read from its own index); only tickets from
    `sources` (the chat sources: a ticket staff registered from a meeting is not the reporter's doing)."""
    key = (by, tuple(sorted(sources)))
    stmt = _RECENT.get(key)
    if stmt is None:
        stmt = _RECENT[key] = _recent(_COLUMNS[by], key[1])
    [row] = await core.rows(session, stmt, {"who": who, "day": day, "hour": hour})
    return Recent(day=int(row[0]), hour=int(row[1]), urgent_day=int(row[2]), urgent_hour=int(row[3]))


_IS_SUPPORTER = (
    core_select(_EVENT.c.id)
    .where(_EVENT.c.ticket_id == bindparam("ticket_id"))
    .where(_EVENT.c.action == "support")
    .where(_EVENT.c.actor_id == bindparam("person"))
    .limit(1)
)


async def is_supporter(session: AsyncSession, ticket_id: int, person_id: str) -> bool:
    """Whether `person_id` reported the same problem later and was counted behind this ticket."""
    return bool(await core.rows(session, _IS_SUPPORTER, {"ticket_id": ticket_id, "person": person_id}))


async def awaiting_feedback(
    session: AsyncSession, person_id: str, *, since: datetime | None = None, number: str | None = None
) -> Ticket | None:
    """The person's most recently resolved ticket (as reporter or relaying leader) not yet rated."""
    stmt = (
        select(Ticket)
        .where(Ticket.status == TicketStatus.RESOLVED)
        .where(col(Ticket.satisfaction).is_(None))
        .where((Ticket.reporter_id == person_id) | (Ticket.relay_id == person_id))
    )
    if since is not None:
        stmt = stmt.where(col(Ticket.resolved_at) >= since)
    if number is not None:
        stmt = stmt.where(Ticket.number == number)
    stmt = stmt.order_by(col(Ticket.resolved_at).desc(), col(Ticket.id).desc()).limit(1)
    return (await session.exec(stmt)).first()


async def follow_up_due(
    session: AsyncSession, *, resolved_before: datetime, resolved_after: datetime, limit: int = 200
) -> Sequence[Ticket]:
    """Resolved tickets not rated yet, resolved within (after, before], never followed up (回访) before."""
    asked = exists().where(col(TicketEvent.ticket_id) == col(Ticket.id), col(TicketEvent.action) == "follow_up")
    stmt = (
        select(Ticket)
        .where(Ticket.status == TicketStatus.RESOLVED, col(Ticket.satisfaction).is_(None))
        .where(col(Ticket.resolved_at) > resolved_after, col(Ticket.resolved_at) <= resolved_before)
        .where(~asked)
        .order_by(col(Ticket.resolved_at), col(Ticket.id))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


def _listed(
    stmt,
    *,
    open_only: bool,
    overdue_at: datetime | None,
    status: str | None,
    source: str | None,
    community: str | None,
    communities: Collection[str] | None,
    since: datetime | None = None,
    urgent: bool | None = None,
    estate: str | None = None,
    category: str | None = None,
    assignees: Collection[str] | None = None,
):
    """The filters a staff list and its count share (`communities`: a staff member's scope; None for all;
    `assignees`: only tickets dispatched to these, for a unit's own list)."""
    if assignees is not None:
        stmt = stmt.where(col(Ticket.assignee).in_(sorted(assignees)))
    if since is not None:
        stmt = stmt.where(col(Ticket.created_at) >= since)
    if urgent is not None:
        stmt = stmt.where(Ticket.urgent == urgent)
    if estate:
        stmt = stmt.where(Ticket.estate == estate)
    if category:
        stmt = stmt.where(Ticket.category == category)
    if open_only or overdue_at is not None:
        stmt = stmt.where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
    if overdue_at is not None:
        stmt = stmt.where(col(Ticket.due_at).is_not(None)).where(col(Ticket.due_at) < overdue_at)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if source:
        stmt = stmt.where(Ticket.source == source)
    if community:
        stmt = stmt.where(Ticket.community == community)
    if communities is not None:
        stmt = stmt.where(col(Ticket.community).in_(sorted(communities)))
    return stmt


async def find_tickets(
    session: AsyncSession,
    *,
    open_only: bool = False,
    overdue_at: datetime | None = None,
    status: str | None = None,
    source: str | None = None,
    community: str | None = None,
    communities: Collection[str] | None = None,
    limit: int = 200,
    **more: Any,
) -> Sequence[Ticket]:
    """Tickets for staff lists: open or overdue (by due date), optionally by status, source and community, and
    by `since`, `urgent`, `estate` and `category` (see _listed)."""
    stmt = _listed(
        select(Ticket), open_only=open_only, overdue_at=overdue_at, status=status, source=source,
        community=community, communities=communities, **more,
    )
    if overdue_at is not None:
        stmt = stmt.order_by(col(Ticket.due_at), col(Ticket.id))
    else:
        stmt = stmt.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    return (await session.exec(stmt.limit(limit))).all()


async def count_tickets(
    session: AsyncSession,
    *,
    open_only: bool = False,
    overdue_at: datetime | None = None,
    source: str | None = None,
    community: str | None = None,
    communities: Collection[str] | None = None,
    status: str | None = None,
    **more: Any,
) -> int:
    """How many tickets a staff list would show without its limit."""
    stmt = _listed(
        select(func.count()).select_from(Ticket), open_only=open_only, overdue_at=overdue_at, status=status,
        source=source, community=community, communities=communities, **more,
    )
    return (await session.exec(stmt)).one()
