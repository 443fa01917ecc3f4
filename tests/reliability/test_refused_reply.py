"""A reply the platform refuses (not a lost link: the link is up, this one message is rejected) is retried later,
longer each time, and never holds back the replies after it; a lost link stops the flush and keeps the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from storage.models import Outbox, as_utc
from tests.support import FakeChannel, make_settings, running_app


class Picky(FakeChannel):
    """Refuses every reply to one room while `refusing`, as a gateway does for a room the bot was removed from."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = "第三片区群@chatroom"

    async def send(self, reply) -> None:
        if reply.room_id == self.refusing:
            raise ValueError("gateway: not a member of this room")
        await super().send(reply)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _outbox(app) -> list[Outbox]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Outbox).order_by(Outbox.id))).all())


async def test_a_refused_reply_waits_alone_and_goes_out_once_accepted(tmp_path):
    channel, clock = Picky(), Clock()
    async with running_app(make_settings(tmp_path), channel=channel, clock=clock) as app:
        assert await channel.say("4栋楼道灯坏了，晚上看不见", sender="赵姐", room="第三片区群") == []
        [ack] = await channel.say("6栋下水道堵了，污水冒出来", sender="李叔", room="松涛里邻长群")
        assert "已登记为工单" in ack.text  # not held back by the refused one before it
        refused, accepted = await _outbox(app)
        assert refused.sent_at is None and accepted.sent_at is not None
        assert await app.dispatcher.flush_outbox() == 0  # too soon: it waits
        [refused] = [o for o in await _outbox(app) if o.sent_at is None]
        assert refused.attempts == 1 and as_utc(refused.claimed_until) > clock.now and refused.claimed_by is None
        clock.now += timedelta(seconds=31)
        assert await app.dispatcher.flush_outbox() == 0  # refused again: now it waits twice as long
        [refused] = [o for o in await _outbox(app) if o.sent_at is None]
        assert refused.attempts == 2 and as_utc(refused.claimed_until) - clock.now == timedelta(seconds=60)
        channel.refusing = None  # the bot is back in the room
        clock.now += timedelta(seconds=61)
        assert await app.dispatcher.flush_outbox() == 1
        assert [r.room_id for r in channel.sent] == ["松涛里邻长群@chatroom", "第三片区群@chatroom"]
        assert all(o.sent_at is not None for o in await _outbox(app))


async def test_a_lost_link_stops_the_flush_and_keeps_the_order(tmp_path):
    channel, clock = FakeChannel(), Clock()
    async with running_app(make_settings(tmp_path), channel=channel, clock=clock) as app:
        channel.fail_sends = 10**6  # ConnectionError: the link is down
        for i in range(3):
            assert await channel.say(f"{i + 3}栋楼道灯坏了，晚上看不见", sender=f"邻长{i}") == []
        rows = await _outbox(app)
        assert len(rows) == 3 and all(o.sent_at is None and o.attempts == 0 for o in rows)
        channel.fail_sends = 0
        assert await app.dispatcher.flush_outbox() == 3
        assert [r.text.split("｜")[1][:2] for r in channel.sent] == ["3栋", "4栋", "5栋"]
