"""Repositories: queries and writes on a session the caller owns. Nothing here commits."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Inbox,
    InboxStatus,
    Member,
    Outbox,
    Room,
    Ticket,
    TicketEvent,
    TicketStatus,
    utcnow,
)

# ---------------------------------------------------------------- inbox


def _insert_ignore(session: AsyncSession, table, conflict_cols: list[str]):
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)


async def record_incoming(session: AsyncSession, **fields: Any) -> tuple[Inbox, bool]:
    """Store an incoming message once; returns (row, created). A redelivered id returns the stored row."""
    stmt = _insert_ignore(session, Inbox.__table__, ["message_id"]).values(
        received_at=fields.pop("received_at", None) or utcnow(), status=InboxStatus.PENDING, attempts=0, **fields
    )
    result = await session.exec(stmt)
    created = (result.rowcount or 0) > 0
    row = (await session.exec(select(Inbox).where(Inbox.message_id == fields["message_id"]))).one()
    return row, created


async def record_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[int, str, bool]]:
    """Store a batch of incoming messages once each (group commit).

    Returns {message_id: (inbox id, status, created)}; a redelivered id keeps its stored row and status.
    """
    ids = list(dict.fromkeys(r["message_id"] for r in rows))
    existing = {
        mid: (iid, status)
        for iid, mid, status in (
            await session.exec(
                select(Inbox.id, Inbox.message_id, Inbox.status).where(col(Inbox.message_id).in_(ids))
            )
        ).all()
    }
    fresh: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["message_id"] not in existing and r["message_id"] not in fresh:
            fresh[r["message_id"]] = {
                **r,
                "received_at": r.get("received_at") or utcnow(),
                "status": InboxStatus.PENDING,
                "attempts": 0,
            }
    if fresh:
        # Insert-or-ignore: another process may have stored the same id a moment ago.
        await session.exec(_insert_ignore(session, Inbox.__table__, ["message_id"]), params=list(fresh.values()))
        stored = (
            await session.exec(
                select(Inbox.id, Inbox.message_id, Inbox.status).where(col(Inbox.message_id).in_(list(fresh)))
            )
        ).all()
        for iid, mid, status in stored:
            existing.setdefault(mid, (iid, status))
    return {mid: (iid, status, mid in fresh) for mid, (iid, status) in existing.items()}


async def claim_inbox(session: AsyncSession, inbox_ids: Sequence[int]) -> set[int]:
    """Lock the still-unhandled rows among `inbox_ids` for this transaction; returns the ids claimed.

    A row another process has finished (or is finishing: PostgreSQL makes this wait for its commit) is
    not returned, so two instances never handle the same message twice.
    """
    if not inbox_ids:
        return set()
    result = await session.exec(
        update(Inbox)
        .where(col(Inbox.id).in_(list(inbox_ids)))
        .where(col(Inbox.status).in_([InboxStatus.PENDING, InboxStatus.FAILED]))
        .values(processed_at=utcnow())
        .returning(Inbox.id)
    )
    return {row[0] for row in result.all()}


async def finish_many(session: AsyncSession, outcomes: Sequence[dict[str, Any]]) -> None:
    """Mark handled rows: each dict has inbox_id, status, intent, ticket_number."""
    if not outcomes:
        return
    stmt = (
        update(Inbox.__table__)
        .where(Inbox.__table__.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            intent=bindparam("b_intent"),
            ticket_number=bindparam("b_ticket"),
            error=None,
        )
    )
    params = [
        {"b_id": o["inbox_id"], "b_status": o["status"], "b_intent": o.get("intent"), "b_ticket": o.get("ticket_number")}
        for o in outcomes
    ]
    await session.connection()  # bind the session's connection before a Core executemany
    await session.exec(stmt, params=params)


async def fail_inbox(session: AsyncSession, inbox_id: int, error: str) -> None:
    """Keep a message whose handling failed: status failed, the error, one more attempt counted."""
    await session.exec(
        update(Inbox)
        .where(col(Inbox.id) == inbox_id)
        .values(status=InboxStatus.FAILED, error=error, processed_at=utcnow(), attempts=Inbox.attempts + 1)
    )


async def pending_inbox(session: AsyncSession, *, limit: int = 500, max_attempts: int = 5) -> Sequence[Inbox]:
    """Messages stored but not yet handled (after a crash), oldest first; failed ones are retried too."""
    stmt = (
        select(Inbox)
        .where(col(Inbox.status).in_([InboxStatus.PENDING, InboxStatus.FAILED]))
        .where(Inbox.attempts < max_attempts)
        .order_by(col(Inbox.id))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


async def finish_inbox(
    session: AsyncSession,
    inbox_id: int,
    *,
    status: str,
    intent: str | None = None,
    ticket_number: str | None = None,
    error: str | None = None,
) -> None:
    await session.exec(
        update(Inbox)
        .where(col(Inbox.id) == inbox_id)
        .values(
            status=status,
            intent=intent,
            ticket_number=ticket_number,
            error=error,
            processed_at=utcnow(),
            attempts=Inbox.attempts + 1,
        )
    )


async def failed_inbox(session: AsyncSession, *, limit: int = 50) -> Sequence[Inbox]:
    stmt = select(Inbox).where(Inbox.status == InboxStatus.FAILED).order_by(col(Inbox.id).desc()).limit(limit)
    return (await session.exec(stmt)).all()


# ---------------------------------------------------------------- outbox


def add_outbox(
    session: AsyncSession,
    *,
    inbox_id: int | None,
    room_id: str | None,
    contact_id: str | None,
    payload: dict[str, Any],
    not_before: datetime | None = None,
) -> Outbox:
    row = Outbox(
        inbox_id=inbox_id,
        room_id=room_id,
        contact_id=contact_id,
        payload=json.dumps(payload, ensure_ascii=False),
        not_before=not_before,
    )
    session.add(row)
    return row


async def unsent_outbox(session: AsyncSession, *, now: datetime, limit: int = 200) -> Sequence[Outbox]:
    stmt = (
        select(Outbox)
        .where(col(Outbox.sent_at).is_(None))
        .where((col(Outbox.not_before).is_(None)) | (col(Outbox.not_before) <= now))
        .order_by(col(Outbox.id))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


async def mark_outbox_sent(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.exec(update(Outbox).where(col(Outbox.id).in_(list(ids))).values(sent_at=utcnow()))


# ---------------------------------------------------------------- rooms and people


async def get_room(session: AsyncSession, platform_id: str) -> Room | None:
    return (await session.exec(select(Room).where(Room.platform_id == platform_id))).first()


async def upsert_room(
    session: AsyncSession, *, platform_id: str, topic: str, community: str, kind: str, area=None, grp=None
) -> Room:
    room = await get_room(session, platform_id)
    if room is None:
        room = Room(platform_id=platform_id, topic=topic, community=community, kind=kind, area=area, grp=grp)
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
    if (room.topic, room.community, room.kind) != (topic, community, kind):
        room.topic, room.community, room.kind = topic, community, kind
        session.add(room)
    return room


async def rooms_of_kind(session: AsyncSession, kind: str) -> Sequence[Room]:
    return (await session.exec(select(Room).where(Room.kind == kind))).all()


async def find_member(session: AsyncSession, *, wechat_id: str | None, name: str | None) -> Member | None:
    if wechat_id:
        m = (await session.exec(select(Member).where(Member.wechat_id == wechat_id))).first()
        if m:
            return m
    if name:
        return (await session.exec(select(Member).where(Member.display_name == name))).first()
    return None


# ---------------------------------------------------------------- tickets


def _number_width(count: int) -> int:
    # Random numbers from a space ~20x larger than the tickets in it: short to type, not guessable in bulk.
    return max(4, math.ceil(math.log10(max(count, 1) * 20)))


async def ticket_count(session: AsyncSession) -> int:
    """About how many tickets there are: the highest id, read from the primary key index (a COUNT(*) scans)."""
    return (await session.exec(select(func.max(Ticket.id)))).one() or 0


async def create_ticket(session: AsyncSession, *, attempts: int = 12, **fields: Any) -> Ticket:
    """Insert a ticket under a fresh random number (unique; a collision is retried in a savepoint)."""
    width = _number_width(await ticket_count(session))
    for i in range(attempts):
        number = f"{secrets.randbelow(10**width):0{width}d}"
        ticket = Ticket(number=number, **fields)
        try:
            async with session.begin_nested():
                session.add(ticket)
                await session.flush()
            return ticket
        except IntegrityError:
            if i >= attempts // 2:
                width += 1
    raise RuntimeError("could not allocate a ticket number")


async def get_ticket(session: AsyncSession, number: str) -> Ticket | None:
    return (await session.exec(select(Ticket).where(Ticket.number == number))).first()


async def tickets_by_reporter(session: AsyncSession, reporter_id: str, *, limit: int = 10) -> Sequence[Ticket]:
    stmt = (
        select(Ticket)
        .where((Ticket.reporter_id == reporter_id) | (Ticket.relay_id == reporter_id))
        .where(Ticket.status != TicketStatus.WITHDRAWN)
        .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


async def open_tickets(
    session: AsyncSession,
    *,
    category: str | None = None,
    since: datetime | None = None,
    community: str | None = None,
    source: str | None = None,
    building: str | None = None,
    limit: int = 200,
) -> Sequence[Ticket]:
    stmt = select(Ticket).where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
    if category:
        stmt = stmt.where(Ticket.category == category)
    if building:
        stmt = stmt.where(Ticket.building == building)
    if since:
        stmt = stmt.where(col(Ticket.created_at) >= since)
    if community:
        stmt = stmt.where(Ticket.community == community)
    if source:
        stmt = stmt.where(Ticket.source == source)
    return (await session.exec(stmt.order_by(col(Ticket.created_at).desc()).limit(limit))).all()


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


async def ticket_events(session: AsyncSession, ticket: Ticket) -> Sequence[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
    return (await session.exec(stmt)).all()


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
    """Committee rooms of a community (rooms configured without a community serve every community)."""
    stmt = select(Room).where(Room.kind == "committee")
    if community:
        stmt = stmt.where(col(Room.community).in_([community, ""]))
    return (await session.exec(stmt.order_by(col(Room.id)))).all()


async def has_supported(session: AsyncSession, ticket: Ticket, actor_id: str) -> bool:
    """Whether this person already counts among the ticket's reporters."""
    if ticket.reporter_id == actor_id or ticket.relay_id == actor_id:
        return True
    stmt = (
        select(func.count())
        .select_from(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .where(TicketEvent.action == "support")
        .where(TicketEvent.actor_id == actor_id)
    )
    return (await session.exec(stmt)).one() > 0


async def find_tickets(
    session: AsyncSession,
    *,
    open_only: bool = False,
    overdue_at: datetime | None = None,
    status: str | None = None,
    source: str | None = None,
    community: str | None = None,
    limit: int = 200,
) -> Sequence[Ticket]:
    """Tickets for staff lists: open or overdue (by due date), optionally by status, source and community."""
    stmt = select(Ticket)
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
    if overdue_at is not None:
        stmt = stmt.order_by(col(Ticket.due_at), col(Ticket.id))
    else:
        stmt = stmt.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    return (await session.exec(stmt.limit(limit))).all()


async def count_tickets(
    session: AsyncSession, *, open_only: bool = False, overdue_at: datetime | None = None, source: str | None = None
) -> int:
    stmt = select(func.count()).select_from(Ticket)
    if open_only or overdue_at is not None:
        stmt = stmt.where(col(Ticket.status).in_(list(TicketStatus.OPEN)))
    if overdue_at is not None:
        stmt = stmt.where(col(Ticket.due_at).is_not(None)).where(col(Ticket.due_at) < overdue_at)
    if source:
        stmt = stmt.where(Ticket.source == source)
    return (await session.exec(stmt)).one()
