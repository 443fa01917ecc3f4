"""The real app on the WeCom channel against the protocol test server (proven against WeCom's own SDK in
test_conformance.py): reports, queries, staff commands, pushes, reconnection, the outbox across a restart, and
the secret kept out of the logs."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.channels.wecom_channel import MAX_CONTENT_BYTES, WecomChannel, WecomChannelError, split_bytes
from bot.config import ConfigError, load_settings
from handlers.types import Reply
from storage.models import Inbox, Ticket
from tests.support import DEFAULT_CONFIG, make_settings, running_app

NUMBER = re.compile(r"#(\d{4,})")
LEADERS = "wrkSFfCgAALeaders01"  # WeCom chatids of the configured rooms
COMMITTEE = "wrkSFfCgAACommittee1"
STAFF = "LiuZhuRen"  # 刘主任's WeCom userid


def wecom_settings(tmp_path, **overrides):
    """The default config, its rooms bound to WeCom chatids and 刘主任 to a WeCom userid, as an operator binds them."""
    settings = make_settings(tmp_path, ids=False, **overrides)
    ids = {"松涛里邻长群": LEADERS, "书院路社区两委群": COMMITTEE}
    for community in settings.communities:
        for room in community.rooms:
            room.id = ids.get(room.name, room.id)
    for staff in settings.staff:
        if staff.name == "刘主任":
            staff.wechat_id = STAFF
    return settings


def channel_for(server, **kw) -> WecomChannel:
    kw = {"ping_seconds": 5.0, "retry_initial": 0.05, "retry_max": 0.3, "ack_timeout": 2.0, "start_timeout": 10.0, **kw}
    return WecomChannel(server.bot_id, server.secret, url=server.url, **kw)


@asynccontextmanager
async def wecom_app(settings, server, *, clock=None, **kw):
    channel = channel_for(server, **kw)
    async with running_app(settings, channel=channel, clock=clock) as app:
        assert channel.connected
        yield app


async def answered(server, req_id: str, within: float = 15.0) -> str:
    """The content of the accepted answer on the callback `req_id`."""
    [frame] = await server.wait_for(
        lambda: [f for f in server.delivered("aibot_respond_msg") if f.req_id == req_id], within=within,
        what=f"the answer on {req_id}",
    )
    assert frame.body["msgtype"] == "stream" and frame.body["stream"]["finish"] is True
    return frame.body["stream"]["content"]


async def report(server, text: str, *, userid: str = "WangDaJie", chatid: str = LEADERS) -> tuple[str, str]:
    req_id = await server.deliver_text(userid, f"@邻聚小助手 {text}", chatid=chatid)
    content = await answered(server, req_id)
    m = NUMBER.search(content)
    assert m, content
    return m.group(1), content


def said(frame) -> str:
    """What a pushed frame says: a markdown message's content, or a button card's title and text."""
    if frame.body.get("msgtype") == "template_card":
        card = frame.body["template_card"]
        return card["main_title"]["title"] + "。" + card.get("sub_title_text", "")
    return frame.body["markdown"]["content"]


def cards(server, chatid: str = COMMITTEE) -> list:
    return [f for f in server.delivered("aibot_send_msg") if f.body["msgtype"] == "template_card" and f.body["chatid"] == chatid]


async def tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket))).all())


@pytest.fixture
def settings(tmp_path):
    return wecom_settings(tmp_path)


async def test_an_at_mentioned_report_in_a_group_is_acked_with_its_number_on_the_callbacks_req_id(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        number, ack = await report(server, "4栋楼道灯坏了好几天了")
        assert "查询" in ack and "4栋" in ack
        [t] = await tickets(app)
        assert (t.number, t.building, t.reporter_id, t.room_id) == (number, "4", "WangDaJie", LEADERS)
        assert "邻聚小助手" not in t.text and "@" not in t.text  # the robot's mention is not part of the report
        async with app.dispatcher.sessions() as s:
            [row] = (await s.exec(select(Inbox))).all()
        assert row.mentioned and row.room_id == LEADERS
    # An answer to a message goes on its req_id; the only push is the new ticket's card to the committee.
    assert [f.body["msgtype"] for f in server.sends] == ["template_card"]
    assert server.sends[0].body["chatid"] == COMMITTEE


async def test_the_help_says_to_at_mention_the_robot_where_it_sees_only_mentions(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server):
        content = await answered(server, await server.deliver_text("WangDaJie", "@邻聚小助手 帮助", chatid=LEADERS))
        assert "有问题在群里@我说" in content and "“@邻聚小助手 4栋楼道灯坏了”" in content, content
        content = await answered(server, await server.deliver_text("WangDaJie", "@邻聚小助手", chatid=LEADERS))
        assert "@邻聚小助手 4栋楼道灯坏了" in content, content  # a bare mention gets the same help


async def test_a_query_in_the_group_and_in_a_private_chat(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server):
        number, _ = await report(server, "5栋电梯坏了，老人下不了楼")
        req_id = await server.deliver_text("LiShiFu", f"@邻聚小助手 查询 {number}", chatid=LEADERS)
        content = await answered(server, req_id)
        assert f"#{number}" in content and "已登记" in content
        private = await server.deliver_text("WangDaJie", f"查询 {number}")  # the reporter, privately
        content = await answered(server, private)
        assert f"#{number}" in content and "已登记" in content


async def test_a_staff_command_works_from_the_configured_userid_and_is_refused_from_another(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        number, _ = await report(server, "3栋单元门闭门器坏了")
        spoof = await server.deliver_text("SomeoneElse", f"@邻聚小助手 关闭 {number}", chatid=COMMITTEE)
        assert "只有社区工作人员" in await answered(server, spoof)
        assert [t.status for t in await tickets(app)] == ["new"]

        done = await server.deliver_text(STAFF, f"@邻聚小助手 办结 {number} 已换新闭门器", chatid=COMMITTEE)
        content = await answered(server, done)
        assert f"#{number}" in content
        [t] = await tickets(app)
        assert t.status == "resolved"
        # The reporter hears of it: no message of theirs to answer, so it is pushed to the room (or them).
        notice = await server.wait_for(
            lambda: [f for f in server.delivered("aibot_send_msg") if f"#{number}" in said(f) and f.body["msgtype"] == "markdown"],
            what="the reporter's notice",
        )
        assert notice[0].body["chatid"] in (LEADERS, "WangDaJie")


async def test_a_new_ticket_comes_to_the_committee_as_a_card_whose_buttons_work_as_commands(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        number, _ = await report(server, "4栋楼道灯坏了好几天了")
        [card] = await server.wait_for(lambda: cards(server), what="the new ticket's card")
        body = card.body["template_card"]
        assert said(card).startswith(f"【新工单】#{number}") and "4栋" in said(card)
        assert [(b["text"], b["key"]) for b in body["button_list"]] == [
            ("签收", f"签收 {number}"), ("派单", f"派单 {number}"), ("办结", f"办结 {number}")
        ]

        async def press(userid: str, key: str) -> str:
            before = len(server.delivered("aibot_send_msg"))
            await server.deliver_event(userid, "template_card_event", chatid=COMMITTEE, extra={"event_key": key})
            [answer] = await server.wait_for(lambda: server.delivered("aibot_send_msg")[before:], what=f"the answer to {key}")
            return said(answer)

        assert "只有社区工作人员" in await press("SomeoneElse", f"签收 {number}")  # the same rules as typing it
        assert [t.status for t in await tickets(app)] == ["new"]
        assert "派单请发" in await press(STAFF, f"派单 {number}")  # 派单 needs whom: the form is said back
        assert "已签收" in await press(STAFF, f"签收 {number}")
        [t] = await tickets(app)
        assert (t.status, t.assignee) == ("in_progress", "LiuZhuRen")


async def test_an_urgent_report_is_pushed_to_the_committee_chat(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server):
        number, _ = await report(server, "7栋3单元有很重的煤气味，快来人", userid="ZhaoXiuYing")
        [alert] = await server.wait_for(
            lambda: [f for f in server.delivered("aibot_send_msg") if f.body["chatid"] == COMMITTEE],
            what="the urgent alert",
        )
        # Urgent: a card with the alert and 签收 / 派单 / 办结 under it.
        assert alert.body["msgtype"] == "template_card" and alert.body["template_card"]["card_type"] == "button_interaction"
        assert said(alert).startswith("【紧急】") and f"#{number}" in said(alert) and "7栋" in said(alert)


async def test_the_monthly_digest_is_pushed_to_the_committee_chat_with_its_chart_and_spreadsheet(wecom_server, tmp_path):
    from storage import engine as db
    from tests.handlers.test_digest import seed

    settings = wecom_settings(tmp_path)
    engine = db.create_engine(settings.database_url)
    await db.upgrade(engine)
    await seed(db.session_factory(engine))
    await engine.dispose()

    server = wecom_server
    now = datetime(2026, 11, 3, 2, tzinfo=UTC)  # the bot was down at 09:00 on Nov 1: October's goes out at start
    async with wecom_app(settings, server, clock=lambda: now) as app:
        await app.digest_catchup
        pushes = await server.wait_for(lambda: len(server.delivered("aibot_send_msg")) >= 3 and server.delivered("aibot_send_msg"))
    text, chart, sheet = pushes
    assert {f.body["chatid"] for f in pushes} == {COMMITTEE}
    assert text.body["markdown"]["content"].startswith("【书院路社区·2026年10月诉求月报】")
    assert chart.body["msgtype"] == "image" and sheet.body["msgtype"] == "file"
    png = server.media[chart.body["image"]["media_id"]]
    xlsx = server.media[sheet.body["file"]["media_id"]]
    assert png["data"].startswith(b"\x89PNG") and png["filename"].endswith(".png")
    assert xlsx["data"].startswith(b"PK") and xlsx["filename"].endswith(".xlsx")


async def test_the_channel_reconnects_after_the_server_drops_the_link(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        await report(server, "2栋门口路灯不亮了")
        await server.drop()
        await server.wait_for(lambda: server.subscribed >= 2, what="a second subscription")
        await app.channel.wait_ready(5)
        number, _ = await report(server, "6栋化粪池满了往外冒", userid="LiShiFu")
        assert len(await tickets(app)) == 2 and number


async def test_unanswered_heartbeats_make_the_channel_redial(wecom_server, settings):
    server = wecom_server
    server.answer_pings = False
    async with wecom_app(settings, server, ping_seconds=0.1) as app:
        await server.wait_for(lambda: server.subscribed >= 2, within=5, what="a redial after missed heartbeats")
        first = [f for f in server.pings if f.conn == 1]
        assert len(first) == 2, "the link is given up after exactly two unanswered heartbeats"
        server.answer_pings = True
        await app.channel.wait_ready(5)
        await report(server, "8栋楼顶漏水")


async def test_reconnection_backs_off_doubling_up_to_the_cap(wecom_server, settings):
    """Scaled down (0.1 s doubling to 0.4 s); the defaults are WeCom's: 1 s doubling to 30 s, heartbeat 30 s."""
    defaults = WecomChannel("id", "secret")
    assert (defaults.retry_initial, defaults.retry_max, defaults.ping_seconds) == (1.0, 30.0, 30.0)
    server = wecom_server
    async with wecom_app(settings, server, retry_initial=0.1, retry_max=0.4):
        server.accepting = False  # the outage: every connection is cut at once
        await server.drop()
        await server.wait_for(lambda: server.connections >= 6, within=10, what="five attempts during the outage")
        times = server.connected_at[1:6]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        for gap, expected in zip(gaps, [0.2, 0.4, 0.4, 0.4], strict=True):
            assert expected * 0.9 <= gap <= expected + 0.5, gaps
        server.accepting = True
        await server.wait_for(lambda: server.subscribed >= 2, within=5, what="the link back after the outage")
        await report(server, "8栋楼顶漏水")


