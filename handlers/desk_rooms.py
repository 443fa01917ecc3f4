"""Rooms and the roster, for admins: which room is what (as `linju rooms bind/unbind` do, through
`bind_room`/`unbind_room` here, shared with the shell), a roster file imported as `linju roster import`
does, and the roster exported as CSV (it holds phones: admins only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handlers.context import Actor
from handlers.outbox import in_unit
from storage import console_reads, repo
from storage import roster as roster_store
from storage.models import Room

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from nlp.privacy import Privacy

KINDS = ("committee", "leaders", "residents")
KIND_NAMES = {"committee": "两委群", "leaders": "邻长群", "residents": "居民群"}
BY_HAND = "cli"  # bound from the shell or the console: the same binding, unbound by either
WHOLE = ("", "全街道")  # how a binding names the whole subdistrict
ROLE_WORDS = {
    "staff": "社区工作人员", "area_leader": "片长", "group_leader": "组长", "neighbour_leader": "邻长", "resident": "居民",
}
EXPORT_COLUMNS = (  # headers `linju roster import` reads back
    ("社区", "community"), ("片区", "area"), ("组", "grp"), ("姓名", "full_name"), ("微信昵称", "display_name"),
    ("微信号", "wechat_id"), ("电话", "phone"), ("角色", "role"), ("小区", "estate"), ("楼栋", "building"),
    ("联系户数", "households"), ("所在群", "rooms"), ("范围", "subdistrict_wide"),
)


@dataclass(frozen=True, slots=True)
class RoomRules:
    """What config.yaml says about rooms: the communities a room may belong to, the ids it binds itself
    (changed there, not by hand), and the community a roster row without one belongs to."""

    communities: tuple[str, ...]
    configured: frozenset[str] = frozenset()
    default_community: str = ""


class RoomRefused(Exception):
    """A binding refused: `reason` is "configured", "community" or "kind"; the shell words it in English."""

    def __init__(self, reason: str, *, room_id: str, community: str, known: Iterable[str] = ()) -> None:
        self.reason, self.room_id, self.community, self.known = reason, room_id, community, sorted(known)
        super().__init__(self.chinese)

    @property
    def chinese(self) -> str:
        if self.reason == "configured":
            return f"群 {self.room_id} 写在 config.yaml 里，请在那里修改。"
        if self.reason == "kind":
            return "群的类型只能是两委群、邻长群或居民群。"
        return f"config.yaml 里没有“{self.community}”这个社区（有：{'、'.join(self.known)}）。"


def binding_community(community: str) -> str:
    return "" if community in WHOLE else community


async def bind_room(
    session: AsyncSession, rules: RoomRules, *, room_id: str, kind: str, community: str,
    area: str | None = None, grp: str | None = None,
) -> Room:
    """Give the room with this platform id its kind and community, as `linju rooms bind` does."""
    community = binding_community(community)
    if kind not in KINDS:
        raise RoomRefused("kind", room_id=room_id, community=community)
    if room_id in rules.configured:
        raise RoomRefused("configured", room_id=room_id, community=community)
    known = {*rules.communities, rules.default_community, ""}
    if community not in known:
        raise RoomRefused("community", room_id=room_id, community=community, known=known - {""})
    return await repo.bind_room(session, platform_id=room_id, kind=kind, community=community, by=BY_HAND, area=area, grp=grp)


async def unbind_room(session: AsyncSession, room_id: str) -> bool:
    """Make a room bound by hand ordinary again; False when it is not bound so (configured rooms stay)."""
    return await repo.unbind_room(session, room_id, by=BY_HAND)


@dataclass(frozen=True, slots=True)
class RoomView:
    platform_id: str
    topic: str
    kind: str | None  # None: an ordinary (unbound) room
    community: str | None
    bound_by: str | None
    last_seen: datetime | None
    seen_in: str = ""  # the community the bot took it for when it first saw it (the bind form's default)


@dataclass(slots=True)
class RosterOutcome:
    loaded: int
    created: int
    updated: int
    unchanged: int
    communities_created: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


class RoomsError(Exception):
    """Refused (Chinese, for the page)."""


def _csv_cell(v: Any) -> str:
    text = "" if v is None else str(v)
    # A spreadsheet runs a cell that starts like a formula: keep it text.
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") else text


class RoomsMixin:
    """Desk's rooms and roster steps (Desk provides these attributes)."""

    sessions: async_sessionmaker[AsyncSession]
    privacy: Privacy
    clock: Callable[[], datetime]

    @staticmethod
    def _admin_only(actor: Actor, admin: bool) -> None:
        if not (admin and actor.is_staff):
            raise RoomsError("只有管理员可以管理群和名册。")

    async def rooms(self, actor: Actor, *, admin: bool) -> list[RoomView]:
        self._admin_only(actor, admin)
        async with self.sessions() as session:
            rows = await repo.list_rooms(session)
        return [
            RoomView(
                platform_id=r.platform_id, topic=r.topic, kind=r.kind if r.bound_by else None,
                community=(r.community if r.bound_by else None), bound_by=r.bound_by, last_seen=r.last_seen_at,
                seen_in=r.community,
            )
            for r in rows
        ]

    async def bind(
        self, actor: Actor, rules: RoomRules, *, admin: bool, room_id: str, kind: str, community: str
    ) -> str:
        self._admin_only(actor, admin)
        room_id = room_id.strip()[:200]
        if not room_id:
            raise RoomsError("请填写群的平台 ID。")

        async def unit(session: AsyncSession) -> str:
            try:
                room = await bind_room(session, rules, room_id=room_id, kind=kind, community=community)
            except RoomRefused as exc:
                raise RoomsError(exc.chinese) from None
            where = binding_community(community) or "全街道"
            return f"已把 {room.topic or room.platform_id} 设为{where}的{KIND_NAMES[kind]}，一分钟内生效。"

        return await in_unit(self.sessions, unit, retries=2)

    async def unbind(self, actor: Actor, *, admin: bool, room_id: str) -> str:
        self._admin_only(actor, admin)

        async def unit(session: AsyncSession) -> bool:
            return await unbind_room(session, room_id.strip())

        if not await in_unit(self.sessions, unit, retries=2):
            raise RoomsError(f"{room_id} 不是手动绑定的群（写在 config.yaml 里的群请在那里修改）。")
        return f"{room_id} 已恢复为普通群。"

    async def import_roster(
        self, actor: Actor, rules: RoomRules, path: Path, *, admin: bool
    ) -> RosterOutcome:
        """A roster file (.csv or .xlsx) loaded as `linju roster import` loads it: bad rows reported by line."""
        self._admin_only(actor, admin)

        async def unit(session: AsyncSession) -> RosterOutcome:
            try:
                r = await roster_store.import_file(session, path, default_community=rules.default_community)
            except roster_store.RosterError as exc:
                raise RoomsError(f"名册读不了：{str(exc).replace(str(path), path.suffix or '文件')}") from None
            names = await roster_store.people_names(session)
            self.privacy.set_names([*self.privacy.names, *names])  # at once; the bot re-reads within a minute
            return RosterOutcome(
                loaded=r.loaded, created=r.created, updated=r.updated, unchanged=r.unchanged,
                communities_created=r.communities_created, errors=r.errors, ignored_columns=r.ignored_columns,
            )

        return await in_unit(self.sessions, unit, retries=0)

    async def export_roster(self, actor: Actor, *, admin: bool) -> str:
        """The roster as CSV text with a BOM (Excel opens it as UTF-8), in the columns an import reads back."""
        self._admin_only(actor, admin)
        async with self.sessions() as session:
            people = await console_reads.members(session)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow([h for h, _ in EXPORT_COLUMNS])
        for m in people:
            row = []
            for _, attr in EXPORT_COLUMNS:
                v = getattr(m, attr)
                if attr == "role":
                    v = ROLE_WORDS.get(v, v)
                elif attr == "subdistrict_wide":
                    v = "全街道" if v else ""
                row.append(_csv_cell(v))
            w.writerow(row)
        return "\ufeff" + out.getvalue()
