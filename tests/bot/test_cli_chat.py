"""`linju chat --jsonl` as a process: answers while its input stays open, and stops cleanly on a signal."""

from __future__ import annotations

import json
import select
import signal
import subprocess

from tests.reliability.support import cli_env, linju_command, write_config
from tests.support import REPO


def test_chat_answers_with_input_open_and_stops_on_sigterm(tmp_path):
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        linju_command("chat", "--jsonl", "--config", str(config)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=cli_env(),
    )
    try:
        line = {"id": "open-1", "room": "松涛里邻长群", "sender": "王贵宝", "text": "4栋楼道灯坏了"}
        proc.stdin.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "no reply while the input stays open"
        reply = json.loads(proc.stdout.readline())
        assert reply["to"] == "王贵宝" and "工单" in reply["text"]

        proc.send_signal(signal.SIGTERM)  # stdin still open: the reader thread is blocked on it
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("linju chat did not exit after SIGTERM with its input still open") from None
        assert code == 0, proc.stderr.read().decode("utf-8", "replace")[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
