"""Status queries: by ticket number, "我的工单", or by what the asker reported before."""

from __future__ import annotations

import re

from handlers import texts
from handlers.context import Context, Outcome
from handlers.types import Reply
from nlp.entities import extract_ticket_numbers
from nlp.similarity import best_match
from nlp.types import Taxonomy
from storage import repo
from storage.repo import TicketRow

_MINE = re.compile(r"^\s*(我的工单|我的单子|我报的|我反映的(事|问题)?)\s*[?？]?\s*$")
_OWN_REPORT = re.compile(r"(我|我们|俺|我家)[^,.!?，。！？]{0,6}(反映|报修|报|投诉|登记|提)(的|过)")
_EXPLICIT = re.compile(r"^\s*(查询|查|进度|状态)\s*(工单|单号)?\s*#?\s*\d{1,8}")

# What a query reply may say about a note: never a phone number or a room number.
_PRIVATE = re.compile(r"1[3-9]\d{9}|\d{3,4}-?\d{7,8}|\d{1,3}-\d{1,2}-\d{3,4}|\d{3,4}室|\d{3,4}号房")


def _public(note: str | None) -> str | None:
    return _PRIVATE.sub("***", note) if note else note


class QueryHandler:
    name = "query"

    def __init__(self, *, taxonomy: Taxonomy, max_listed: int = 5) -> None:
        self.taxonomy = taxonomy
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
        if ticket is None:
            return texts.no_such_ticket(number)
        return await self._status_line(ctx, ticket)

    async def _status_line(self, ctx: Context, t: TicketRow) -> str:
        events = await repo.ticket_events(ctx.session, t)
        notes = [e.note for e in events if e.note and e.action in ("resolve", "reject", "start", "assign", "reopen")]
        return texts.ticket_status(
            t.number,
            self.taxonomy.name_of(t.category),
            t.summary,
            t.status,
            assignee=t.assignee,
            duplicate_of=t.duplicate_of,
            created=t.created_at,
            due=t.due_at,
            last_note=_public(notes[-1]) if notes else None,
        )

    async def _mine(self, ctx: Context) -> Outcome:
        tickets = await repo.tickets_by_reporter(ctx.session, ctx.actor.id, limit=self.max_listed)
        lines = [texts.my_tickets_header(len(tickets))]
        lines += [texts.my_ticket_line(t.number, t.summary, t.status, t.assignee) for t in tickets]
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
