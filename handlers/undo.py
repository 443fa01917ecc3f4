"""Undo within a short window: the reporter takes back a wrong filing ("撤销 3810"); staff, or a unit, take back
their own last step on a ticket ("撤回 3810": a mistaken 办结 or 派单)."""

from __future__ import annotations

import re
from datetime import timedelta

from handlers import texts
from handlers.context import Context, Outcome
from handlers.ticket_ops import OpError, TicketOps
from handlers.types import Reply
from nlp.entities import ticket_number
from storage import repo
from storage.models import TicketStatus, as_utc

_UNDO = re.compile(r"^\s*(撤销|撤回|取消)\s*(工单)?\s*(#?\s*(\d{1,8}))?\s*$")
# "3810撤回", "3810号撤销一下": the number first
_UNDO_AFTER = re.compile(r"^\s*(?:工单)?\s*[#＃]?\s*(\d{1,8})\s*号?\s*(?:撤销|撤回)(?:一下|吧)?\s*$")


class UndoHandler:
    name = "undo"

    def __init__(self, *, window_minutes: int, ops: TicketOps | None = None) -> None:
        self.window = timedelta(minutes=window_minutes)
        self.minutes = window_minutes
        self.ops = ops

    async def __call__(self, ctx: Context) -> Outcome | None:
        m = _UNDO.match(ctx.text)
        after = None if m else _UNDO_AFTER.match(ctx.text)
        if not m and not after:
            return None
        raw = after.group(1) if after else m.group(4) if m else None
        if not raw:
            return Outcome(replies=[Reply.to(ctx.msg, texts.UNDO_USAGE)], intent="chat")
        number = ticket_number(raw)
        ticket = await repo.get_ticket(ctx.session, number, for_update=True)
        if ticket is None:
            return Outcome(replies=[Reply.to(ctx.msg, texts.no_such_ticket(number))], intent="chat")
        own_filing = ticket.reporter_id == ctx.actor.id and ticket.status == TicketStatus.NEW
        if ctx.actor.works_tickets and self.ops is not None and not own_filing:
            try:
                change = await self.ops.undo(ctx.session, number, actor=ctx.actor, now=ctx.now, window=self.window)
            except OpError as exc:
                return Outcome(replies=[Reply.to(ctx.msg, str(exc))], intent="command", ticket_number=number)
            return Outcome(
                replies=[Reply.to(ctx.msg, change.confirmation), *change.notices], intent="command",
                ticket_number=number,
            )
        if ticket.reporter_id != ctx.actor.id:
            # The same words as for a number that does not exist: trying numbers must not tell which do.
            return Outcome(replies=[Reply.to(ctx.msg, texts.no_such_ticket(number))], intent="chat")
        created = as_utc(ticket.created_at)
        if ticket.status != TicketStatus.NEW or ctx.now - created > self.window:
            text = texts.UNDO_TOO_LATE.format(number=number, minutes=self.minutes)
            return Outcome(replies=[Reply.to(ctx.msg, text)], intent="chat")
        repo.set_status(
            ctx.session,
            ticket,
            TicketStatus.WITHDRAWN,
            actor_id=ctx.actor.id,
            actor_name=ctx.actor.name,
            action="withdraw",
            note="报告人撤销",
            now=ctx.now,
        )
        return Outcome(replies=[Reply.to(ctx.msg, texts.UNDO_DONE.format(number=number))], intent="chat")
