"""`linju run` with the default config and only the standard Wechaty variables, as an operator starts it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.wechat_harness import eventually
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


def _run_env(harness, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINJU_", "WECHATY_"))}
    env.update(
        LINJU_CHANNEL="wechaty",
        WECHATY_PUPPET_SERVICE_ENDPOINT=harness.grpc_endpoint,
        WECHATY_PUPPET_SERVICE_TOKEN=harness.token,
        LINJU_DATA_DIR=str(data_dir),
    )
    return env


async def _linju_run(harness, cwd: Path) -> Run:
    """`linju run` on the default config against the harness, its data in cwd/data."""
    proc = await asyncio.create_subprocess_exec(
        *_linju(),
        "run",
        "--config",
        str(DEFAULT_CONFIG),
        cwd=cwd,
        env=_run_env(harness, cwd / "data"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Run(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_linju_run_answers_a_report_in_a_room_and_stops_cleanly(harness, tmp_path, sig):
    run = await _linju_run(harness, tmp_path)
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


def _outbox_state(db: Path) -> tuple[int, list[tuple[str, str | None]]]:
    """(inbox rows handled, [(reply text, sent_at)] in sending order), read from linju's SQLite file."""
    with sqlite3.connect(db, timeout=5) as conn:
        done = conn.execute("SELECT count(*) FROM inbox WHERE status = 'done'").fetchone()[0]
        rows = conn.execute("SELECT payload, sent_at FROM outbox ORDER BY id").fetchall()
    conn.close()
    return done, [(json.loads(payload)["text"], sent_at) for payload, sent_at in rows]


async def test_replies_kept_during_an_outage_survive_a_sigkill_and_go_out_once_after_restart(harness, tmp_path):
    """Reliability II: the database outbox is the only queue. Leaders' reports are stored and answered while the
    gateway accepts no send, then the gateway goes down and `linju run` is killed (SIGKILL: nothing in memory
    survives). With the gateway back, a new `linju run` on the same data_dir sends every reply exactly once."""
    db = tmp_path / "data" / "linju.db"
    reports = [("wangdajie", "2栋门口路灯不亮了"), ("lishifu", "6栋化粪池满了往外冒"), ("zhaoayi", "3栋单元门闭门器坏了")]
    mark = await harness.mark()

    first = await _linju_run(harness, tmp_path)
    try:
        await first.wait_for_line("WeChat logged in as 邻聚小助手", within=60)
        await harness.refuse_sends()  # messages still arrive; every reply the bot sends fails
        for sender, text in reports:
            await harness.say(sender, text)

        async def answered_but_unsent() -> bool:
            done, replies = await asyncio.to_thread(_outbox_state, db)
            return done == len(reports) and len(replies) == len(reports)

        await eventually(answered_but_unsent, within=60, what="three reports stored and their replies queued")
        assert await harness.refused() >= 1, "the bot never tried to send"
        await harness.stop_server()  # the outage
        await first.wait_for_line("WeChat disconnected", within=20)
        _, replies = await asyncio.to_thread(_outbox_state, db)
        assert [sent_at for _, sent_at in replies] == [None] * len(reports), "a refused reply was marked sent"
    finally:
        if first.proc.returncode is None:
            first.proc.kill()
        await asyncio.wait_for(first.proc.wait(), 15)
        await asyncio.wait_for(first._reader, 5)
    assert first.proc.returncode == -signal.SIGKILL, first.log[-4000:]
    assert await harness.sent(mark) == []

    await harness.refuse_sends(False)
    await harness.start_server()
    second = await _linju_run(harness, tmp_path)
    try:
        await harness.wait_sent(since=mark, count=len(reports), within=90)

        async def all_sent() -> bool:
            _, rows = await asyncio.to_thread(_outbox_state, db)
            return all(sent_at is not None for _, sent_at in rows)

        # Once every row is marked sent nothing is left to send: anything sent twice has arrived by now.
        await eventually(all_sent, within=30, what="the outbox marked sent")
        sent = await harness.sent(mark)
    finally:
        code = await second.stop(signal.SIGTERM)
    assert code == 0, second.log[-4000:]
    done, replies = await asyncio.to_thread(_outbox_state, db)
    assert done == len(reports) and len(replies) == len(reports), replies  # no message handled again
    assert [r["roomId"] for r in sent] == [harness.rooms["leaders"]["id"]] * len(reports)
    reporters = [harness.contacts[sender] for sender, _ in reports]
    assert [r["mentionIds"] for r in sent] == [[c["id"]] for c in reporters], sent
    texts = [r["text"].removeprefix(f"@{c['name']}\u2005") for r, c in zip(sent, reporters, strict=True)]
    assert texts == [text for text, _ in replies], "every reply once, in order, as queued"
    assert all(NUMBER_HINT in t for t in texts), texts  # three acknowledgements of three tickets
