"""The message pipeline: inbox first (group commit), understanding before the write, handling in ordered batches,
replies committed with it and sent through the outbox (handlers/outbox.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import conversation
from handlers.context import Context, Outcome
from handlers.envelope import (
    failure_text,
    inbox_fields,
    message_from_inbox,
    outbox_row,
    sanitize,
)
from handlers.identity import Identities, Organisation
from handlers.limits import Limits
from handlers.outbox import Outbox, Queued, Send, in_unit
from handlers.report import problem_texts
from handlers.router import Router
from handlers.types import Capabilities, Heard, IncomingMessage, Reply, Transcribe
from nlp.privacy import Privacy
from nlp.types import Classification
from storage import jobs, messages
from storage.models import InboxStatus

log = logging.getLogger(__name__)

Classify = Callable[[str], Awaitable[Classification]]
Normalize = Callable[[str], str]

MAX_TEXT = 20_000  # longer messages are kept whole in the inbox but only this much is understood


class Stages(Protocol):
    """The classifier's stages apart: `early` (rules and model: fast, local), then `late` (the LLM) for the
    answers `wants_late` picks. The dispatcher runs them before its write transaction (bot.Understanding)."""

    def early(self, text: str) -> Classification: ...

    def wants_late(self, current: Classification) -> bool: ...

    async def late(self, text: str, current: Classification) -> Classification: ...


@dataclass(eq=False)
class _Job:
    """One message on its way through: recorded (durable), then handled (replies committed and sent)."""

    msg: IncomingMessage
    recorded: asyncio.Future[None]
    handled: asyncio.Future[list[Reply]]
    inbox_id: int | None = None
    texts: tuple[str, str, bool] | None = None  # (raw, normalised, mentioned), once worked out (_understand)
    heard: Heard | None = None  # a voice recording listened to (_listen): kept with the inbox row when handled


class Dispatcher:
    """Turns incoming messages into handled inbox rows and sent replies.

    Two stages, each a single task so order is kept: the recorder writes arriving messages to the inbox
    (all that arrived meanwhile in one transaction: group commit), and the worker handles recorded messages
    in batches, one transaction per batch, each message's outcome and replies committed together with its
    inbox row. A message that fails is retried alone, so one bad message never holds back the others.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        router: Router,
        classify: Classify,
        normalize: Normalize,
        organisation: Organisation,
        channel: Capabilities,
        bot_name: str,
        send: Send | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retries: int = 3,
        batch_size: int = 128,
        member_cache_seconds: float = 60.0,
        limits: Limits | None = None,
        privacy: Privacy | None = None,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=5),
        stages: Stages | None = None,
        understand_seconds: float = 12.0,
        understand_concurrency: int = 4,
        transcribe: Transcribe | None = None,
        transcribe_seconds: float = 60.0,
    ) -> None:
        self.limits = limits
        # Who claims outbox rows and job runs: stable across restarts of one install (config: bot.instance),
        # so a restarted instance takes up its own claims at once; another instance waits for them to lapse.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = lease
        self.outbox = Outbox(sessions=sessions, send=send, clock=clock, owner=self.owner, lease=lease, retries=retries)
        self.privacy = privacy or Privacy()
        self.sessions = sessions
        self.router = router
        self.classify = classify
        self.stages = stages
        self.understand_seconds = understand_seconds
        self.transcribe = transcribe
        self.transcribe_seconds = transcribe_seconds
        self._understand_slots = asyncio.Semaphore(understand_concurrency)
        self.normalize = normalize
        self.identities = Identities(organisation, member_cache_seconds=member_cache_seconds)
        self.channel = channel
        self.clock = clock
        self.retries = retries
        self.batch_size = batch_size
        self._mention = re.compile(r"@" + re.escape(bot_name) + r"[\u2005\u0020\s]?") if bot_name else None
        self._record_q: asyncio.Queue[_Job] = asyncio.Queue()
        self._handle_q: asyncio.Queue[_Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._in_flight: set[str] = set()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the recorder and the worker (idempotent; needs a running loop)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._recorder(), name="inbox-recorder"),
                asyncio.create_task(self._worker(), name="inbox-worker"),
            ]

    async def drain(self) -> None:
        """Wait until every message submitted so far has been recorded, handled and its replies sent."""
        await self._record_q.join()
        await self._handle_q.join()

    async def stop(self) -> None:
        if self._tasks:
            await self.drain()
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []

    # ------------------------------------------------------------ entry points

    def submit(self, msg: IncomingMessage) -> _Job:
        """Queue a message; `job.recorded` resolves once it is in the inbox, `job.handled` with its replies."""
        self.start()
        loop = asyncio.get_running_loop()
        job = _Job(self._transcribed_by_channel(sanitize(msg)), loop.create_future(), loop.create_future())
        self._record_q.put_nowait(job)
        return job

    def _transcribed_by_channel(self, msg: IncomingMessage) -> IncomingMessage:
        """A voice message from a channel that transcribes voice itself (Capabilities.voice == "text", as WeCom
        does) carries its transcript as its text: marked so, it is understood like text and never sent to STT."""
        if msg.kind == "voice" and msg.transcribed_by is None and self.channel.voice == "text" and msg.text.strip():
            return replace(msg, transcribed_by="channel")
        return msg

    async def accept(self, msg: IncomingMessage) -> None:
        """Return once the message is stored durably; handling goes on in order behind it."""
        await self.submit(msg).recorded

    async def process(self, msg: IncomingMessage) -> list[Reply]:
        """Record, handle, and send the replies to one message; returns the replies it caused."""
        return await self.submit(msg).handled

    async def recover(self) -> int:
        """Handle messages stored before a crash but never handled; then send any unsent replies."""
        self.start()
        async with self.sessions() as s:
            rows = [r for r in await messages.pending_inbox(s, limit=1_000_000) if r.id is not None]
        loop = asyncio.get_running_loop()
        jobs = []
        for row in rows:
            if row.message_id in self._in_flight:
                continue
            job = _Job(message_from_inbox(row), loop.create_future(), loop.create_future(), row.id)
            job.recorded.set_result(None)
            self._in_flight.add(row.message_id)
            self._handle_q.put_nowait(job)
            jobs.append(job)
        if jobs:
            await asyncio.gather(*(j.handled for j in jobs), return_exceptions=True)
            log.info("recovered %d message(s) left unhandled by the last run", len(jobs))
        await self.flush_outbox()
        return len(jobs)

    async def flush_outbox(self) -> int:
        """Send committed replies that have not been sent yet (held, or queued while sending failed), in order."""
        return await self.outbox.flush()

    async def post(
        self,
        produce: Callable[[AsyncSession, datetime], Awaitable[list[Reply]]],
        *,
        run: tuple[str, str] | None = None,
    ) -> list[Reply]:
        """Run `produce` (a scheduled job: reminders, digests) in one unit of work, queue its replies, send them.
        With `run` (job name, key), only once per key across instances: the claim commits with the replies."""

        async def unit(session: AsyncSession) -> list[Reply]:
            now = self.clock()
            if run is not None and not await jobs.claim_run(session, name=run[0], key=run[1], owner=self.owner, now=now):
                log.info("%s for %s was run by another instance (or earlier); skipped", *run)
                return []
            replies = await produce(session, now)
            await messages.queue_outbox(
                session, [outbox_row(None, r) for r in replies], owner=self.owner, until=now + self.lease
            )
            return replies

        replies = await self._with_retry(unit)
        self.outbox.backlog = True
        await self.flush_outbox()
        return replies

    # ------------------------------------------------------------ recorder

    async def _recorder(self) -> None:
        while True:
            batch = [await self._record_q.get()]
            while not self._record_q.empty() and len(batch) < 512:
                batch.append(self._record_q.get_nowait())
            try:
                await self._record_batch(batch)
            except Exception as exc:  # the database refuses even after retries: tell every sender
                log.exception("could not store %d incoming message(s) in the inbox", len(batch))
                for job in batch:
                    for fut in (job.recorded, job.handled):
                        if not fut.done():
                            fut.set_exception(exc)
            finally:
                for _ in batch:
                    self._record_q.task_done()

    async def _record_batch(self, batch: list[_Job]) -> None:
        rows = [inbox_fields(job.msg) for job in batch]
        stored = await self._with_retry(lambda s: messages.record_many(s, rows))
        for job in batch:
            mid = job.msg.message_id[:200]
            inbox_id, status, _created = stored[mid]
            job.recorded.set_result(None)
            if status in (InboxStatus.DONE, InboxStatus.IGNORED) or mid in self._in_flight:
                log.info("message %s was already handled or is in hand; ignoring the redelivery", mid)
                job.handled.set_result([])
                continue
            job.inbox_id = inbox_id
            self._in_flight.add(mid)
            self._handle_q.put_nowait(job)

    # ------------------------------------------------------------ worker

    async def _worker(self) -> None:
        while True:
            batch = [await self._handle_q.get()]
            while not self._handle_q.empty() and len(batch) < self.batch_size:
                batch.append(self._handle_q.get_nowait())
            try:
                understood = await self._understand(batch)
                results = await self._handle_batch(batch, understood)
                await self.outbox.deliver([r for _, replies in results for r in replies])
                for job, replies in results:
                    if not job.handled.done():
                        job.handled.set_result([q.reply for q in replies])
            except Exception:  # a bug past the per-message isolation: logged; the rows stay pending for retry
                log.exception("handling a batch of %d message(s) failed", len(batch))
                for job in batch:
                    if not job.handled.done():
                        job.handled.set_result([])
            finally:
                for job in batch:
                    self._in_flight.discard(job.msg.message_id[:200])
                    self._handle_q.task_done()

    # ------------------------------------------------------------ understanding, before any write

    async def _understand(self, batch: list[_Job]) -> dict[str, Classification]:
        """Classify the batch's texts (each message, and each problem of a leader's list) before the write
        transaction opens, so a slow LLM never holds the database's write lock (the recorder's inbox INSERT
        would wait behind it). The rules and the model answer at once; the LLM, for the texts that want it,
        within `understand_seconds` for the whole batch: what it has not answered by then keeps the earlier
        answer. Texts met only inside the transaction get the rules and the model. Voice recordings are
        listened to first (_listen): a transcript is understood like any text."""
        await self._listen(batch)
        if self.stages is None:
            return {}  # one classify function (tests, tools): the transaction classifies
        stages = self.stages
        answers: dict[str, Classification] = {}
        whose: dict[str, tuple[str, str | None]] = {}
        for job in batch:
            msg = job.msg
            if job.inbox_id is None or not msg.is_text:
                continue
            job.texts = self._texts(msg)  # kept: handling reads the same texts, not normalised twice
            raw, text, _ = job.texts
            if not text.strip() or text in answers:
                continue
            early = answers[text] = stages.early(text)
            whose[text] = (msg.sender_id, msg.room_id)  # whose share of the LLM (limits) it spends
            if early.decision in ("ticket", "review"):  # a report: maybe a leader's list of them
                for piece in problem_texts(raw)[0]:
                    if piece not in answers:
                        answers[piece] = stages.early(piece)
                        whose[piece] = whose[text]
        late = [t for t, c in answers.items() if stages.wants_late(c)]
        if not late:
            return answers
        staff = self.identities.org.staff  # configured staff are not limited (the roster's are, here)

        async def ask(text: str) -> tuple[str, Classification]:
            sender, room = whose[text]
            async with self._understand_slots:
                if self.limits is not None:  # each task runs in its own copy of the context
                    self.limits.caller.set(None if sender in staff else (sender, room))
                return text, await stages.late(text, answers[text])

        tasks = [asyncio.create_task(ask(t)) for t in late]
        done, pending = await asyncio.wait(tasks, timeout=self.understand_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning(
                "the LLM had not answered %d of %d text(s) within %.0f s; the rules and the model decide those",
                len(pending), len(tasks), self.understand_seconds,
            )
        for task in done:
            if task.exception() is None:
                text, c = task.result()
                answers[text] = c
            else:
                log.error("classifying a text failed: %s", type(task.exception()).__name__)
        return answers

    async def _listen(self, batch: list[_Job]) -> None:
        """Voice messages that came as audio become text before they are understood: each recording goes to the
        injected `transcribe` (bot/voice.py: SILK decoded, then the speech-to-text endpoint), several at once,
        outside any transaction. A transcript replaces the placeholder text (and is marked as one); without one
        (no endpoint, a timeout, a nonsense answer, an undecodable file) the message stays a recording, which
        the voice handler holds for staff."""
        jobs = [
            j for j in batch
            if j.inbox_id is not None and j.msg.kind == "voice" and j.msg.transcribed_by is None and j.msg.media
        ]
        if not jobs or self.transcribe is None:
            return
        transcribe = self.transcribe

        async def listen(job: _Job) -> Heard:
            assert job.msg.media is not None
            async with self._understand_slots:
                try:
                    async with asyncio.timeout(self.transcribe_seconds):
                        return await transcribe(job.msg.media)
                except TimeoutError:
                    return Heard(text=None, audio=None, reason=f"no transcript within {self.transcribe_seconds:.0f} s")
                except Exception as exc:  # a transcriber must not raise; if it does, the message is still held
                    return Heard(text=None, audio=None, reason=f"transcribing failed ({type(exc).__name__})")

        for job, heard in zip(jobs, await asyncio.gather(*(listen(j) for j in jobs)), strict=True):
            job.heard = heard
            media = heard.audio or job.msg.media
            if heard.text:
                job.msg = replace(job.msg, text=heard.text, transcribed_by=heard.by or "stt", media=media)
            else:
                job.msg = replace(job.msg, media=media)
                log.info("voice message %s not transcribed: %s", job.msg.message_id, heard.reason)

    def _texts(self, msg: IncomingMessage) -> tuple[str, str, bool]:
        """(raw text without mentions, normalised text, whether the bot was mentioned), as handling sees them.
        A photo, or a recording without its transcript, has no words to read."""
        if not msg.is_text:
            return "", "", msg.kind != "image" and msg.mentioned_bot
        mentioned = msg.mentioned_bot or bool(self._mention and self._mention.search(msg.text or ""))
        raw = self.strip_mentions(msg.text)[:MAX_TEXT]
        return raw, (self.normalize(raw) if raw else ""), mentioned

    def _classifier(self, understood: dict[str, Classification]) -> Classify:
        """Inside the transaction: the answer found before it, else the rules and the model (never the LLM)."""
        if self.stages is None:
            return self.classify
        early = self.stages.early

        async def classify(text: str) -> Classification:
            found = understood.get(text)
            return found if found is not None else early(text)

        return classify

    # ------------------------------------------------------------ handling, one short write transaction

    async def _handle_batch(
        self, batch: list[_Job], understood: dict[str, Classification] | None = None
    ) -> list[tuple[_Job, list[Queued]]]:
        understood = understood or {}
        try:
            # What a rolled-back transaction upserted (a room seen for the first time) is written again.
            return await self._with_retry(
                lambda s: self._handle_in(s, batch, understood), rolled_back=self.identities.forget_rooms
            )
        except Exception as exc:
            if len(batch) > 1:
                # Isolate the message that failed: handle each alone.
                results = []
                for job in batch:
                    results.extend(await self._handle_batch([job], understood))
                return results
            job = batch[0]
            error = failure_text(exc, job.msg, self.privacy, self.normalize)
            frames = "".join(traceback.format_tb(exc.__traceback__))  # where, not what: no values, no text
            log.error("handling message %s failed; kept in the inbox as failed: %s\n%s", job.msg.message_id, error, frames)
            inbox_id = job.inbox_id
            assert inbox_id is not None, "a job is handled only once recorded"
            try:
                await self._with_retry(lambda s: messages.fail_inbox(s, inbox_id, error))
            except Exception:
                log.exception("could not even mark message %s as failed", job.msg.message_id)
            return [(job, [])]

    async def _handle_in(
        self, session: AsyncSession, batch: list[_Job], understood: dict[str, Classification]
    ) -> list[tuple[_Job, list[Queued]]]:
        classify = self._classifier(understood)
        claimed = await messages.claim_inbox(session, [j.inbox_id for j in batch if j.inbox_id is not None])
        if len(claimed) > 1:  # what the conversation layer remembers of these senders, in one statement
            await conversation.prefetch(session, [j.msg for j in batch if j.inbox_id in claimed])
        handled: list[tuple[_Job, list[Reply]]] = []
        finished: list[dict] = []
        for job in batch:
            if job.inbox_id not in claimed:  # another instance handled it meanwhile
                handled.append((job, []))
                continue
            outcome, status = await self._route(session, job.msg, classify, job.texts)
            if job.heard is not None and job.inbox_id is not None:  # the transcript is kept with the message
                await messages.record_heard(
                    session, job.inbox_id, text=job.msg.text if job.msg.is_text else None,
                    transcribed_by=job.msg.transcribed_by, media=job.msg.media,
                )
            handled.append((job, outcome.replies))
            finished.append(
                {
                    "inbox_id": job.inbox_id,
                    "status": status,
                    "intent": outcome.intent,
                    "ticket_number": outcome.ticket_number,
                }
            )
        # All of the batch's replies in one statement, in order: the outbox ids are the sending order.
        # Claimed by this instance for the send right after the commit: no other instance's flush takes them.
        now = self.clock()
        ids = iter(
            await messages.queue_outbox(
                session, [outbox_row(j.inbox_id, r) for j, rs in handled for r in rs],
                owner=self.owner, until=now + self.lease,
            )
        )
        await messages.finish_many(session, finished)
        return [(job, [Queued(next(ids), r) for r in replies]) for job, replies in handled]

    # ------------------------------------------------------------ steps

    async def _with_retry(self, fn, *, rolled_back: Callable[[], None] | None = None):
        return await in_unit(self.sessions, fn, retries=self.retries, rolled_back=rolled_back)

    async def _route(
        self, session: AsyncSession, msg: IncomingMessage, classify: Classify, texts: tuple[str, str, bool] | None
    ) -> tuple[Outcome, str]:
        room = await self.identities.room(session, msg, self.clock())
        # Photos go to the conversation layer (attached to a report), voice with its transcript is read like
        # text and a recording without one goes to the voice handler (held for staff); other kinds are recorded.
        if room is None or msg.kind not in ("text", "image", "voice"):
            return Outcome(intent=None), InboxStatus.IGNORED
        image = msg.kind == "image"
        recording = msg.kind == "voice" and not msg.is_text
        raw, text, mentioned = texts if texts is not None else self._texts(msg)
        if not text.strip() and not mentioned and not image and not recording:
            return Outcome(intent="chat"), InboxStatus.DONE
        actor = await self.identities.actor(session, msg, room)
        if self.limits is not None:
            # Whose share of the LLM this message spends (staff are not limited).
            self.limits.caller.set(None if actor.is_staff else (actor.id, msg.room_id))
        ctx = Context(
            msg=msg,
            text=text,
            session=session,
            now=self.clock(),
            room=room,
            actor=actor,
            channel=self.channel,
            classify_fn=classify,
            mentioned=mentioned,
            raw=raw,
        )
        outcome = await self.router.route(ctx)
        if image and outcome.intent != "image":
            return Outcome(intent=None), InboxStatus.IGNORED  # no handler took it: as before, recorded only
        if recording and outcome.intent != "review":
            return Outcome(intent=None), InboxStatus.IGNORED  # not a leader's: recorded, with the recording
        return outcome, InboxStatus.DONE

    def strip_mentions(self, text: str) -> str:
        if self._mention is not None:
            text = self._mention.sub("", text)
        return text.strip()
