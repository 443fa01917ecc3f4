"""Scheduled jobs (digests, overdue reminders) on APScheduler's AsyncIOScheduler, in the configured timezone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    """A thin wrapper: named cron jobs whose failures are logged and never stop the bot."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(timezone)
        self._scheduler = AsyncIOScheduler(timezone=self.tz)
        self._jobs: dict[str, str] = {}

    def add_cron(self, name: str, cron: str, job: Job) -> None:
        """Run `job` on a five-field cron expression ("minute hour day month weekday")."""
        trigger = CronTrigger.from_crontab(cron, timezone=self.tz)

        async def guarded() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduled job %s failed", name)

        self._scheduler.add_job(
            guarded, trigger, id=name, name=name, replace_existing=True, coalesce=True, misfire_grace_time=3600
        )
        self._jobs[name] = cron
        log.info("scheduled %s at '%s' (%s)", name, cron, self.tz.key)

    def start(self) -> None:
        if self._jobs:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def jobs(self) -> dict[str, str]:
        return dict(self._jobs)
