"""`linju run` as an operator starts it on WeCom: the default config, the channel and credentials from the
environment, against the protocol test server (its URL from LINJU_WECOM__URL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

from tests.support import DEFAULT_CONFIG


def _linju() -> list[str]:
    script = Path(sys.executable).with_name("linju")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


async def _wait_for_line(lines: list[str], proc, fragment: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(fragment in line for line in lines):
            return
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log line with {fragment!r} within {within}s; log:\n" + "\n".join(lines[-60:]))


async def test_linju_run_on_wecom_answers_an_at_mentioned_report_with_a_ticket_number(wecom_server, tmp_path):
    server = wecom_server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINJU_", "WECHATY_"))}
    env.update(
        LINJU_CHANNEL="wecom",
        LINJU_WECOM__BOT_ID=server.bot_id,
        LINJU_WECOM__SECRET=server.secret,
        LINJU_WECOM__URL=server.url,
        LINJU_DATA_DIR=str(tmp_path / "data"),
        LINJU_LOG_LEVEL="DEBUG",  # every frame logged: the secret must still not appear
    )
    proc = await asyncio.create_subprocess_exec(
        *_linju(), "run", "--config", str(DEFAULT_CONFIG), cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def read() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    reader = asyncio.create_task(read())
    try:
        await _wait_for_line(lines, proc, "WeCom connected", within=60)
        req_id = await server.deliver_text("WangDaJie", "@邻聚小助手 4栋楼道灯坏了", chatid="wrkSFfCgAAGroup42")
        [answer] = await server.wait_for(
            lambda: [f for f in server.delivered("aibot_respond_msg") if f.req_id == req_id], within=30,
            what="the answer to the report",
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await asyncio.wait_for(reader, 5)
    content = answer.body["stream"]["content"]
    assert re.search(r"#\d{4,}", content) and "查询" in content, content
    log = "\n".join(lines)
    assert proc.returncode == 0, log[-4000:]
    assert "aibot_subscribe" in log and server.secret not in log
    assert "WeCom channel closed" in log
