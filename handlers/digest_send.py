"""Sending a digest exactly once per period and target: claim the digest row, send, then record it sent.

The claim is a row in the digest table, unique on (period, target, community), committed before anything
is sent, so two processes sharing a database cannot both send. A claim that failed is released at once
(the next run retries it); a claim left by a process that died mid-send is taken over once it is stale.
Each part (text, chart, spreadsheet) is recorded as it goes out, so a retry after a failure sends only the
parts not yet sent; a crash between a part going out and its record being committed sends that part again:
the record errs towards the committee getting its digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.digest import build_digest
from handlers.digest_render import DigestFiles, write_forms
from handlers.types import Reply
from nlp.privacy import Privacy
from nlp.types import Taxonomy
from storage import digest_claims as claims
from storage import digest_queries as q

log = logging.getLogger(__name__)

Send = Callable[[Reply], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Target:
    """A committee room to send a community's digest to. `room_id` is None until the bot has seen the room."""

    name: str
    community: str
    room_id: str | None


class Outcome:
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    BUSY = "busy"  # another process holds a fresh claim
    FAILED = "failed"
    GAVE_UP = "gave_up"
    UNSEEN = "room_not_seen"


class DigestSender:
    """Builds and sends one community's digest to one room, honouring the digest table's record."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        send: Send,
        taxonomy: Taxonomy,
        out_dir: Path,
        privacy: Privacy | None = None,
        tz: str = "Asia/Shanghai",
        text_limit: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stale_after: timedelta = timedelta(minutes=15),
        retries: int = 3,
        retry_delay: float = 2.0,
        max_attempts: int = 5,
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.taxonomy = taxonomy
        self.privacy = privacy or Privacy()
        self.out_dir = out_dir
        self.tz = tz
        self.text_limit = text_limit
        self.clock = clock
        self.stale_after = stale_after
        self.retries = retries
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts

    async def deliver(self, period: q.Period, target: Target, *, force: bool = False) -> str:
        """Send `target` its digest for `period` unless the record says it has been (or is being) sent."""
        where = f"digest {period.label} for {target.community or 'the whole subdistrict'} to {target.name!r}"
        if target.room_id is None:
            log.warning(
                "%s: the bot has not seen this room yet (add the bot to it, or say something there); not sent",
                where,
            )
            return Outcome.UNSEEN
        claim = await self._claim(period.label, target, force=force, where=where)
        if isinstance(claim, str):
            return claim
        digest_id, token, done = claim
        try:
            files = await self.build(period, community=target.community or None)  # "": the whole subdistrict
            await self._send_all(files, target.room_id, where, digest_id=digest_id, token=token, done=done)
        except Exception as exc:
            log.exception(
                "%s failed after %d tries; not recorded as sent, will be retried", where, self.retries
            )
            async with self.sessions() as s:
                await claims.release_claim(s, digest_id, token=token, error=repr(exc))
                await s.commit()
            return Outcome.FAILED
        async with self.sessions() as s:
            digest_hash = hashlib.sha256(files.text.encode()).hexdigest()
            ok = await claims.mark_sent(s, digest_id, token=token, now=self.clock(), content_hash=digest_hash)
            await s.commit()
        if not ok:  # another process took over a claim it thought stale: both sent; say so
            log.warning("%s: sent, but another process had taken the claim over meanwhile", where)
        log.info("%s sent (%d tickets in the spreadsheet)", where, files.rows)
        return Outcome.SENT

    async def build(self, period: q.Period, *, community: str | None) -> DigestFiles:
        out = self.out_dir / period.label
        async with self.sessions() as s:
            content = await build_digest(
                s,
                period=period,
                taxonomy=self.taxonomy,
                community=community,
                tz=self.tz,
                now=self.clock(),
                privacy=self.privacy,
            )
            return await write_forms(
                s, content, out, taxonomy=self.taxonomy, text_limit=self.text_limit, privacy=self.privacy
            )

    async def _claim(self, period: str, target: Target, *, force: bool, where: str) -> tuple[int, int, int] | str:
        """(digest id, claim token, parts already sent), or why not to send."""
        now = self.clock()
        key = dict(period=period, target=target.name, community=target.community)
        async with self.sessions() as s:
            created = await claims.insert_claim(s, now=now, **key)
            await s.commit()
            row = await claims.get_claim(s, **key)
        assert row is not None and row.id is not None
        if created:
            return row.id, row.attempts, 0
        if row.sent_at is not None and not force:
            log.info("%s was already sent at %s", where, row.sent_at.isoformat())
            return Outcome.ALREADY_SENT
        if not force and row.claimed_at > now - self.stale_after:
            log.info("%s is being sent by another run (claimed at %s)", where, row.claimed_at.isoformat())
            return Outcome.BUSY
        if not force and row.attempts >= self.max_attempts:
            log.error(
                "%s failed %d times (%s); giving up until sent with --force", where, row.attempts, row.error
            )
            return Outcome.GAVE_UP
        async with self.sessions() as s:
            won = await claims.reclaim(s, row.id, token=row.attempts, now=now, resend=force)
            await s.commit()
        if not won:
            return Outcome.BUSY
        if row.error:
            log.info("%s: retrying after an earlier failure (%s)", where, row.error)
        return row.id, row.attempts + 1, 0 if force else row.parts_sent

    async def _send_all(
        self, files: DigestFiles, room_id: str, where: str, *, digest_id: int, token: int, done: int
    ) -> None:
        """Send the parts not sent yet (a retry resumes after the last part that went out), recording each."""
        replies = [
            Reply(text=files.text, room_id=room_id),
            Reply(text="", room_id=room_id, file=files.chart),
            Reply(text="", room_id=room_id, file=files.xlsx),
        ]
        if done:
            log.info("%s: %d of %d parts went out before; sending the rest", where, done, len(replies))
        for part, reply in enumerate(replies[done:], start=done + 1):
            delay = self.retry_delay
            for attempt in range(1, self.retries + 1):
                try:
                    await self.send(reply)
                    break
                except Exception as exc:
                    if attempt == self.retries:
                        raise
                    log.warning("%s: sending failed (%s); try %d of %d", where, exc, attempt, self.retries)
                    await asyncio.sleep(delay)
                    delay *= 2
            async with self.sessions() as s:
                await claims.mark_parts(s, digest_id, token=token, parts=part)
                await s.commit()
