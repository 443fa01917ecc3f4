"""Conversation, not single messages: what the bot remembers of a person in a room, and the replies that only
make sense with it — the answer to "是哪一栋？", a follow-up that adds a place, a photo just before or after.

Modelled on the conversation handlers of bot frameworks (python-telegram-bot's ConversationHandler, aiogram's
FSM): a small state per room and sender with an expiry, kept in the database so it survives a restart, read
before the rest of the router and written in the same transaction as the handling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.context import Context, Outcome
from handlers.types import IncomingMessage, Reply
from nlp.conversation import Detail, follow_up_detail
from nlp.entities import extract_location
from nlp.summary import summarize
from nlp.types import Location, Taxonomy
from storage import conversations as store
from storage import repo
from storage.conversations import Remembered
from storage.models import Ticket, TicketStatus, as_utc

log = logging.getLogger(__name__)
ECHO_CHARS = 40  # how much of a follow-up the confirmation repeats


@dataclass(frozen=True, slots=True)
class Windows:
    """How long things are remembered: a report for follow-ups and photos, a question for its answer."""

    follow_up: timedelta = timedelta(minutes=10)
    question: timedelta = timedelta(minutes=30)
    photo: timedelta = timedelta(minutes=5)


def _room(ctx: Context) -> str:
    return ctx.msg.room_id or ""


async def prefetch(session: AsyncSession, msgs: Iterable[IncomingMessage]) -> None:
    """The conversation state of a batch's senders, read in one statement before their messages are routed."""
    await store.prefetch(session, [(m.room_id or "", m.sender_id) for m in msgs])


class Memory:
    """The conversation state as the handlers use it (a small interface over storage.conversations)."""

    def __init__(
        self,
        *,
        windows: Windows = Windows(),
        estates: Mapping[str, Sequence[str]] | None = None,
        ask_place: bool = True,
    ) -> None:
        self.windows = windows
        self.estates = {k: tuple(v) for k, v in (estates or {}).items()}
        self.ask_place = ask_place
        self._ttl = max(windows.follow_up, windows.question, windows.photo)

    def all_estates(self) -> tuple[str, ...]:
        return tuple(e for es in self.estates.values() for e in es)

    async def current(self, ctx: Context) -> Remembered | None:
        return await store.current(ctx.session, room=_room(ctx), sender_id=ctx.actor.id, now=ctx.now)

    def should_ask_place(self, ctx: Context, location: Location) -> bool:
        """A report with no building or estate, where the room covers more than one estate: ask where, once."""
        if not self.ask_place or location.building or location.estate:
            return False
        return len(self.estates.get(ctx.room.community, ())) > 1

    async def after_report(self, ctx: Context, number: str, *, asked_place: bool) -> int:
        """Remember the report just filed (follow-ups join it), the question asked, and attach a photo sent just
        before it. Returns how many photos were attached."""
        state = await self.current(ctx)
        attached = 0
        if (
            state is not None
            and state.image_message_id
            and state.image_at is not None
            and ctx.now - as_utc(state.image_at) <= self.windows.photo
        ):
            attached = await self.attach(ctx, number, state.image_message_id, state.image)
        await store.remember(
            ctx.session, room=_room(ctx), sender_id=ctx.actor.id, now=ctx.now, ttl=self._ttl,
            ticket_number=number, ticket_at=ctx.now, question="place" if asked_place else None,
            asked_at=ctx.now if asked_place else None, image=None, image_message_id=None, image_at=None,
        )
        return attached

    async def attach(self, ctx: Context, number: str, message_id: str, path: str | None) -> int:
        t = await repo.get_ticket(ctx.session, number, for_update=True)
        if t is None or t.id is None:
            return 0
        added = await store.attach(ctx.session, ticket_id=t.id, message_id=message_id, kind="image", path=path, now=ctx.now)
        if added:
            repo.add_event(ctx.session, t, action="photo", actor_id=ctx.actor.id, actor_name=ctx.actor.name,
                           note=path or "（渠道未能下载图片）", at=ctx.now)
        return int(added)

    async def photo(self, ctx: Context) -> Outcome:
        """An image: attached to the sender's report of the last few minutes, or kept for the report it shows.
        Nothing is said (a photo is never answered)."""
        state = await self.current(ctx)
        if (
            state is not None
            and state.ticket_number
            and state.ticket_at is not None
            and ctx.now - as_utc(state.ticket_at) <= self.windows.photo
        ):
            await self.attach(ctx, state.ticket_number, ctx.msg.message_id, ctx.msg.media)
            return Outcome(intent="image", ticket_number=state.ticket_number)
        await store.remember(
            ctx.session, room=_room(ctx), sender_id=ctx.actor.id, now=ctx.now, ttl=self._ttl,
            image=ctx.msg.media, image_message_id=ctx.msg.message_id[:200], image_at=ctx.now,
        )
        return Outcome(intent="image")


