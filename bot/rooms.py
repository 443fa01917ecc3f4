"""Rooms and staff by platform id: the organisation the handlers see, and configured rooms bound in the database."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import CommunitySettings, RoomSettings, Settings
from handlers.context import RoomInfo
from handlers.desk_rooms import RoomRules
from handlers.identity import Organisation
from handlers.types import Capabilities
from handlers.units import Unit, Units
from storage import repo

log = logging.getLogger(__name__)


def room_estate(community: CommunitySettings, room: RoomSettings) -> str | None:
    """The estate a room serves: `estate:` in config, else the one estate of its community its name contains
    (松涛里邻长群 serves 松涛里); None for a room over several estates or none."""
    if room.estate:
        return room.estate
    named = {e for e in community.estates if e and e in room.name}
    return named.pop() if len(named) == 1 else None


def configured_rooms(settings: Settings, caps: Capabilities) -> tuple[dict[str, RoomInfo], dict[str, RoomInfo]]:
    """(rooms by platform id, configured rooms that have none yet by name). On a channel whose ids are the names
    (the console), a room's name is its id; elsewhere only `id:` counts."""
    by_id: dict[str, RoomInfo] = {}
    unbound: dict[str, RoomInfo] = {}
    for community in settings.communities:
        for r in community.rooms:
            info = RoomInfo(community=community.name, kind=r.kind, area=r.area, grp=r.group, estate=room_estate(community, r))
            room_id = r.id or (None if caps.ids_trustworthy else r.name)
            if room_id:
                by_id[room_id] = info
            else:
                unbound[r.name] = info
    for room_id in settings.schedule.subdistrict_rooms:  # ids (console: names) of the whole subdistrict's rooms
        by_id[room_id] = RoomInfo(community="", kind="committee")
    return by_id, unbound


def room_rules(settings: Settings, caps: Capabilities) -> RoomRules:
    """What a binding by hand (the shell, the console) must respect: the configured communities and the ids
    config.yaml binds itself (on the console channel: the rooms' names)."""
    return RoomRules(
        communities=tuple(c.name for c in settings.communities),
        configured=frozenset(configured_rooms(settings, caps)[0]),
        default_community=settings.default_community,
    )


def organisation_from(settings: Settings, caps: Capabilities) -> Organisation:
    rooms, _ = configured_rooms(settings, caps)
    named = {
        r.name: RoomInfo(community=c.name, kind=r.kind, area=r.area, grp=r.group, estate=room_estate(c, r))
        for c in settings.communities
        for r in c.rooms
    }
    staff: dict[str, frozenset[str] | None] = {}
    for s in settings.staff:
        scope = None if s.subdistrict_wide else frozenset(s.communities or [settings.default_community])
        if s.wechat_id:
            staff[s.wechat_id] = scope
        if s.name and not caps.ids_trustworthy:
            staff.setdefault(s.name, scope)  # the console: the name typed is the id
    units = build_units(settings)
    return Organisation(
        rooms=rooms,
        units=units.members(),
        default_community=settings.default_community,
        ignore_unknown_rooms=settings.ignore_unknown_rooms,
        staff=staff,
        named=named,
        names_are_ids=not caps.ids_trustworthy,
    )


async def bind_configured_rooms(session: AsyncSession, settings: Settings, caps: Capabilities) -> int:
    """Record configured rooms under their ids (so urgent pushes, digests and overdue lists reach them before
    they say anything), and unbind rooms the config no longer names. Returns how many are bound."""
    rooms, unbound = configured_rooms(settings, caps)
    names = {r.id or r.name: r.name for c in settings.communities for r in c.rooms}
    for room_id, info in rooms.items():
        await repo.bind_room(
            session, platform_id=room_id, kind=info.kind, community=info.community, by="config",
            topic=names.get(room_id), area=info.area, grp=info.grp,
        )
    await repo.unbind_rooms(session, by="config", keep=list(rooms))
    for name, info in unbound.items():
        if info.kind == "committee":
            log.warning(
                "committee room %r has no id in config.yaml: until it is bound it gets no urgent pushes, digests or "
                "overdue lists. `linju rooms` lists the rooms the bot has seen with their ids; bind one with "
                "`linju rooms bind ID --kind committee --community %s` or add `id:` to it",
                name, info.community,
            )
    return len(rooms)


def build_units(settings: Settings) -> Units:
    """Who tickets may be dispatched to and reached: the units from config (`units:`), and each staff member
    with a name and an id (派单 3810 小陈 reaches 小陈 privately)."""
    units = [
        Unit(
            name=u.name,
            aliases=tuple(u.aliases),
            room_id=u.room_id,
            contact_id=u.wechat_id,
            members=frozenset(u.members),
            communities=frozenset(u.communities) if u.communities else None,
        )
        for u in settings.units
    ]
    taken = {w for u in units for w in u.words}
    units += [
        Unit(name=s.name, contact_id=s.wechat_id)
        for s in settings.staff
        if s.name and s.wechat_id and s.name not in taken
    ]
    return Units(units)
