"""A leader's conversation through `linju chat --jsonl`, line by line as a user types it; and the conversation
state surviving a process killed between the bot's question and its answer."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
from pathlib import Path

from tests.support import DEFAULT_CONFIG, REPO

NUMBER = re.compile(r"#(\d{4,})")
LEADERS = "松涛里邻长群"
COMMITTEE = "书院路社区两委群"
LIST = "这是我收集的居民意见：1.3栋楼道灯坏了 2.5栋门口垃圾没人清 3.8栋楼上装修天天吵到晚上十点 4.活动室能不能装个空调"


def _config(tmp: Path) -> Path:
    path = tmp / "config.yaml"
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace("data_dir: ./data", f"data_dir: {tmp}")
    # The child runs on the wall clock: without this, notices would wait for morning when the suite runs at night.
    text = text.replace('quiet_hours: "22:00-07:00"', 'quiet_hours: "off"')
    assert 'quiet_hours: "off"' in text
    path.write_text(text)
    return path


class Chat:
    """`linju chat --jsonl` as a child process: say a line, read the replies it causes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.n = 0

    @classmethod
    async def start(cls, config: Path) -> Chat:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "chat", "--jsonl", "--config", str(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=REPO,
        )
        return cls(proc)

    async def say(self, text: str, *, sender: str = "王贵宝", room: str = LEADERS, replies: int = 1) -> list[str]:
        self.n += 1
        line = {"id": f"m{self.n}-{id(self)}", "room": room, "sender": sender, "text": text}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(line, ensure_ascii=False) + "\n").encode())
        await self.proc.stdin.drain()
        out = []
        for _ in range(replies):
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            out.append(json.loads(raw)["text"])
        return out

    async def read_until(self, fragment: str, *, most: int = 3) -> list[str]:
        """Replies until one containing `fragment` (a reply committed but not marked sent before a kill is sent
        again at the next start: delivery is at least once)."""
        assert self.proc.stdout is not None
        out: list[str] = []
        while len(out) < most:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            out.append(json.loads(raw)["text"])
            if fragment in out[-1]:
                return out
        raise AssertionError(f"no reply with {fragment!r} in {out}")

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), 60)

    async def kill(self) -> None:
        self.proc.kill()
        await self.proc.wait()


async def test_a_leaders_conversation_through_the_console(tmp_path):
    chat = await Chat.start(_config(tmp_path))
    try:
        [listed] = await chat.say(LIST)
        assert "共登记 4 件" in listed and len(NUMBER.findall(listed)) == 4
        assert "设施报修｜3栋" in listed and "环境卫生｜5栋" in listed and "噪音扰民｜8栋" in listed and "意见建议" in listed
        [ack] = await chat.say("6栋楼道灯坏了好几天了", sender="李建国")
        lamp = NUMBER.search(ack).group(1)
        [filled] = await chat.say("就是2单元那个", sender="李建国")
        assert filled == f"好的，已补充到工单 #{lamp}：2单元。"
        [answer] = await chat.say(f"{lamp}修好了没", sender="李建国")
        assert answer.startswith(f"工单 #{lamp}") and "6栋2单元" in answer
        [ack] = await chat.say("2栋下水道冒水了，一楼门口全是污水", sender="张娭毑")
        drain = NUMBER.search(ack).group(1)
        await chat.say(f"办结 {drain} 回复：已疏通", sender="刘主任", room=COMMITTEE, replies=2)
        reopened = await chat.say("不满意，还是在冒水", sender="张娭毑", replies=2)
        assert any(f"工单 #{drain} 已重新打开" in r for r in reopened)
        assert any("还是在冒水" in r for r in reopened)  # the committee is told why
        [mine] = await chat.say("我的工单", sender="王贵宝")
        assert mine.count("#") == 4  # the list's four, and nothing the conversation added
    finally:
        await chat.close()


async def test_the_question_survives_a_killed_process(tmp_path):
    config = _config(tmp_path)
    first = await Chat.start(config)
    [ack] = await first.say("路灯不亮了，晚上黑漆漆的")
    assert "请问是哪个小区、哪一栋" in ack
    number = NUMBER.search(ack).group(1)
    await first.kill()  # SIGKILL between the question and its answer
    second = await Chat.start(config)
    try:
        await second.say("就是5栋门口那根", replies=0)
        got = await second.read_until("已补充")
        assert got[-1] == f"好的，已补充到工单 #{number}：5栋。"
        assert not any("请问是哪个" in r and NUMBER.search(r).group(1) != number for r in got)  # nothing filed anew
    finally:
        await second.close()
    with sqlite3.connect(tmp_path / "linju.db") as db:
        assert db.execute("select number, building from ticket").fetchall() == [(number, "5")]
