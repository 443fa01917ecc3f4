"""Who is speaking, and where: a room's place in the organisation and a sender's role."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Actor, RoomInfo
from handlers.types import IncomingMessage
from storage import repo


@dataclass(frozen=True, slots=True)
class Organisation:
    """Which rooms and people are known from configuration."""

    rooms: Mapping[str, RoomInfo]  # by room topic (name)
    default_community: str
    ignore_unknown_rooms: bool = False
    staff_names: frozenset[str] = frozenset()
    staff_ids: frozenset[str] = frozenset()


class Identities:
    """Resolves rooms and senders for the dispatcher, with short caches (a query per message would otherwise be
    spent on what rarely changes)."""

    def __init__(self, org: Organisation, *, member_cache_seconds: float = 60.0) -> None:
        self.org = org
        self.member_cache_seconds = member_cache_seconds
        self._rooms_seen: dict[str, tuple[str, RoomInfo]] = {}
        self._roles: dict[tuple[str, str], tuple[str, float]] = {}

    def forget_rooms(self) -> None:
        """After a rolled-back transaction: the room upserts it made are gone."""
        self._rooms_seen.clear()

    async def room(self, session: AsyncSession, msg: IncomingMessage) -> RoomInfo | None:
        """The room's place in the organisation (recorded in the rooms table when new or changed); None when the
        room is to be ignored."""
        if msg.room_id is None:
            return RoomInfo(community=self.org.default_community, kind="private")
        topic = msg.room_topic or ""
        info = self.org.rooms.get(topic)
        if info is None:
            if self.org.ignore_unknown_rooms:
                return None
            info = RoomInfo(community=self.org.default_community, kind="leaders")
        if self._rooms_seen.get(msg.room_id) != (topic, info):
            await repo.upsert_room(
                session,
                platform_id=msg.room_id,
                topic=topic,
                community=info.community,
                kind=info.kind,
                area=info.area,
                grp=info.grp,
            )
            self._rooms_seen[msg.room_id] = (topic, info)
        return info

    async def actor(self, session: AsyncSession, msg: IncomingMessage, room: RoomInfo) -> Actor:
        """Who sent this, and with what role.

        A WeChat display name is not an identity: anyone can rename themselves "刘主任". So a role known only by
        name counts as staff only where names are trustworthy: in a committee room (its members are the
        committee's choice) or on a channel without platform ids (the console, where id = name). Staff who
        give commands elsewhere, privately say, are named by WeChat id in config or the roster.
        """
        names_trusted = room.is_committee or msg.sender_id == msg.sender_name
        if msg.sender_id in self.org.staff_ids or (names_trusted and msg.sender_name in self.org.staff_names):
            return Actor(id=msg.sender_id, name=msg.sender_name, role="staff")
        key = (msg.sender_id, msg.sender_name)
        cached = self._roles.get(key)
        now = time.monotonic()
        if cached is None or cached[1] < now:
            # The roster changes rarely (an import from the shell): a short cache saves a query per message.
            member = await repo.find_member(session, wechat_id=msg.sender_id, name=msg.sender_name)
            role = "unknown"
            if member is not None:
                by_id = bool(member.wechat_id) and member.wechat_id == msg.sender_id
                role = member.role
                if role == "staff" and not by_id:
                    role = "staff?"  # staff by name only: decided per room below
            cached = (role, now + self.member_cache_seconds)
            if len(self._roles) > 50_000:
                self._roles.clear()
            self._roles[key] = cached
        role = cached[0]
        if role == "staff?":
            role = "staff" if names_trusted else "unknown"
        return Actor(id=msg.sender_id, name=msg.sender_name, role=role)
