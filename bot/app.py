"""The one place where everything is wired: settings → database, understanding, handlers, channel."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import retention
from bot.channels import registry
from bot.channels.base import Channel
from bot.config import Settings
from bot.digest_job import RETRY_CRON as DIGEST_RETRY_CRON
from bot.digest_job import DigestJob
from bot.rooms import bind_configured_rooms, organisation_from
from bot.scheduler import Job, Scheduler
from bot.throttle import TokenBucket
from bot.understanding import Understanding, build_understanding
from bot.voice import Transcriber, build_transcriber
from bot.wiring import (  # noqa: F401  (build_notifier and build_intake are used from here by the CLI)
    Names,
    attach_log_filter,
    build_candidates,
    build_intake,
    build_limits,
    build_notifier,
    build_router,
    build_ticket_ops,
    detach_log_filter,
    staff_names,
)
from handlers.feedback import FEEDBACK_WINDOW_DAYS
from handlers.service import Dispatcher
from handlers.types import Capabilities, IncomingMessage, Reply
from nlp.privacy import Privacy
from storage import engine as db
from storage import messages

if TYPE_CHECKING:
    from bot.web.deps import Web
    from bot.web.server import WebServer

log = logging.getLogger(__name__)
NAMES_EVERY = 60.0  # seconds between looks at whether the roster changed
FLUSH_EVERY = 30.0  # seconds between looks at the outbox (replies held for quiet hours come due)
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # after a failed send the outbox is tried again after 1 s, 2 s, 4 s ... 60 s


class App:
    """A running linju: open with `await app.start()`, feed messages through the channel, `await app.stop()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        channel: Channel | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.clock = clock
        self.engine: AsyncEngine | None = None
        self.report_engine: AsyncEngine | None = None  # long reads (digests); see report_sessions
        self.understanding: Understanding | None = None
        self.transcriber: Transcriber | None = None  # voice that arrives as audio becomes text (bot/voice.py)
        self.dispatcher: Dispatcher | None = None
        self._flusher: asyncio.Task | None = None
        self._send_failed = asyncio.Event()  # a send raised: the flusher retries with back-off
        self.scheduler: Scheduler | None = None
        self.digests: DigestJob | None = None
        self.digest_catchup: asyncio.Task | None = None
        # What the channel can do; without one (the CLI, tests), what the configured channel declares.
        self.capabilities: Capabilities = (
            channel.capabilities if channel is not None else registry.capabilities(settings.channel)
        )
        # One privacy module for every exit: LLM requests, notices, answers, digests, spreadsheets, logs.
        self.privacy = Privacy(staff_names(settings))
        self.limits = build_limits(settings)
        self.names: Names | None = None
        self._bucket = self._send_bucket()
        self._log_handlers: list[logging.Handler] = []
        self.web: WebServer | None = None  # the web console, when web.enabled (bot/web)
        self.web_parts: Web | None = None
        self._flushing: asyncio.Task | None = None

    def _send_bucket(self) -> TokenBucket | None:
        limits, caps = self.settings.limits, self.capabilities
        per_minute = limits.sends_per_minute or caps.sends_per_minute
        if per_minute is None:
            return None
        return TokenBucket(per_minute, limits.send_burst or caps.send_burst)

    async def open(self) -> Dispatcher:
        """Database, migrations and understanding, without a channel (for the CLI and tests)."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_handlers = attach_log_filter(self.privacy)
        self.engine = db.create_engine(s.database_url, echo=s.database.echo)
        await db.upgrade(self.engine)
        sessions = db.session_factory(self.engine)
        admit = self.limits.admit_llm if self.limits is not None else None
        self.understanding = await build_understanding(s, privacy=self.privacy, admit=admit)
        self.names = Names(s, self.privacy, self.understanding)
        if self.capabilities.voice == "audio":
            self.transcriber = build_transcriber(s)
        async with sessions() as session:
            await bind_configured_rooms(session, s, self.capabilities)
            await self.names.refresh(session, force=True)
            await session.commit()
        self.dispatcher = Dispatcher(
            sessions=sessions,
            router=build_router(s, self.understanding, privacy=self.privacy, limits=self.limits),
            classify=self.understanding.classify,
            stages=self.understanding,
            understand_seconds=s.llm.batch_seconds,
            understand_concurrency=s.llm.concurrency,
            transcribe=self.transcriber,
            transcribe_seconds=s.stt.timeout_seconds + 10,  # decoding and saving the WAV on top of the request
            normalize=self.understanding.normalize,
            organisation=organisation_from(s, self.capabilities),
            channel=self.capabilities,
            bot_name=s.bot.name,
            send=self._send,
            clock=self.clock,
            limits=self.limits,
            privacy=self.privacy,
            owner=s.bot.instance or f"{socket.gethostname()}:{s.data_dir.resolve()}",
        )
        # The dictionaries and model just loaded live as long as the process: keep them out of every later
        # garbage collection (each full collection walked all of them; `make bench` profile, issue 9).
        gc.freeze()
        return self.dispatcher

    async def start(self) -> None:
        dispatcher = await self.open()
        if self.channel is not None:
            await dispatcher.recover()
            self.channel.on_connected = dispatcher.flush_outbox  # replies kept during an outage go out
            await self.channel.start(self.on_message)
            self._flusher = asyncio.create_task(self._flush_periodically(), name="outbox-flusher")
            self.scheduler = Scheduler(self.settings.schedule.timezone)
            for name, cron, job in self.scheduled_jobs():
                self.scheduler.add_cron(name, cron, job)
            self.scheduler.start()
            # A digest due while the bot was down goes out now (the digest table keeps it to once).
            self.digest_catchup = asyncio.create_task(self.send_due_digests(), name="digest-catch-up")
        if self.settings.web.enabled:
            from bot.web.server import serve

            self.web = await serve(self)
        log.info("linju is running (channel %s)", self.channel.name if self.channel else "none")

    def scheduled_jobs(self) -> list[tuple[str, str, Job]]:
        """(name, cron, coroutine function) for every periodic job; features add theirs here."""
        return self.digest_jobs() + [
            ("overdue-reminder", self.settings.schedule.overdue_reminder_cron, self.remind_overdue),
            ("follow-up", self.settings.schedule.follow_up_cron, self.follow_up),
            ("retention-purge", self.settings.retention.purge_cron, self.purge),
        ]

    async def purge(self, days: int | None = None) -> tuple[int, int]:
        """Chat messages older than the retention period lose their text (the row and id stay, so a redelivery
        is still recognised); sent replies older than it are deleted. Returns (messages cleared, replies deleted).
        Runs on the report engine: on SQLite a long scan must not stall the bot."""
        assert self.engine is not None, "open() the app first"
        before = self.clock() - timedelta(days=days or self.settings.retention.chat_days)
        return await retention.purge(self.report_sessions(), before=before)

    async def remind_overdue(self) -> int:
        """The daily committee reminder: each community's overdue tickets, and how many messages wait for review
        (candidates past their age are dropped first). Returns how many messages were queued."""
        assert self.dispatcher is not None and self.understanding is not None, "open() the app first"
        ops = build_ticket_ops(self.settings, self.understanding, self.privacy)
        candidates = build_candidates(self.settings, build_intake(self.settings, self.understanding), self.privacy)

        async def produce(session: AsyncSession, now: datetime) -> list[Reply]:
            waiting = await candidates.daily(session, now)
            return await ops.overdue_reminders(session, now, waiting=waiting)

        # Once a day across instances: the run's claim row commits with the reminders it queues.
        return len(await self.dispatcher.post(produce, run=("overdue-reminder", self._today())))

    async def follow_up(self) -> int:
        """回访: reporters who have not rated a ticket resolved `schedule.follow_up_days` ago are asked once, in
        their room (held in quiet hours like any notice); once a day across instances. Returns how many."""
        assert self.dispatcher is not None and self.understanding is not None, "open() the app first"
        ops = build_ticket_ops(self.settings, self.understanding, self.privacy)
        days = self.settings.schedule.follow_up_days

        async def produce(session: AsyncSession, now: datetime) -> list[Reply]:
            return await ops.follow_ups(session, now, after_days=days, window_days=FEEDBACK_WINDOW_DAYS)

        return len(await self.dispatcher.post(produce, run=("follow-up", self._today())))

    def _today(self) -> str:
        """The local date (schedule.timezone): the key of a daily job's run."""
        return self.clock().astimezone(ZoneInfo(self.settings.schedule.timezone)).date().isoformat()

    def digest_jobs(self) -> list[tuple[str, str, Job]]:
        """The committee digest on its configured schedule, and an hourly retry of one not yet delivered."""
        return [
            ("digest", self.settings.schedule.digest_cron, self.send_due_digests),
            ("digest-retry", DIGEST_RETRY_CRON, self.send_due_digests),
        ]

    async def send_due_digests(self) -> dict[str, str]:
        """Send each committee room the digest of the last scheduled period, unless already sent."""
        assert self.engine is not None and self.understanding is not None, "open() the app first"
        if self.digests is None:
            self.digests = DigestJob(
                self.settings,
                sessions=self.report_sessions(),
                send=self._send,
                taxonomy=self.understanding.taxonomy,
                privacy=self.privacy,
                text_limit=self.capabilities.max_text_length,
                clock=self.clock,
            )
        try:
            return await self.digests.run_due()
        except Exception:
            log.exception("sending the due digests failed; the hourly retry will try again")
            return {}

    def report_sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for long reads (a digest over a year of tickets takes seconds).

        On SQLite the bot's own engine runs statements on the event loop (storage/sqlite_driver.py), which is
        right for its short ones; these run in a worker thread instead, so messages keep being answered.
        """
        assert self.engine is not None, "open() the app first"
        if self.report_engine is None:
            url = self.settings.database_url
            if db.is_sqlite(url):
                self.report_engine = db.create_engine(url, echo=self.settings.database.echo, offload=True)
            else:
                self.report_engine = self.engine
        return db.session_factory(self.report_engine)

    async def on_message(self, msg: IncomingMessage) -> asyncio.Future[list[Reply]]:
        """Store `msg` durably and queue it for handling; returns a future of the replies it causes.

        Channels await this call (the message is safe in the inbox when it returns) and may ignore the
        future; handling goes on in order behind it.
        """
        assert self.dispatcher is not None, "start() the app first"
        job = self.dispatcher.submit(msg)
        await job.recorded
        return job.handled

    async def _send(self, reply: Reply) -> None:
        if self.channel is None:
            raise RuntimeError("no channel to send through")
        if self._bucket is not None:
            await self._bucket.take()  # WeChat restricts accounts that send in bursts
        try:
            await self.channel.send(reply)
        except Exception:
            self._send_failed.set()
            raise

    async def _flush_periodically(self) -> None:
        """Send what the outbox holds: every FLUSH_EVERY seconds (replies held for quiet hours), and, after a send
        failed anywhere, again after RETRY_FIRST seconds, doubling up to RETRY_MAX while replies stay unsent. (A
        channel that reconnects also flushes at once through `on_connected`; at start `recover` does.) A roster
        imported from the shell meanwhile has its names taken out of everything from now on."""
        loop = asyncio.get_running_loop()
        names_due = loop.time() + NAMES_EVERY
        retry: float | None = None  # the current back-off; None: no failed send waiting
        due = loop.time() + FLUSH_EVERY
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._send_failed.wait()
            if self._send_failed.is_set():  # a send just failed (handling, a digest, a login flush)
                self._send_failed.clear()
                if retry is None:
                    retry = RETRY_FIRST
                    due = min(due, loop.time() + retry)
                continue
            stuck = await self._flush_for_retry()
            self._send_failed.clear()  # this flush's own failure is `stuck`
            retry = None if not stuck else RETRY_FIRST if retry is None else min(retry * 2, RETRY_MAX)
            due = loop.time() + (retry or FLUSH_EVERY)
            if loop.time() >= names_due:
                names_due = loop.time() + NAMES_EVERY
                await self.refresh_names()

    async def _flush_for_retry(self) -> bool:
        """Flush the outbox; True if due replies are still unsent afterwards (a send or the database failed)."""
        if self.dispatcher is None:
            return False
        try:
            if self.channel is None or self.channel.connected:  # else its next login flushes
                await self.dispatcher.flush_outbox()
            async with self.dispatcher.sessions() as s:
                return bool(await messages.unsent_outbox(s, now=self.clock(), limit=1))
        except Exception:
            log.exception("outbox flush failed")
            return True

    async def refresh_names(self) -> bool:
        """Reload the roster's names into the privacy module if the roster changed; True if it did."""
        if self.dispatcher is None or self.names is None:
            return False
        try:
            async with self.dispatcher.sessions() as s:
                return await self.names.refresh(s)
        except Exception:
            log.exception("could not reload the roster's names; the ones loaded before stay in use")
            return False

    async def run_until_closed(self) -> None:
        if self.channel is not None:
            await self.channel.wait_closed()
        if self.dispatcher is not None:
            await self.dispatcher.drain()

    def flush_soon(self) -> None:
        """Replies were queued outside a message's handling (a step on the web console): send them now."""
        if self.dispatcher is None or self.channel is None or not self.channel.connected:
            return  # sent by the periodic flush, the next login, or the next start
        self.dispatcher.outbox.backlog = True
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_for_retry(), name="outbox-flush-soon")

    async def stop(self) -> None:
        if self.web is not None:
            await self.web.stop()
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.digest_catchup is not None and not self.digest_catchup.done():
            self.digest_catchup.cancel()
            await asyncio.gather(self.digest_catchup, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
        if self.dispatcher is not None:
            try:
                await asyncio.wait_for(self.dispatcher.stop(), timeout=30)
            except TimeoutError:
                log.warning("stopped before every queued message was handled; they stay in the inbox for next start")
        if self.channel is not None:
            await self.channel.close()
        if self.understanding is not None:
            await self.understanding.close()
        if self.transcriber is not None:
            await self.transcriber.close()
        if self.report_engine is not None and self.report_engine is not self.engine:
            await self.report_engine.dispose()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("linju stopped")
        detach_log_filter(self._log_handlers)