async def test_send_raises_when_wecom_does_not_acknowledge(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server, ack_timeout=0.3) as app:
        server.ack_replies = False
        with pytest.raises(TimeoutError):
            await app.channel.send(Reply(text="测试", room_id=COMMITTEE))
        server.ack_replies, server.refuse_replies = True, 1
        with pytest.raises(RuntimeError, match="errcode=600039"):
            await app.channel.send(Reply(text="测试", room_id=COMMITTEE))
        await server.drop()
        with pytest.raises(ConnectionError):
            await app.channel.send(Reply(text="测试", room_id=COMMITTEE))


async def test_no_reply_is_lost_or_doubled_across_a_restart(wecom_server, settings, monkeypatch):
    """WeCom acknowledges no reply while the first app runs (each send times out and raises); the app stops; the
    second app, on the same database, sends each reply once (a push now: the callbacks went with the first
    process)."""
    monkeypatch.setattr("bot.app.RETRY_FIRST", 3600.0)  # no retries inside the first run
    server = wecom_server
    server.ack_replies = False
    async with wecom_app(settings, server, ack_timeout=0.3) as app:
        for userid, text in [("WangDaJie", "2栋门口路灯不亮了"), ("LiShiFu", "6栋化粪池满了往外冒")]:
            await server.deliver_text(userid, f"@邻聚小助手 {text}", chatid=LEADERS)

        async def both_filed() -> bool:
            return len(await tickets(app)) == 2

        for _ in range(100):
            if await both_filed():
                break
            await asyncio.sleep(0.1)
        await server.wait_for(lambda: server.responds, what="an unacknowledged answer")
        numbers = sorted(t.number for t in await tickets(app))
    assert len(numbers) == 2 and server.delivered() == []

    server.ack_replies = True
    async with wecom_app(settings, server):
        await server.wait_for(lambda: len(server.delivered()) >= 2, what="the kept replies")
        await asyncio.sleep(1.0)  # nothing more comes
    delivered = server.delivered()
    acks = [f for f in delivered if f.body["chatid"] == LEADERS]
    assert sorted(NUMBER.search(said(f)).group(1) for f in acks) == numbers, [f.body for f in delivered]
    # and each new ticket's card to the committee, once
    assert sorted(NUMBER.search(said(f)).group(1) for f in cards(server)) == numbers
    assert len(delivered) == len(acks) + len(cards(server))


