"""Who tickets are dispatched to besides staff: units from config (物业, 网格员 王某, 水务), each with a room or a
private chat where dispatches and chases reach it, and the platform ids that act for it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from handlers.types import Reply


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    aliases: tuple[str, ...] = ()
    room_id: str | None = None
    contact_id: str | None = None
    members: frozenset[str] = frozenset()
    communities: frozenset[str] | None = None  # None: every community's tickets

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def acting(self) -> frozenset[str]:
        """The ids that act for it: its members and its contact."""
        return self.members | ({self.contact_id} if self.contact_id else set())

    def takes(self, community: str | None) -> bool:
        return self.communities is None or (community or "") in self.communities

    def reply(self, text: str) -> Reply | None:
        """A message to the unit where it reads them: its room, else its contact's private chat."""
        if self.room_id:
            return Reply(text=text, room_id=self.room_id)
        if self.contact_id:
            return Reply(text=text, contact_id=self.contact_id)
        return None


class Units:
    """The configured units, found by the words staff use for them and by the ids of those who act for them."""

    def __init__(self, units: Iterable[Unit] = ()) -> None:
        self.all = tuple(units)
        self._by_word = {w: u for u in self.all for w in u.words}
        self._of: dict[str, frozenset[str]] = {}
        for u in self.all:
            for pid in u.acting:
                self._of[pid] = self._of.get(pid, frozenset()) | {u.name}

    def __bool__(self) -> bool:
        return bool(self.all)

    def find(self, word: str | None) -> Unit | None:
        """The unit `word` names: exactly one of its names, or a name followed by what it is asked
        ("物业 尽快处理" is for the caller to split; here "物业" or "物业公司")."""
        if not word:
            return None
        return self._by_word.get(word.strip())

    def get(self, name: str | None) -> Unit | None:
        return next((u for u in self.all if u.name == name), None) if name else None

    def of(self, sender_id: str) -> frozenset[str]:
        """The units `sender_id` acts for."""
        return self._of.get(sender_id, frozenset())

    def members(self) -> dict[str, frozenset[str]]:
        """Every id that acts for a unit, and the units it acts for."""
        return dict(self._of)

    def words(self) -> frozenset[str]:
        return frozenset(self._by_word)
