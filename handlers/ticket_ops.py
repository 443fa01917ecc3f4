"""What staff can do to a ticket, shared by the chat commands and `linju tickets`: same rules, same events."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts, workflow
from handlers.context import Actor
from handlers.notify import Notifier, reply_part
from handlers.types import Reply
from handlers.units import Units
from handlers.workflow import ASSIGNEE_ACTIONS, UNDOABLE, requested_days, restore, snapshot
from nlp.types import Category, Classification, Taxonomy
from storage import conversations, repo
from storage.models import Ticket, TicketEvent, TicketStatus, as_utc

if TYPE_CHECKING:
    from handlers.report import Filed
    from handlers.staff import Command

S = TicketStatus
# action → (statuses it may start from, status it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "assign": (S.OPEN, S.ASSIGNED),
    # 签收: the unit it was dispatched to accepts it; the response clock stops (digest: 响应率).
    "accept": (frozenset({S.ASSIGNED}), S.IN_PROGRESS),
    "start": (S.OPEN, S.IN_PROGRESS),
    "resolve": (S.OPEN, S.RESOLVED),
    "close": (S.OPEN | {S.RESOLVED}, S.CLOSED),
    "reject": (S.OPEN, S.REJECTED),
    "merge": (S.OPEN, S.DUPLICATE),
    "reclassify": (S.ALL - {S.WITHDRAWN, S.DUPLICATE}, None),
    # 延期 N 天数 原因: more time, granted by committee staff; the reporter is told the new date.
    "extend": (S.OPEN, None),
    # 同意延期 N / 不同意延期 N 原因: committee staff answer the extension the assignee asked for.
    "grant": (S.OPEN, None),
    "refuse_extension": (S.OPEN, None),
    # 退单 N 原因: the assignee hands it back with grounds; it waits to be dispatched again.
    "return": (frozenset({S.ASSIGNED, S.IN_PROGRESS}), S.NEW),
    # 催办 N: a chase, recorded; the overdue reminder lists what is due today and what is late every morning.
    "chase": (S.OPEN, None),
    "reopen": (frozenset({S.RESOLVED, S.CLOSED, S.REJECTED}), S.REOPENED),
    # 误报: the bot filed something that is not a problem. Withdrawn quietly; its message is labelled chat.
    "false_positive": (S.ALL - {S.WITHDRAWN, S.DUPLICATE, S.REJECTED}, S.REJECTED),
}

# Steps the reporter heard about: taking one back tells them again.
TOLD_REPORTER = {"assign", "start", "resolve", "close", "reject", "merge", "extend"}
LIST_LIMIT = 20
MAX_EXTENSION_DAYS = 90
_DAYS = re.compile(r"^\s*(\d{1,3})\s*(?:天|日)?\s*(.*)$", re.S)


class OpError(Exception):
    """The command cannot be carried out; the message (Chinese) says why, for the person who asked."""


@dataclass(slots=True)
class Change:
    ticket: Ticket
    event: TicketEvent
    confirmation: str  # for the staff member
    notices: list[Reply] = field(default_factory=list)  # for the reporter's room


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


class TicketOps:
    """Moves tickets through their life; every change is a ticket_event; the reporter's room is told."""

    def __init__(
        self, *, taxonomy: Taxonomy, notifier: Notifier, urgent_due_hours: int = 24, units: Units | None = None
    ) -> None:
        self.taxonomy = taxonomy
        self.notifier = notifier
        self.units = units or Units()
        self.urgent_due = timedelta(hours=urgent_due_hours)
        self.tz: ZoneInfo = notifier.tz

    async def get(
        self, session: AsyncSession, number: str, actor: Actor | None = None, *, action: str | None = None
    ) -> Ticket:
        """The ticket, if it exists and (given an actor) is in their communities: staff of one community
        neither see nor change another's, and are told no more than that there is no such ticket. Someone
        acting for a unit sees the tickets dispatched to it, and takes on them only the assignee's steps."""
        t = await repo.get_ticket(session, number, for_update=True)  # read, check, change: locked
        if t is None or actor is None or actor.may_handle(t.community):
            if t is None:
                raise OpError(texts.no_such_ticket(number))
            return t
        if not actor.acts_for(t.assignee):
            raise OpError(texts.no_such_ticket(number))
        if action is not None and action not in ASSIGNEE_ACTIONS:
            raise OpError(texts.STAFF_STEP_ONLY.format(action=texts.ACTION_WORDS.get(action, action)))
        return t

    def _check(self, t: Ticket, action: str) -> str | None:
        allowed, to_status = TRANSITIONS[action]
        if t.status not in allowed and to_status == t.status and action in ("close", "resolve", "start"):
            # 归档 an archived one, 办结 a resolved one: say it already is, rather than that it cannot be
            raise OpError(
                texts.STAFF_ALREADY.format(
                    number=t.number, status=texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of)
                )
            )
        if t.status not in allowed:
            raise OpError(
                texts.STAFF_BAD_STATUS.format(
                    number=t.number,
                    status=texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of),
                    action=texts.ACTION_WORDS.get(action, action),
                )
            )
        return to_status

    def due_from(self, t: Ticket, start: datetime) -> datetime:
        cat = self.taxonomy.get(t.category)
        return start + (self.urgent_due if t.urgent else timedelta(days=cat.sla_days if cat else 7))

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

    async def _committee(self, session: AsyncSession, t: Ticket, text: str) -> list[Reply]:
        rooms = await repo.committee_rooms(session, t.community or None)
        return [Reply(text=text, room_id=r.platform_id) for r in rooms]

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

    def _chase(self, session: AsyncSession, t: Ticket, note: str | None, *, actor: Actor, now: datetime) -> Change:
        self._check(t, "chase")
        when = self._when(t, now)
        who = t.assignee or "工作人员"
        event = repo.add_event(
            session, t, action="chase", actor_id=actor.id, actor_name=actor.name, from_status=t.status,
            to_status=t.status, note=f"催办{who}" + (f"：{note}" if note else ""), at=now,
        )
        change = self._change(t, event, "chase", [], assignee=who, other=when, note=note)
        unit = self.units.get(t.assignee)
        if unit is not None and (told := unit.reply(workflow.chased(t, when=when, note=note))):
            change.notices.append(told)
        elif unit is None:
            change.confirmation += texts.STAFF_NOT_A_UNIT.format(who=who) if self.units else ""
        return change

    def _when(self, t: Ticket, now: datetime) -> str:
        due = as_utc(t.due_at)
        if due is None:
            return ""
        return f"已超期{(now - due).days + 1}天" if now > due else f"{texts.md(due, self.tz)}到期"

    def auto_chases(self, session: AsyncSession, tickets: list[Ticket], now: datetime) -> list[Reply]:
        """催办 without anyone asking: each ticket dispatched to a unit that is due within the day or overdue
        is chased there (the morning job: again each day it stays overdue)."""
        replies: list[Reply] = []
        for t in tickets:
            unit = self.units.get(t.assignee)
            if unit is None or t.status not in S.OPEN:
                continue
            when = self._when(t, now)
            told = unit.reply(workflow.chased(t, when=when, note=None))
            if told is None:
                continue
            repo.add_event(
                session, t, action="chase", actor_id=None, actor_name="系统", from_status=t.status,
                to_status=t.status, note=f"自动催办{unit.name}：{when}", at=now,
            )
            replies.append(told)
        return replies

    async def undo(self, session: AsyncSession, number: str, *, actor: Actor, now: datetime, window: timedelta) -> Change:
        """撤回 N: staff (or a unit) take back their own last step on a ticket, within `window`."""
        t = await self.get(session, number, actor, action="show")
        last, skip = None, 0
        for e in reversed(await repo.ticket_events(session, t)):  # past the steps already taken back
            if e.action == "undo":
                skip += 1
            elif skip:
                skip -= 1
            else:
                last = e
                break
        if last is None or last.actor_id != actor.id or last.action not in UNDOABLE or not last.before:
            raise OpError(texts.STAFF_UNDO_NOTHING.format(number=t.number))
        if now - (as_utc(last.at) or now) > window:
            raise OpError(texts.STAFF_UNDO_LATE.format(number=t.number, minutes=int(window.total_seconds() // 60)))
        merged_into, assignee = t.duplicate_of, t.assignee
        restore(t, last.before)
        t.updated_at = now
        session.add(t)
        undone = texts.ACTION_WORDS.get(last.action, last.action)
        if last.action == "merge" and merged_into:
            keep = await repo.get_ticket(session, merged_into, for_update=True)
            if keep is not None:
                keep.supporters = max(1, keep.supporters - t.supporters)
                keep.updated_at = now
                session.add(keep)
                repo.add_event(
                    session, keep, action="unmerge", actor_id=actor.id, actor_name=actor.name,
                    note=f"撤回：#{t.number} 不再并入本单", at=now,
                )
        event = repo.add_event(
            session, t, action="undo", actor_id=actor.id, actor_name=actor.name, from_status=last.to_status,
            to_status=t.status, note=f"撤回{undone}", at=now,
        )
        notices: list[Reply] = []
        if last.action in TOLD_REPORTER:
            status = texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of)
            notices = await self.notifier.status_notice(session, t, "undo", now=now, other=status)
        change = self._change(t, event, "undo", notices, other=undone)
        unit = self.units.get(assignee)
        if last.action in ("assign", "extend") and unit is not None and (told := unit.reply(workflow.taken_back(t, last.action))):
            change.notices.append(told)
        return change

    async def _extend(self, session: AsyncSession, t: Ticket, arg: str, *, actor: Actor, now: datetime) -> Change:
        self._check(t, "extend")
        m = _DAYS.match(arg)
        if not m or not 1 <= int(m.group(1)) <= MAX_EXTENSION_DAYS:
            raise OpError(texts.STAFF_USAGE["extend"])
        days, why = int(m.group(1)), m.group(2).strip(" ，,：:") or None
        return await self._grant(session, t, days, why, actor=actor, now=now)

    async def _grant(
        self, session: AsyncSession, t: Ticket, days: int, why: str | None, *, actor: Actor, now: datetime
    ) -> Change:
        before = snapshot(t)
        t.due_at = max(as_utc(t.due_at) or now, now) + timedelta(days=days)
        t.updated_at = now
        session.add(t)
        when = texts.md(t.due_at, self.tz)
        event = repo.add_event(
            session, t, action="extend", actor_id=actor.id, actor_name=actor.name, from_status=t.status,
            to_status=t.status, note=f"延期{days}天至{when}" + (f"：{why}" if why else ""), at=now, before=before,
        )
        notices = await self.notifier.status_notice(session, t, "extend", now=now, note=why, other=when)
        change = self._change(t, event, "extend", notices, other=when, note=why)
        unit = self.units.get(t.assignee)
        if unit is not None and (told := unit.reply(workflow.extension_answered(t, granted=True, zone=self.tz))):
            change.notices.append(told)
        return change

    async def _ask_extension(self, session: AsyncSession, t: Ticket, arg: str, *, actor: Actor, now: datetime) -> Change:
        """延期 N 天数 原因 from the unit a ticket is dispatched to: a request, put to the committee."""
        self._check(t, "extend")
        m = _DAYS.match(arg)
        if not m or not 1 <= int(m.group(1)) <= MAX_EXTENSION_DAYS:
            raise OpError(texts.STAFF_USAGE["extend"])
        days, why = int(m.group(1)), m.group(2).strip(" ，,：:") or None
        event = repo.add_event(
            session, t, action="extend_request", actor_id=actor.id, actor_name=actor.name, from_status=t.status,
            to_status=t.status, note=f"{t.assignee}申请延期{days}天" + (f"：{why}" if why else ""), at=now,
            before=json.dumps({"asked": {"days": days, "why": why}}, ensure_ascii=False),
        )
        change = self._change(t, event, "extend_request", [], other=str(days))
        line = workflow.to_committee(t, "extend_request", unit=t.assignee or "", note=why, days=days)
        change.notices += await self._committee(session, t, line or "")
        return change

    async def _answer_extension(self, session: AsyncSession, t: Ticket, cmd: Command, *, actor: Actor, now: datetime) -> Change:
        """同意延期 N (the days asked) or 不同意延期 N 原因: the unit is told either way, the reporter of a new date."""
        self._check(t, cmd.action)
        asked = requested_days(list(await repo.ticket_events(session, t)))
        if asked is None:
            raise OpError(texts.STAFF_NO_EXTENSION_ASKED.format(number=t.number))
        if cmd.action == "grant":
            return await self._grant(session, t, asked[0], asked[1], actor=actor, now=now)
        event = repo.add_event(
            session, t, action="extend_refused", actor_id=actor.id, actor_name=actor.name, from_status=t.status,
            to_status=t.status, note="不同意延期" + (f"：{cmd.arg}" if cmd.arg else ""), at=now,
        )
        change = self._change(t, event, "extend_refused", [], assignee=t.assignee)
        unit = self.units.get(t.assignee)
        if unit is not None and (
            told := unit.reply(workflow.extension_answered(t, granted=False, zone=self.tz, why=cmd.arg))
        ):
            change.notices.append(told)
        return change

    def _change(self, t: Ticket, event: TicketEvent, action: str, notices: list[Reply], **kw) -> Change:
        what = texts.staff_done_what(action, **kw)
        text = texts.STAFF_DONE.format(number=t.number, summary=t.summary, what=what)
        now = event.at
        if notices and all(n.not_before is not None and as_utc(n.not_before) > as_utc(now) for n in notices):
            text += texts.STAFF_DONE_HELD  # quiet hours: not told yet, and the confirmation says so
        elif notices:
            text += texts.STAFF_DONE_ASKED if action == "resolve" else texts.STAFF_DONE_NOTIFIED
        if kw.get("note") and action in ("resolve", "reject", "start") and not reply_part(kw["note"]):
            text += texts.STAFF_NOTE_KEPT
        return Change(ticket=t, event=event, confirmation=text, notices=notices)

    # ------------------------------------------------------------ reading (staff only: may show places and names)

    def line(self, t: Ticket, *, now: datetime) -> str:
        place = " ".join(p for p in (t.estate, _place(t)) if p)
        due = as_utc(t.due_at)
        parts = [f"#{t.number}", self.taxonomy.name_of(t.category)]
        extra = texts.missing_place(place, t.summary)
        parts.append(t.summary + (f"（{extra}）" if extra else ""))
        parts.append(texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of))
        if t.status == S.ASSIGNED and self.units.get(t.assignee) is not None:
            parts.append("待签收")
        if due is not None and t.status in S.OPEN:
            late = (now - due).days
            parts.append(f"超期{late + 1}天" if now > due else f"{texts.md(due, self.tz)}到期")
        if t.supporters > 1:
            parts.append(f"{t.supporters}人反映")
        if t.urgent:
            parts.append("紧急")
        if t.source != "wechat":
            parts.append(f"来源:{texts.source_name(t.source)}")
        return "｜".join(parts)

    async def describe(
        self, session: AsyncSession, cmd: Command, *, now: datetime, community: str | None, actor: Actor | None = None
    ) -> str:
        """A list of open or overdue tickets, or one ticket with its history, for staff (of their communities)."""
        if cmd.action == "show":
            assert cmd.number is not None
            return await self.history(session, await self.get(session, cmd.number, actor), now=now)
        scope = actor.communities if actor is not None else None
        mine = None  # someone acting for a unit lists what was dispatched to it
        if actor is not None and not actor.is_staff and actor.units:
            scope, mine = None, actor.units
        if cmd.action == "list_where" and cmd.where is not None:
            return await self._where(session, cmd, now=now, community=community, scope=scope, mine=mine)
        kind = "overdue" if cmd.action == "list_overdue" else "open"
        overdue_at = now if kind == "overdue" else None
        tickets = await repo.find_tickets(
            session,
            open_only=True,
            overdue_at=overdue_at,
            source=cmd.source,
            community=community,
            communities=scope,
            assignees=mine,
            limit=LIST_LIMIT,
        )
        if not tickets:
            return texts.LIST_EMPTY[kind]
        total = await repo.count_tickets(
            session, open_only=True, overdue_at=overdue_at, source=cmd.source, community=community, communities=scope,
            assignees=mine,
        )
        lines = [texts.LIST_HEADER[kind].format(n=total)] + [self.line(t, now=now) for t in tickets]
        if total > len(tickets):
            lines.append(texts.LIST_MORE.format(n=total - len(tickets)))
        return "\n".join(lines)

    async def _where(
        self, session: AsyncSession, cmd: Command, *, now: datetime, community: str | None, scope, mine=None
    ) -> str:
        """A list filtered as staff said it: 工单 今天 / 紧急 / 已办结 / 金穗小区 / 排水 (and combinations)."""
        w = cmd.where
        assert w is not None
        local = texts.local(now, self.tz)
        start = {"today": local, "week": local - timedelta(days=local.weekday()), "month": local.replace(day=1)}
        since = (
            start[w.since].replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC) if w.since else None
        )
        filters = dict(
            open_only=w.open_only, overdue_at=now if w.overdue else None, status=w.status, source=cmd.source,
            community=community, communities=scope, since=since, urgent=w.urgent or None, estate=w.estate,
            category=w.category,
            assignees=mine if w.assignee is None else [w.assignee] if mine is None or w.assignee in mine else [],
        )
        label = "·".join(w.words)
        tickets = await repo.find_tickets(session, limit=LIST_LIMIT, **filters)
        if not tickets:
            return texts.LIST_WHERE_EMPTY.format(words=label)
        total = await repo.count_tickets(session, **filters)
        lines = [texts.LIST_WHERE_HEADER.format(words=label, n=total)] + [self.line(t, now=now) for t in tickets]
        if total > len(tickets):
            lines.append(texts.LIST_MORE.format(n=total - len(tickets)))
        return "\n".join(lines)

    async def history(self, session: AsyncSession, t: Ticket, *, now: datetime) -> str:
        lines = [self.line(t, now=now)]
        where = " ".join(p for p in (t.estate, _place(t), f"{t.room_no}室" if t.room_no else "") if p)
        lines.append(f"反映人：{t.reporter_name or t.reporter_id}" + (f"（经{t.relay_name}）" if t.relay_name and t.relay_id != t.reporter_id else "") + (f"｜地点：{where}" if where else ""))
        lines.append(f"原话：{t.text}")
        photos = await conversations.attachments(session, t.id) if t.id is not None else []
        if photos:
            lines.append("照片：" + "；".join(a.path or "（未能下载）" for a in photos))
        for e in await repo.ticket_events(session, t):
            at = as_utc(e.at) or now
            words = texts.ACTION_WORDS.get(e.action, e.action)
            moved = e.to_status and e.to_status != e.from_status
            status = f"→{texts.STATUS_WORDS.get(e.to_status or '', e.to_status or '').format(assignee=e.note or '', duplicate_of=t.duplicate_of or '')}" if moved else ""
            note = f"：{e.note}" if e.note and e.action not in ("created", "assign", "support") else ""
            lines.append(f"{texts.stamp(at, self.tz)} {e.actor_name or '-'} {words}{status}{note}")
        return "\n".join(lines)

    async def overdue_reminders(
        self, session: AsyncSession, now: datetime, *, waiting: Mapping[str, int] | None = None
    ) -> list[Reply]:
        """The daily reminder: each community's overdue tickets to its committee rooms, and how many of its
        messages wait for review (`waiting`, by community)."""
        tickets = await repo.find_tickets(session, overdue_at=now, limit=500)
        by_community: dict[str, list[Ticket]] = {c: [] for c, n in (waiting or {}).items() if n}
        for t in tickets:
            by_community.setdefault(t.community or "", []).append(t)
        # Due within the day: chased before they are late.
        soon: dict[str, list[Ticket]] = {}
        for t in await repo.find_tickets(session, overdue_at=now + timedelta(days=1), limit=500):
            due = as_utc(t.due_at)
            if due is not None and due >= now:
                soon.setdefault(t.community or "", []).append(t)
                by_community.setdefault(t.community or "", [])
        replies: list[Reply] = self.auto_chases(session, [*tickets, *(t for ts in soon.values() for t in ts)], now)
        for community, items in by_community.items():
            rooms = await repo.committee_rooms(session, community or None)
            if not rooms:
                continue
            lines = []
            if items:
                lines.append(texts.OVERDUE_REMINDER.format(community=community, n=len(items)))
                lines += [self.line(t, now=now) for t in items[:LIST_LIMIT]]
                if len(items) > LIST_LIMIT:
                    lines.append(texts.LIST_MORE.format(n=len(items) - LIST_LIMIT))
            due_soon = soon.get(community, [])
            if due_soon:
                lines.append(texts.DUE_SOON_REMINDER.format(n=len(due_soon)))
                lines += [self.line(t, now=now) for t in due_soon[:LIST_LIMIT]]
            held = (waiting or {}).get(community, 0)
            if held:
                lines.append(texts.CANDIDATES_WAITING.format(n=held))
            replies += [Reply(text="\n".join(lines), room_id=r.platform_id) for r in rooms]
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


def _place(t: Ticket) -> str:
    place = f"{t.building}栋" if t.building else ""
    if t.building and t.unit:
        place += f"{t.unit}单元"
    return place
