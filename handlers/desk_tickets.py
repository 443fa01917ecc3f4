"""The console's tickets: the filtered list with counts per status, its export (CSV, XLSX), one ticket in full,
and its photos. Always within the staff member's communities: a ticket outside them reads as no ticket at all.
A mixin of handlers.desk.Desk (which sets the attributes declared here)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.context import Actor
from handlers.ticket_board import (
    EXPORT_CAP,
    PER_PAGE,
    SATISFACTION_WORDS,
    STATUS_GROUPS,
    STATUS_LABELS,
    EventLine,
    StatusCount,
    TicketDetail,
    TicketFilters,
    TicketLine,
    TicketPage,
)
from handlers.ticket_change import TRANSITIONS
from handlers.ticket_export import csv_bytes, xlsx_bytes
from handlers.ticket_views import _place, _step
from nlp.entities import ticket_number
from nlp.types import Taxonomy
from storage import conversations, repo, ticket_search
from storage.models import Ticket, TicketStatus, as_utc

DONE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


def _days(delta: timedelta) -> int:
    return max(0, delta.days)


class TicketDesk:
    sessions: async_sessionmaker[AsyncSession]
    report_sessions: async_sessionmaker[AsyncSession]
    taxonomy: Taxonomy
    tz: ZoneInfo
    clock: Callable[[], datetime]

    # ------------------------------------------------------------ the list

    def _search(self, actor: Actor, f: TicketFilters, *, now: datetime) -> ticket_search.Search:
        statuses: frozenset[str] | None = None
        if f.status == "open":
            statuses = TicketStatus.OPEN
        elif f.status == "done":
            statuses = DONE
        elif f.status:
            statuses = frozenset({f.status})

        def start(d, days: int = 0) -> datetime | None:
            if d is None:
                return None
            return datetime.combine(d + timedelta(days=days), time(), tzinfo=self.tz).astimezone(UTC)

        scope = None if actor.communities is None else actor.communities
        if not actor.is_staff:
            scope = frozenset()
        return ticket_search.Search(
            communities=scope, statuses=statuses, category=f.category or None, community=f.community or None,
            estate=f.estate or None, assignee=f.assignee or None, urgent=True if f.urgent else None,
            overdue_at=now if f.overdue else None, created_from=start(f.date_from),
            created_before=start(f.date_to, 1), text=f.q or None,
        )

    def _line(self, t: Ticket, now: datetime) -> TicketLine:
        due = as_utc(t.due_at)
        late = due is not None and t.status in TicketStatus.OPEN and now > due
        if due is None or t.status not in TicketStatus.OPEN:
            due_words = ""
        elif late:
            due_words = f"超期{(now - due).days + 1}天"
        else:
            due_words = f"{texts.md(due, self.tz)}到期"
        return TicketLine(
            number=t.number, summary=t.summary or t.text[:40], category=self.taxonomy.name_of(t.category),
            status=t.status, status_words=texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of),
            community=t.community or "", place=" ".join(p for p in (t.estate, _place(t)) if p),
            assignee=t.assignee or "", urgent=t.urgent, overdue=late, due_words=due_words, due=due,
            created=as_utc(t.created_at), supporters=t.supporters,
        )

    async def tickets(self, actor: Actor, filters: TicketFilters) -> TicketPage:
        """One page of the tickets the filters pick out of the actor's communities, with counts per status."""
        now = self.clock()
        q = self._search(actor, filters, now=now)
        async with self.sessions() as session:
            found, total = await ticket_search.search(
                session, q, sort=filters.sort, descending=filters.order == "desc", limit=PER_PAGE,
                offset=(filters.page - 1) * PER_PAGE,
            )
            by_status = await ticket_search.status_counts(session, q)
            late = await ticket_search.count(session, replace(q, statuses=None, overdue_at=now))
            known = await ticket_search.choices(session, q.communities)
        counts = [StatusCount("", "全部", sum(by_status.values()))]
        counts += [StatusCount("open", STATUS_GROUPS["open"], sum(by_status.get(s, 0) for s in TicketStatus.OPEN))]
        counts += [StatusCount("done", STATUS_GROUPS["done"], sum(by_status.get(s, 0) for s in DONE))]
        counts += [StatusCount(s, label, by_status[s]) for s, label in STATUS_LABELS.items() if by_status.get(s)]
        communities = sorted(actor.communities) if actor.communities is not None else known["community"]
        return TicketPage(
            rows=[self._line(t, now) for t in found], total=total, page=filters.page,
            pages=max(1, math.ceil(total / PER_PAGE)), filters=filters, counts=counts, overdue=late,
            categories=[(c.code, c.name) for c in self.taxonomy.categories], communities=communities,
            estates=known["estate"], assignees=known["assignee"],
        )

    async def export_lines(self, actor: Actor, filters: TicketFilters) -> list[TicketLine]:
        """Every ticket the filters pick (up to EXPORT_CAP), in the list's order."""
        now = self.clock()
        q = self._search(actor, filters, now=now)
        async with self.report_sessions() as session:
            found, _ = await ticket_search.search(
                session, q, sort=filters.sort, descending=filters.order == "desc", limit=EXPORT_CAP
            )
            return [self._line(t, now) for t in found]

    async def export_csv(self, actor: Actor, filters: TicketFilters) -> bytes:
        return csv_bytes(await self.export_lines(actor, filters), self.tz)

    async def export_xlsx(self, actor: Actor, filters: TicketFilters) -> bytes:
        return xlsx_bytes(await self.export_lines(actor, filters), self.tz)

    # ------------------------------------------------------------ one ticket

    async def _mine(self, session: AsyncSession, actor: Actor, number: str) -> Ticket | None:
        if not number.strip().lstrip("#＃").isdigit():
            return None
        t = await repo.get_ticket(session, ticket_number(number))
        return t if t is not None and actor.may_handle(t.community) else None

    def _clocks(self, t: Ticket, now: datetime) -> tuple[str, str, bool]:
        created = as_utc(t.created_at)
        ended = as_utc(t.resolved_at) or as_utc(t.closed_at)
        if t.status in TicketStatus.OPEN or ended is None:
            days = _days(now - created)
            open_words = f"已登记 {days} 天" if days else "今天登记"
        else:
            days = _days(ended - created)
            open_words = f"用了 {days} 天办完" if days else "当天办完"
        due = as_utc(t.due_at)
        if due is None or t.status not in TicketStatus.OPEN:
            return open_words, "", False
        if now > due:
            return open_words, f"已超期 {(now - due).days + 1} 天", True
        left = (texts.local(due, self.tz).date() - texts.local(now, self.tz).date()).days
        return open_words, "今天到期" if left == 0 else f"还有 {left} 天到期", False

    async def ticket(self, actor: Actor, number: str) -> TicketDetail | None:
        """The ticket in full for staff of its community; None when there is none or it is another's."""
        from handlers.desk import ACTIONS  # the pages' steps (desk imports this module)

        now = self.clock()
        async with self.sessions() as session:
            t = await self._mine(session, actor, number)
            if t is None or t.id is None:
                return None
            events = await repo.ticket_events(session, t)
            backers = await repo.supporters(session, t.id)
            photos = [a.id for a in await conversations.attachments(session, t.id) if a.path and a.id is not None]
        open_words, due_words, overdue = self._clocks(t, now)
        relay = t.relay_name if t.relay_name and t.relay_id != t.reporter_id else ""
        return TicketDetail(
            number=t.number, text=t.text, summary=t.summary, category=self.taxonomy.name_of(t.category),
            category_code=t.category, status=t.status,
            status_words=texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of),
            community=t.community or "", estate=t.estate or "", building=t.building or "", unit=t.unit or "",
            room_no=t.room_no or "", reporter=t.reporter_name or t.reporter_id, relay=relay or "",
            source=texts.source_name(t.source), urgent=t.urgent, created=as_utc(t.created_at), due=as_utc(t.due_at),
            resolved=as_utc(t.resolved_at), closed=as_utc(t.closed_at), open_words=open_words, due_words=due_words,
            overdue=overdue, supporters=t.supporters, supporter_names=[name or "?" for _, name, _ in backers],
            photos=photos,
            events=[EventLine(at=as_utc(e.at), who=e.actor_name or "—", what=_step(e, t)) for e in events],
            satisfaction=SATISFACTION_WORDS.get(t.satisfaction or "", ""), duplicate_of=t.duplicate_of or "",
            actions=[a for a in ACTIONS if t.status in TRANSITIONS[a][0]],
        )

    async def photo(self, actor: Actor, number: str, attachment_id: int) -> str | None:
        """The stored path of one of the ticket's photos (as saved, under data_dir); None when not theirs."""
        async with self.sessions() as session:
            t = await self._mine(session, actor, number)
            if t is None or t.id is None:
                return None
            a = await ticket_search.attachment(session, t.id, attachment_id)
        return a.path if a is not None else None
