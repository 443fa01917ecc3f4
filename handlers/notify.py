"""Status-change notices to the reporter's room, held during the room's quiet hours unless urgent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.types import Mention, Reply
from nlp.privacy import Privacy
from storage import repo
from storage.models import Ticket

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-~～到至]\s*(\d{1,2}):(\d{2})\s*$")
_OFF = {"", "off", "none", "no", "false", "关", "无"}
# Staff mark what a resident may read: "办结 3810 已联系业主 回复：已疏通，谢谢反映" tells them only "已疏通…".
_REPLY = re.compile(r"(?:^|[\s,，。;；])(?:回复|答复)\s*[:：]\s*(\S.*)$", re.S)


def reply_part(note: str | None) -> str | None:
    """The part of a staff note marked as the reply to the resident, or None: the rest stays with staff."""
    m = _REPLY.search(note or "")
    return m.group(1).strip() if m else None


class ForResidents:
    """What of a ticket a resident may read, through the one privacy module: the summary, the reply staff
    marked for them, and who handles it (a name or a phone number there becomes "工作人员")."""

    def __init__(self, privacy: Privacy) -> None:
        self.privacy = privacy

    def text(self, text: str | None) -> str:
        return self.privacy.for_people(text)

    def reply(self, note: str | None) -> str | None:
        part = reply_part(note)
        return full_width(self.privacy.for_people(part)) if part else None

    def assignee(self, assignee: str | None) -> str | None:
        if not assignee:
            return None
        return assignee if self.privacy.for_people(assignee) == assignee else None


_HALF = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
_HALF_IN_CHINESE = re.compile(r"(?<=[\u4e00-\u9fff）])\s*([,;:?!)])\s*|\s*([,;:?!(])\s*(?=[\u4e00-\u9fff])")


def full_width(text: str) -> str:
    """Chinese punctuation inside Chinese text ("已疏通,明天复查" → "已疏通，明天复查"): staff type on phones and
    computers alike, residents read it as one voice. Numbers and Latin text keep theirs (3.5, 10:30)."""
    return _HALF_IN_CHINESE.sub(lambda m: _HALF[m.group(1) or m.group(2)], text)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) in which non-urgent notices wait; may run past midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, spec: str | None) -> QuietHours | None:
        """ "22:00-07:00" → QuietHours; "", "off" or None → no quiet hours. Raises ValueError when malformed."""
        if spec is None or spec.strip().lower() in _OFF:
            return None
        m = _SPEC.match(spec)
        if not m:
            raise ValueError(f"quiet hours must look like 22:00-07:00, not {spec!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"quiet hours must look like 22:00-07:00, not {spec!r}")
        if (h1, m1) == (h2, m2):
            return None
        return cls(time(h1, m1), time(h2, m2))

    def contains(self, t: time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def release_at(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """When a notice written at `now` may go out: None if now is outside the window, else the window's end."""
        local = now.astimezone(tz)
        if not self.contains(local.time().replace(tzinfo=None)):
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


TELL_SUPPORTERS = ("assign", "resolve")


class Notifier:
    """Builds the line a reporter's room gets when their ticket changes, with quiet hours applied."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Shanghai",
        quiet_hours: str | None = "22:00-07:00",
        room_quiet_hours: Mapping[str, str | None] | None = None,
        privacy: Privacy | None = None,
    ) -> None:
        self.public = ForResidents(privacy or Privacy())
        self.tz = ZoneInfo(timezone)
        self.default = QuietHours.parse(quiet_hours)
        # by room topic; a room without its own setting uses the default
        self.rooms = {topic: QuietHours.parse(spec) for topic, spec in (room_quiet_hours or {}).items() if spec is not None}

    def hold_until(self, now: datetime, *, topic: str | None, urgent: bool = False) -> datetime | None:
        if urgent:
            return None
        quiet = self.rooms.get(topic, self.default) if topic is not None else self.default
        return quiet.release_at(now, self.tz) if quiet else None

    async def status_notice(
        self,
        session: AsyncSession,
        ticket: Ticket,
        action: str,
        *,
        now: datetime,
        note: str | None = None,
        other: str | None = None,
    ) -> list[Reply]:
        """The reporter (and relaying leader) told, in their room, that `ticket` moved on; [] if no one to tell.

        Staff notes stay with staff; only the part marked "回复：" reaches the reporter, redacted."""
        p = self.public
        text = texts.notice(
            action,
            ticket.number,
            p.text(ticket.summary),
            assignee=p.assignee(ticket.assignee),
            note=p.reply(note),
            other=other,
        )
        if text is None or ticket.source not in texts.CHAT_SOURCES or not ticket.reporter_id:
            return []  # offline sources (意见箱, 议事会 …) have nobody to tell in a chat
        if ticket.room_id is None:  # reported in a private chat: answer there
            hold = self.hold_until(now, topic=None, urgent=ticket.urgent)
            return [Reply(text=text, contact_id=ticket.reporter_id, not_before=hold)]
        mentions = [Mention(ticket.reporter_id, ticket.reporter_name)]
        if ticket.relay_id and ticket.relay_id != ticket.reporter_id:
            mentions.append(Mention(ticket.relay_id, ticket.relay_name or ""))
        others: dict[str, list[Mention]] = {}
        privately: list[str] = []
        if action in TELL_SUPPORTERS and ticket.id is not None:
            # Those counted behind the ticket are told of dispatch and resolution where they said it.
            for pid, name, room_id in await repo.supporters(session, ticket.id):
                if room_id == ticket.room_id:
                    mentions.append(Mention(pid, name))
                elif room_id is not None:
                    others.setdefault(room_id, []).append(Mention(pid, name))
                else:
                    privately.append(pid)
        replies = [Reply(text=text, contact_id=pid, not_before=self.hold_until(now, topic=None, urgent=ticket.urgent))
                   for pid in privately]
        for room_id, ms in [(ticket.room_id, mentions), *others.items()]:
            room = await repo.get_room(session, room_id)
            hold = self.hold_until(now, topic=room.topic if room else None, urgent=ticket.urgent)
            replies.append(Reply(text=text, room_id=room_id, mentions=tuple(ms), not_before=hold))
        return replies