async def test_the_secret_never_appears_in_the_logs(wecom_server, settings, caplog):
    caplog.set_level(logging.DEBUG)
    server = wecom_server
    async with wecom_app(settings, server):
        await report(server, "9栋下水道堵了")
        await server.drop()
        await server.wait_for(lambda: server.subscribed >= 2, what="a second subscription")
    wrong = channel_for(server)
    wrong._secret = wrong._redact.secret = "Wrong-" + server.secret
    with pytest.raises(WecomChannelError) as refused:
        await wrong.start(lambda _m: asyncio.sleep(0))
    logged = caplog.text
    assert "aibot_subscribe" in logged, "the frame log (websockets at DEBUG) was not captured: the test proves nothing"
    assert server.secret not in logged and server.secret not in str(refused.value)
    assert server.secret not in repr(channel_for(server))


async def test_enter_chat_gets_a_welcome_within_five_seconds(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server):
        req_id = await server.deliver_event("NewLeader", "enter_chat")
        [welcome] = await server.wait_for(
            lambda: server.delivered("aibot_respond_welcome_msg"), within=5, what="the welcome"
        )
    assert welcome.req_id == req_id and welcome.body["msgtype"] == "text"
    assert "@邻聚小助手 4栋楼道灯坏了" in welcome.body["text"]["content"]


