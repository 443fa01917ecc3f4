"""What a handler receives for one message, and what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.types import Capabilities, IncomingMessage, Reply
from nlp.types import Classification


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """Where a message came from in the organisation."""

    community: str
    kind: str = "leaders"  # leaders | committee | residents | private
    area: str | None = None
    grp: str | None = None
    estate: str | None = None  # the estate the room serves, when it serves one: "4栋" there means its 4栋

    @property
    def is_committee(self) -> bool:
        return self.kind == "committee"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent a message, as far as the roster and config know.

    `communities`: for staff, the communities whose tickets they see and change; None for subdistrict-wide.
    """

    id: str
    name: str
    role: str = "unknown"  # staff | area_leader | group_leader | neighbour_leader | resident | unknown
    communities: frozenset[str] | None = frozenset()
    units: frozenset[str] = frozenset()  # the units from config (物业, 水务) this person acts for

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    @property
    def works_tickets(self) -> bool:
        """Staff, or someone who acts for a unit tickets are dispatched to: their commands are read as such."""
        return self.is_staff or bool(self.units)

    def acts_for(self, assignee: str | None) -> bool:
        """They act for the unit a ticket is dispatched to: they may accept, return, ask for time, report done."""
        return assignee is not None and assignee in self.units

    def may_handle(self, community: str | None) -> bool:
        """Staff whose scope covers `community` (a ticket's): they may see its detail and change it."""
        return self.is_staff and (self.communities is None or (community or "") in self.communities)


@dataclass(slots=True)
class Outcome:
    """A handler's answer: the replies, and what to record about the message."""

    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    ticket_number: str | None = None


@dataclass(slots=True)
class Context:
    """One message being handled, inside one database transaction."""

    msg: IncomingMessage
    text: str  # normalised for matching, mentions stripped
    session: AsyncSession
    now: datetime
    room: RoomInfo
    actor: Actor
    channel: Capabilities  # what the message's channel can do (its ticket source among it); never its name
    classify_fn: Callable[[str], Awaitable[Classification]]
    mentioned: bool = False  # the bot was @-mentioned (from the platform's list or "@<bot name>" in the text)
    raw: str = ""  # the text as written (mentions stripped, line breaks kept): where a leader's list shows
    _classification: Classification | None = None

    async def classification(self) -> Classification:
        """Classify once per message, on first need (staff commands never pay for it)."""
        if self._classification is None:
            self._classification = await self.classify_fn(self.text)
        return self._classification


class Handler(Protocol):
    """Returns None to pass the message on, or an Outcome (possibly with no replies) to take it."""

    name: str

    async def __call__(self, ctx: Context) -> Outcome | None: ...
