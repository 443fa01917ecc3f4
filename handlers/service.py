"""The message pipeline: inbox first, one transaction per message, replies through a committed outbox."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Actor, Context, Outcome, RoomInfo
from handlers.router import Router
from handlers.types import IncomingMessage, Mention, Reply
from nlp.types import Classification
from storage import repo
from storage.models import Inbox, InboxStatus, Outbox

log = logging.getLogger(__name__)

Send = Callable[[Reply], Awaitable[None]]
Classify = Callable[[str], Awaitable[Classification]]
Normalize = Callable[[str], str]

MAX_TEXT = 20_000  # longer messages are kept whole in the inbox but only this much is understood


@dataclass(frozen=True, slots=True)
class Organisation:
    """Which rooms and people are known from configuration."""

    rooms: Mapping[str, RoomInfo]  # by room topic (name)
    default_community: str
    ignore_unknown_rooms: bool = False
    staff_names: frozenset[str] = frozenset()
    staff_ids: frozenset[str] = frozenset()


def reply_payload(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "mentions": [[m.contact_id, m.name] for m in reply.mentions],
        "file": str(reply.file) if reply.file else None,
        "urgent": reply.urgent,
    }


def reply_from_outbox(row: Outbox) -> Reply:
    p = json.loads(row.payload)
    return Reply(
        text=p["text"],
        room_id=row.room_id,
        contact_id=row.contact_id,
        mentions=tuple(Mention(cid, name) for cid, name in p.get("mentions", [])),
        file=Path(p["file"]) if p.get("file") else None,
        urgent=bool(p.get("urgent")),
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Dispatcher:
    """Turns incoming messages into handled inbox rows and sent replies; the one unit of work per message."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        router: Router,
        classify: Classify,
        normalize: Normalize,
        organisation: Organisation,
        bot_name: str,
        send: Send | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retries: int = 3,
    ) -> None:
        self.sessions = sessions
        self.router = router
        self.classify = classify
        self.normalize = normalize
        self.org = organisation
        self.send = send
        self.clock = clock
        self.retries = retries
        self._mention = re.compile(r"@" + re.escape(bot_name) + r"[\u2005\u0020\s]?") if bot_name else None
        self._send_lock = asyncio.Lock()

    # ------------------------------------------------------------ entry points

    async def process(self, msg: IncomingMessage) -> list[Reply]:
        """Record, handle, and send the replies to one message. Never raises for bad input."""
        msg = sanitize(msg)
        inbox = await self._record(msg)
        if inbox is None:
            return []
        replies = await self._handle(inbox.id, msg)
        await self.flush_outbox()
        return replies

    async def recover(self) -> int:
        """Handle messages stored before a crash but never handled; then send any unsent replies."""
        handled = 0
        while True:
            async with self.sessions() as s:
                rows = await repo.pending_inbox(s, limit=200)
            rows = [r for r in rows if r.id is not None]
            if not rows:
                break
            for row in rows:
                await self._handle(row.id, self._message_from_inbox(row))
                handled += 1
        if handled:
            log.info("recovered %d message(s) left unhandled by the last run", handled)
        await self.flush_outbox()
        return handled

    async def flush_outbox(self) -> int:
        """Send committed replies that have not been sent yet, in order."""
        if self.send is None:
            return 0
        sent = 0
        async with self._send_lock:
            async with self.sessions() as s:
                rows = await repo.unsent_outbox(s, now=self.clock())
            for row in rows:
                try:
                    await self.send(reply_from_outbox(row))
                except Exception:
                    log.exception("sending reply %s failed; it stays queued", row.id)
                    break
                async with self.sessions() as s:
                    await repo.mark_outbox_sent(s, [row.id])
                    await s.commit()
                sent += 1
        return sent

    async def post(self, produce: Callable[[AsyncSession, datetime], Awaitable[list[Reply]]]) -> list[Reply]:
        """Run `produce` (a scheduled job: reminders, digests) in one unit of work, queue its replies, send them."""

        async def unit(session: AsyncSession) -> list[Reply]:
            replies = await produce(session, self.clock())
            for reply in replies:
                repo.add_outbox(
                    session,
                    inbox_id=None,
                    room_id=reply.room_id,
                    contact_id=reply.contact_id,
                    payload=reply_payload(reply),
                    not_before=reply.not_before,
                )
            return replies

        replies = await self._with_retry(unit)
        await self.flush_outbox()
        return replies

    # ------------------------------------------------------------ steps

    async def _record(self, msg: IncomingMessage) -> Inbox | None:
        fields = dict(
            message_id=msg.message_id[:200],
            room_id=msg.room_id,
            room_topic=(msg.room_topic or None) and msg.room_topic[:200],
            sender_id=msg.sender_id[:200],
            sender_name=msg.sender_name[:200],
            kind=msg.kind,
            mentioned=msg.mentioned_bot,
            text=msg.text,
            received_at=msg.timestamp,
        )
        row, created = await self._with_retry(lambda s: repo.record_incoming(s, **fields))
        if not created and row.status in (InboxStatus.DONE, InboxStatus.IGNORED):
            log.info("message %s was already handled; ignoring the redelivery", msg.message_id)
            return None
        return row

    async def _handle(self, inbox_id: int, msg: IncomingMessage) -> list[Reply]:
        async def unit(session: AsyncSession) -> list[Reply]:
            outcome, status = await self._route(session, msg)
            for reply in outcome.replies:
                repo.add_outbox(
                    session,
                    inbox_id=inbox_id,
                    room_id=reply.room_id,
                    contact_id=reply.contact_id,
                    payload=reply_payload(reply),
                    not_before=reply.not_before,
                )
            await repo.finish_inbox(
                session, inbox_id, status=status, intent=outcome.intent, ticket_number=outcome.ticket_number
            )
            return outcome.replies

        try:
            return await self._with_retry(unit)
        except Exception as exc:  # a bug or a lasting DB failure: keep the message, mark it failed
            log.exception("handling message %s failed; kept in the inbox as failed", msg.message_id)
            error = repr(exc)[:2000]
            try:
                await self._with_retry(
                    lambda s: repo.finish_inbox(s, inbox_id, status=InboxStatus.FAILED, error=error)
                )
            except Exception:
                log.exception("could not even mark message %s as failed", msg.message_id)
            return []

    async def _with_retry(self, fn):
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                async with self.sessions() as session:
                    result = await fn(session)
                    await session.commit()
                    return result
            except Exception as exc:
                if attempt >= self.retries or not _is_transient(exc):
                    raise
                log.warning("database busy or disconnected (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay *= 4
        raise AssertionError("unreachable")

    async def _route(self, session: AsyncSession, msg: IncomingMessage) -> tuple[Outcome, str]:
        room = await self._room_info(session, msg)
        if room is None or msg.kind != "text":
            return Outcome(intent=None), InboxStatus.IGNORED
        mentioned = msg.mentioned_bot or bool(self._mention and self._mention.search(msg.text or ""))
        text = self.strip_mentions(msg.text)
        text = self.normalize(text[:MAX_TEXT]) if text else ""
        if not text.strip() and not mentioned:
            return Outcome(intent="chat"), InboxStatus.DONE
        actor = await self._actor(session, msg, room)
        ctx = Context(
            msg=msg,
            text=text,
            session=session,
            now=self.clock(),
            room=room,
            actor=actor,
            classify_fn=self.classify,
            mentioned=mentioned,
        )
        return await self.router.route(ctx), InboxStatus.DONE

    def strip_mentions(self, text: str) -> str:
        if self._mention is not None:
            text = self._mention.sub("", text)
        return text.strip()

    async def _room_info(self, session: AsyncSession, msg: IncomingMessage) -> RoomInfo | None:
        if msg.room_id is None:
            return RoomInfo(community=self.org.default_community, kind="private")
        topic = msg.room_topic or ""
        info = self.org.rooms.get(topic)
        if info is None:
            if self.org.ignore_unknown_rooms:
                return None
            info = RoomInfo(community=self.org.default_community, kind="leaders")
        await repo.upsert_room(
            session,
            platform_id=msg.room_id,
            topic=topic,
            community=info.community,
            kind=info.kind,
            area=info.area,
            grp=info.grp,
        )
        return info

    async def _actor(self, session: AsyncSession, msg: IncomingMessage, room: RoomInfo) -> Actor:
        if msg.sender_id in self.org.staff_ids or msg.sender_name in self.org.staff_names:
            return Actor(id=msg.sender_id, name=msg.sender_name, role="staff")
        member = await repo.find_member(session, wechat_id=msg.sender_id, name=msg.sender_name)
        if member is not None:
            return Actor(id=msg.sender_id, name=msg.sender_name, role=member.role)
        return Actor(id=msg.sender_id, name=msg.sender_name, role="unknown")

    @staticmethod
    def _message_from_inbox(row: Inbox) -> IncomingMessage:
        ts = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
        return IncomingMessage(
            message_id=row.message_id,
            sender_id=row.sender_id,
            sender_name=row.sender_name,
            text=row.text,
            room_id=row.room_id,
            room_topic=row.room_topic,
            mentioned_bot=row.mentioned,
            kind=row.kind,  # type: ignore[arg-type]
            timestamp=ts,
        )


def _safe_text(text: str | None) -> str:
    """Text a database will store: lone surrogates and NULs replaced, nothing dropped silently."""
    if not text:
        return ""
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def sanitize(msg: IncomingMessage) -> IncomingMessage:
    """The message with every string field storable (platform input can carry anything)."""
    return replace(
        msg,
        message_id=_safe_text(msg.message_id) or "empty-id",
        sender_id=_safe_text(msg.sender_id),
        sender_name=_safe_text(msg.sender_name),
        text=_safe_text(msg.text),
        room_id=_safe_text(msg.room_id) if msg.room_id is not None else None,
        room_topic=_safe_text(msg.room_topic) if msg.room_topic is not None else None,
    )