async def test_voice_is_filed_by_its_transcript_and_an_image_is_recorded_unanswered(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        voice = await server.deliver_text(
            "WangDaJie", "", chatid=LEADERS, msgtype="voice", extra={"voice": {"content": "@邻聚小助手 10栋电梯困人了"}}
        )
        assert NUMBER.search(await answered(server, voice))
        await server.deliver_text(
            "WangDaJie", "", chatid=LEADERS, msgtype="image", extra={"image": {"url": "https://x/y", "aeskey": "k"}}
        )

        async def image_done() -> bool:
            async with app.dispatcher.sessions() as s:
                rows = (await s.exec(select(Inbox).where(Inbox.kind == "image"))).all()
            return bool(rows) and rows[0].status == "done"

        for _ in range(50):
            if await image_done():
                break
            await asyncio.sleep(0.1)
        assert await image_done()
        [t] = await tickets(app)
        assert t.building == "10"
    assert len(server.responds) == 1


def test_messages_are_parsed_as_the_sdk_describes_them():
    channel = WecomChannel("id", "secret", bot_name="邻聚小助手")
    base = {"msgid": "m1", "aibotid": "id", "chattype": "group", "chatid": "wrkC", "from": {"userid": "u1"}, "create_time": 1767225600000}
    text = channel.parse_message({**base, "msgtype": "text", "text": {"content": "@邻聚小助手 4栋楼道灯坏了"}})
    assert text is not None
    assert (text.message_id, text.sender_id, text.room_id, text.text, text.kind, text.mentioned_bot) == (
        "m1", "u1", "wrkC", "4栋楼道灯坏了", "text", True
    )
    assert text.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    other_name = channel.parse_message({**base, "msgtype": "text", "text": {"content": "@社区机器人 4栋楼道灯坏了"}})
    assert other_name is not None and other_name.text == "4栋楼道灯坏了"
    mixed = channel.parse_message({**base, "msgtype": "mixed", "mixed": {"msg_item": [
        {"msgtype": "text", "text": {"content": "@邻聚小助手 这里漏水"}}, {"msgtype": "image", "image": {"url": "u"}}]}})
    assert mixed is not None and (mixed.text, mixed.kind) == ("这里漏水", "text")
    file = channel.parse_message({**base, "msgtype": "file", "file": {"url": "u"}})
    assert file is not None and (file.kind, file.text) == ("file", "[文件]")
    single = channel.parse_message({**base, "chattype": "single", "chatid": None, "msgtype": "text", "text": {"content": "查询 1234"}})
    assert single is not None and single.room_id is None and single.is_private
    assert channel.parse_message({**base, "from": {}}) is None


def test_long_text_is_split_within_wecoms_byte_limit():
    text = "\n".join(f"#{i:04d} 4栋楼道灯坏了，已登记，请耐心等待处理结果。" for i in range(2000))
    parts = split_bytes(text)
    assert len(parts) > 1 and all(len(p.encode()) <= MAX_CONTENT_BYTES for p in parts)
    assert "\n".join(parts) == text
    one_line = "灯" * 10_000
    assert [len(p.encode()) for p in split_bytes(one_line)] == [20_478, 9_522]


async def test_a_long_push_goes_out_in_parts(wecom_server, settings):
    server = wecom_server
    async with wecom_app(settings, server) as app:
        text = "\n".join(f"第{i}行：4栋楼道灯坏了，已登记。" for i in range(1500))
        await app.channel.send(Reply(text=text, room_id=COMMITTEE))
    parts = [f.body["markdown"]["content"] for f in server.delivered("aibot_send_msg")]
    assert len(parts) > 1 and "\n".join(parts) == text
    assert all(len(p.encode()) <= MAX_CONTENT_BYTES for p in parts)


def test_the_bot_id_and_secret_come_only_from_the_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8") + "\nwecom:\n  secret: oops\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="LINJU_WECOM__SECRET"):
        load_settings(cfg)
    monkeypatch.setenv("LINJU_CHANNEL", "wecom")
    monkeypatch.setenv("LINJU_WECOM__BOT_ID", "aibot-1")
    monkeypatch.setenv("LINJU_WECOM__SECRET", "s3cret")
    monkeypatch.setenv("LINJU_WECOM__URL", "ws://127.0.0.1:9")
    s = load_settings(DEFAULT_CONFIG)
    channel = WecomChannel.from_settings(s)
    assert (s.channel, channel.bot_id, channel.url, channel.ping_seconds) == ("wecom", "aibot-1", "ws://127.0.0.1:9", 30.0)
    assert "s3cret" not in repr(s) and "s3cret" not in repr(channel)
    monkeypatch.delenv("LINJU_WECOM__SECRET")
    with pytest.raises(WecomChannelError, match="LINJU_WECOM__SECRET"):
        WecomChannel.from_settings(load_settings(DEFAULT_CONFIG))
