"""The test server is proven against WeCom's own client: the official Node SDK (@wecom/aibot-node-sdk 1.0.7,
tests/wecom/harness) connects to it, authenticates, heartbeats, receives a message and answers it on its req_id,
pushes a message and a file, and answers enter_chat. linju's channel is then tested against the same server."""

from __future__ import annotations

import asyncio
import json
import os

from tests.wecom.conftest import HARNESS


async def test_the_official_sdk_authenticates_heartbeats_and_replies_on_the_callbacks_req_id(wecom_server, node_sdk):
    server = wecom_server
    env = {
        **os.environ,
        "WECOM_URL": server.url,
        "WECOM_BOT_ID": server.bot_id,
        "WECOM_SECRET": server.secret,
        "WECOM_HEARTBEAT_MS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        node_sdk, "peer.js", cwd=HARNESS, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await server.wait_authenticated(within=15)
        await server.wait_for(lambda: len(server.pings) >= 2, within=5, what="two heartbeats")
        req_id = await server.deliver_text("zhangsan", "@邻聚小助手 4栋楼道灯坏了", chatid="wrkSFfCgAAtest01")
        welcome_req = await server.deliver_event("lisi", "enter_chat")
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    steps = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode == 0, (steps, err.decode()[-2000:])

    [subscribe] = server.of("aibot_subscribe")
    assert subscribe.body["bot_id"] == server.bot_id and subscribe.body["secret"] == server.secret
    assert len(server.pings) >= 2 and all(p.req_id.startswith("ping_") for p in server.pings)

    [respond] = server.responds
    assert respond.req_id == req_id
    stream = respond.body["stream"]
    assert respond.body["msgtype"] == "stream" and stream["finish"] is True and stream["id"]
    assert stream["content"] == "收到：@邻聚小助手 4栋楼道灯坏了"

    markdown, media = server.sends
    assert markdown.body == {"chatid": "wrkSFfCgAAtest01", "msgtype": "markdown", "markdown": {"content": "**主动推送** 一条测试消息"}}
    assert media.body["msgtype"] == "file"
    assert server.media[media.body["file"]["media_id"]]["data"] == b"linju conformance file\n" * 100

    [welcome] = server.of("aibot_respond_welcome_msg")
    assert welcome.req_id == welcome_req and welcome.body == {"msgtype": "text", "text": {"content": "您好"}}
    by_step = {s["step"]: s for s in steps}
    assert by_step["replied"] == {"step": "replied", "req_id": req_id, "errcode": 0}
    assert by_step["welcomed"]["req_id"] == welcome_req and "done" in by_step


async def test_the_official_sdk_is_refused_with_a_wrong_secret(wecom_server, node_sdk):
    server = wecom_server
    env = {**os.environ, "WECOM_URL": server.url, "WECOM_BOT_ID": server.bot_id, "WECOM_SECRET": "wrong", "WECOM_DEADLINE_MS": "8000"}
    proc = await asyncio.create_subprocess_exec(
        node_sdk, "peer.js", cwd=HARNESS, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert not server.authenticated and server.pings == [] and server.of("aibot_subscribe")
    assert '"step":"authenticated"' not in out.decode()
