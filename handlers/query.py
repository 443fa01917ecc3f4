"""Status queries: by ticket number, "我的工单", or by what the asker reported before; scoped to who is asking.

A ticket's detail (place, summary, history, the reply staff marked for the resident) goes to its reporter, the
leader who relayed it, the people counted behind it and the staff of its community. A member of the room it
was filed in learns its status in a word (the acknowledgement was posted there). Anyone else gets the same
words as for a number that does not exist, so trying numbers reveals nothing.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from handlers import texts
from handlers.context import Context, Outcome
from handlers.notify import ForResidents
from handlers.types import Reply
from nlp.entities import extract_ticket_numbers
from nlp.privacy import Privacy
from nlp.similarity import best_match
from nlp.types import Taxonomy
from storage import repo
from storage.models import as_utc
from storage.repo import TicketRow

_MINE = re.compile(r"^\s*(我的工单|我的单子|我报的|我反映的(事|问题)?)\s*[?？]?\s*$")
_OWN_REPORT = re.compile(r"(我|我们|俺|我家)[^,.!?，。！？]{0,6}(反映|报修|报|投诉|登记|提)(的|过)")
_EXPLICIT = re.compile(r"^\s*(查询|查|进度|状态)\s*(工单|单号)?\s*#?\s*\d{1,8}")
_NOTE_ACTIONS = ("resolve", "reject", "start", "assign", "reopen")
_HISTORY_STEPS = 6


class QueryHandler:
    name = "query"

    def __init__(
        self, *, taxonomy: Taxonomy, privacy: Privacy | None = None, timezone: str = "Asia/Shanghai", max_listed: int = 5
    ) -> None:
        self.taxonomy = taxonomy
        self.public = ForResidents(privacy or Privacy())
        self.tz = ZoneInfo(timezone)
        self.max_listed = max_listed

    async def __call__(self, ctx: Context) -> Outcome | None:
        if ctx.msg.kind != "text" or not ctx.text.strip():
            return None
        if _MINE.match(ctx.text):
            return await self._mine(ctx)
        numbers: tuple[str, ...] = ()
        if _EXPLICIT.match(ctx.text):
            numbers = extract_ticket_numbers(ctx.text)
        if not numbers:
            c = await ctx.classification()
            if c.intent != "query":
                return None
            numbers = c.ticket_numbers
        if numbers:
            lines = [await self._describe(ctx, n) for n in numbers[: self.max_listed]]
            return Outcome(replies=[Reply.to(ctx.msg, "\n".join(lines))], intent="query")
        return await self._by_content(ctx)

    async def _describe(self, ctx: Context, number: str) -> str:
        ticket = await repo.ticket_row(ctx.session, number)
        access = await self._access(ctx, ticket) if ticket is not None else "none"
        if ticket is None or access == "none":
            return texts.no_such_ticket(number)  # the same words either way: a guess learns nothing
        if access == "status":
            return texts.status_in_a_word(ticket.number, ticket.status)
        return await self._status_line(ctx, ticket)

    async def _access(self, ctx: Context, t: TicketRow) -> str:
        """ "detail", "status" or "none": what the asker may learn about `t`."""
        who = ctx.actor
        if who.may_handle(t.community) or who.id in (t.reporter_id, t.relay_id):
            return "detail"
        if await repo.is_supporter(ctx.session, t.id, who.id):
            return "detail"
        if ctx.msg.room_id is not None and ctx.msg.room_id == t.room_id:
            return "status"
        return "none"

    async def _status_line(self, ctx: Context, t: TicketRow) -> str:
        events = await repo.ticket_events(ctx.session, t)
        replies = [self.public.reply(e.note) for e in events if e.note and e.action in _NOTE_ACTIONS]
        replies = [r for r in replies if r]
        steps = [e for e in events if e.action in texts.HISTORY_ACTIONS][-_HISTORY_STEPS:]
        history = [(as_utc(e.at).astimezone(self.tz), e.action) for e in steps]
        place = " ".join(p for p in (t.estate, f"{t.building}栋" if t.building else "") if p)
        return texts.ticket_status(
            t.number,
            self.taxonomy.name_of(t.category),
            self.public.text(t.summary),
            t.status,
            assignee=self.public.assignee(t.assignee),
            duplicate_of=t.duplicate_of,
            created=t.created_at,
            due=t.due_at,
            last_note=replies[-1] if replies else None,
            place=place,
            history=history,
        )

    async def _mine(self, ctx: Context) -> Outcome:
        tickets = await repo.tickets_by_reporter(ctx.session, ctx.actor.id, limit=self.max_listed)
        lines = [texts.my_tickets_header(len(tickets))]
        lines += [
            texts.my_ticket_line(t.number, self.public.text(t.summary), t.status, self.public.assignee(t.assignee))
            for t in tickets
        ]
        return Outcome(replies=[Reply.to(ctx.msg, "\n".join(lines))], intent="query")

    async def _by_content(self, ctx: Context) -> Outcome:
        tickets = await repo.tickets_by_reporter(ctx.session, ctx.actor.id, limit=20)
        if not tickets and not ctx.msg.is_private and not _OWN_REPORT.search(ctx.text):
            # "你上次说的那个事情怎么样了" from someone who never reported anything is not about a ticket: in a
            # group, silence rather than a reply nobody asked for. ("我上次反映的…" is answered.)
            return Outcome(intent="query")
        key = best_match(ctx.text, [(t.number, f"{t.summary} {t.text}") for t in tickets], threshold=0.1)
        if key is None and len(tickets) == 1:
            key = tickets[0].number
        if key is None:
            return Outcome(replies=[Reply.to(ctx.msg, texts.NO_MATCH_QUERY)], intent="query")
        ticket = next(t for t in tickets if t.number == key)
        return Outcome(replies=[Reply.to(ctx.msg, await self._status_line(ctx, ticket))], intent="query")
