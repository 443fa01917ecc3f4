"""Redelivery: the same message id delivered again (a reconnecting WeChat client) is handled once."""

from __future__ import annotations

import asyncio
import json
import subprocess

from sqlmodel import select

from bot.app import App
from storage import engine as db
from storage import messages
from storage.models import Inbox, Ticket
from tests.reliability.support import cli_env, linju_command, write_config
from tests.support import REPO, FakeChannel


async def rows(app, model):
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(model))).all())


async def test_a_message_delivered_twice_in_a_row_is_handled_once(app, chat):
    first = await chat.say("5栋电梯坏了，困了人", message_id="wx-1")
    again = await chat.say("5栋电梯坏了，困了人", message_id="wx-1")
    assert len(first) >= 1 and again == []
    assert len(await rows(app, Inbox)) == 1 and len(await rows(app, Ticket)) == 1


async def test_a_message_delivered_twice_at_once_is_handled_once(app, chat):
    results = await asyncio.gather(*(chat.say("3栋楼道灯坏了", message_id="wx-2") for _ in range(5)))
    assert sum(len(r) for r in results) == 1, results
    assert len(await rows(app, Inbox)) == 1 and len(await rows(app, Ticket)) == 1


async def test_a_redelivery_with_other_text_keeps_the_first_and_changes_nothing(app, chat):
    [ack] = await chat.say("8栋门口下水道堵了", message_id="wx-3")
    assert await chat.say("撤销 " + ack.text.split("#")[1][:4], message_id="wx-3") == []
    [t] = await rows(app, Ticket)
    [row] = await rows(app, Inbox)
    assert t.status == "new" and row.text == "8栋门口下水道堵了"


async def test_a_redelivery_after_a_restart_is_handled_once(settings):
    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    try:
        assert len(await channel.say("12栋楼顶水箱漏水了", message_id="wx-4")) == 1
    finally:
        await app.stop()
    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    try:
        assert await channel.say("12栋楼顶水箱漏水了", message_id="wx-4") == []
        assert channel.sent == []
        assert len(await rows(app, Ticket)) == 1
    finally:
        await app.stop()


async def test_a_redelivery_of_a_message_stored_before_a_crash_is_handled_once(settings):
    # The crash left the message recorded but unhandled; the client sends it again after reconnecting.
    engine = db.create_engine(settings.database_url)
    await db.upgrade(engine)
    async with db.session_factory(engine)() as s:
        await messages.record_incoming(
            s, message_id="wx-5", room_id="松涛里邻长群@chatroom", room_topic="松涛里邻长群",
            sender_id="wxid_王贵宝", sender_name="王贵宝", text="6栋的路灯不亮了",
        )
        await s.commit()
    await engine.dispose()
    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    try:
        again = await channel.say("6栋的路灯不亮了", message_id="wx-5")
        await asyncio.sleep(0)
        assert len(channel.sent) == 1 and len(again) <= 1
        assert len(await rows(app, Ticket)) == 1
        [row] = await rows(app, Inbox)
        assert row.status == "done"
    finally:
        await app.stop()


def test_linju_chat_jsonl_answers_a_repeated_id_once(tmp_path):
    lines = [
        {"id": "r-1", "room": "松涛里邻长群", "sender": "王贵宝", "text": "9栋电梯坏了"},
        {"id": "r-2", "room": "松涛里邻长群", "sender": "李建国", "text": "收到"},
        {"id": "r-1", "room": "松涛里邻长群", "sender": "王贵宝", "text": "9栋电梯坏了"},
        {"id": "r-3", "room": "松涛里邻长群", "sender": "刘桂兰", "text": "2栋门禁刷不开了"},
        {"id": "r-3", "room": "松涛里邻长群", "sender": "刘桂兰", "text": "2栋门禁刷不开了"},
    ]
    config = write_config(tmp_path)
    stdin = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in lines)
    for _ in range(2):  # and again in a second process on the same database: nothing more
        out = subprocess.run(
            linju_command("chat", "--jsonl", "--config", str(config)),
            input=stdin, capture_output=True, text=True, cwd=REPO, env=cli_env(), timeout=300,
        )
        assert out.returncode == 0, out.stderr
        replies = [json.loads(line) for line in out.stdout.splitlines()]
        if _ == 0:
            assert [r["to"] for r in replies] == ["王贵宝", "刘桂兰"], replies
        else:
            assert replies == []
