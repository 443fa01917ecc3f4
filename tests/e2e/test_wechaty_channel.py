"""The wechaty channel on its own against the Node puppet server: delivery, mentions, kinds, sending."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.wechaty_channel import WechatyChannel, clear_wechaty_pools
from handlers.types import IncomingMessage, Reply


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
    await ch.start(on_message)
    await ch.wait_ready(10)
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
