"""Report intake: a resident's problem becomes a ticket (or joins an open one about the same thing)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.context import Actor, Context, Outcome, RoomInfo
from handlers.limits import Limits, Over, Standing
from handlers.types import Reply
from handlers.workflow import ticket_buttons
from nlp.normalize import normalize
from nlp.similarity import similarity
from nlp.split import group_problems, split_problems, spoken_sentences
from nlp.summary import summarize
from nlp.types import Category, Classification, Taxonomy
from storage import repo
from storage.repo import TicketRow

if TYPE_CHECKING:
    from handlers.candidates import Candidates
    from handlers.conversation import Memory

log = logging.getLogger(__name__)

# Two people in one room with no place named are one problem only in nearly the same words.
NEAR_IDENTICAL = 0.6
RELAYING_ROLES = ("neighbour_leader", "group_leader", "area_leader")
# "报事/反映/报修/投诉 …" said to the bot (an @-mention or a private chat): a report by the sender's own word.
_EXPLICIT = re.compile(r"^\s*[/／]?(报事|报修|反映|投诉|举报|求助|报个事|反映个事|反映一下|报告)\s*[:：,，]?\s*(\S.{2,})$", re.S)


@dataclass(slots=True)
class Filed:
    """What intake did with a report: a new ticket, or one more supporter on an open duplicate."""

    ticket: TicketRow
    duplicate: bool
    counted: bool = True  # for a duplicate: whether this sender was newly counted as a supporter
    category: Category | None = None


def problem_texts(raw: str) -> tuple[list[str], bool]:
    """The normalised problems of a leader's list ("1.… 2.…", one per line, "；", "还有…"), or of a spoken summary
    (then True: kept apart only where the places differ); none when the message tells one problem. The
    dispatcher classifies them before the write transaction, as it does the whole message."""
    pieces = split_problems(raw)
    spoken = len(pieces) < 2
    if spoken:
        pieces = spoken_sentences(raw)
    return ([normalize(p) for p in pieces] if len(pieces) >= 2 else []), spoken


class Intake:
    """Files tickets from any source (chat, staff 登记, the shell) with one numbering and one duplicate check."""

    def __init__(
        self,
        *,
        taxonomy: Taxonomy,
        duplicate_window_days: int = 14,
        duplicate_similarity: float = 0.3,
        urgent_due_hours: int = 24,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.taxonomy = taxonomy
        self.tz = ZoneInfo(timezone)  # the calendar residents read dates on
        self.duplicate_window = timedelta(days=duplicate_window_days)
        self.duplicate_similarity = duplicate_similarity
        self.urgent_due = timedelta(hours=urgent_due_hours)
        self._width: tuple[int, float] | None = None  # ticket number width, and until when it is trusted

    def category(self, code: str | None) -> Category:
        return self.taxonomy.get(code) or self.taxonomy.get("other") or self.taxonomy.categories[-1]

    def due(self, now: datetime, category: Category, urgent: bool) -> datetime:
        return now + (self.urgent_due if urgent else timedelta(days=category.sla_days))

    async def find_duplicate(
        self,
        session: AsyncSession,
        *,
        text: str,
        c: Classification,
        community: str | None,
        now: datetime,
        reporter_id: str | None = None,
        room_id: str | None = None,
        room_estate: str | None = None,
    ) -> TicketRow | None:
        """An open ticket of the same category and place (building or estate) with similar words, within the window.

        A place is the same only within one estate: every estate has a 4栋. The estate is the one named, else the
        one the room serves; where either side's is unknown, only a ticket from the same room can match.
        Without a place: the same sender's ticket about the same thing ("下水道堵死了" twice), or one from the
        same room in nearly the same words (two neighbours telling one problem)."""
        loc = c.location
        estate = loc.estate or room_estate
        if self.duplicate_window <= timedelta(0):
            return None
        if not (loc.building or loc.estate):
            return await self._placeless_duplicate(
                session, text=text, c=c, community=community, now=now, reporter_id=reporter_id, room_id=room_id
            )
        candidates = await repo.duplicate_candidates(
            session,
            category=self.category(c.category).code,
            since=now - self.duplicate_window,
            community=community,
            building=loc.building,
            estate=estate,
        )
        best, best_score = None, self.duplicate_similarity
        for t in candidates:  # same category and building (or, with no building named, the same estate)
            if estate and t.estate:
                if t.estate != estate:
                    continue
            elif room_id is None or t.room_id != room_id:
                continue
            score = max(similarity(text, t.text), similarity(text, t.summary))
            if score >= best_score:
                best, best_score = t, score
        return best

    async def _placeless_duplicate(
        self, session: AsyncSession, *, text: str, c: Classification, community: str | None, now: datetime,
        reporter_id: str | None, room_id: str | None,
    ) -> TicketRow | None:
        candidates = await repo.duplicate_candidates(
            session, category=self.category(c.category).code, since=now - self.duplicate_window,
            community=community, building=None, estate=None,
        )
        best, best_score = None, 0.0
        for t in candidates:
            if t.building or t.estate:
                continue
            score = max(similarity(text, t.text), similarity(text, t.summary))
            mine = reporter_id is not None and reporter_id in (t.reporter_id, t.relay_id)
            same_room = room_id is not None and t.room_id == room_id
            needed = self.duplicate_similarity if mine else NEAR_IDENTICAL if same_room else None
            if needed is not None and score >= needed and score > best_score:
                best, best_score = t, score
        return best

    async def number_width(self, session: AsyncSession) -> int:
        """Digits for a new ticket number; the table's size is read again every few minutes, not per ticket."""
        now = time.monotonic()
        if self._width is None or self._width[1] < now:
            self._width = (repo.number_width(await repo.ticket_count(session)), now + 300)
        return self._width[0]

    async def intake(
        self,
        session: AsyncSession,
        *,
        c: Classification,
        text: str,
        raw_text: str,
        actor: Actor,
        room: RoomInfo,
        room_id: str | None,
        source: str,
        now: datetime,
        inbox_message_id: str | None = None,
        reporter: Actor | None = None,
    ) -> Filed:
        """File `text` as a ticket, or count it on the open ticket it duplicates."""
        who = reporter or actor
        duplicate = await self.find_duplicate(
            session, text=text, c=c, community=room.community, now=now, reporter_id=who.id, room_id=room_id,
            room_estate=room.estate,
        )
        if duplicate is not None:
            who = reporter or actor
            supporters = await repo.add_supporter(
                session, duplicate.id, actor_id=who.id, actor_name=who.name, now=now, room_id=room_id
            )
            if supporters is None:
                return Filed(ticket=duplicate, duplicate=True, counted=False)
            return Filed(ticket=replace(duplicate, supporters=supporters), duplicate=True)
        category = self.category(c.category)
        reporter = reporter or actor
        relay = actor.role in RELAYING_ROLES
        ticket = await repo.insert_ticket(
            session,
            width=await self.number_width(session),
            category=category.code,
            summary=summarize(text, category.name, c.location)[:100],
            text=raw_text[:20000],
            # "4栋" said in 松涛里's group is 松涛里's 4栋.
            estate=c.location.estate or (room.estate if c.location.building else None),
            building=c.location.building,
            unit=c.location.unit,
            room_no=c.location.room,
            community=room.community,
            area=room.area,
            grp=room.grp,
            reporter_id=reporter.id,
            reporter_name=reporter.name,
            relay_id=actor.id if relay else None,
            relay_name=actor.name if relay else None,
            room_id=room_id,
            source=source,
            urgent=c.urgent,
            due_at=self.due(now, category, c.urgent),
            stage=c.stage,
            confidence=round(c.confidence, 3),
            inbox_message_id=inbox_message_id,
            created_at=now,
            updated_at=now,
        )
        await repo.insert_event(
            session,
            ticket_id=ticket.id,
            action="created",
            actor_id=actor.id,
            actor_name=actor.name,
            at=now,
            to_status=ticket.status,
            note=f"{source} {c.stage} {c.confidence:.2f}",
        )
        log.info("filed ticket %s (%s, %s, %s %.2f)", ticket.number, category.code, source, c.stage, c.confidence)
        return Filed(ticket=ticket, duplicate=False, category=category)

    async def committee_alert(
        self,
        session: AsyncSession,
        ticket: TicketRow,
        *,
        origin: str,
        reporter: str,
        exclude_room_id: str | None,
        buttons: bool = False,
        urgent: bool = True,
    ) -> list[Reply]:
        """The urgent push: every committee room of the ticket's community, at once (never held). With
        `buttons` (a channel that has them), with 签收 / 派单 / 办结 under it, also for a ticket not urgent."""
        where = " ".join(p for p in (ticket.estate, _place(ticket)) if p and p not in ticket.summary)
        name = self.taxonomy.name_of(ticket.category)
        text = (texts.urgent_alert if urgent else texts.new_ticket)(
            ticket.number, name, where, ticket.summary, origin, reporter
        )
        keys = ticket_buttons(ticket.number) if buttons else ()
        rooms = await repo.committee_rooms(session, ticket.community)
        out = [
            Reply(text=text, room_id=r.platform_id, urgent=urgent, buttons=keys)
            for r in rooms
            if r.platform_id != exclude_room_id
        ]
        if not out:
            log.warning("urgent ticket %s: no committee room known for %s yet", ticket.number, ticket.community)
        return out


