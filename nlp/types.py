"""Value types shared by every classifier stage: taxonomy, locations and classification results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

Intent = Literal["report", "query", "chat"]
INTENTS: tuple[Intent, ...] = ("report", "query", "chat")

# What the bot does with a message (nlp/decision.py): file a ticket at once, hold it for staff review
# (待确认), answer a query, or stay silent.
Decision = Literal["ticket", "review", "reply", "none"]
DECISIONS: tuple[Decision, ...] = ("ticket", "review", "reply", "none")
_DECISION_OF_INTENT: dict[str, Decision] = {"report": "ticket", "query": "reply", "chat": "none"}
INTENT_OF_DECISION: dict[str, Intent] = {"ticket": "report", "review": "report", "reply": "query", "none": "chat"}


@dataclass(frozen=True, slots=True)
class Category:
    """One report category, as configured (codes and words are data, not logic)."""

    code: str
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    sla_days: int = 7
    # Higher wins when two categories score alike (TAXONOMY.md "Precedence where two fit").
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The configured set of categories; intents are fixed."""

    categories: tuple[Category, ...]

    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    def get(self, code: str | None) -> Category | None:
        for c in self.categories:
            if c.code == code:
                return c
        return None

    def name_of(self, code: str | None) -> str:
        c = self.get(code)
        return c.name if c else (code or "")

    def fingerprint(self) -> str:
        """A stable hash of the category codes: a trained model is valid only for the same set."""
        payload = json.dumps(sorted(self.codes()), ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Location:
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    estate: str | None = None

    def describe(self, *, with_room: bool = False) -> str:
        """A short place label, e.g. "金穗小区 4栋2单元"; the room only where the reader may see it."""
        parts: list[str] = []
        if self.estate:
            parts.append(self.estate)
        place = ""
        if self.building:
            place += f"{self.building}栋"
        if self.unit:
            place += f"{self.unit}单元"
        if with_room and self.room:
            place += f"{self.room}室"
        if place:
            parts.append(place)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Classification:
    """What a classifier stage decided about one message, with how sure it is and who decided."""

    intent: Intent
    category: str | None = None
    confidence: float = 0.0
    stage: str = "rules"
    urgent: bool = False
    location: Location = field(default_factory=Location)
    ticket_numbers: tuple[str, ...] = ()
    summary: str = ""
    alternatives: tuple[str, ...] = ()
    # Empty: taken from the intent (a stage that only tells the intent, as the LLM, files a report at once;
    # the cascade then holds it for review where the earlier stages did not see enough evidence).
    decision: Decision | Literal[""] = ""
    strength: float = 0.0  # nlp.evidence.Evidence.strength: how strongly the text reads as a report
    core: bool = False  # a problem clearly about something a community handles (Evidence.core)

    def __post_init__(self) -> None:
        if not self.decision:
            object.__setattr__(self, "decision", _DECISION_OF_INTENT[self.intent])
        elif INTENT_OF_DECISION[self.decision] != self.intent:
            raise ValueError(f"decision {self.decision!r} does not go with intent {self.intent!r}")

    @property
    def building(self) -> str | None:
        return self.location.building
