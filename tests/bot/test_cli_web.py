"""`linju web`: accounts and keys from the shell, and the console served on its own (the steps' notices then
wait in the outbox for `linju run`)."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import time

import httpx

from bot.cli import main
from tests.reliability.support import write_config
from tests.support import REPO


def _add(config, name, *args, password="a-long-password-1", monkeypatch=None) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["web", "user", "add", name, *args, "--password-stdin", "--config", str(config)])


def test_accounts_are_added_listed_and_disabled(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)
    assert _add(config, "刘主任", "--community", "书院路社区", monkeypatch=monkeypatch) == 0
    assert "chat identity 刘主任" in capsys.readouterr().out  # the console's ids are names
    assert _add(config, "管理员", "--admin", monkeypatch=monkeypatch) == 0
    assert main(["web", "user", "list", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert "刘主任\t刘主任\t书院路社区\t\n" in listed and "管理员\t管理员\t全部社区\tadmin\n" in listed
    assert main(["web", "user", "disable", "刘主任", "--config", str(config)]) == 0
    assert main(["web", "user", "list", "--config", str(config)]) == 0
    assert "刘主任\t刘主任\t书院路社区\tdisabled" in capsys.readouterr().out


def test_a_short_password_an_unknown_community_or_no_scope_is_refused(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)
    assert _add(config, "刘主任", "--community", "书院路社区", password="short", monkeypatch=monkeypatch) == 2
    assert "至少 10 位" in capsys.readouterr().err
    assert _add(config, "刘主任", "--community", "不存在社区", monkeypatch=monkeypatch) == 2
    assert "no community 不存在社区" in capsys.readouterr().err
    assert _add(config, "刘主任", monkeypatch=monkeypatch) == 2
    assert "--community" in capsys.readouterr().err


def test_on_wechat_an_account_needs_the_staff_members_chat_id(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, channel="wechaty")
    assert _add(config, "刘主任", "--community", "书院路社区", monkeypatch=monkeypatch) == 2
    assert "no wechat_id" in capsys.readouterr().err
    assert _add(config, "刘主任", "--community", "书院路社区", "--wechat-id", "wxid_liu", monkeypatch=monkeypatch) == 0
    assert "chat identity wxid_liu" in capsys.readouterr().out


def test_a_key_is_shown_once_and_stops_working_when_revoked(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["web", "key", "add", "区平台", "--config", str(config)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("lj_") and len(key) > 30
    assert main(["web", "key", "revoke", "区平台", "--config", str(config)]) == 0
    assert main(["web", "key", "revoke", "区平台", "--config", str(config)]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_linju_web_serves_the_console_until_stopped(tmp_path):
    config = write_config(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "web", "--port", str(port), "--config", str(config)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "web console:" not in line:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line or proc.poll() is None, "linju web exited"
        assert re.search(rf"web console: http://127\.0\.0\.1:{port}/", line), line
        page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert page.status_code == 200 and "工作人员登录" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/review", timeout=10).status_code == 303
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
