"""The web console's ticket operations: what a signed-in staff member does on a page, carried out by the same
TicketOps and Candidates as their chat commands (same rules, events and notices). Each step is one
transaction; the notices it makes are queued in the outbox in it, and the running bot sends them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.candidates import Candidates
from handlers.context import Actor, Context, RoomInfo
from handlers.desk_overview import OverviewMixin
from handlers.desk_rooms import RoomsMixin
from handlers.desk_tickets import TicketDesk
from handlers.envelope import outbox_row
from handlers.open311 import Open311Mixin
from handlers.outbox import in_unit
from handlers.staff import Command, ticket_number
from handlers.ticket_change import OpError
from handlers.ticket_ops import TicketOps
from handlers.types import Capabilities, IncomingMessage, Reply
from nlp.privacy import Privacy
from nlp.types import Classification
from storage import candidates as candidate_store
from storage import messages, repo

log = logging.getLogger(__name__)

WEB_ROOM = "web:console"  # where a page's own confirmations are addressed: shown on the page, never sent
ACTIONS = {  # the forms on a ticket's page → the staff command they are
    "assign": "派单", "accept": "签收", "start": "处理", "resolve": "办结", "reject": "驳回", "merge": "合并",
    "reclassify": "改类", "extend": "延期", "false_positive": "误报", "close": "归档",
}
MAX_NOTE = 500


class DeskError(Exception):
    """A step refused (the Chinese reason, as chat would give it) or a form filled wrongly."""


@dataclass(frozen=True, slots=True)
class Done:
    """What a step said to the staff member, and how many notices it queued for others."""

    text: str
    queued: int


@dataclass(frozen=True, slots=True)
class PendingView:
    number: int
    text: str
    category: str | None
    community: str | None
    sender: str
    room: str | None
    held_at: datetime


class Desk(TicketDesk, OverviewMixin, RoomsMixin, Open311Mixin):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        ops: TicketOps,
        candidates: Candidates,
        classify: Callable[[str], Awaitable[Classification]],
        channel: Capabilities,
        privacy: Privacy,
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        report_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.report_sessions = report_sessions or sessions  # long reads (overview, exports): off the bot's loop on SQLite
        self.ops = ops
        self.candidates = candidates
        self.taxonomy = ops.taxonomy
        self.classify = classify
        self.channel = channel
        self.privacy = privacy
        self.on_queued = on_queued
        self.clock = clock
        self.tz = ops.tz

    # ------------------------------------------------------------ plumbing

    async def _unit(self, fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        return await in_unit(self.sessions, fn, retries=2)

    def _context(self, session: AsyncSession, actor: Actor, text: str) -> Context:
        """A page's step as chat would see it: the staff member writing in a committee room of their own."""
        msg = IncomingMessage(
            message_id=f"web:{uuid.uuid4().hex}", sender_id=actor.id, sender_name=actor.name, text=text,
            room_id=WEB_ROOM, room_topic="网页工作台", timestamp=self.clock(),
        )
        community = next(iter(sorted(actor.communities)), "") if actor.communities else ""
        return Context(
            msg=msg, text=text, session=session, now=self.clock(), room=RoomInfo(community=community, kind="committee"),
            actor=actor, channel=self.channel, classify_fn=self.classify,
        )

    async def _queue(self, session: AsyncSession, replies: list[Reply]) -> tuple[str, int]:
        """The page's own lines as text; everything else queued for the bot to send."""
        mine = [r.text for r in replies if r.room_id == WEB_ROOM]
        others = [r for r in replies if r.room_id != WEB_ROOM]
        if others:
            await messages.queue_outbox(session, [outbox_row(None, r) for r in others])
        return "\n".join(mine), len(others)

    def _told(self, done: Done) -> Done:
        if done.queued and self.on_queued is not None:
            self.on_queued()
        return done

    # ------------------------------------------------------------ ticket steps

    async def act(
        self, actor: Actor, number: str, action: str, *, arg: str | None = None, target: str | None = None
    ) -> Done:
        """One step on one ticket, as its chat command (派单 N 物业, 办结 N 已修好 …)."""
        if action not in ACTIONS:
            raise DeskError("没有这个操作。")
        arg = (arg or "").strip()[:MAX_NOTE] or None
        if action in ("assign", "reclassify", "extend") and not arg:
            raise DeskError({"assign": "请填写派给谁。", "reclassify": "请选择新的类别。", "extend": "请填写延期天数。"}[action])
        if action == "merge":
            if not target or not target.strip().lstrip("#＃").isdigit():
                raise DeskError("请填写要并入的工单号。")
            target = ticket_number(target.strip())
        cmd = Command(action=action, number=ticket_number(number), arg=arg, target=target)

        async def unit(session: AsyncSession) -> Done:
            try:
                change = await self.ops.apply(session, cmd, actor=actor, now=self.clock())
            except OpError as exc:
                raise DeskError(str(exc)) from None
            _, queued = await self._queue(session, change.notices)
            return Done(change.confirmation, queued)

        return self._told(await self._unit(unit))

    async def reply(self, actor: Actor, number: str, text: str) -> Done:
        """A line from staff to the reporter (and relaying leader), where they reported; kept in the history."""
        text = " ".join(text.split())[:MAX_NOTE]
        if not text:
            raise DeskError("回复内容不能为空。")

        async def unit(session: AsyncSession) -> Done:
            try:
                t = await self.ops.get(session, ticket_number(number), actor)
            except OpError as exc:
                raise DeskError(str(exc)) from None
            if not actor.may_handle(t.community):
                raise DeskError(texts.no_such_ticket(t.number))
            now = self.clock()
            notices = await self.ops.notifier.status_notice(session, t, "reply", now=now, note=f"回复：{text}")
            repo.add_event(session, t, action="reply", actor_id=actor.id, actor_name=actor.name, note=text, at=now)
            _, queued = await self._queue(session, notices)
            said = "已发给反映人。" if queued else "已记下（这张工单不是群里报的，没有可以通知的人）。"
            return Done(f"工单 #{t.number}：{said}", queued)

        return self._told(await self._unit(unit))

    # ------------------------------------------------------------ 待确认

    async def pending(self, actor: Actor) -> list[PendingView]:
        """The candidates held for review that this staff member may settle, oldest first."""
        scope = None if actor.communities is None else sorted(actor.communities)
        async with self.sessions() as session:
            rows, _ = await candidate_store.pending(session, communities=scope, limit=500)
        return [
            PendingView(
                number=c.number, text=c.text, category=self.taxonomy.name_of(c.category) if c.category else None,
                community=c.community, sender=c.sender_name, room=c.room_topic, held_at=c.created_at,
            )
            for c in rows
            if c.number is not None and actor.may_handle(c.community)
        ]

    async def confirm(self, actor: Actor, number: int, *, category: str | None = None) -> Done:
        """确认 K: file the candidate as a ticket and tell its sender."""

        async def unit(session: AsyncSession) -> Done:
            ctx = self._context(session, actor, f"确认 {number}")
            try:
                replies = await self.candidates.confirm(ctx, number, category_word=category or None)
            except OpError as exc:
                raise DeskError(str(exc)) from None
            return Done(*await self._queue(session, replies))

        return self._told(await self._unit(unit))

    async def ignore(self, actor: Actor, number: int) -> Done:
        """忽略 K: not a report after all (a label for training)."""

        async def unit(session: AsyncSession) -> Done:
            ctx = self._context(session, actor, f"忽略 {number}")
            try:
                replies = await self.candidates.ignore(ctx, number)
            except OpError as exc:
                raise DeskError(str(exc)) from None
            return Done(*await self._queue(session, replies))

        return await self._unit(unit)
