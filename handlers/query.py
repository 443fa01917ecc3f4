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
from handlers.workflow import standing
from nlp.entities import extract_ticket_numbers, ticket_number
from nlp.privacy import Privacy
from nlp.similarity import best_match
from nlp.types import Taxonomy
from storage import repo
from storage.models import TicketStatus, as_utc
from storage.repo import TicketRow

_MINE = re.compile(
    r"^\s*(我的工单|我的单子|我报的|我反映的(事|问题)?|查询|查一下|查进度|进度|工单进度|我的进度)\s*[?？]?\s*$"
)
# A number asked about: "1660修好了没", "5594有进展吗", "4115 进度", "问下1259的进度", "跟进下 1733 号".
_NUMBER = re.compile(r"(?<![\d.\-:/])([1-9]\d{2,5})(?![\d.\-:/年月日点栋幢楼单元室号房块元岁斤米])(?:\s*号(?![楼房]))?")
_ASKS = re.compile(
    r"(进度|进展|修好|好了没|好了吗|弄好|搞好|处理|怎么样|么样|什么情况|啥情况|催|查|跟进|到哪|结果|有人|回音|下文|"
    r"还没|还冇|没有|冇|吗|呢|[?？])"
)
# A question about one's own report in loose words: "灯的事有进展吗", "下水道的事呢？", "那个垃圾桶的事怎么说".
_ABOUT = re.compile(
    r"(?:那个|这个|我的|我那个|上次|之前|上次报的|之前报的|我报的|我反映的)?\s*"
    r"(?P<thing>[\u4e00-\u9fa5]{1,8}?)(?:的事情?|那个事|那件事|的单子|那个单子)"
    r"[^,.!?，。！？]{0,8}(?:呢|怎么说|怎么样|咋样|么样|如何|有进展|进展|进度|(?:处理|解决|修|弄|搞|好)了(?:吗|没|冇)|"
    r"有人管(?:吗|没)|[?？]\s*$)"
)
# A bare progress question ("有进展吗", "修好了没", "什么时候来修"): about the asker's open ticket(s).
_LOOSE = re.compile(
    r"^\s*(现在)?(有进展|有进展了|进展如何|怎么样了|咋样了|么样了|修好了|弄好了|处理了|解决了|有消息|有下文|有回音|"
    r"什么时候来修|么时候来修|啥时候来修|还要等多久|到哪一步了)(吗|没|冇|没有|了吗|了没|呢)?\s*[?？]*\s*$"
)
ABOUT_MAX = 30  # characters: a longer message naming "…的事" is telling, not asking
_LEAD = re.compile(r"^(那个|这个|我的|我那个|上次|之前|上次报的|之前报的|我报的|我反映的|报的|反映的)+")
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
        if not ctx.msg.is_text or not ctx.text.strip():
            return None
        if _MINE.match(ctx.text):
            return await self._mine(ctx)
        numbers: tuple[str, ...] = ()
        if _EXPLICIT.match(ctx.text):
            numbers = extract_ticket_numbers(ctx.text)
        if not numbers:
            numbers = await self._asked_numbers(ctx)
        about = _ABOUT.search(ctx.text) if len(ctx.text) <= ABOUT_MAX else None
        if not numbers and about is None and _LOOSE.match(ctx.text):
            return await self._by_content(ctx)
        if not numbers and about is None:
            c = await ctx.classification()
            if c.intent != "query":
                return None
            numbers = c.ticket_numbers
        if numbers:
            lines = [await self._describe(ctx, n) for n in numbers[: self.max_listed]]
            return Outcome(replies=[Reply.to(ctx.msg, "\n".join(lines))], intent="query")
        thing = _LEAD.sub("", about.group("thing")) if about is not None else None
        return await self._by_content(ctx, thing=thing)

    async def _asked_numbers(self, ctx: Context) -> tuple[str, ...]:
        """Bare numbers asked about ("1660修好了没"): those that are tickets, or all of them in a short message
        that only asks (then "没有找到工单 #…" is the honest answer); a room or a price is not asked about."""
        text = ctx.text
        found = [ticket_number(m.group(1)) for m in _NUMBER.finditer(text)]
        if not found or not _ASKS.search(text) or len(text) > 40:
            return ()
        existing = [n for n in found if await repo.ticket_row(ctx.session, n) is not None]
        if existing:
            return tuple(dict.fromkeys(existing))
        rest = _NUMBER.sub("", text)
        return tuple(dict.fromkeys(found)) if len(rest) <= 12 else ()

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
        events = standing(list(await repo.ticket_events(ctx.session, t)))  # not a step taken back (撤回)
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
            zone=self.tz,
        )

    async def _mine(self, ctx: Context) -> Outcome:
        tickets = await repo.tickets_by_reporter(ctx.session, ctx.actor.id, limit=self.max_listed)
        lines = [texts.my_tickets_header(len(tickets))]
        lines += [
            texts.my_ticket_line(
                t.number, self.public.text(t.summary), t.status, self.public.assignee(t.assignee), t.duplicate_of
            )
            for t in tickets
        ]
        return Outcome(replies=[Reply.to(ctx.msg, "\n".join(lines))], intent="query")

    async def _by_content(self, ctx: Context, *, thing: str | None = None) -> Outcome:
        """The asker's own ticket the question is about: by the thing named ("灯的事"), by the words, preferring
        open tickets; the only open one when nothing is named; the list when it could be several."""
        tickets = await repo.tickets_by_reporter(ctx.session, ctx.actor.id, limit=20)
        if not tickets and not ctx.msg.is_private and not _OWN_REPORT.search(ctx.text):
            # "你上次说的那个事情怎么样了" from someone who never reported anything is not about a ticket: in a
            # group, silence rather than a reply nobody asked for. ("我上次反映的…" is answered.)
            return Outcome(intent="query")
        open_ = [t for t in tickets if t.status in TicketStatus.OPEN]
        chosen = _by_thing(thing, open_) or _by_thing(thing, tickets) if thing else []
        if not chosen and not thing:
            key = best_match(ctx.text, [(t.number, f"{t.summary} {t.text}") for t in open_ or tickets], threshold=0.1)
            chosen = [t for t in tickets if t.number == key]
        if not chosen and not thing and len(open_) == 1:
            chosen = open_
        if len(chosen) == 1:
            return Outcome(replies=[Reply.to(ctx.msg, await self._status_line(ctx, chosen[0]))], intent="query")
        several = chosen or (open_ if not thing else [])
        if len(several) > 1:
            lines = [texts.WHICH_TICKET.format(n=len(several))]
            lines += [
                texts.my_ticket_line(
                    t.number, self.public.text(t.summary), t.status, self.public.assignee(t.assignee), t.duplicate_of
                )
                for t in several[: self.max_listed]
            ]
            return Outcome(replies=[Reply.to(ctx.msg, "\n".join(lines))], intent="query")
        return Outcome(replies=[Reply.to(ctx.msg, texts.NO_MATCH_QUERY)], intent="query")


def _by_thing(thing: str | None, tickets: list[TicketRow]) -> list[TicketRow]:
    """Tickets whose words name `thing` ("灯" finds 楼道灯损坏), or its last two characters."""
    if not thing:
        return []
    keys = [thing, thing[-2:]] if len(thing) >= 3 else [thing]  # "下水道" may be "水道"; never one character of it
    for key in dict.fromkeys(keys):
        hits = [t for t in tickets if key and (key in t.text or key in t.summary)]
        if hits:
            return hits
    return []
