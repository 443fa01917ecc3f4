"""Repositories: rooms, people and tickets, on a session the caller owns. Nothing here commits.

The inbox and outbox are in storage/messages.py. What runs for every report (the duplicate check, a new
ticket, one more supporter) is Core on statements built once (see storage/core.py); the rest is ORM.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, or_, union, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.core import connection, for_dialect, insert_ignoring, take_write_lock
from storage.models import (
    Member,
    Ticket,
    TicketEvent,
    TicketStatus,
    utcnow,
)

# Rooms, and the reads that change nothing, live in their own modules; their names stay importable from here.
from storage.rooms import (  # noqa: E402,F401
    bind_room,
    committee_rooms,
    get_room,
    list_rooms,
    record_room,
    unbind_room,
    unbind_rooms,
)
from storage.ticket_reads import (  # noqa: E402,F401
    Recent,
    awaiting_feedback,
    count_tickets,
    find_tickets,
    follow_up_due,
    is_supporter,
    recent_tickets,
)

# ---------------------------------------------------------------- people


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


SUPPORT_ROOM = "room="  # a support event's note: where that person said it (they are told there too)


async def add_supporter(
    session: AsyncSession,
    ticket_id: int,
    *,
    actor_id: str,
    actor_name: str | None,
    now: datetime,
    room_id: str | None = None,
) -> int | None:
    """Count one more person behind a ticket; returns the new count, or None if they were counted already."""
    got = await core.rows(session, _SUPPORT, {"ticket_id": ticket_id, "actor_id": actor_id, "now": now})
    count = got[0][0] if got else None
    if count is not None:
        note = f"{SUPPORT_ROOM}{room_id}" if room_id else None
        await insert_event(
            session, ticket_id=ticket_id, action="support", actor_id=actor_id, actor_name=actor_name, at=now, note=note
        )
    return count


async def supporters(session: AsyncSession, ticket_id: int) -> list[tuple[str, str, str | None]]:
    """(id, name, room id or None for a private chat) of everyone counted behind a ticket."""
    rows = (
        await session.exec(
            select(TicketEvent.actor_id, TicketEvent.actor_name, TicketEvent.note)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.action == "support")
            .order_by(col(TicketEvent.id))
        )
    ).all()
    out = []
    for actor_id, name, note in rows:
        room = note[len(SUPPORT_ROOM):] if note and note.startswith(SUPPORT_ROOM) else None
        out.append((actor_id or "", name or "", room))
    return out


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


_LOCKED_BY_NUMBER = _BY_NUMBER.with_for_update().execution_options(populate_existing=True)


async def get_ticket(session: AsyncSession, number: str, *, for_update: bool = False) -> Ticket | None:
    """A ticket to read, or with `for_update` to read, check and change: locked until the commit, so two
    staff (or two instances) changing it at once are serialised and neither change is lost."""
    if not for_update:
        return (await session.exec(_BY_NUMBER, params={"number": number})).first()
    await take_write_lock(session)
    return (await session.exec(_LOCKED_BY_NUMBER, params={"number": number})).first()


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
    at: datetime | None = None,
    before: str | None = None,
) -> TicketEvent:
    assert ticket.id is not None, "flush the ticket before adding events"
    ev = TicketEvent(
        before=before,
        at=at or utcnow(),  # the app's clock where the caller has it
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
    before: str | None = None,
) -> TicketEvent:
    """Change a ticket's status and record the event in the same unit of work (`before`: what it was, for 撤回)."""
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
        at=now,
        before=before,
    )
