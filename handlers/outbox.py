"""Replies out of the outbox: sent in order after their handling committed, each recorded as sent soon after it
went out, claimed first when sent from the backlog (so two instances never send one reply), a lost link stopping
the flush and a refused reply retried later on its own. Also the unit of work every database write runs in."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.envelope import reply_from_outbox
from handlers.types import Reply
from storage import messages
from storage.models import as_utc

log = logging.getLogger(__name__)

Send = Callable[[Reply], Awaitable[None]]

FLUSH_CHUNK = 10  # replies claimed at a time by a flush: few enough to be sent well within the lease
REFUSED_FIRST, REFUSED_MAX = 30.0, 3600.0  # seconds before retrying a refused reply, doubling per refusal


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def in_unit(
    sessions: async_sessionmaker[AsyncSession],
    fn: Callable[[AsyncSession], Awaitable[Any]],
    *,
    retries: int,
    rolled_back: Callable[[], None] | None = None,
) -> Any:
    """Run `fn(session)` and commit, retrying on a busy or dropped database; `rolled_back` is told each time a
    transaction was rolled back, so caches of what it wrote (rooms recorded) are dropped."""
    delay = 0.05
    for attempt in range(retries + 1):
        try:
            async with sessions() as session:
                result = await fn(session)
                await session.commit()
                return result
        except Exception as exc:
            if rolled_back is not None:
                rolled_back()
            if attempt >= retries or not _is_transient(exc):
                raise
            log.warning("database busy or disconnected (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay *= 4
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Queued:
    """A reply committed to the outbox (row id), waiting to be sent."""

    outbox_id: int
    reply: Reply


class _SentMarks:
    """Replies sent, recorded as sent soon after: at once when sends are slow (WeChat's pace, a couple of seconds
    apart, so a crash resends at most the one reply in flight), in small groups when they are fast (the console,
    where a commit per reply would be the bottleneck)."""

    EVERY = 0.25  # seconds: the longest a sent reply waits to be recorded
    GROUP = 32

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.ids: list[int] = []
        self.count = 0
        self.since = time.monotonic()

    async def add(self, outbox_id: int) -> None:
        self.ids.append(outbox_id)
        self.count += 1
        if len(self.ids) >= self.GROUP or time.monotonic() - self.since >= self.EVERY:
            await self.commit()

    async def commit(self) -> None:
        if self.ids:
            ids, self.ids = self.ids, []
            await self.outbox.unit(lambda s: messages.mark_outbox_sent(s, ids))
        self.since = time.monotonic()


class Outbox:
    """Sends committed replies on `send` (None: no channel, nothing sent), one sender at a time, in order.

    `owner` and `lease`: this instance's claim on the rows it sends. `backlog` is true while unsent replies may
    exist (at start: from the last run; after a failed send; while some are held for quiet hours): then new
    replies go out through the outbox, behind the older ones, rather than straight after their handling."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        send: Send | None,
        clock: Callable[[], datetime],
        owner: str,
        lease: timedelta,
        retries: int,
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.retries = retries
        self.backlog = True
        self._lock = asyncio.Lock()

    async def unit(self, fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        return await in_unit(self.sessions, fn, retries=self.retries)

    async def flush(self) -> int:
        """Send committed replies that have not been sent yet (held, or queued while sending failed), in order."""
        if self.send is None:
            return 0
        async with self._lock:
            return await self._flush_locked(self.send)

    async def deliver(self, queued: list[Queued]) -> None:
        """Send just-committed replies; after any earlier failure, go through the outbox to keep the order."""
        send = self.send
        if send is None or not queued:
            return
        async with self._lock:
            if self.backlog:
                await self._flush_locked(send)
                return
            now = self.clock()
            sent = _SentMarks(self)
            try:
                for q in queued:
                    if q.reply.not_before is not None and as_utc(q.reply.not_before) > now:
                        self.backlog = True  # held for quiet hours: the periodic flush sends it
                        continue
                    try:
                        await send(q.reply)
                    except Exception:
                        log.exception("sending a reply failed; it stays queued in the outbox")
                        self.backlog = True
                        break
                    await sent.add(q.outbox_id)
            finally:
                await sent.commit()

    async def _flush_locked(self, send: Send) -> int:
        """Send due unsent replies in order, a few at a time, each chunk claimed first (so another instance
        sending from the same outbox never sends the same reply). A lost link stops the flush (the next login
        or the periodic flush goes on); a reply the platform refuses waits longer before each retry and lets
        the ones after it go."""
        total = 0
        while True:
            rows = await self._claim(self.clock())
            sent = _SentMarks(self)
            left: list[int] = []
            failed = False
            try:
                for i, row in enumerate(rows):
                    assert row.id is not None  # a stored row
                    try:
                        await send(reply_from_outbox(row))
                    except (ConnectionError, TimeoutError) as exc:
                        log.warning("sending reply %s failed (%s); it stays queued", row.id, type(exc).__name__)
                        failed = True
                        left = [r.id for r in rows[i:] if r.id is not None]
                        break
                    except Exception as exc:
                        await self._refused(row.id, row.attempts, exc)
                        continue
                    await sent.add(row.id)
            finally:
                await sent.commit()
                if left:  # others may try them at once rather than after the lease
                    await self._release(left)
            total += sent.count
            if failed:
                self.backlog = True
                return total
            if len(rows) < FLUSH_CHUNK:
                break
        async with self.sessions() as s:
            held = await messages.unsent_outbox(s, now=datetime.max.replace(tzinfo=UTC), limit=1)
        self.backlog = bool(held)
        return total

    async def _claim(self, now: datetime) -> list[Any]:
        return await self.unit(
            lambda s: messages.claim_outbox(s, owner=self.owner, now=now, until=now + self.lease, limit=FLUSH_CHUNK)
        )

    async def _release(self, ids: list[int]) -> None:
        await self.unit(lambda s: messages.release_outbox(s, ids, owner=self.owner))

    async def _refused(self, outbox_id: int, attempts: int, exc: Exception) -> None:
        """The platform refused one reply (a room the bot left, a file it rejects): retried later, longer each
        time, up to an hour apart; never dropped, and never holding back the replies after it."""
        wait = min(REFUSED_FIRST * 2**attempts, REFUSED_MAX)
        until = self.clock() + timedelta(seconds=wait)
        n = await self.unit(lambda s: messages.defer_outbox(s, outbox_id, owner=self.owner, until=until))
        level = logging.ERROR if n >= 5 else logging.WARNING
        log.log(level, "reply %s refused %d time(s) (%s: %s); next try in %d s", outbox_id, n,
                type(exc).__name__, str(exc)[:200], wait)
