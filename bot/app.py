"""The one place where everything is wired: settings → database, understanding, handlers, channel."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import Channel
from bot.config import Settings
from bot.digest_job import RETRY_CRON as DIGEST_RETRY_CRON
from bot.digest_job import DigestJob
from bot.scheduler import Scheduler
from bot.understanding import Understanding, build_understanding
from handlers.candidates import Candidates
from handlers.context import RoomInfo
from handlers.feedback import FeedbackHandler
from handlers.help import HelpHandler
from handlers.identity import Organisation
from handlers.notify import Notifier
from handlers.query import QueryHandler
from handlers.report import Intake, ReportHandler
from handlers.router import Router
from handlers.service import Dispatcher
from handlers.staff import StaffHandler
from handlers.ticket_ops import TicketOps
from handlers.types import IncomingMessage, Reply
from handlers.undo import UndoHandler
from storage import engine as db
from storage import repo

log = logging.getLogger(__name__)


def organisation_from(settings: Settings) -> Organisation:
    rooms: dict[str, RoomInfo] = {}
    for community in settings.communities:
        for r in community.rooms:
            rooms[r.name] = RoomInfo(community=community.name, kind=r.kind, area=r.area, grp=r.group)
    return Organisation(
        rooms=rooms,
        default_community=settings.default_community,
        ignore_unknown_rooms=settings.ignore_unknown_rooms,
        staff_names=frozenset(s.name for s in settings.staff if s.name),
        staff_ids=frozenset(s.wechat_id for s in settings.staff if s.wechat_id),
    )


def build_notifier(settings: Settings) -> Notifier:
    return Notifier(
        timezone=settings.schedule.timezone,
        quiet_hours=settings.schedule.quiet_hours,
        room_quiet_hours={r.name: r.quiet_hours for c in settings.communities for r in c.rooms},
    )


def build_ticket_ops(settings: Settings, understanding: Understanding) -> TicketOps:
    return TicketOps(taxonomy=understanding.taxonomy, notifier=build_notifier(settings))


def build_intake(settings: Settings, understanding: Understanding) -> Intake:
    return Intake(
        taxonomy=understanding.taxonomy,
        duplicate_window_days=settings.classifier.duplicate_window_days,
        duplicate_similarity=settings.classifier.duplicate_similarity,
    )


def build_candidates(settings: Settings, intake: Intake) -> Candidates:
    return Candidates(
        intake=intake,
        notifier=build_notifier(settings),
        default_community=settings.default_community,
        max_age_days=settings.classifier.candidate_days,
        ack=settings.bot.ack,
    )


def build_router(settings: Settings, understanding: Understanding) -> Router:
    """Handlers in the order they are tried (DESIGN.md: staff → undo/replies → queries → reports)."""
    taxonomy = understanding.taxonomy
    ops = build_ticket_ops(settings, understanding)
    intake = build_intake(settings, understanding)
    candidates = build_candidates(settings, intake)
    return Router(
        [
            StaffHandler(ops=ops, intake=intake, candidates=candidates),
            HelpHandler(bot_name=settings.bot.name, undo_minutes=settings.bot.undo_minutes),
            FeedbackHandler(ops=ops),
            UndoHandler(window_minutes=settings.bot.undo_minutes),
            QueryHandler(taxonomy=taxonomy),
            ReportHandler(intake=intake, candidates=candidates, ack=settings.bot.ack),
        ]
    )


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
        self.dispatcher: Dispatcher | None = None
        self._flusher: asyncio.Task | None = None
        self.scheduler: Scheduler | None = None
        self.digests: DigestJob | None = None
        self.digest_catchup: asyncio.Task | None = None

    async def open(self) -> Dispatcher:
        """Database, migrations and understanding, without a channel (for the CLI and tests)."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = db.create_engine(s.database_url, echo=s.database.echo)
        await db.upgrade(self.engine)
        self.understanding = await build_understanding(s)
        self.dispatcher = Dispatcher(
            sessions=db.session_factory(self.engine),
            router=build_router(s, self.understanding),
            classify=self.understanding.classify,
            normalize=self.understanding.normalize,
            organisation=organisation_from(s),
            bot_name=s.bot.name,
            send=self._send,
            clock=self.clock,
        )
        # The dictionaries and model just loaded live as long as the process: keep them out of every later
        # garbage collection (each full collection walked all of them; `make bench` profile, issue 9).
        gc.freeze()
        return self.dispatcher

    async def start(self) -> None:
        dispatcher = await self.open()
        if self.channel is not None:
            await dispatcher.recover()
            if hasattr(self.channel, "on_connected"):
                self.channel.on_connected = dispatcher.flush_outbox  # replies kept during an outage go out
            await self.channel.start(self.on_message)
            await self.register_configured_rooms()
            self._flusher = asyncio.create_task(self._flush_periodically(), name="outbox-flusher")
            self.scheduler = Scheduler(self.settings.schedule.timezone)
            for name, cron, job in self.scheduled_jobs():
                self.scheduler.add_cron(name, cron, job)
            self.scheduler.start()
            # A digest due while the bot was down goes out now (the digest table keeps it to once).
            self.digest_catchup = asyncio.create_task(self.send_due_digests(), name="digest-catch-up")
        log.info("linju is running (channel %s)", self.channel.name if self.channel else "none")

    def scheduled_jobs(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(name, cron, coroutine function) for every periodic job; features add theirs here."""
        return self.digest_jobs() + [("overdue-reminder", self.settings.schedule.overdue_reminder_cron, self.remind_overdue)]

    async def remind_overdue(self) -> int:
        """The daily committee reminder: each community's overdue tickets, and how many messages wait for review
        (candidates past their age are dropped first). Returns how many messages were queued."""
        assert self.dispatcher is not None and self.understanding is not None, "open() the app first"
        ops = build_ticket_ops(self.settings, self.understanding)
        candidates = build_candidates(self.settings, build_intake(self.settings, self.understanding))

        async def produce(session: AsyncSession, now: datetime) -> list[Reply]:
            waiting = await candidates.daily(session, now)
            return await ops.overdue_reminders(session, now, waiting=waiting)

        return len(await self.dispatcher.post(produce))

    async def register_configured_rooms(self) -> int:
        """Record configured rooms the bot has not seen yet, so urgent pushes reach a committee room at once.

        A room's platform id is needed to send to it: the console uses the room name; a channel that can look a
        room up by topic offers `room_id_for_topic`; otherwise (WeChat before the bot has seen the room) the room
        is recorded when its first message arrives, matched by topic.
        """
        assert self.dispatcher is not None
        resolve = getattr(self.channel, "room_id_for_topic", None)
        if resolve is None and getattr(self.channel, "name", None) == "console":
            from bot.channels.console import console_room_id

            resolve = console_room_id
        if resolve is None:
            return 0
        configured = [(c.name, r) for c in self.settings.communities for r in c.rooms]

        async def unit(session) -> int:
            n = 0
            for community, r in configured:
                platform_id = resolve(r.name)
                if inspect.isawaitable(platform_id):
                    platform_id = await platform_id
                if not platform_id:
                    if r.kind == "committee":
                        log.warning("committee room %s not found yet; urgent pushes start once it is seen", r.name)
                    continue
                await repo.upsert_room(
                    session, platform_id=platform_id, topic=r.name, community=community, kind=r.kind,
                    area=r.area, grp=r.group,
                )
                n += 1
            return n

        async with self.dispatcher.sessions() as session:
            n = await unit(session)
            await session.commit()
        return n

    def digest_jobs(self) -> list[tuple[str, str, Callable[[], object]]]:
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
                channel_name=getattr(self.channel, "name", "none"),
                text_limit=getattr(self.channel, "max_text_length", 2000),
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
        await self.channel.send(reply)

    async def _flush_periodically(self) -> None:
        # Replies held for quiet hours or queued while a channel was down go out here.
        while True:
            await asyncio.sleep(30)
            try:
                if self.dispatcher:
                    await self.dispatcher.flush_outbox()
            except Exception:
                log.exception("outbox flush failed")

    async def run_until_closed(self) -> None:
        if self.channel is not None:
            await self.channel.wait_closed()
        if self.dispatcher is not None:
            await self.dispatcher.drain()

    async def stop(self) -> None:
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
        if self.report_engine is not None and self.report_engine is not self.engine:
            await self.report_engine.dispose()
        if self.engine is not None:
            await self.engine.dispose()
        log.info("linju stopped")
