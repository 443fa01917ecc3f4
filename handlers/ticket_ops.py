"""What staff can do to a ticket, shared by the chat commands and `linju tickets`: same rules, same events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts, workflow
from handlers.context import Actor
from handlers.types import Reply
from handlers.workflow import snapshot
from nlp.summary import summarize
from nlp.types import Category, Classification, Location, Taxonomy
from storage import repo
from storage.models import Ticket, TicketEvent, as_utc

if TYPE_CHECKING:
    from handlers.report import Filed
    from handlers.staff import Command

from handlers.ticket_change import TRANSITIONS, Change, OpError, S
from handlers.ticket_steps import Steps
from handlers.ticket_views import LIST_LIMIT, Views

__all__ = ["LIST_LIMIT", "TRANSITIONS", "Change", "OpError", "TicketOps", "resolve_category"]


def resolve_category(taxonomy: Taxonomy, word: str) -> Category:
    """A category from its code, its name, or a recognisable part of either ("排水" → drainage)."""
    w = word.strip().lower()
    cats = taxonomy.categories
    tiers = [
        [c for c in cats if c.code.lower() == w or c.name == w],
        [c for c in cats if w in c.name or (len(c.name) >= 2 and c.name in w)],
        [c for c in cats if any(k.split(":")[0] == w for k in c.keywords if not k.startswith("~"))],
        [c for c in cats if len(w) >= 2 and w in c.description],
    ]
    for found in tiers:
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = "、".join(c.name for c in found)
            raise OpError(texts.STAFF_AMBIGUOUS_CATEGORY.format(arg=word, names=names))
    names = "、".join(c.name for c in cats)
    raise OpError(texts.STAFF_UNKNOWN_CATEGORY.format(arg=word, names=names))


class TicketOps(Steps, Views):
    """Moves tickets through their life; every change is a ticket_event; the reporter's room is told."""

    async def apply(self, session: AsyncSession, cmd: Command, *, actor: Actor, now: datetime) -> Change:
        """Carry out a mutating command (assign, start, resolve, close, reject, merge, reclassify)."""
        assert cmd.number is not None
        t = await self.get(session, cmd.number, actor, action=cmd.action)
        if cmd.action == "merge":
            return await self._merge(session, t, cmd.target or "", actor=actor, now=now)
        if cmd.action == "reclassify":
            return await self._reclassify(session, t, cmd.arg or "", actor=actor, now=now)
        if cmd.action == "extend":
            if not actor.may_handle(t.community):  # the assignee asks; committee staff grant
                return await self._ask_extension(session, t, cmd.arg or "", actor=actor, now=now)
            return await self._extend(session, t, cmd.arg or "", actor=actor, now=now)
        if cmd.action in ("grant", "refuse_extension"):
            return await self._answer_extension(session, t, cmd, actor=actor, now=now)
        if cmd.action == "chase":
            return self._chase(session, t, cmd.arg, actor=actor, now=now)
        before = snapshot(t)
        by_unit = actor.acts_for(t.assignee) and not actor.may_handle(t.community)  # the unit acted on its own
        unit_name = t.assignee
        to_status = self._check(t, cmd.action)
        assert to_status is not None
        note = cmd.arg
        ask = None  # assign: what the assignee is asked to do
        if cmd.action == "false_positive":
            note = f"误报：{cmd.arg}" if cmd.arg else "误报"
        unit = None
        if cmd.action == "assign":
            # "派单 5201 王网格员 尽快上门调解": the assignee, then what they are asked (kept with the event).
            who, _, rest = (cmd.arg or "").strip().partition(" ")
            unit = self.units.find(who)
            t.assignee, ask = (unit.name if unit else who[:100]), rest.strip() or None
            note = f"{t.assignee}：{ask}" if ask else t.assignee
        if cmd.action == "resolve":
            t.satisfaction = None  # ask again, also after a reopening
        if cmd.action == "return":
            note = f"退单：{cmd.arg}（原派给{t.assignee or '—'}）"
            t.assignee = None
        if cmd.action == "accept":
            if t.status == S.NEW:  # nobody was dispatched: whoever accepts it handles it
                t.assignee = actor.name[:100]
            due = as_utc(t.due_at)
            note = f"{t.assignee}签收" + (f"，{texts.md(due, self.tz)}到期" if due else "")
        event = repo.set_status(
            session, t, to_status, actor_id=actor.id, actor_name=actor.name, action=cmd.action, note=note, now=now,
            before=before,
        )
        told = None if cmd.action == "assign" else cmd.arg  # an assignee's instructions are not for the reporter
        notices = await self.notifier.status_notice(session, t, cmd.action, now=now, note=told)
        others: list[Reply] = []
        if unit is not None and (to_unit := unit.reply(workflow.dispatched(t, ask=ask, zone=self.tz))):
            others.append(to_unit)
        if by_unit and (line := workflow.to_committee(t, cmd.action, unit=unit_name or "", note=cmd.arg)):
            others += await self._committee(session, t, line)
        change = self._change(
            t, event, cmd.action, notices, assignee=t.assignee, note=ask if cmd.action == "assign" else cmd.arg,
            other=texts.md(as_utc(t.due_at), self.tz) if cmd.action == "accept" and t.due_at else None,
        )
        if cmd.action == "assign" and unit is None and self.units:
            change.confirmation += texts.STAFF_NOT_A_UNIT.format(who=t.assignee)
        change.notices += others
        return change

    async def reopen(
        self, session: AsyncSession, t: Ticket, *, actor: Actor, now: datetime, action: str = "reopen", note: str | None = None
    ) -> TicketEvent:
        self._check(t, "reopen")
        t.due_at = self.due_from(t, now)
        return repo.set_status(
            session, t, S.REOPENED, actor_id=actor.id, actor_name=actor.name, action=action, note=note, now=now
        )

    async def _merge(self, session: AsyncSession, t: Ticket, target: str, *, actor: Actor, now: datetime) -> Change:
        if target == t.number:
            raise OpError(texts.STAFF_MERGE_SELF.format(number=t.number))
        keep = await self.get(session, target, actor)
        if keep.status in (S.DUPLICATE, S.WITHDRAWN, S.CLOSED, S.REJECTED):  # merge into a live ticket only
            raise OpError(
                texts.STAFF_BAD_STATUS.format(
                    number=keep.number,
                    status=texts.status_words(keep.status, duplicate_of=keep.duplicate_of),
                    action="接收合并",
                )
            )
        self._check(t, "merge")
        before = snapshot(t)
        t.duplicate_of = keep.number
        event = repo.set_status(
            session, t, S.DUPLICATE, actor_id=actor.id, actor_name=actor.name, action="merge",
            note=f"并入 #{keep.number}", now=now, before=before,
        )
        keep.supporters += t.supporters
        keep.updated_at = now
        session.add(keep)
        repo.add_event(
            session, keep, action="merge", actor_id=actor.id, actor_name=actor.name,
            note=f"#{t.number} 并入本单（{t.supporters} 人反映）", at=now,
        )
        notices = await self.notifier.status_notice(session, t, "merge", now=now, other=keep.number)
        return self._change(t, event, "merge", notices, other=keep.number)

    async def _reclassify(self, session: AsyncSession, t: Ticket, word: str, *, actor: Actor, now: datetime) -> Change:
        self._check(t, "reclassify")
        cat = resolve_category(self.taxonomy, word)
        if cat.code == t.category:
            raise OpError(texts.STAFF_SAME_CATEGORY.format(number=t.number, name=cat.name))
        old, before = t.category, snapshot(t)
        t.category = cat.code
        if t.summary.endswith((self.taxonomy.name_of(old), self.taxonomy.name_of(old) + "问题")):
            # a title that was only the old category's name: the new one's fits better
            t.summary = summarize(t.text, cat.name, Location(building=t.building, unit=t.unit, estate=t.estate))[:100]
        if t.status in S.OPEN and not t.urgent:
            t.due_at = self.due_from(t, as_utc(t.created_at) or now)  # the new category's deadline
        t.updated_at = now
        session.add(t)
        event = repo.add_event(
            session, t, action="reclassify", actor_id=actor.id, actor_name=actor.name,
            from_status=t.status, to_status=t.status, note=f"{self.taxonomy.name_of(old)} → {cat.name}", at=now,
            before=before,
        )
        return self._change(t, event, "reclassify", [], other=cat.name)

    async def follow_ups(self, session: AsyncSession, now: datetime, *, after_days: int, window_days: int) -> list[Reply]:
        """回访: each reporter whose ticket was resolved `after_days` ago and who has not rated it is asked once."""
        due = await repo.follow_up_due(
            session, resolved_before=now - timedelta(days=after_days), resolved_after=now - timedelta(days=window_days)
        )
        replies: list[Reply] = []
        for t in due:
            repo.add_event(session, t, action="follow_up", actor_id=None, actor_name="回访", at=now)
            replies += await self.notifier.status_notice(session, t, "follow_up", now=now, other=str(after_days))
        return replies

    def filed_text(self, filed: Filed, c: Classification) -> str:
        t = filed.ticket
        if filed.duplicate:
            status = texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of)
            if not filed.counted:
                return texts.REGISTERED_ALREADY.format(number=t.number, status=status)
            return texts.REGISTERED_DUPLICATE.format(number=t.number, status=status, supporters=t.supporters)
        place = c.location.describe()
        return texts.REGISTERED.format(
            number=t.number,
            category=self.taxonomy.name_of(t.category),
            where=f"｜{place}" if place else "",
            source=texts.source_name(t.source),
        )


