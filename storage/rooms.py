"""Rooms by platform id: seen (topic, last message) and bound (kind, community) apart. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Room, as_utc


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


async def committee_rooms(session: AsyncSession, community: str | None) -> Sequence[Room]:
    """Committee rooms of a community, bound by platform id (rooms bound without a community serve every
    community). A room merely named like a committee room is not one."""
    stmt = select(Room).where(Room.kind == "committee").where(col(Room.bound_by).is_not(None))
    if community:
        stmt = stmt.where(col(Room.community).in_([community, ""]))
    return (await session.exec(stmt.order_by(col(Room.id)))).all()
