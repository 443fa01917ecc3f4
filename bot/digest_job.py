"""The committee digest job: which period is due by the schedule, which rooms get it, and sending it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from handlers.digest_send import DigestSender, Outcome, Send, Target
from nlp.privacy import Privacy
from nlp.types import Taxonomy
from storage import digest_queries as q
from storage import repo

log = logging.getLogger(__name__)

RETRY_CRON = "17 * * * *"  # hourly: a failed or missed digest goes out once the channel is back


def last_fire(cron: str, tz: str, now: datetime) -> datetime | None:
    """The latest time at or before `now` when `cron` fired (looking back up to about a year)."""
    zone = ZoneInfo(tz)
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    now = now.astimezone(zone)
    for lookback in (timedelta(days=35), timedelta(days=370)):
        prev = None
        nxt = trigger.get_next_fire_time(None, now - lookback)
        while nxt is not None and nxt <= now:
            prev = nxt
            nxt = trigger.get_next_fire_time(prev, prev + timedelta(seconds=1))
        if prev is not None:
            return prev
    return None


def due_period(settings: Settings, now: datetime) -> q.Period | None:
    """The period the most recent scheduled run covers: the whole month (or week) before its date."""
    sch = settings.schedule
    fired = last_fire(sch.digest_cron, sch.timezone, now)
    if fired is None:
        return None
    return q.period_before(fired.astimezone(ZoneInfo(sch.timezone)).date(), sch.digest_period, sch.timezone)


async def resolve_targets(session: AsyncSession, *, community: str | None = None) -> list[Target]:
    """The committee rooms bound by platform id (config `id:` or `linju rooms bind`), each with the community
    whose digest it gets ("" is the whole subdistrict). A room merely named like a committee room gets nothing.
    The target's name is the room's id: the record of what was sent does not follow a rename."""
    rooms = await repo.committee_rooms(session, None)
    return [
        Target(name=r.platform_id, community=r.community, room_id=r.platform_id)
        for r in rooms
        if community is None or r.community == community
    ]


class DigestJob:
    """Sends every committee room its community's digest for the due period, once."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: async_sessionmaker[AsyncSession],
        send: Send,
        taxonomy: Taxonomy,
        privacy: Privacy | None = None,
        text_limit: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_delay: float = 2.0,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.sender = DigestSender(
            sessions=sessions,
            send=send,
            taxonomy=taxonomy,
            privacy=privacy,
            out_dir=Path(settings.data_dir) / "digests",
            tz=settings.schedule.timezone,
            text_limit=min(text_limit, 2000),
            clock=clock,
            retry_delay=retry_delay,
        )

    async def run_due(self) -> dict[str, str]:
        """The scheduled run, the hourly retry and the start-up catch-up: send what is due and unsent."""
        period = due_period(self.settings, self.clock())
        if period is None:
            return {}
        async with self.sessions() as s:
            first = await q.first_activity(s)
        if first is None or first >= period.end:
            # A bot installed after the period ended has nothing to report for it.
            log.info("no digest for %s: the bot recorded nothing before it ended", period.label)
            return {}
        return await self.run(period)

    async def run(
        self, period: q.Period, *, community: str | None = None, force: bool = False
    ) -> dict[str, str]:
        async with self.sessions() as s:
            targets = await resolve_targets(s, community=community)
        if not targets:
            log.warning(
                "no committee room is bound by id (config `id:` or `linju rooms bind ID --kind committee`); "
                "no digest sent"
            )
        results: dict[str, str] = {}
        for t in targets:
            results[t.name] = await self.sender.deliver(period, t, force=force)
        failed = [n for n, r in results.items() if r in (Outcome.FAILED, Outcome.GAVE_UP, Outcome.UNSEEN)]
        if failed:
            log.warning("digest %s not delivered to: %s", period.label, ", ".join(failed))
        return results
