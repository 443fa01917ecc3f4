"""Conversation state (per room and sender, with an expiry) and ticket attachments. Nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.core import connection
from storage.models import Attachment, Conversation, as_utc

_FRESH = {"ticket_number": None, "ticket_at": None, "question": None, "asked_at": None, "image": None,
          "image_message_id": None, "image_at": None}


async def _row(session: AsyncSession, room: str, sender_id: str) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.room == room, Conversation.sender_id == sender_id)
    return (await session.exec(stmt)).first()


# Read before every message, so a compiled statement on the hot path (storage/core.py) rather than the ORM's
# select, which cost 0.45 ms a message (`make bench` profile, issue 21).
_TABLE = Conversation.__table__  # type: ignore[attr-defined]
_CURRENT = _TABLE.select().where(_TABLE.c.room == bindparam("room"), _TABLE.c.sender_id == bindparam("sender_id"))


@dataclass(frozen=True, slots=True)
class Remembered:
    """A conversation's row as read (building the ORM object cost more than the query); `remember` changes it."""

    id: int
    room: str
    sender_id: str
    ticket_number: str | None
    ticket_at: datetime | None
    question: str | None
    asked_at: datetime | None
    image: str | None
    image_message_id: str | None
    image_at: datetime | None
    expires_at: datetime


_PREFETCHED = "linju.conversations.prefetched"  # session.info: (room, sender) → Remembered | None, as read


async def prefetch(session: AsyncSession, pairs: Collection[tuple[str, str]]) -> None:
    """Read the conversations of a batch's (room, sender) pairs in one statement, for `current` to answer from
    in this transaction (on PostgreSQL a statement per message was the message's one round trip)."""
    wanted = set(pairs)
    if not wanted:
        return
    conn = await connection(session)
    # Padded to a power of two (the last pair repeated): PostgreSQL prepares each distinct statement text once
    # per connection, and a batch of any size would otherwise be a statement of its own.
    listed = sorted(wanted)
    listed += listed[-1:] * ((1 << (len(listed) - 1).bit_length()) - len(listed))
    stmt = _TABLE.select().where(tuple_(_TABLE.c.room, _TABLE.c.sender_id).in_(listed))
    found = {(r.room, r.sender_id): r for r in (Remembered(**row._mapping) for row in await conn.execute(stmt))}
    session.info[_PREFETCHED] = {pair: found.get(pair) for pair in wanted}


async def current(session: AsyncSession, *, room: str, sender_id: str, now: datetime) -> Remembered | None:
    """What is remembered of this person in this room, or None (never anything, or it has expired)."""
    known = session.info.get(_PREFETCHED)
    if known is not None and (room, sender_id) in known:
        row = known[(room, sender_id)]
    else:
        found = await core.rows(session, _CURRENT, {"room": room, "sender_id": sender_id})
        row = Remembered(**dict(zip(_TABLE.c.keys(), found[0], strict=True))) if found else None
    if row is None or as_utc(row.expires_at) <= now:
        return None
    return row


async def remember(
    session: AsyncSession, *, room: str, sender_id: str, now: datetime, ttl: timedelta, **fields: Any
) -> Conversation:
    """Set some of a conversation's fields (what had expired is forgotten first) and keep it `ttl` longer."""
    unknown = set(fields) - set(_FRESH)
    if unknown:
        raise TypeError(f"not conversation fields: {sorted(unknown)}")
    session.info.get(_PREFETCHED, {}).pop((room, sender_id), None)  # read afresh from now on
    for _ in range(3):
        row = await _row(session, room, sender_id)
        if row is None:
            row = Conversation(room=room, sender_id=sender_id, expires_at=now + ttl, **fields)
            try:
                async with session.begin_nested():
                    session.add(row)
                    await session.flush()
                return row
            except IntegrityError:
                continue  # the same person's message handled by another instance a moment ago
        if as_utc(row.expires_at) <= now:
            for k, v in _FRESH.items():
                setattr(row, k, v)
        for k, v in fields.items():
            setattr(row, k, v)
        row.expires_at = now + ttl
        session.add(row)
        return row
    raise RuntimeError("could not record the conversation")


async def forget_expired(session: AsyncSession, *, now: datetime) -> int:
    conn = await connection(session)
    result = await conn.execute(delete(Conversation).where(col(Conversation.expires_at) <= now))
    return int(result.rowcount or 0)


async def attach(session: AsyncSession, *, ticket_id: int, message_id: str, kind: str, path: str | None, now: datetime) -> bool:
    """Attach a file to a ticket once (a redelivered photo is not attached twice); False when it already was."""
    exists = (
        await session.exec(
            select(Attachment.id).where(Attachment.ticket_id == ticket_id, Attachment.message_id == message_id)
        )
    ).first()
    if exists is not None:
        return False
    session.add(Attachment(ticket_id=ticket_id, message_id=message_id[:200], kind=kind, path=path, added_at=now))
    return True


async def attachments(session: AsyncSession, ticket_id: int) -> Sequence[Attachment]:
    stmt = select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(col(Attachment.id))
    return (await session.exec(stmt)).all()


async def attachment_counts(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    """{ticket id: [paths]} for a batch of tickets (the digest's spreadsheet)."""
    if not ticket_ids:
        return {}
    rows = (
        await session.exec(
            select(Attachment.ticket_id, Attachment.path).where(col(Attachment.ticket_id).in_(list(ticket_ids)))
        )
    ).all()
    out: dict[int, list[str]] = {}
    for tid, path in rows:
        out.setdefault(tid, []).append(path or "")
    return out
