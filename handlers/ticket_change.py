"""The rules every ticket step follows: which status it may start from and leads to, who may take it, and
the confirmation it gives. TicketOps (handlers/ticket_ops.py) is built on this."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts, workflow
from handlers.context import Actor
from handlers.notify import Notifier, reply_part
from handlers.types import Reply
from handlers.units import Units
from handlers.workflow import ASSIGNEE_ACTIONS
from nlp.types import Taxonomy
from storage import repo
from storage.models import Ticket, TicketEvent, TicketStatus, as_utc

if TYPE_CHECKING:
    pass

S = TicketStatus
# action → (statuses it may start from, status it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "assign": (S.OPEN, S.ASSIGNED),
    # 签收: the unit it was dispatched to accepts it; the response clock stops (digest: 响应率).
    # 签收 of a new one by staff: they take it on themselves.
    "accept": (frozenset({S.NEW, S.ASSIGNED}), S.IN_PROGRESS),
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



class OpsCore:
    """Tickets read and checked for a step; the confirmation a step gives."""

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
            if t.status == S.ASSIGNED:
                when = f"{when}，还没有签收".lstrip("，")
            told = unit.reply(workflow.chased(t, when=when, note=None))
            if told is None:
                continue
            repo.add_event(
                session, t, action="chase", actor_id=None, actor_name="系统", from_status=t.status,
                to_status=t.status, note=f"自动催办{unit.name}：{when}", at=now,
            )
            replies.append(told)
        return replies
