"""Who is speaking, and where: a room's place in the organisation by its platform id, a sender's role by theirs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Actor, RoomInfo
from handlers.types import IncomingMessage
from storage import repo

log = logging.getLogger(__name__)

Scope = frozenset[str] | None  # the communities a staff member handles; None: the whole subdistrict
RECORD_EVERY = 3600.0  # seconds between updates of a room's "last message" time


@dataclass(frozen=True, slots=True)
class Organisation:
    """Which rooms and staff are known from configuration, by platform id.

    A room is a committee room, and a person staff, only by id: anyone can name a group "书院路社区两委群"
    or themselves "刘主任". On a channel whose ids are the names typed (the console) names are ids, so the
    mappings hold names there. `named` are the configured rooms by name, to tell the operator (once) when an
    unbound room carries one of those names, and how to bind it if it is that room.
    """

    rooms: Mapping[str, RoomInfo]
    default_community: str
    ignore_unknown_rooms: bool = False
    staff: Mapping[str, Scope] = field(default_factory=dict)
    units: Mapping[str, frozenset[str]] = field(default_factory=dict)  # sender id → the units they act for
    named: Mapping[str, RoomInfo] = field(default_factory=dict)
    names_are_ids: bool = False


class Identities:
    """Resolves rooms and senders for the dispatcher, with short caches (a query per message would otherwise be
    spent on what rarely changes: `linju rooms bind` and `linju roster import` are seen within a minute)."""

    def __init__(
        self,
        org: Organisation,
        *,
        member_cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.org = org
        self.member_cache_seconds = member_cache_seconds
        self._monotonic = monotonic
        self._bindings: dict[str, tuple[RoomInfo | None, float]] = {}
        self._recorded: dict[str, tuple[str, float]] = {}
        self._roles: dict[tuple[str, str], tuple[str, Scope, float]] = {}
        self._told: set[str] = set()

    def forget_rooms(self) -> None:
        """After a rolled-back transaction: the room rows it wrote are gone."""
        self._recorded.clear()

    async def room(self, session: AsyncSession, msg: IncomingMessage, now: datetime) -> RoomInfo | None:
        """The room's place in the organisation (its topic and last message recorded); None when the room is to
        be ignored. A room is known by its platform id, from config or a binding; renaming it changes nothing."""
        if msg.room_id is None:
            return RoomInfo(community=self.org.default_community, kind="private")
        topic = msg.room_topic or ""
        info = self.org.rooms.get(msg.room_id) or await self._bound(session, msg.room_id)
        await self._record(session, msg.room_id, topic, now)
        if info is None:
            self._say_how_to_bind(msg.room_id, topic)
            if self.org.ignore_unknown_rooms:
                return None
            info = RoomInfo(community=self.org.default_community, kind="leaders")
        return info

    async def _bound(self, session: AsyncSession, room_id: str) -> RoomInfo | None:
        now = self._monotonic()
        cached = self._bindings.get(room_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = await repo.get_room(session, room_id)
        info = None
        if row is not None and row.bound_by:
            info = RoomInfo(community=row.community, kind=row.kind, area=row.area, grp=row.grp)
        if len(self._bindings) > 50_000:
            self._bindings.clear()
        self._bindings[room_id] = (info, now + self.member_cache_seconds)
        return info

    async def _record(self, session: AsyncSession, room_id: str, topic: str, now: datetime) -> None:
        mono = self._monotonic()
        seen = self._recorded.get(room_id)
        if seen is not None and seen[0] == topic and mono - seen[1] < RECORD_EVERY:
            return
        await repo.record_room(session, platform_id=room_id, topic=topic, community=self.org.default_community, now=now)
        if len(self._recorded) > 50_000:
            self._recorded.clear()
        self._recorded[room_id] = (topic, mono)

    def _say_how_to_bind(self, room_id: str, topic: str) -> None:
        like = self.org.named.get(topic)
        if like is None or room_id in self._told:
            return
        self._told.add(room_id)
        log.warning(
            "room %r (%s) is named like the configured %s room of %s, but rooms are known by id, not name: it is "
            "an ordinary room. If it is that room, give it `id: %s` in config.yaml or run "
            "`linju rooms bind %s --kind %s --community %s`",
            topic, room_id, like.kind, like.community, room_id, room_id, like.kind, like.community,
        )

    async def actor(self, session: AsyncSession, msg: IncomingMessage, room: RoomInfo) -> Actor:
        """Who sent this, and with what role.

        Staff are staff by their sender id (config `staff[].wechat_id` or the roster's 微信号); a display name
        alone never makes anyone staff where ids are real (anyone can rename themselves "刘主任"). Other roles
        (leaders who relay for households) may come from the roster by name.
        """
        units = self.org.units.get(msg.sender_id, frozenset())
        if msg.sender_id in self.org.staff:
            staff_scope = self.org.staff[msg.sender_id]
            return Actor(id=msg.sender_id, name=msg.sender_name, role="staff", communities=staff_scope, units=units)
        key = (msg.sender_id, msg.sender_name)
        cached = self._roles.get(key)
        now = self._monotonic()
        if cached is None or cached[2] < now:
            # The roster changes rarely (an import from the shell): a short cache saves a query per message.
            member = await repo.find_member(session, wechat_id=msg.sender_id, name=msg.sender_name)
            scope: Scope
            role, scope = "unknown", frozenset()
            if member is not None:
                by_id = bool(member.wechat_id) and member.wechat_id == msg.sender_id
                role = member.role
                if role == "staff":
                    if by_id or self.org.names_are_ids:
                        community = member.community or self.org.default_community
                        scope = None if member.subdistrict_wide else frozenset({community})
                    else:
                        role = "unknown"  # staff by name only: an impostor as likely as not
            cached = (role, scope, now + self.member_cache_seconds)
            if len(self._roles) > 50_000:
                self._roles.clear()
            self._roles[key] = cached
        return Actor(id=msg.sender_id, name=msg.sender_name, role=cached[0], communities=cached[1], units=units)
