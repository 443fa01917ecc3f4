"""Tickets as staff read them: one line each, lists filtered as staff said it, a ticket's history, and the
morning reminder of what is overdue or due. Staff only: these may show places and names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.context import Actor
from handlers.notify import full_width
from handlers.types import Reply
from storage import conversations, repo
from storage.models import Ticket, TicketEvent, as_utc

if TYPE_CHECKING:
    from handlers.staff import Command

from handlers.ticket_change import OpsCore, S

LIST_LIMIT = 20
ACCEPT_WITHIN = timedelta(days=1)  # a unit is expected to accept (签收) a dispatch within a day


class Views(OpsCore):
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
        if t.source not in texts.CHAT_SOURCES:
            parts.append(f"来源：{texts.source_name(t.source)}")
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
            lines.append(f"{texts.stamp(at, self.tz)} {e.actor_name or '-'} {_step(e, t)}")
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
        # Dispatched to a unit a day ago or more and not accepted (签收): the response clock is still running.
        seen = {t.number for t in tickets} | {t.number for ts in soon.values() for t in ts}
        unsigned: dict[str, list[Ticket]] = {}
        for t in await repo.find_tickets(session, status=S.ASSIGNED, limit=500):
            since = as_utc(t.updated_at) or now
            if t.number not in seen and self.units.get(t.assignee) and now - since >= ACCEPT_WITHIN:
                unsigned.setdefault(t.community or "", []).append(t)
                by_community.setdefault(t.community or "", [])
        chased = [*tickets, *(t for ts in soon.values() for t in ts), *(t for ts in unsigned.values() for t in ts)]
        replies: list[Reply] = self.auto_chases(session, chased, now)
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
            late_accept = unsigned.get(community, [])
            if late_accept:
                lines.append(texts.UNSIGNED_REMINDER.format(n=len(late_accept)))
                lines += [self.line(t, now=now) for t in late_accept[:LIST_LIMIT]]
            held = (waiting or {}).get(community, 0)
            if held:
                lines.append(texts.CANDIDATES_WAITING.format(n=held))
            replies += [Reply(text="\n".join(lines), room_id=r.platform_id) for r in rooms]
        return replies


def _step(e: TicketEvent, t: Ticket) -> str:
    """One step of a ticket's history for staff: what was done, where it left the ticket, and the note."""
    words = texts.ACTION_WORDS.get(e.action, e.action)
    note = e.note or ""
    if e.action == "assign":  # the note is "王师傅：尽快上门": whom, then what they were asked
        who, _, ask = note.partition("：")
        words, note = f"派单给{who}", ask
    elif e.action == "undo":  # the note says what was taken back: "撤回办结"
        words, note = note or words, ""
    elif e.action in ("created", "support"):
        note = ""
    moved = e.to_status and e.to_status != e.from_status and e.action != "assign"
    status = ""
    if moved:
        status = "→" + texts.status_words(e.to_status or "", assignee=t.assignee, duplicate_of=t.duplicate_of)
    return f"{words}{status}" + (f"：{full_width(note)}" if note else "")


def _place(t: Ticket) -> str:
    place = f"{t.building}栋" if t.building else ""
    if t.building and t.unit:
        place += f"{t.unit}单元"
    return place