def _ack_item(filed: Filed, name: str, place: str) -> str:
    t = filed.ticket
    if filed.duplicate:
        return texts.ACK_ITEM_DUPLICATE.format(number=t.number, supporters=t.supporters)
    return texts.ACK_ITEM.format(number=t.number, category=name, where=f"｜{place}" if place else "")


def _place(t: TicketRow) -> str:
    place = f"{t.building}栋" if t.building else ""
    if t.building and t.unit:
        place += f"{t.unit}单元"
    return place


class ReportHandler:
    name = "report"

    def __init__(
        self,
        *,
        intake: Intake,
        candidates: Candidates,
        ack: bool = True,
        limits: Limits | None = None,
        memory: Memory | None = None,
    ) -> None:
        self.intake = intake
        self.candidates = candidates
        self.limits = limits
        self.memory = memory
        self.ack = ack

    def files_at_once(self, ctx: Context, c: Classification) -> bool:
        """Whether a report is filed now or held for staff review (待确认).

        The classifier's decision, made firmer by who is speaking: a message addressed to the bot (an
        @-mention, a private chat) is a report by the sender's intent, and a leader relaying a problem clearly
        about something (Evidence.core) is doing exactly what the groups are for. An urgent report (offline
        urgency evidence: someone trapped, gas, fire) is filed and pushed at once whatever the doubt.
        """
        if c.decision == "ticket" or c.urgent:  # danger to people now is never left waiting for review
            return True
        if ctx.mentioned or ctx.msg.is_private:
            return True
        return ctx.actor.role in RELAYING_ROLES and c.core

    async def __call__(self, ctx: Context) -> Outcome | None:
        if not ctx.msg.is_text or not ctx.text.strip():
            return None
        if (ctx.actor.is_staff and ctx.room.is_committee) or (ctx.actor.units and not ctx.actor.is_staff):
            # Staff talk about tickets in their own room ("3799那边物业说明天去"), and those who act for a unit
            # (物业, 水务) talk about the work dispatched to them; they file with 登记.
            return None
        c = await ctx.classification()
        explicit = (ctx.mentioned or ctx.msg.is_private) and _EXPLICIT.match(ctx.text)
        if c.intent != "report":
            if not explicit:
                return None
            c = replace(c, intent="report", decision="ticket", category=self.intake.category(c.category).code)
        if not explicit and not self.files_at_once(ctx, c):
            return await self.candidates.hold(ctx, c)
        standing = await self._standing(ctx)
        if standing.tickets is not None:
            return await self.hold_over_limit(ctx, c, standing.tickets)
        problems = await self._problems(ctx)
        if len(problems) >= 2:
            return await self._file_many(ctx, problems, push=standing.urgent is None)
        filed = await self._file(ctx, c, ctx.text, ctx.msg.text)
        t = filed.ticket
        if filed.duplicate:
            status = texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of)
            text = texts.duplicate_report(t.number, status, t.supporters, counted=filed.counted)
            return Outcome(replies=[Reply.to(ctx.msg, text)], intent="report", ticket_number=t.number)
        category_name = filed.category.name if filed.category else t.category
        place = c.location.describe()
        replies: list[Reply] = []
        if c.urgent and standing.urgent is not None:
            # Filed as urgent, but not pushed: this sender or room has raised the alarm too often today.
            replies.append(Reply.to(ctx.msg, texts.ack(t.number, category_name, place, t.due_at, self.intake.tz)))
            replies += await self._tell_staff(ctx, standing.urgent)
        elif c.urgent:
            replies.append(Reply.to(ctx.msg, texts.ack_urgent(t.number, category_name, place)))
            replies.extend(await self._push(ctx, t))
        elif self.ack:
            replies.append(Reply.to(ctx.msg, texts.ack(t.number, category_name, place, t.due_at, self.intake.tz)))
        if not c.urgent and ctx.channel.buttons:  # staff act on it from the card: 签收 / 派单 / 办结
            replies.extend(await self._push(ctx, t, urgent=False))
        if self.memory is not None:
            ask = bool(replies) and not c.urgent and self.memory.should_ask_place(ctx, c.location)
            if ask:
                replies[0] = replace(replies[0], text=f"{replies[0].text}{texts.ASK_PLACE}")
            await self.memory.after_report(ctx, t.number, asked_place=ask)
        return Outcome(replies=replies, intent="report", ticket_number=t.number)

    async def _file(self, ctx: Context, c: Classification, text: str, raw_text: str) -> Filed:
        return await self.intake.intake(
            ctx.session,
            c=c,
            text=text,
            raw_text=raw_text,
            actor=ctx.actor,
            room=ctx.room,
            room_id=ctx.msg.room_id,
            source=ctx.channel.source,
            now=ctx.now,
            inbox_message_id=ctx.msg.message_id,
        )

    async def _push(self, ctx: Context, t: TicketRow, *, urgent: bool = True) -> list[Reply]:
        """The push to the committee rooms (not back into the room it came from): urgent ones always, and
        every new one where the channel has buttons to act on it."""
        return await self.intake.committee_alert(
            ctx.session, t, origin=ctx.msg.room_topic or "私聊", reporter=ctx.actor.name,
            exclude_room_id=ctx.msg.room_id, buttons=ctx.channel.buttons, urgent=urgent,
        )

    async def _problems(self, ctx: Context) -> list[tuple[str, Classification]]:
        """The separate problems of a leader's list ("1.… 2.…", one per line, "；", "还有…"), each classified on
        its own; one entry (or none) when the message tells one problem."""
        pieces, spoken = problem_texts(ctx.raw or ctx.msg.text)
        if not pieces:
            return []
        classified = [(text, await ctx.classify_fn(text)) for text in pieces]
        groups = group_problems(classified)
        if spoken:
            places = {c.location.building or c.location.estate for _, c in groups}
            if len(groups) < 2 or None in places or len(places) < len(groups):
                return []
        return groups

    async def _file_many(self, ctx: Context, problems: list[tuple[str, Classification]], *, push: bool) -> Outcome:
        """One ticket per problem, and one short reply listing them; urgent ones are pushed as usual."""
        items: list[str] = []
        replies: list[Reply] = []
        numbers: list[str] = []
        for text, c in problems:
            filed = await self._file(ctx, replace(c, intent="report", decision="ticket"), text, text)
            t = filed.ticket
            numbers.append(t.number)
            name = filed.category.name if filed.category else self.intake.taxonomy.name_of(t.category)
            items.append(_ack_item(filed, name, c.location.describe()))
            if c.urgent and push and not filed.duplicate:
                replies.extend(await self._push(ctx, t))
            elif not c.urgent and ctx.channel.buttons and not filed.duplicate:
                replies.extend(await self._push(ctx, t, urgent=False))
        if self.ack or any(c.urgent for _, c in problems):
            replies.insert(0, Reply.to(ctx.msg, texts.ack_many(items)))
        return Outcome(replies=replies, intent="report", ticket_number=numbers[0])

    async def _standing(self, ctx: Context) -> Standing:
        if self.limits is None or ctx.actor.is_staff:
            return Standing()
        return await self.limits.standing(ctx.session, sender_id=ctx.actor.id, room_id=ctx.msg.room_id, now=ctx.now)

    async def hold_over_limit(self, ctx: Context, c: Classification, over: Over) -> Outcome:
        """A report beyond its sender's or room's ticket limit: not filed, no reply in the group, held for staff
        review (工单 待确认) like any doubtful report, with intent "limited" in the inbox; staff are told once a
        day."""
        log.info("report %s not filed: %s limit for %s reached (%s)", ctx.msg.message_id, over.what, over.scope, over.window)
        await self.candidates.hold(ctx, c)
        return Outcome(replies=await self._tell_staff(ctx, over), intent="limited")

    async def _tell_staff(self, ctx: Context, over: Over) -> list[Reply]:
        assert self.limits is not None
        who = ctx.actor.id if over.scope == "sender" else (ctx.msg.room_id or "")
        if not self.limits.first_time(over, who):
            return []
        text = texts.limit_notice(over.what, over.scope, over.window, over.count, ctx.actor.name, ctx.msg.room_topic or "私聊")
        rooms = await repo.committee_rooms(ctx.session, ctx.room.community)
        return [Reply(text=text, room_id=r.platform_id) for r in rooms]
