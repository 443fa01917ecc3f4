"""A reply is recorded as sent soon after it went out: at WeChat's pace (seconds between sends) each one before the
next is sent, so a crash mid-batch resends at most the reply in flight, not the whole batch's."""

from __future__ import annotations

import asyncio

from sqlmodel import func, select

from handlers.types import IncomingMessage
from storage.models import Outbox
from tests.support import FakeChannel, make_settings, running_app


class Paced(FakeChannel):
    """Sends take 0.3 s, as WeChat's are paced; notes how many replies were recorded as sent at each send."""

    def __init__(self) -> None:
        super().__init__()
        self.app = None
        self.recorded_at_send: list[int] = []

    async def send(self, reply) -> None:
        async with self.app.dispatcher.sessions() as s:
            n = (await s.exec(select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_not(None)))).one()
        self.recorded_at_send.append(n)
        await asyncio.sleep(0.3)
        await super().send(reply)


async def test_at_a_slow_pace_each_reply_is_recorded_before_the_next_is_sent(tmp_path):
    channel = Paced()
    async with running_app(make_settings(tmp_path), channel=channel) as app:
        channel.app = app
        jobs = [
            app.dispatcher.submit(IncomingMessage(
                message_id=f"m{i}", sender_id=f"wxid_{i}", sender_name=f"邻长{i}",
                text=f"{i + 2}栋楼道灯坏了，晚上看不见", room_id="松涛里邻长群@chatroom", room_topic="松涛里邻长群",
            ))
            for i in range(5)
        ]
        await asyncio.gather(*(j.handled for j in jobs))
    assert len(channel.sent) == 5
    assert channel.recorded_at_send == [0, 1, 2, 3, 4], channel.recorded_at_send
