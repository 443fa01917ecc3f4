"""The steps around a dispatched ticket: 催办 (by hand and every morning once due), 延期 asked by the unit and
granted or refused by staff, 撤回 of one's own last step; each tells the unit and the committee what concerns them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts, workflow
from handlers.context import Actor
from handlers.types import Reply
from handlers.workflow import UNDOABLE, requested_days, restore, snapshot
from storage import repo
from storage.models import Ticket, as_utc

if TYPE_CHECKING:
    from handlers.staff import Command

from handlers.ticket_change import _DAYS, MAX_EXTENSION_DAYS, TOLD_REPORTER, Change, OpError, OpsCore


class Steps(OpsCore):
    async def _committee(self, session: AsyncSession, t: Ticket, text: str) -> list[Reply]:
        rooms = await repo.committee_rooms(session, t.community or None)
        return [Reply(text=text, room_id=r.platform_id) for r in rooms]

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

