"""Repositories: rooms, people and tickets, on a session the caller owns. Nothing here commits.

The inbox and outbox are in storage/messages.py. What runs for every report (the duplicate check, a new
ticket, one more supporter) is Core on statements built once (see storage/core.py); the rest is ORM.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, exists, func, insert, or_, true, union, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.core import connection, for_dialect, insert_ignoring
from storage.models import (
    Member,
    Room,
    Ticket,
    TicketEvent,
    TicketStatus,
    as_utc,
    utcnow,
)

# ---------------------------------------------------------------- rooms and people


async def get_room(session: AsyncSession, platform_id: str) -> Room | None:
    return (await session.exec(select(Room).where(Room.platform_id == platform_id))).first()


async def _room_row(session: AsyncSession, platform_id: str, **values: Any) -> Room:
    """The room's row, created (as an ordinary, unbound room) when the bot sees it for the first time."""
    room = await get_room(session, platform_id)
    if room is not None:
        return room
    room = Room(platform_id=platform_id, **values)
    try:
        async with session.begin_nested():
            session.add(room)
            await session.flush()
        return room
    except IntegrityError:
        # Another instance recorded this room a moment ago (a first message seen by two bots at once).
        room = await get_room(session, platform_id)
        if room is None:
            raise
        return room


async def record_room(session: AsyncSession, *, platform_id: str, topic: str, community: str, now: datetime) -> Room:
    """Note that the bot saw a message in this room: its current topic and when. Never its kind or community:
    a room's name says nothing about what it is (anyone can call a group "…两委群")."""
    room = await _room_row(session, platform_id, topic=topic, community=community, last_seen_at=now)
    if room.topic != topic or room.last_seen_at is None or as_utc(room.last_seen_at) < now:
        room.topic, room.last_seen_at = topic, now
        session.add(room)
    return room


async def bind_room(
    session: AsyncSession,
    *,
    platform_id: str,
    kind: str,
    community: str,
    by: str,
    topic: str | None = None,
    area: str | None = None,
    grp: str | None = None,
) -> Room:
    """Give the room with this platform id its kind and community (`by`: "config" or "cli")."""
    room = await _room_row(session, platform_id, topic=topic or "", community=community)
    room.kind, room.community, room.area, room.grp, room.bound_by = kind, community, area, grp, by
    if topic and not room.topic:
        room.topic = topic
    session.add(room)
    return room


async def unbind_rooms(session: AsyncSession, *, by: str, keep: Sequence[str] = ()) -> int:
    """Make rooms bound by `by` ordinary again, except those in `keep`; returns how many."""
    stmt = select(Room).where(Room.bound_by == by)
    n = 0
    for room in (await session.exec(stmt)).all():
        if room.platform_id not in keep:
            _unbind(session, room)
            n += 1
    return n


def _unbind(session: AsyncSession, room: Room) -> None:
    room.kind, room.bound_by, room.area, room.grp = "leaders", None, None, None
    session.add(room)


async def unbind_room(session: AsyncSession, platform_id: str, *, by: str) -> bool:
    """Make one room bound by `by` ordinary again; False when no such room is bound so."""
    room = await get_room(session, platform_id)
    if room is None or room.bound_by != by:
        return False
    _unbind(session, room)
    return True


async def list_rooms(session: AsyncSession) -> Sequence[Room]:
    """Every room the bot has seen or been told about, most recently active first."""
    stmt = select(Room).order_by(col(Room.last_seen_at).desc().nulls_last(), col(Room.id))
    return (await session.exec(stmt)).all()


async def find_member(session: AsyncSession, *, wechat_id: str | None, name: str | None) -> Member | None:
    if wechat_id:
        m = (await session.exec(select(Member).where(Member.wechat_id == wechat_id))).first()
        if m:
            return m
    if name:
        return (await session.exec(select(Member).where(Member.display_name == name))).first()
    return None


# ---------------------------------------------------------------- tickets


def number_width(count: int) -> int:
    # Random numbers from a space ~20x larger than the tickets in it: short to type, not guessable in bulk.
    return max(4, math.ceil(math.log10(max(count, 1) * 20)))


def random_number(width: int) -> str:
    """A ticket number of exactly `width` digits, never with a leading zero: numbers are compared as integers,
    so a longer number can never be a shorter one written with zeros in front."""
    low = 10 ** (width - 1)
    return str(low + secrets.randbelow(9 * low))


