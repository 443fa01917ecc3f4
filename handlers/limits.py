"""Limits per sender and per room: tickets and urgent pushes (counted in the database), LLM calls (in memory).

Beyond a limit the message is still stored and kept for staff; it is just not filed, pushed or sent to the LLM,
and staff are told once a day per sender or room. Staff themselves are not limited.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from storage import repo

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Rates:
    """How much one sender (or one room) may have per rolling hour and day; None: no limit."""

    tickets_per_hour: int | None = None
    tickets_per_day: int | None = None
    urgent_per_hour: int | None = None
    urgent_per_day: int | None = None
    llm_per_hour: int | None = None
    llm_per_day: int | None = None


@dataclass(frozen=True, slots=True)
class Over:
    """A limit reached: what (tickets, urgent), whose (sender, room), in which window, and the count."""

    what: str
    scope: str
    window: str
    count: int


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a sender and their room stand before a report is filed."""

    tickets: Over | None = None
    urgent: Over | None = None


def _over(what: str, scope: str, hour: int, day: int, per_hour: int | None, per_day: int | None) -> Over | None:
    if per_hour is not None and hour >= per_hour:
        return Over(what, scope, "hour", hour)
    if per_day is not None and day >= per_day:
        return Over(what, scope, "day", day)
    return None


class Limits:
    """Counts and decides; `caller` says whose message is being handled (set by the dispatcher around it)."""

    def __init__(
        self, *, sender: Rates, room: Rates, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.sender = sender
        self.room = room
        self._monotonic = monotonic
        self.caller: ContextVar[tuple[str, str | None] | None] = ContextVar("linju_limits_caller", default=None)
        self._llm: dict[tuple[str, str], deque[float]] = {}
        self._told: dict[tuple[str, str, str], float] = {}

    async def standing(self, session: AsyncSession, *, sender_id: str, room_id: str | None, now: datetime) -> Standing:
        """Whether one more ticket, or one more urgent push, is within the limits of this sender and room."""
        checks = [("sender", "reporter", sender_id, self.sender)]
        if room_id is not None:
            checks.append(("room", "room", room_id, self.room))
        tickets = urgent = None
        for scope, by, who, rates in checks:
            r = await repo.recent_tickets(
                session, by=by, who=who, day=now - DAY, hour=now - HOUR, sources=texts.CHAT_SOURCES
            )
            tickets = tickets or _over("tickets", scope, r.hour, r.day, rates.tickets_per_hour, rates.tickets_per_day)
            urgent = urgent or _over(
                "urgent", scope, r.urgent_hour, r.urgent_day, rates.urgent_per_hour, rates.urgent_per_day
            )
        return Standing(tickets=tickets, urgent=urgent)

    def admit_llm(self) -> bool:
        """One LLM request for the message being handled, if its sender and room have not had their share."""
        caller = self.caller.get()
        if caller is None:
            return True  # staff, the shell, start-up: not limited
        now = self._monotonic()
        sender_id, room_id = caller
        keys = [(("sender", sender_id), self.sender)]
        if room_id is not None:
            keys.append((("room", room_id), self.room))
        windows = []
        for key, rates in keys:
            seen = self._llm.get(key)
            if seen is None:
                if len(self._llm) > 50_000:
                    self._llm.clear()
                seen = self._llm[key] = deque()
            while seen and now - seen[0] > DAY.total_seconds():
                seen.popleft()
            hour = sum(1 for t in seen if now - t <= HOUR.total_seconds())
            if _over("llm", key[0], hour, len(seen), rates.llm_per_hour, rates.llm_per_day) is not None:
                return False
            windows.append(seen)
        for seen in windows:
            seen.append(now)
        return True

    def first_time(self, over: Over, who: str) -> bool:
        """True once a day per limit, sender or room: when staff should be told."""
        key = (over.what, over.scope, who)
        now = self._monotonic()
        last = self._told.get(key)
        if last is not None and now - last < DAY.total_seconds():
            return False
        if len(self._told) > 50_000:
            self._told.clear()
        self._told[key] = now
        return True
