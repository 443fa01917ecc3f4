"""Satisfaction replies: "满意👍" / "还行" close the sender's ticket waiting for a rating, "不满意，还是在冒水" reopens
it with the reason and tells staff. Only a ticket awaiting this person's rating is touched: otherwise "满意" is
chat."""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers import texts
from handlers.context import Context, Outcome
from handlers.ticket_ops import TicketOps
from handlers.types import Reply
from nlp.conversation import parse_rating
from nlp.entities import ticket_number
from storage import repo
from storage.models import TicketStatus

log = logging.getLogger(__name__)

FEEDBACK_WINDOW_DAYS = 30  # a rating counts this long after 办结; 回访 asks within it

class FeedbackHandler:
    """Matches the reply to the sender's most recent resolved ticket that is waiting for a rating."""

    name = "feedback"

    def __init__(self, *, ops: TicketOps, window_days: int = FEEDBACK_WINDOW_DAYS) -> None:
        self.ops = ops
        self.window = timedelta(days=window_days)

    async def __call__(self, ctx: Context) -> Outcome | None:
        if not ctx.msg.is_text:
            return None
        rating = parse_rating(ctx.text)
        if rating is None:
            return None
        number = ticket_number(rating.number) if rating.number else None
        t = await repo.awaiting_feedback(ctx.session, ctx.actor.id, since=ctx.now - self.window, number=number)
        if t is None:
            return None  # nothing to rate: "满意" is just chat
        note = rating.reason[:200] or None
        if rating.verdict in ("satisfied", "basic"):
            t.satisfaction = rating.verdict
            repo.set_status(
                ctx.session, t, TicketStatus.CLOSED, actor_id=ctx.actor.id, actor_name=ctx.actor.name,
                action=rating.verdict, note=note, now=ctx.now,
            )
            reply = Reply.to(ctx.msg, texts.FEEDBACK_THANKS.format(number=t.number))
            return Outcome(replies=[reply], intent="feedback", ticket_number=t.number)
        t.satisfaction = "unsatisfied"
        await self.ops.reopen(ctx.session, t, actor=ctx.actor, now=ctx.now, action="unsatisfied", note=note)
        replies = [Reply.to(ctx.msg, texts.FEEDBACK_REOPENED.format(number=t.number))]
        staff_text = texts.FEEDBACK_TO_STAFF.format(
            number=t.number, category=self.ops.taxonomy.name_of(t.category), summary=t.summary
        ) + (texts.FEEDBACK_REASON.format(reason=self.ops.notifier.public.text(note)) if note else "")
        rooms = await repo.committee_rooms(ctx.session, t.community)
        replies += [Reply(text=staff_text, room_id=r.platform_id) for r in rooms if r.platform_id != ctx.msg.room_id]
        if not rooms:
            log.warning("ticket %s reopened by its reporter, but no committee room is known to tell", t.number)
        log.info("ticket %s reopened: reporter not satisfied", t.number)
        return Outcome(replies=replies, intent="feedback", ticket_number=t.number)
