"""The shell side: a scripted `linju chat --jsonl` conversation through a ticket's life, then `linju tickets` and
`linju roster import` against the same database."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.support import DEFAULT_CONFIG, REPO

NUMBER = re.compile(r"#(\d{4,})")
LEADERS, COMMITTEE = "松涛里邻长群", "书院路社区两委群"


@pytest.fixture
def config(tmp_path) -> Path:
    """config.yaml with data in tmp and no quiet hours (the test must pass at any time of day)."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "data")
    raw["schedule"]["quiet_hours"] = "off"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


class Console:
    """`linju chat --jsonl` in a subprocess: say one line, read the replies it caused."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat", "--jsonl", "--config", str(config)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def say(self, sender: str, room: str, text: str, *, expect: int) -> list[dict]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"room": room, "sender": sender, "text": text}, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        return [json.loads(self.lines.get(timeout=30)) for _ in range(expect)]

    def close(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        assert self.proc.returncode == 0, err
        assert self.lines.empty(), "replies nobody expected"
        return err


def test_a_scripted_console_conversation_through_a_tickets_life(config, capsys):
    chat = Console(config)
    try:
        [ack] = chat.say("王贵宝", LEADERS, "王大姐说，4栋楼下下水道堵了，污水都冒出来了", expect=1)
        number = NUMBER.search(ack["text"]).group(1)
        assert ack["to"] == "王贵宝" and "供排水" in ack["text"]

        [dup] = chat.say("李建国", LEADERS, "4栋下水道又堵了，臭得很", expect=1)
        assert f"#{number}" in dup["text"] and "已经有人反映过了" in dup["text"]

        [refused] = chat.say("李建国", LEADERS, f"办结 {number} 已疏通", expect=1)
        assert "只有社区工作人员" in refused["text"]

        confirm, notice = chat.say("刘主任", COMMITTEE, f"派单 {number} 物业", expect=2)
        assert confirm["room"] == COMMITTEE and "已派给物业" in confirm["text"]
        assert (notice["room"], notice["to"]) == (LEADERS, "王贵宝") and "已派给物业处理" in notice["text"]

        confirm, notice = chat.say("刘主任", COMMITTEE, f"办结 {number} 回复：已疏通", expect=2)
        assert (notice["room"], notice["to"]) == (LEADERS, "王贵宝")
        assert "已处理完成：已疏通" in notice["text"] and "不满意" in notice["text"]

        reopened, to_staff = chat.say("王贵宝", LEADERS, "不满意", expect=2)
        assert reopened["room"] == LEADERS and "重新打开" in reopened["text"]
        assert to_staff["room"] == COMMITTEE and f"#{number}" in to_staff["text"]

        urgent_ack, alert = chat.say("赵秀英", LEADERS, "7栋3单元有很重的煤气味，快来人", expect=2)
        assert urgent_ack["room"] == LEADERS and "紧急" in urgent_ack["text"]
        assert alert["room"] == COMMITTEE and "【紧急】" in alert["text"] and "赵秀英" in alert["text"]
    finally:
        chat.close()

    capsys.readouterr()
    assert main(["tickets", "show", number, "--config", str(config)]) == 0
    history = capsys.readouterr().out
    for step in ("登记", "又有人反映", "李建国", "派单", "办结", "已疏通", "回访不满意", "重新处理中"):
        assert step in history, step
    assert main(["tickets", "list", "--open", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert f"#{number}" in listing and "重新处理中" in listing


def test_tickets_from_the_shell_follow_the_chat_rules(config, capsys):
    assert main(["tickets", "add", "--source", "议事会", "金穗小区健身器材需要增设", "--config", str(config)]) == 0
    number = NUMBER.search(capsys.readouterr().out).group(1)
    assert main(["tickets", "add", "--source", "box", "--reporter", "孙丽", "金穗小区健身器材需要增设几个", "--config", str(config)]) == 0
    assert f"#{number}" in capsys.readouterr().out  # a duplicate: counted, not filed again

    assert main(["tickets", "update", number, "assign", "区文体局", "--as", "刘主任", "--config", str(config)]) == 0
    assert "已派给区文体局" in capsys.readouterr().out
    assert main(["tickets", "update", number, "reject", "--config", str(config)]) == 2  # reason missing
    assert "驳回 工单号 理由" in capsys.readouterr().err
    assert main(["tickets", "update", number, "reclassify", "排水", "--config", str(config)]) == 0
    assert main(["tickets", "update", "9999", "close", "--config", str(config)]) == 1

    assert main(["tickets", "list", "--source", "meeting", "--config", str(config)]) == 0
    assert f"#{number}" in capsys.readouterr().out
    assert main(["tickets", "list", "--source", "box", "--config", str(config)]) == 0
    assert f"#{number}" not in capsys.readouterr().out
    assert main(["tickets", "show", f"#{int(number)}", "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "刘主任 派单给区文体局" in shown and "改类" in shown and "孙丽 又有人反映" in shown


def test_roster_import_reports_bad_lines_and_loads_the_rest(config, tmp_path, capsys):
    sample = REPO / "samples" / "roster.csv"
    assert main(["roster", "import", str(sample), "--config", str(config)]) == 0
    assert "created=8" in capsys.readouterr().out
    assert main(["roster", "import", str(sample), "--config", str(config)]) == 0
    assert "unchanged=8" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,角色\n张三,邻长\n李四,队长\n", encoding="utf-8")
    assert main(["roster", "import", str(bad), "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert "created=1" in out.out and f"{bad}:3: unknown role" in out.err
    assert main(["roster", "import", str(tmp_path / "none.csv"), "--config", str(config)]) == 2


def test_an_unknown_status_is_an_error_naming_the_accepted_ones(config, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tickets", "list", "--status", "banana", "--config", str(config)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown status 'banana'" in err and "resolved" in err and "in_progress" in err
    assert main(["tickets", "add", "6栋下水道堵了", "--config", str(config)]) == 0
    number = NUMBER.search(capsys.readouterr().out).group(1)
    assert main(["tickets", "list", "--status", "新登记", "--config", str(config)]) == 0  # the Chinese word too
    assert f"#{number}" in capsys.readouterr().out
