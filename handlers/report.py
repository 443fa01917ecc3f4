"""Report intake: a resident's problem becomes a ticket (or joins an open one about the same thing)."""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers import texts
from handlers.context import Context, Outcome
from handlers.types import Reply
from nlp.similarity import similarity
from nlp.summary import summarize
from nlp.types import Classification, Taxonomy
from storage import repo
from storage.models import Ticket

log = logging.getLogger(__name__)


class ReportHandler:
    name = "report"

    def __init__(
        self,
        *,
        taxonomy: Taxonomy,
        duplicate_window_days: int = 14,
        duplicate_similarity: float = 0.3,
        ack: bool = True,
        urgent_due_hours: int = 24,
    ) -> None:
        self.taxonomy = taxonomy
        self.duplicate_window = timedelta(days=duplicate_window_days)
        self.duplicate_similarity = duplicate_similarity
        self.ack = ack
        self.urgent_due = timedelta(hours=urgent_due_hours)

    async def __call__(self, ctx: Context) -> Outcome | None:
        if ctx.msg.kind != "text" or not ctx.text.strip():
            return None
        c = await ctx.classification()
        if c.intent != "report":
            return None
        duplicate = await self._find_duplicate(ctx, c)
        if duplicate is not None:
            return await self._support(ctx, duplicate)
        return await self._file(ctx, c)

    async def _find_duplicate(self, ctx: Context, c: Classification) -> Ticket | None:
        """An open ticket of the same category and place with similar words, within the window."""
        loc = c.location
        if not (loc.building or loc.estate):
            return None
        candidates = await repo.open_tickets(
            ctx.session, category=c.category, since=ctx.now - self.duplicate_window, community=ctx.room.community
        )
        best, best_score = None, self.duplicate_similarity
        for t in candidates:
            if loc.building and t.building != loc.building:
                continue
            if loc.estate and t.estate and t.estate != loc.estate:
                continue
            score = similarity(ctx.text, t.text)
            if score >= best_score:
                best, best_score = t, score
        return best

    async def _support(self, ctx: Context, ticket: Ticket) -> Outcome:
        ticket.supporters += 1
        ticket.updated_at = ctx.now
        ctx.session.add(ticket)
        repo.add_event(
            ctx.session, ticket, action="support", actor_id=ctx.actor.id, actor_name=ctx.actor.name, note=None
        )
        text = (
            f"这件事已经有人反映过了，是工单 #{ticket.number}"
            f"（{texts.status_words(ticket.status, assignee=ticket.assignee)}），已给您记上一笔，"
            f"目前共 {ticket.supporters} 人反映。发“查询 {ticket.number}”可看进度。"
        )
        return Outcome(replies=[Reply.to(ctx.msg, text)], intent="report", ticket_number=ticket.number)

    async def _file(self, ctx: Context, c: Classification) -> Outcome:
        category = self.taxonomy.get(c.category) or self.taxonomy.get("other") or self.taxonomy.categories[-1]
        due = ctx.now + (self.urgent_due if c.urgent else timedelta(days=category.sla_days))
        summary = summarize(ctx.text, category.name, c.location)
        relay = ctx.actor.role in ("neighbour_leader", "group_leader", "area_leader")
        ticket = await repo.create_ticket(
            ctx.session,
            category=category.code,
            summary=summary[:100],
            text=ctx.msg.text[:20000],
            estate=c.location.estate,
            building=c.location.building,
            unit=c.location.unit,
            room_no=c.location.room,
            community=ctx.room.community,
            area=ctx.room.area,
            grp=ctx.room.grp,
            reporter_id=ctx.actor.id,
            reporter_name=ctx.actor.name,
            relay_id=ctx.actor.id if relay else None,
            relay_name=ctx.actor.name if relay else None,
            room_id=ctx.msg.room_id,
            source="wechat",
            urgent=c.urgent,
            due_at=due,
            stage=c.stage,
            confidence=round(c.confidence, 3),
            inbox_message_id=ctx.msg.message_id,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        repo.add_event(
            ctx.session,
            ticket,
            action="created",
            actor_id=ctx.actor.id,
            actor_name=ctx.actor.name,
            to_status=ticket.status,
            note=f"{c.stage} {c.confidence:.2f}",
        )
        place = c.location.describe()
        replies: list[Reply] = []
        if c.urgent:
            replies.append(Reply.to(ctx.msg, texts.ack_urgent(ticket.number, category.name, place)))
            replies.extend(await self._alert_committee(ctx, ticket, category.name, place))
        elif self.ack:
            replies.append(Reply.to(ctx.msg, texts.ack(ticket.number, category.name, place, due)))
        log.info("filed ticket %s (%s, %s %.2f)", ticket.number, category.code, c.stage, c.confidence)
        return Outcome(replies=replies, intent="report", ticket_number=ticket.number)

    async def _alert_committee(self, ctx: Context, ticket: Ticket, category_name: str, place: str) -> list[Reply]:
        rooms = await repo.rooms_of_kind(ctx.session, "committee")
        where = place or ctx.room.community
        origin = ctx.msg.room_topic or "私聊"
        text = (
            f"【紧急】工单 #{ticket.number}（{category_name}）{where}：{ticket.summary}。"
            f"来自“{origin}”的{ctx.actor.name}，请立即处理。"
        )
        return [
            Reply(text=text, room_id=r.platform_id, urgent=True)
            for r in rooms
            if r.community in (ctx.room.community, "") and r.platform_id != ctx.msg.room_id
        ]
