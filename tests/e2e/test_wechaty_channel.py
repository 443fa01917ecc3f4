"""The wechaty channel on its own against the Node puppet server: delivery, mentions, kinds, sending."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.channels.wechaty_channel import WechatyChannel, clear_wechaty_pools
from handlers.types import IncomingMessage, Mention, Reply
from tests.e2e.wechat_harness import eventually


@pytest.fixture
async def channel(harness, tmp_path):
    clear_wechaty_pools()
    received: asyncio.Queue[IncomingMessage] = asyncio.Queue()

    async def on_message(msg: IncomingMessage) -> None:
        await received.put(msg)

    ch = WechatyChannel(
        bot_name=harness.bot["name"],
        data_dir=tmp_path,
        endpoint=harness.grpc_endpoint,
        token=harness.token,
        retry_initial=0.2,
        retry_max=1.0,
        probe_interval=2.0,
    )
    first_login = asyncio.Event()

    async def logged_in() -> None:
        first_login.set()

    ch.on_connected = logged_in
    await ch.start(on_message)
    await ch.wait_ready(10)
    # The login callback runs after the login; wait for it so a test's own callback sees only later logins.
    await asyncio.wait_for(first_login.wait(), 10)
    ch.on_connected = None
    ch.received = received  # type: ignore[attr-defined]
    try:
        yield ch
    finally:
        await asyncio.wait_for(ch.close(), 10)


async def next_message(ch, within: float = 10) -> IncomingMessage:
    return await asyncio.wait_for(ch.received.get(), within)


async def test_echo_round_trip(harness, channel):
    """A room message arrives with room and sender; a reply mentioning the sender reaches the room."""
    mark = await harness.mark()
    await harness.say("wangdajie", "你好")
    msg = await next_message(channel)
    assert msg.text == "你好"
    assert msg.room_id == harness.rooms["leaders"]["id"]
    assert msg.room_topic == "松涛里邻长群"
    assert msg.sender_id == harness.contacts["wangdajie"]["id"]
    assert msg.sender_name == "王大姐"
    assert msg.kind == "text" and not msg.mentioned_bot
    await channel.send(Reply.to(msg, "收到"))
    [sent] = await harness.wait_sent(since=mark)
    assert sent["roomId"] == msg.room_id
    assert sent["mentionIds"] == [msg.sender_id]
    assert sent["text"] == "@王大姐\u2005收到"


async def test_a_mention_from_the_puppet_list_or_the_text_is_detected_and_stripped(harness, channel):
    bot_id = harness.bot["id"]
    await harness.say("wangdajie", "4栋灯坏了", at_bot=True)  # "@邻聚小助手\u2005..." and the mention list
    await harness.say("wangdajie", "5栋灯坏了", mentions=[bot_id])  # list only (text without "@")
    await harness.say("wangdajie", "@邻聚小助手 6栋灯坏了")  # text only, as some puppets deliver it
    await harness.say("wangdajie", "@刘主任\u20057栋灯坏了", mentions=[harness.contacts["liuzhuren"]["id"]])
    got = [await next_message(channel) for _ in range(4)]
    assert [m.mentioned_bot for m in got] == [True, True, True, False]
    assert [m.text for m in got] == ["4栋灯坏了", "5栋灯坏了", "6栋灯坏了", "7栋灯坏了"]


async def test_a_private_message_has_no_room(harness, channel):
    mark = await harness.mark()
    await harness.say("liuzhuren", "查询 0001", room=None)
    msg = await next_message(channel)
    assert msg.is_private and msg.room_topic is None
    assert (msg.sender_id, msg.sender_name, msg.text) == (
        harness.contacts["liuzhuren"]["id"],
        "刘主任",
        "查询 0001",
    )
    await channel.send(Reply.to(msg, "工单 #0001 已登记"))
    [sent] = await harness.wait_sent(since=mark)
    assert sent["contactId"] == msg.sender_id and sent["roomId"] is None
    assert sent["text"] == "工单 #0001 已登记" and sent["mentionIds"] == []


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("image", "[图片]"),
        ("voice", "[语音]"),
        ("video", "[视频]"),
        ("file", "[文件]"),
        ("emoticon", "[表情]"),
        ("red_packet", "[红包]"),
        ("link", "[链接]"),
        ("mini_program", "[小程序]"),
    ],
)
async def test_non_text_messages_arrive_with_their_kind_and_a_placeholder(harness, channel, kind, text):
    await harness.say("zhaoayi", "", kind=kind)
    msg = await next_message(channel)
    assert (msg.kind, msg.text, msg.room_topic) == (kind, text, "松涛里邻长群")


async def test_a_voice_message_brings_its_silk_recording_through_the_gateway(harness, channel, silk_bytes, tmp_path):
    """WeChat voice is a SILK file: downloaded (messageFile) into data_dir/media, as photos are."""
    await harness.say("zhaoayi", "", kind="voice", file=("message-1-audio.silk", silk_bytes))
    msg = await next_message(channel)
    assert (msg.kind, msg.text, msg.transcribed_by) == ("voice", "[语音]", None)
    assert msg.media is not None and Path(msg.media).parent == tmp_path / "media" and msg.media.endswith(".silk")
    assert await asyncio.to_thread(Path(msg.media).read_bytes) == silk_bytes


async def test_the_bots_own_messages_are_dropped(harness, channel):
    mark = await harness.mark()
    room = harness.rooms["leaders"]["id"]
    await channel.send(Reply(text="大家好，我是邻聚小助手", room_id=room))
    await harness.wait_sent(since=mark)
    await harness.say("wangdajie", "after")
    assert (await next_message(channel)).text == "after"  # the echo of our own message never came through
    assert channel.received.empty()


async def test_a_long_reply_is_split_in_order_on_line_boundaries(harness, channel):
    mark = await harness.mark()
    lines = [f"第{i:03d}行：" + "工单状态说明" * 12 for i in range(60)]  # about 5,000 characters
    room = harness.rooms["committee"]["id"]
    sender = harness.contacts["liuzhuren"]
    reply = Reply(text="\n".join(lines), room_id=room, mentions=(Mention(sender["id"], sender["name"]),))
    await channel.send(reply)
    parts = await harness.wait_sent(since=mark, count=3)
    assert all(len(p["text"]) <= channel.max_text_length for p in parts)
    assert parts[0]["text"].startswith("@刘主任\u2005第000行") and parts[0]["mentionIds"] == [sender["id"]]
    assert all(p["mentionIds"] == [] for p in parts[1:])
    rejoined = "\n".join([parts[0]["text"].removeprefix("@刘主任\u2005")] + [p["text"] for p in parts[1:]])
    assert rejoined == reply.text


async def test_a_file_is_sent_to_the_room(harness, channel, tmp_path):
    mark = await harness.mark()
    path = tmp_path / "2026-10 工单.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"x" * 5000)
    await channel.send(Reply(text="十月工单汇总", room_id=harness.rooms["committee"]["id"], file=path))
    text, file = await harness.wait_sent(since=mark, count=2)
    assert text["text"] == "十月工单汇总" and text["file"] is None
    assert file["file"]["name"] == "2026-10 工单.xlsx" and file["file"]["size"] == path.stat().st_size


async def test_a_reply_while_disconnected_is_refused_and_reconnection_calls_back(harness, channel, caplog):
    """While WeChat is away `send` raises (the app's database outbox keeps the reply, surviving a crash);
    after the next login `on_connected` fires so the app sends it, and replies leave in order. The refused
    reply is not kept in the channel: only what is sent again goes out, once."""
    caplog.set_level(logging.INFO, logger="bot.channels.wechaty_channel")
    room = harness.rooms["leaders"]["id"]
    back = asyncio.Event()

    async def on_connected() -> None:
        back.set()

    channel.on_connected = on_connected
    await harness.stop_server()
    await eventually(lambda: not channel.connected, within=10, what="the channel to notice the outage")
    mark = await harness.mark()
    with pytest.raises(ConnectionError):
        await channel.send(Reply(text="第一条", room_id=room))
    assert await harness.sent(mark) == []
    await harness.start_server()
    await asyncio.wait_for(back.wait(), timeout=20)
    await eventually(lambda: channel.connected, within=10, what="the channel to be logged in again")
    await channel.send(Reply(text="第一条", room_id=room))
    await channel.send(Reply(text="第二条", room_id=room))
    # `send` returned, so the service has both; and nothing else (the refused one is not sent from memory).
    assert [r["text"] for r in await harness.sent(mark)] == ["第一条", "第二条"]
    await eventually(lambda: "WeChat reconnected" in caplog.text, within=5, what="the reconnect log line")
    assert "WeChat disconnected" in caplog.text
    # and it still receives
    await harness.say("wangdajie", "回来了")
    assert (await next_message(channel)).text == "回来了"


async def test_a_send_when_the_link_just_dropped_raises_and_the_channel_reconnects(harness, channel):
    """The gateway goes away and the channel has not noticed yet: the send fails on the dead link, raises
    ConnectionError, and the channel counts itself disconnected and reconnects when the gateway is back."""
    room = harness.rooms["leaders"]["id"]
    back = asyncio.Event()

    async def on_connected() -> None:
        back.set()

    channel.on_connected = on_connected
    mark = await harness.mark()
    await harness.stop_server()
    with pytest.raises(ConnectionError):
        await channel.send(Reply(text="断线时的回复", room_id=room))
    assert not channel.connected
    await harness.start_server()
    await asyncio.wait_for(back.wait(), timeout=20)
    await channel.send(Reply(text="重连后的回复", room_id=room))
    assert [r["text"] for r in await harness.sent(mark)] == ["重连后的回复"]


async def test_a_send_the_gateway_fails_as_it_goes_away_raises_and_is_not_sent_later(harness, channel):
    """The gateway fails the send itself and goes away: `send` raises; after reconnection the failed reply is
    not sent by the channel on its own (the app's outbox sends it again), so it never goes out twice."""
    room = harness.rooms["leaders"]["id"]
    back = asyncio.Event()

    async def on_connected() -> None:
        back.set()

    channel.on_connected = on_connected
    await harness.go_away_on_next_send()
    mark = await harness.mark()
    # The gateway's own error or the stream dropping under it, whichever the client sees first.
    with pytest.raises(Exception, match="went away|Connection lost|Stream"):
        await channel.send(Reply(text="第一条", room_id=room))
    await eventually(lambda: not channel.connected, within=10, what="the channel to notice the outage")
    await harness.start_server()
    await asyncio.wait_for(back.wait(), timeout=20)
    await channel.send(Reply(text="第一条（重发）", room_id=room))
    await channel.send(Reply(text="第二条", room_id=room))
    assert [r["text"] for r in await harness.sent(mark)] == ["第一条（重发）", "第二条"]


async def test_a_send_the_gateway_refuses_raises_and_the_link_stays_up(harness, channel, tmp_path):
    """A part the service refuses (the link is fine) raises the service's error; the channel stays logged in,
    keeps nothing, and the next send goes out. A reply of several parts is sent whole or raises."""
    room = harness.rooms["committee"]["id"]
    path = tmp_path / "工单.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"x" * 100)
    mark = await harness.mark()
    await harness.refuse_sends()
    with pytest.raises(Exception, match="refused"):
        await channel.send(Reply(text="十月工单汇总", room_id=room, file=path))
    assert await harness.refused() == 1  # the first part failed; the file was not tried
    assert channel.connected
    await harness.refuse_sends(False)
    await channel.send(Reply(text="十月工单汇总", room_id=room, file=path))
    text, file = await harness.sent(mark)
    assert text["text"] == "十月工单汇总" and file["file"]["name"] == "工单.xlsx"
    assert len(await harness.sent(mark)) == 2


async def test_a_send_that_times_out_raises_and_may_still_go_out_at_least_once(harness, channel):
    """A send the gateway does not confirm in time raises ConnectionError and the channel reconnects; the slow
    gateway may still deliver it (hence at least once), but the channel never sends it again on its own."""
    room = harness.rooms["leaders"]["id"]
    back = asyncio.Event()

    async def on_connected() -> None:
        back.set()

    channel.on_connected = on_connected
    channel.rpc_timeout = 1.0
    mark = await harness.mark()
    await harness.delay_next_send(3.0)
    with pytest.raises(ConnectionError) as raised:
        await channel.send(Reply(text="慢回复", room_id=room))
    assert isinstance(raised.value.__cause__, TimeoutError)
    await asyncio.wait_for(back.wait(), timeout=20)  # the link was closed and the channel logged in again
    await harness.wait_sent(lambda r: r["text"] == "慢回复", since=mark, within=10)  # the gateway sent it anyway
    await channel.send(Reply(text="下一条", room_id=room))
    assert [r["text"] for r in await harness.sent(mark)] == ["慢回复", "下一条"]


async def test_the_token_never_appears_in_the_log(harness, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    clear_wechaty_pools()
    ch = WechatyChannel(
        bot_name="邻聚小助手", data_dir=tmp_path, endpoint=harness.grpc_endpoint, token=harness.token
    )
    await ch.start(lambda m: asyncio.sleep(0))
    try:
        await ch.wait_ready(10)
        await eventually(lambda: "WeChat rooms" in caplog.text, within=5, what="the rooms log line")
    finally:
        await ch.close()
    assert harness.token not in caplog.text and harness.token not in repr(ch)
    assert "WeChat logged in as 邻聚小助手 (wxid_linju_bot)" in caplog.text
    assert "松涛里邻长群 [20001001@chatroom]" in caplog.text
    # The operator reads each room's id here, to bind it (`id:` in config.yaml or `linju rooms bind`).
    assert f"书院路社区两委群 [{harness.rooms['committee']['id']}]" in caplog.text
    assert (tmp_path / "wechaty").is_dir()


async def test_start_does_not_hang_when_the_service_is_down_and_connects_later(harness, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot.channels.wechaty_channel")
    await harness.stop_server()
    clear_wechaty_pools()
    ch = WechatyChannel(
        bot_name="邻聚小助手",
        data_dir=tmp_path,
        endpoint=harness.grpc_endpoint,
        token=harness.token,
        start_timeout=0.5,
        retry_initial=0.2,
        retry_max=0.5,
    )
    try:
        await asyncio.wait_for(ch.start(lambda m: asyncio.sleep(0)), 5)
        assert not ch.connected
        assert "WeChat disconnected" in caplog.text
        await harness.start_server()
        await ch.wait_ready(10)
    finally:
        await asyncio.wait_for(ch.close(), 10)


@pytest.mark.parametrize("payload", [{"gerror": "mock puppet error"}, {"data": "old-style error"}])
async def test_a_puppet_error_neither_stops_the_event_loop_nor_the_channel(harness, channel, caplog, payload):
    caplog.set_level(logging.INFO)
    ticks = 0

    async def ticker() -> None:  # stands for the scheduler and everything else on the app's loop
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(ticker())
    try:
        await harness.puppet_error(**payload)
        await eventually(
            lambda: "WeChat puppet reported an error" in caplog.text, within=10, what="the error logged"
        )
        await asyncio.sleep(0.5)
        before = ticks
        await asyncio.sleep(0.3)
        assert ticks > before, "the event loop stopped"
        await channel.wait_ready(15)
        await harness.say("wangdajie", "还在吗")
        assert (await next_message(channel, within=15)).text == "还在吗"
        assert "WeChat disconnected" not in caplog.text  # an error event is not a reason to reconnect
    finally:
        task.cancel()


async def test_messages_reach_the_app_one_at_a_time_in_arrival_order(harness, tmp_path):
    clear_wechaty_pools()
    seen: list[str] = []
    busy = False

    async def slow_handler(msg: IncomingMessage) -> None:
        nonlocal busy
        assert not busy, "two messages were handled at once"
        busy = True
        await asyncio.sleep(0.05)
        seen.append(msg.text)
        busy = False

    ch = WechatyChannel(
        bot_name="邻聚小助手", data_dir=tmp_path, endpoint=harness.grpc_endpoint, token=harness.token
    )
    await ch.start(slow_handler)
    try:
        texts = [f"第{i}条" for i in range(10)]
        for text in texts:
            await harness.say("wangdajie", text)
        await eventually(lambda: len(seen) == len(texts), within=15, what="all ten messages")
        assert seen == texts
    finally:
        await asyncio.wait_for(ch.close(), 10)
