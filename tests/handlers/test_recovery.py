"""Inbox first: messages stored before a crash are handled at the next start, replies included."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from storage import engine as db
from storage import messages
from storage.models import Inbox, Ticket
from tests.support import FakeChannel


async def test_unhandled_messages_are_handled_at_start(settings):
    engine = db.create_engine(settings.database_url)
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        await messages.record_incoming(
            s,
            message_id="crash-1",
            room_id="松涛里邻长群@chatroom",
            room_topic="松涛里邻长群",
            sender_id="wxid_a",
            sender_name="王贵宝",
            text="12栋楼顶水箱漏水了",
        )
        await s.commit()
    await engine.dispose()

    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    try:
        async with app.dispatcher.sessions() as s:
            row = (await s.exec(select(Inbox))).one()
            ticket = (await s.exec(select(Ticket))).one()
        assert row.status == "done" and row.ticket_number == ticket.number
        assert ticket.building == "12"
        assert len(channel.sent) == 1 and ticket.number in channel.sent[0].text
    finally:
        await app.stop()