class ConversationHandler:
    """Answers to the bot's question and follow-ups to one's own last report; passes anything else on."""

    name = "conversation"

    def __init__(self, *, memory: Memory, taxonomy: Taxonomy) -> None:
        self.memory = memory
        self.taxonomy = taxonomy

    async def __call__(self, ctx: Context) -> Outcome | None:
        if ctx.msg.kind == "image":
            return await self.memory.photo(ctx)
        if not ctx.msg.is_text or not ctx.text.strip():
            return None
        state = await self.memory.current(ctx)
        if state is None or not state.ticket_number:
            return None
        w = self.memory.windows
        if state.question == "place" and state.asked_at and ctx.now - as_utc(state.asked_at) <= w.question:
            loc = extract_location(ctx.text, self.memory.all_estates())
            if loc.building or loc.unit or loc.estate:
                return await self._supplement(ctx, state, Detail(loc, ctx.text))
            return None  # something else: the question stays until it expires, and is not asked again
        if state.ticket_at is None or ctx.now - as_utc(state.ticket_at) > w.follow_up:
            return None
        detail = follow_up_detail(ctx.text, self.memory.all_estates())
        if detail is None:
            return None
        if detail.picture and state.image_message_id:
            await self.memory.attach(ctx, state.ticket_number, state.image_message_id, state.image)
        return await self._supplement(ctx, state, detail)

    async def _supplement(self, ctx: Context, state: Remembered, detail: Detail) -> Outcome | None:
        """Fill the ticket's empty place fields from `detail`, note the words, rebuild the summary; one line back."""
        assert state.ticket_number is not None
        t = await repo.get_ticket(ctx.session, state.ticket_number, for_update=True)
        if t is None or t.status not in TicketStatus.OPEN or ctx.actor.id not in (t.reporter_id, t.relay_id):
            return None
        loc = detail.location
        added = _fill(t, loc)
        t.summary = summarize(f"{t.text} {detail.text}", self.taxonomy.name_of(t.category), _location_of(t))[:100]
        t.updated_at = ctx.now
        ctx.session.add(t)
        repo.add_event(ctx.session, t, action="supplement", actor_id=ctx.actor.id, actor_name=ctx.actor.name,
                       note=detail.text[:200], at=ctx.now)
        await store.remember(ctx.session, room=_room(ctx), sender_id=ctx.actor.id, now=ctx.now,
                             ttl=self.memory._ttl, question=None, asked_at=None)
        # What was added, said back in a few words: the place filled in, or the start of what they said.
        what = added or (detail.text if len(detail.text) <= ECHO_CHARS else detail.text[:ECHO_CHARS] + "…")
        log.info("ticket %s supplemented by a follow-up", t.number)
        return Outcome(replies=[Reply.to(ctx.msg, texts.SUPPLEMENTED.format(number=t.number, what=what))],
                       intent="follow_up", ticket_number=t.number)


def _fill(t: Ticket, loc: Location) -> str:
    """Fill what the ticket lacks; returns the place added, in words ("" when it added none)."""
    parts = []
    if loc.estate and not t.estate:
        t.estate = loc.estate
        parts.append(loc.estate)
    if loc.building and not t.building:
        t.building = loc.building
        parts.append(f"{loc.building}栋")
    if loc.unit and not t.unit:
        t.unit = loc.unit
        parts.append(f"{loc.unit}单元")
    return " ".join(parts)


def _location_of(t: Ticket) -> Location:
    return Location(building=t.building, unit=t.unit, estate=t.estate)