async def ticket_count(session: AsyncSession) -> int:
    """About how many tickets there are: the highest id, read from the primary key index (a COUNT(*) scans)."""
    return (await session.exec(select(func.max(Ticket.id)))).one() or 0


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket as message handling reads it: plain values, no ORM instance to track (the hot path)."""

    id: int
    number: str
    category: str
    summary: str
    text: str
    estate: str | None
    building: str | None
    unit: str | None
    community: str | None
    status: str
    assignee: str | None
    duplicate_of: str | None
    supporters: int
    due_at: datetime | None
    source: str
    reporter_id: str
    relay_id: str | None
    room_id: str | None
    created_at: datetime


_TICKET = Ticket.__table__
_EVENT = TicketEvent.__table__
_ROW_COLUMNS = [_TICKET.c[f.name] for f in fields(TicketRow)]
_TICKET_DEFAULTS: dict[str, Any] = {
    "summary": "",
    "text": "",
    "reporter_name": "",
    "source": "wechat",
    "status": TicketStatus.NEW,
    "urgent": False,
    "supporters": 1,
    "stage": "rules",
    "confidence": 0.0,
}
_TICKET_COLUMNS = frozenset(_TICKET.c.keys())
_EVENT_FIELDS = ("ticket_id", "at", "actor_id", "actor_name", "action", "from_status", "to_status", "note")

_NEW_TICKET = {name: stmt.returning(*_ROW_COLUMNS) for name, stmt in insert_ignoring(_TICKET, ["number"]).items()}
_NEW_EVENT = insert(_EVENT)


_IS_OPEN = or_(*(_TICKET.c.status == s for s in sorted(TicketStatus.OPEN)))  # not an expanding IN: compiled once


def _candidates(by_community: bool, place: str | None):
    stmt = (
        core_select(*_ROW_COLUMNS)
        .where(_TICKET.c.category == bindparam("category"))
        .where(_IS_OPEN)
        .where(_TICKET.c.created_at >= bindparam("since"))
    )
    if by_community:
        stmt = stmt.where(_TICKET.c.community == bindparam("community"))
    if place == "building":
        stmt = stmt.where(_TICKET.c.building == bindparam("building"))
    elif place == "estate":
        stmt = stmt.where(_TICKET.c.estate == bindparam("estate"))
    return stmt.order_by(_TICKET.c.created_at.desc()).limit(bindparam("limit"))


_CANDIDATES = {(c, p): _candidates(c, p) for c in (False, True) for p in (None, "building", "estate")}
# Counted once: never the reporter, the relaying leader, or someone already behind the ticket.
_SUPPORT = (
    update(_TICKET)
    .where(_TICKET.c.id == bindparam("ticket_id"))
    .where(_TICKET.c.reporter_id != bindparam("actor_id"))
    .where(or_(_TICKET.c.relay_id.is_(None), _TICKET.c.relay_id != bindparam("actor_id")))
    .where(
        ~exists().where(
            _EVENT.c.ticket_id == bindparam("ticket_id"),
            _EVENT.c.action == "support",
            _EVENT.c.actor_id == bindparam("actor_id"),
        )
    )
    .values(supporters=_TICKET.c.supporters + 1, updated_at=bindparam("now"))
    .returning(_TICKET.c.supporters)
)


async def insert_ticket(session: AsyncSession, *, width: int | None = None, attempts: int = 12, **values: Any) -> TicketRow:
    """Insert a ticket under a fresh random number of `width` digits (default: from the table's size).

    A number already taken is retried with another (after half the attempts, one digit longer); no savepoint
    is needed because the insert ignores the conflict and returns no row.
    """
    unknown = set(values) - _TICKET_COLUMNS
    if unknown:
        raise TypeError(f"not ticket columns: {sorted(unknown)}")
    now = values.get("created_at") or utcnow()
    row = {**_TICKET_DEFAULTS, "created_at": now, "updated_at": now, **values}
    if width is None:
        width = number_width(await ticket_count(session))
    conn = await connection(session)
    stmt = for_dialect(_NEW_TICKET, conn)
    for i in range(attempts):
        row["number"] = random_number(width)
        got = await core.rows(session, stmt, row)
        if got:
            return TicketRow(*got[0])
        if i >= attempts // 2:
            width += 1
    raise RuntimeError("could not allocate a ticket number")


async def duplicate_candidates(
    session: AsyncSession,
    *,
    category: str,
    since: datetime,
    community: str | None,
    building: str | None,
    estate: str | None = None,
    limit: int = 200,
) -> list[TicketRow]:
    """Open tickets of a category since a time, newest first: in the community when given, and in the building
    when given, else in the estate when given."""
    place = "building" if building else "estate" if estate else None
    params = {
        "category": category,
        "since": since,
        "community": community,
        "building": building,
        "estate": estate,
        "limit": limit,
    }
    return [TicketRow(*r) for r in await core.rows(session, _CANDIDATES[bool(community), place], params)]


async def insert_event(
    session: AsyncSession,
    *,
    ticket_id: int,
    action: str,
    actor_id: str | None,
    actor_name: str | None,
    at: datetime | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
) -> None:
    """Record one change to a ticket (Core: for the hot path; ORM code uses add_event)."""
    values = (ticket_id, at or utcnow(), actor_id, actor_name, action, from_status, to_status, note)
    await core.run(session, _NEW_EVENT, dict(zip(_EVENT_FIELDS, values, strict=True)))


async def add_supporter(
    session: AsyncSession, ticket_id: int, *, actor_id: str, actor_name: str | None, now: datetime
) -> int | None:
    """Count one more person behind a ticket; returns the new count, or None if they were counted already."""
    got = await core.rows(session, _SUPPORT, {"ticket_id": ticket_id, "actor_id": actor_id, "now": now})
    count = got[0][0] if got else None
    if count is not None:
        await insert_event(session, ticket_id=ticket_id, action="support", actor_id=actor_id, actor_name=actor_name, at=now)
    return count


_BY_NUMBER = select(Ticket).where(Ticket.number == bindparam("number"))
_ROW_BY_NUMBER = core_select(*_ROW_COLUMNS).where(_TICKET.c.number == bindparam("number"))
def _newest_by(column):
    newest = (
        core_select(*_ROW_COLUMNS)
        .where(column == bindparam("person"))
        .where(_TICKET.c.status != TicketStatus.WITHDRAWN)
        .order_by(_TICKET.c.created_at.desc())
        .limit(bindparam("limit"))
        .subquery()
    )
    return core_select(newest)


# Newest first as reporter, and as relaying leader: each half walks its own index and stops at `limit`.
_PERSON_TICKETS = union(_newest_by(_TICKET.c.reporter_id), _newest_by(_TICKET.c.relay_id)).subquery()
_BY_PERSON = (
    core_select(*(_PERSON_TICKETS.c[c.name] for c in _ROW_COLUMNS))
    .order_by(_PERSON_TICKETS.c.created_at.desc(), _PERSON_TICKETS.c.id.desc())
    .limit(bindparam("limit"))
)


def _recent(column):
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
        .where(_TICKET.c.source == "wechat")
    )


_RECENT = {"reporter": _recent(_TICKET.c.reporter_id), "room": _recent(_TICKET.c.room_id)}


@dataclass(frozen=True, slots=True)
class Recent:
    """Tickets filed from chat by one person or in one room: in the last day and hour, and how many urgent."""

    day: int
    hour: int
    urgent_day: int
    urgent_hour: int


async def recent_tickets(session: AsyncSession, *, by: str, who: str, day: datetime, hour: datetime) -> Recent:
    """Counts for the limits: `by` is "reporter" or "room" (each read from its own index)."""
    [row] = await core.rows(session, _RECENT[by], {"who": who, "day": day, "hour": hour})
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


async def get_ticket(session: AsyncSession, number: str) -> Ticket | None:
    return (await session.exec(_BY_NUMBER, params={"number": number})).first()


async def ticket_row(session: AsyncSession, number: str) -> TicketRow | None:
    """A ticket by number, as plain values (for answering; use get_ticket to change it)."""
    got = await core.rows(session, _ROW_BY_NUMBER, {"number": number})
    return TicketRow(*got[0]) if got else None


async def tickets_by_reporter(session: AsyncSession, reporter_id: str, *, limit: int = 10) -> list[TicketRow]:
    """A person's tickets, as reporter or relaying leader, newest first."""
    return [TicketRow(*r) for r in await core.rows(session, _BY_PERSON, {"person": reporter_id, "limit": limit})]


async def overdue_tickets(session: AsyncSession, *, now: datetime, limit: int = 200) -> Sequence[Ticket]:
    stmt = (
        select(Ticket)
        .where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
        .where(col(Ticket.due_at).is_not(None))
        .where(col(Ticket.due_at) < now)
        .order_by(col(Ticket.due_at))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


async def list_tickets(
    session: AsyncSession, *, status: str | None = None, source: str | None = None, limit: int = 50
) -> Sequence[Ticket]:
    stmt = select(Ticket)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if source:
        stmt = stmt.where(Ticket.source == source)
    return (await session.exec(stmt.order_by(col(Ticket.id).desc()).limit(limit))).all()


def add_event(
    session: AsyncSession,
    ticket: Ticket,
    *,
    action: str,
    actor_id: str | None,
    actor_name: str | None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
) -> TicketEvent:
    assert ticket.id is not None, "flush the ticket before adding events"
    ev = TicketEvent(
        ticket_id=ticket.id,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )
    session.add(ev)
    return ev


_EVENTS_OF = select(TicketEvent).where(TicketEvent.ticket_id == bindparam("ticket_id")).order_by(col(TicketEvent.id))


async def ticket_events(session: AsyncSession, ticket: Ticket | TicketRow) -> Sequence[TicketEvent]:
    return (await session.exec(_EVENTS_OF, params={"ticket_id": ticket.id})).all()


def set_status(
    session: AsyncSession,
    ticket: Ticket,
    to_status: str,
    *,
    actor_id: str | None,
    actor_name: str | None,
    action: str,
    note: str | None = None,
    now: datetime | None = None,
) -> TicketEvent:
    """Change a ticket's status and record the event in the same unit of work."""
    now = now or utcnow()
    from_status = ticket.status
    ticket.status = to_status
    ticket.updated_at = now
    if to_status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    if to_status in (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.DUPLICATE, TicketStatus.WITHDRAWN):
        ticket.closed_at = now
    if to_status == TicketStatus.REOPENED:
        ticket.resolved_at = None
        ticket.closed_at = None
    session.add(ticket)
    return add_event(
        session,
        ticket,
        action=action,
        actor_id=actor_id,
        actor_name=actor_name,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


# ---------------------------------------------------------------- ticket life (staff commands, feedback)


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


async def committee_rooms(session: AsyncSession, community: str | None) -> Sequence[Room]:
    """Committee rooms of a community, bound by platform id (rooms bound without a community serve every
    community). A room merely named like a committee room is not one."""
    stmt = select(Room).where(Room.kind == "committee").where(col(Room.bound_by).is_not(None))
    if community:
        stmt = stmt.where(col(Room.community).in_([community, ""]))
    return (await session.exec(stmt.order_by(col(Room.id)))).all()


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
) -> Sequence[Ticket]:
    """Tickets for staff lists: open or overdue (by due date), optionally by status, source and community
    (`communities`: a staff member's scope; None for all)."""
    stmt = select(Ticket)
    if open_only or overdue_at is not None:
        stmt = stmt.where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
    if overdue_at is not None:
        stmt = stmt.where(col(Ticket.due_at).is_not(None)).where(col(Ticket.due_at) < overdue_at)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if source:
        stmt = stmt.where(Ticket.source == source)
    stmt = _in_scope(stmt, community, communities)
    if overdue_at is not None:
        stmt = stmt.order_by(col(Ticket.due_at), col(Ticket.id))
    else:
        stmt = stmt.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    return (await session.exec(stmt.limit(limit))).all()


def _in_scope(stmt, community: str | None, communities: Collection[str] | None):
    if community:
        stmt = stmt.where(Ticket.community == community)
    if communities is not None:
        stmt = stmt.where(col(Ticket.community).in_(sorted(communities)))
    return stmt


async def count_tickets(
    session: AsyncSession,
    *,
    open_only: bool = False,
    overdue_at: datetime | None = None,
    source: str | None = None,
    community: str | None = None,
    communities: Collection[str] | None = None,
) -> int:
    stmt = _in_scope(select(func.count()).select_from(Ticket), community, communities)
    if open_only or overdue_at is not None:
        stmt = stmt.where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
    if overdue_at is not None:
        stmt = stmt.where(col(Ticket.due_at).is_not(None)).where(col(Ticket.due_at) < overdue_at)
    if source:
        stmt = stmt.where(Ticket.source == source)
    return (await session.exec(stmt)).one()
