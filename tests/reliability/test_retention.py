"""Retention: chat messages lose their text after the configured days (reports and held messages do not), the
message id stays so a redelivery is still recognised, and `linju db purge` and the daily job do it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.app import App
from bot.cli import main
from storage.models import Inbox, Outbox
from tests.reliability.support import write_config
from tests.support import FakeChannel, make_settings


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def inbox(app) -> dict[str, Inbox]:
    async with app.dispatcher.sessions() as s:
        return {r.message_id: r for r in (await s.exec(select(Inbox))).all()}


async def test_chat_loses_its_text_after_the_retention_period_and_reports_do_not(tmp_path):
    settings = make_settings(tmp_path)
    settings.limits.sender.tickets_per_hour = 1  # so that one message is held for staff
    clock = Clock()
    chat = FakeChannel()
    app = App(settings, channel=chat, clock=clock)
    await app.start()
    try:
        assert ("retention-purge", "30 3 * * *", app.purge) in app.scheduled_jobs()
        await chat.say("今天天气真好，王贵宝家的花开了，电话13812345678", message_id="chat-1")
        await chat.say("4栋楼道灯坏了", message_id="report-1")
        await chat.say("6栋电梯坏了", message_id="held-1")
        await chat.say("我的工单", message_id="query-1")
        assert (await inbox(app))["held-1"].intent == "limited"
        assert await app.purge() == (0, 0), "nothing is old enough yet"
        clock.now += timedelta(days=31)
        cleared, deleted = await app.purge()
        rows = await inbox(app)
        assert cleared == 2 and deleted >= 3
        for mid in ("chat-1", "query-1"):
            assert (rows[mid].text, rows[mid].sender_name, rows[mid].sender_id) == ("", "", ""), mid
        assert rows["report-1"].text == "4栋楼道灯坏了" and rows["held-1"].text == "6栋电梯坏了"
        assert set(rows) == {"chat-1", "report-1", "held-1", "query-1"}, "every id is kept"
        # A redelivered message is still recognised and not handled twice.
        assert await chat.say("我的工单", message_id="query-1") == []
        async with app.dispatcher.sessions() as s:
            assert (await s.exec(select(Outbox))).all() == [], "sent replies older than the period are gone"
    finally:
        await app.stop()


def test_linju_db_purge_clears_old_chat_on_demand(tmp_path, capsys):
    import asyncio

    from storage import engine as db
    from storage import messages

    config = write_config(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'linju.db'}"

    async def seed() -> None:
        engine = db.create_engine(url)
        await db.upgrade(engine)
        async with db.session_factory(engine)() as s:
            old = datetime.now(UTC) - timedelta(days=3)
            stored = await messages.record_many(
                s, [{"message_id": "old-chat", "sender_id": "u", "sender_name": "甲", "text": "吃了吗", "received_at": old}]
            )
            await messages.finish_many(s, [{"inbox_id": stored["old-chat"][0], "status": "done", "intent": "chat"}])
            await s.commit()
        await engine.dispose()

    asyncio.run(seed())
    assert main(["db", "purge", "--config", str(config)]) == 0
    assert "cleared the text of 0 chat message(s) older than 30 days" in capsys.readouterr().out
    assert main(["db", "purge", "--days", "2", "--config", str(config)]) == 0
    assert "cleared the text of 1 chat message(s) older than 2 days" in capsys.readouterr().out
    assert main(["db", "purge", "--days", "0", "--config", str(config)]) == 2
