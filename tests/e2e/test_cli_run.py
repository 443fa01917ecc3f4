"""`linju run` with the default config and only the standard Wechaty variables, as an operator starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support import DEFAULT_CONFIG

NUMBER_HINT = "查询"


class Run:
    """`linju run` as a child process, its log collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, fragment: str, within: float) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                if fragment in line:
                    return line
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no log line with {fragment!r} within {within}s; log:\n{self.log[-4000:]}")

    async def stop(self, sig: int, within: float = 15) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"linju run did not stop within {within}s of signal {sig}:\n{self.log[-4000:]}"
            ) from None
        await asyncio.wait_for(self._reader, 5)
        return code


def _linju() -> list[str]:
    script = Path(sys.executable).with_name("linju")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_linju_run_answers_a_report_in_a_room_and_stops_cleanly(harness, tmp_path, sig):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINJU_", "WECHATY_"))}
    env.update(
        LINJU_CHANNEL="wechaty",
        WECHATY_PUPPET_SERVICE_ENDPOINT=harness.grpc_endpoint,
        WECHATY_PUPPET_SERVICE_TOKEN=harness.token,
        LINJU_DATA_DIR=str(tmp_path / "data"),
    )
    proc = await asyncio.create_subprocess_exec(
        *_linju(),
        "run",
        "--config",
        str(DEFAULT_CONFIG),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    run = Run(proc)
    try:
        await run.wait_for_line("WeChat logged in as 邻聚小助手", within=60)
        rooms = await run.wait_for_line("WeChat rooms", within=10)
        assert "松涛里邻长群" in rooms and "20001001@chatroom" in rooms

        mark = await harness.mark()
        await harness.say("wangdajie", "@邻聚小助手 2栋门口路灯不亮了", at_bot=False)
        [ack] = await harness.wait_sent(since=mark, within=20)
        assert ack["roomId"] == harness.rooms["leaders"]["id"]
        assert ack["mentionIds"] == [harness.contacts["wangdajie"]["id"]] and NUMBER_HINT in ack["text"]
    finally:
        code = await run.stop(sig)
    assert code == 0, run.log[-4000:]
    shutdown = run.log[run.log.index("stopping on signal") :]
    assert "Traceback" not in shutdown and " ERROR " not in shutdown, shutdown
    wechat_errors = [
        ln for ln in run.lines if " ERROR " in ln and ("WeChat" in ln or "wechaty" in ln.lower())
    ]
    assert wechat_errors == [], wechat_errors
    assert "WeChat channel closed" in run.log
    assert harness.token not in run.log
    assert (tmp_path / "data" / "wechaty").is_dir() and not (tmp_path / ".wechaty").exists()


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [(None, "WECHATY_PUPPET_SERVICE_ENDPOINT=host:port"), ("localhost", "must be host:port")],
)
async def test_linju_run_without_a_usable_endpoint_says_so_plainly(tmp_path, endpoint, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINJU_", "WECHATY_"))}
    env.update(
        LINJU_CHANNEL="wechaty", WECHATY_PUPPET_SERVICE_TOKEN="secret-token", LINJU_DATA_DIR=str(tmp_path)
    )
    if endpoint:
        env["WECHATY_PUPPET_SERVICE_ENDPOINT"] = endpoint
    proc = await asyncio.create_subprocess_exec(
        *_linju(),
        "run",
        "--config",
        str(DEFAULT_CONFIG),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode == 2, text
    assert message in text and "Traceback" not in text and "secret-token" not in text
