"""Each exit uses the one privacy module: notices, query answers and logs (LLM requests: tests/llm/
test_privacy_to_llm.py; digests and spreadsheets: tests/handlers/test_digest.py). A name known only to the
module (the roster's) is the proof: no other code could take it out."""

from __future__ import annotations

import io
import logging
import re

from sqlmodel import select

from handlers.notify import Notifier
from handlers.router import Router
from nlp.privacy import Privacy
from storage.models import Inbox, Ticket
from storage.roster import import_rows

NUMBER = re.compile(r"#(\d{4,})")
STAFF_ROOM = "书院路社区两委群"
PHONE = "13912345678"


async def test_notices_go_through_the_privacy_module():
    ticket = Ticket(
        number="3810", category="drainage", summary="4栋 邓春花家门口下水道堵塞", reporter_id="wxid_w",
        reporter_name="王贵宝", source="wechat", assignee=f"邓春花 {PHONE}",
    )
    notifier = Notifier(quiet_hours=None, privacy=Privacy(["邓春花"]))
    from datetime import UTC, datetime

    [assigned] = await notifier.status_notice(None, ticket, "assign", now=datetime.now(UTC))  # type: ignore[arg-type]
    [resolved] = await notifier.status_notice(
        None, ticket, "resolve", now=datetime.now(UTC), note=f"找了邓春花 回复：已请邓春花家配合，电话{PHONE}"  # type: ignore[arg-type]
    )
    for notice in (assigned, resolved):
        assert "邓春花" not in notice.text and PHONE not in notice.text, notice.text
    assert "已派给工作人员处理" in assigned.text and "邓某家配合" in resolved.text


async def test_query_answers_go_through_the_privacy_module(app, chat):
    async with app.dispatcher.sessions() as s:
        await import_rows(s, [(2, {"display_name": "邓春花", "role": "邻长"})])
        await s.commit()
    assert await app.refresh_names()
    [ack] = await chat.say("4栋邓春花家门口下水道堵了", sender="王贵宝")
    number = NUMBER.search(ack.text).group(1)
    await chat.say(f"办结 {number} 回复：已通知邓春花，有事打{PHONE}", sender="刘主任", room=STAFF_ROOM)
    for asked in ("查询 " + number, "我的工单", "我上次反映的下水道怎么样了"):
        [answer] = await chat.say(asked, sender="王贵宝")
        assert f"#{number}" in answer.text
        assert "邓春花" not in answer.text and PHONE not in answer.text, answer.text


async def test_log_lines_go_through_the_privacy_module(app, chat, settings):
    """The app puts the module in front of every log handler: a roster name and a phone never reach a log."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        from bot.wiring import attach_log_filter, detach_log_filter

        added = attach_log_filter(app.privacy)  # what App.open does for the handlers there at start-up
        logging.getLogger("handlers.report").warning("about 刘主任 at %s", PHONE)
        try:
            raise ValueError(f"刘主任 {PHONE}")
        except ValueError:
            logging.getLogger("handlers.service").exception("with a traceback")
        detach_log_filter(added)
    finally:
        root.removeHandler(handler)
    written = stream.getvalue()
    assert "刘某" in written and "刘主任" not in written and PHONE not in written


async def test_a_failure_keeps_no_message_text_in_the_inbox_or_the_log(settings, caplog):
    """A handler that fails with the message (and a phone) in its exception: neither is stored nor logged."""
    from bot import app as bot_app
    from tests.support import FakeChannel

    class Leaky:
        name = "leaky"

        async def __call__(self, ctx):
            if "BOOM" in ctx.text:
                raise RuntimeError(f"could not handle {ctx.msg.text!r}")
            return None

    channel = FakeChannel()
    app = bot_app.App(settings, channel=channel)
    build = bot_app.build_router
    bot_app.build_router = lambda *a, **k: Router([Leaky(), *build(*a, **k).handlers])
    try:
        await app.start()
    finally:
        bot_app.build_router = build
    secret = f"BOOM 王大姐家住502，电话{PHONE}"
    try:
        with caplog.at_level(logging.ERROR):
            await channel.say(secret, message_id="leaky-1")
        async with app.dispatcher.sessions() as s:
            row = (await s.exec(select(Inbox).where(Inbox.message_id == "leaky-1"))).one()
    finally:
        await app.stop()
    assert row.status == "failed" and row.error.startswith("RuntimeError: could not handle")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "leaky-1" in logged
    for where in (row.error, logged):
        text = re.sub(r"line \d+", "line N", where)  # a traceback's line numbers are not the room number
        assert "王大姐" not in text and PHONE not in text and "502" not in text, where
