"""The steps a 12345-style centre adds around a dispatched ticket: what the unit it is dispatched to is told
(派单, 催办, 延期 granted or refused, a step taken back), what the committee is told when the unit acts (签收 is
silent; 退单, 申请延期 and 办结 by the unit are not), and the snapshot that lets staff take a step back (撤回)."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo

from handlers import texts
from handlers.types import Button
from storage.models import Ticket, TicketEvent, as_utc

# What a step may change on a ticket, kept as it was so that its actor can take the step back for a while.
UNDO_FIELDS = ("status", "assignee", "due_at", "category", "duplicate_of", "satisfaction", "resolved_at", "closed_at")
UNDOABLE = {
    "assign", "accept", "start", "resolve", "close", "reject", "return", "extend", "reclassify", "false_positive",
    "merge",
}
# Steps a person acting for the unit a ticket is dispatched to may take on it (besides reading it).
ASSIGNEE_ACTIONS = {"accept", "start", "resolve", "return", "extend", "show"}


def ticket_buttons(number: str) -> tuple[Button, ...]:
    """签收 / 派单 / 办结 under a new ticket where the channel has buttons: each says the command it stands for."""
    return tuple(Button(word, f"{word} {number}") for word in ("签收", "派单", "办结"))


def snapshot(t: Ticket) -> str:
    out: dict[str, object] = {}
    for name in UNDO_FIELDS:
        value = getattr(t, name)
        out[name] = as_utc(value).isoformat() if isinstance(value, datetime) else value
    return json.dumps(out, ensure_ascii=False)


def restore(t: Ticket, before: str) -> None:
    for name, value in json.loads(before).items():
        if name not in UNDO_FIELDS:
            continue
        if name.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        setattr(t, name, value)


def standing(events: list[TicketEvent]) -> list[TicketEvent]:
    """The steps that stand: each 撤回 and the step it took back are left out (what a resident is shown)."""
    kept: list[TicketEvent] = []
    undone = 0
    for e in reversed(events):
        if e.action == "undo":
            undone += 1
        elif undone and e.action in UNDOABLE:
            undone -= 1
        else:
            kept.append(e)
    return kept[::-1]


def requested_days(events: list[TicketEvent]) -> tuple[int, str | None] | None:
    """The extension the assignee asked for and nobody has answered yet: (days, grounds), or None."""
    for e in reversed(events):
        if e.action in ("extend", "extend_refused", "undo"):
            return None
        if e.action == "extend_request" and e.before:
            asked = json.loads(e.before).get("asked") or {}
            return int(asked.get("days", 0)), asked.get("why")
    return None


def where(t: Ticket) -> str:
    place = f"{t.building}栋" if t.building else ""
    if t.building and t.unit:
        place += f"{t.unit}单元"
    return " ".join(p for p in (t.estate, place) if p)


def _head(t: Ticket) -> str:
    place = texts.missing_place(where(t), t.summary)
    return f"#{t.number} {t.summary}" + (f"（{place}）" if place else "")


def dispatched(t: Ticket, *, ask: str | None, zone: tzinfo) -> str:
    due = as_utc(t.due_at)
    parts = [f"【派单】{_head(t)}"]
    if ask:
        parts.append(f"要求：{ask}")
    if due:
        parts.append(f"请于{texts.md(due, zone)}前办结")
    return (
        "｜".join(parts)
        + f"。收到请回复“签收 {t.number}”；办完回复“办结 {t.number} 处理情况”；不归你们管请回复“退单 {t.number} 原因”。"
    )


def chased(t: Ticket, *, when: str, note: str | None) -> str:
    why = f"｜{note}" if note else ""
    return f"【催办】{_head(t)}｜{when}{why}。请尽快办理，办完回复“办结 {t.number} 处理情况”。"


def extension_answered(t: Ticket, *, granted: bool, zone: tzinfo, why: str | None = None) -> str:
    if granted:
        due = as_utc(t.due_at)
        return f"#{t.number} 延期申请已同意，新的办结期限是{texts.md(due, zone) if due else '—'}。"
    return f"#{t.number} 延期申请没有同意" + (f"：{why}" if why else "") + "，请按原期限办结。"


def taken_back(t: Ticket, action: str) -> str:
    return f"#{t.number} {t.summary}：刚才的“{texts.ACTION_WORDS.get(action, action)}”已撤回，以此为准。"


def to_committee(t: Ticket, action: str, *, unit: str, note: str | None, days: int | None = None) -> str | None:
    """The committee's line when the unit acts on its own; None where it need not hear (签收, 处理)."""
    why = f"：{note}" if note else ""
    if action == "return":
        return f"【退单】{_head(t)}｜{unit}退回{why}。请重新派单：派单 {t.number} 处理人。"
    if action == "extend_request":
        return (
            f"【延期申请】{_head(t)}｜{unit}申请延期{days}天{why}。"
            f"同意请回复“同意延期 {t.number}”，不同意请回复“不同意延期 {t.number} 原因”。"
        )
    if action == "resolve":
        return f"【已办结】{_head(t)}｜{unit}办结{why}。"
    return None
