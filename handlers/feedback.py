"""Satisfaction replies: "满意" closes the sender's latest resolved ticket, "不满意" reopens it and tells staff."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from handlers import texts
from handlers.context import Context, Outcome
from handlers.ticket_ops import TicketOps
from handlers.types import Reply
from nlp.entities import ticket_number
from storage import repo
from storage.models import TicketStatus

log = logging.getLogger(__name__)

_NUM = r"(?:(?:工单)?\s*[#＃]?\s*(\d{1,8})\s*(?:号)?)?"
_FEEDBACK = re.compile(
    r"^\s*" + _NUM + r"\s*(非常满意|很满意|满意|不满意|不太满意|很不满意|非常不满意)\s*" + _NUM + r"\s*[。.!！~～]*\s*$"
)


def parse_feedback(text: str) -> tuple[bool, str | None] | None:
    """(satisfied, ticket number or None) for a satisfaction reply; None for anything else."""
    m = _FEEDBACK.match(text)
    if not m:
        return None
    number = m.group(1) or m.group(3)
    return "不" not in m.group(2), ticket_number(number) if number else None


class FeedbackHandler:
    """Matches the reply to the sender's most recent resolved ticket that is waiting for a rating."""

    name = "feedback"

    def __init__(self, *, ops: TicketOps, window_days: int = 30) -> None:
        self.ops = ops
        self.window = timedelta(days=window_days)

    async def __call__(self, ctx: Context) -> Outcome | None:
        parsed = parse_feedback(ctx.text)
        if parsed is None:
            return None
        satisfied, number = parsed
        t = await repo.awaiting_feedback(ctx.session, ctx.actor.id, since=ctx.now - self.window, number=number)
        if t is None:
            return None  # nothing to rate: "满意" is just chat
        if satisfied:
            t.satisfaction = "satisfied"
            repo.set_status(
                ctx.session, t, TicketStatus.CLOSED, actor_id=ctx.actor.id, actor_name=ctx.actor.name,
                action="satisfied", note=ctx.msg.text[:200], now=ctx.now,
            )
            reply = Reply.to(ctx.msg, texts.FEEDBACK_THANKS.format(number=t.number))
            return Outcome(replies=[reply], intent="feedback", ticket_number=t.number)
        t.satisfaction = "unsatisfied"
        await self.ops.reopen(ctx.session, t, actor=ctx.actor, now=ctx.now, action="unsatisfied", note=ctx.msg.text[:200])
        replies = [Reply.to(ctx.msg, texts.FEEDBACK_REOPENED.format(number=t.number))]
        staff_text = texts.FEEDBACK_TO_STAFF.format(
            number=t.number, category=self.ops.taxonomy.name_of(t.category), summary=t.summary
        )
        rooms = await repo.committee_rooms(ctx.session, t.community)
        replies += [Reply(text=staff_text, room_id=r.platform_id) for r in rooms if r.platform_id != ctx.msg.room_id]
        if not rooms:
            log.warning("ticket %s reopened by its reporter, but no committee room is known to tell", t.number)
        log.info("ticket %s reopened: reporter not satisfied", t.number)
        return Outcome(replies=replies, intent="feedback", ticket_number=t.number)
