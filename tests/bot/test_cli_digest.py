"""`linju digest` on a database filled by a scripted console conversation (`linju chat --jsonl`)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from tests.support import DEFAULT_CONFIG, REPO

PHONE = "13812345678"
CONVERSATION = [
    {"id": "m1", "room": "松涛里邻长群", "sender": "王贵宝", "text": "金穗小区4栋楼下下水道堵了，臭得很"},
    {"id": "m2", "room": "松涛里邻长群", "sender": "李秀英", "text": "湘钢一村2栋的下水道也堵了，好几天了"},
    {
        "id": "m3",
        "room": "松涛里邻长群",
        "sender": "王贵宝",
        "text": f"广场舞音响太吵了，晚上十点还在放，我电话{PHONE}",
    },
    {"id": "m4", "room": "松涛里邻长群", "sender": "张大爷", "text": "今天天气真好"},
    {"id": "m5", "room": "书院路社区两委群", "sender": "刘主任", "text": "大家辛苦了"},
]


def linju(tmp_path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINJU_DATA_DIR": str(tmp_path / "data"), "LINJU_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args, "--config", str(DEFAULT_CONFIG)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def digest(tmp_path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`linju digest ARGS` in this process (the console conversation above runs as a real subprocess)."""
    from bot.cli import main

    monkeypatch.setenv("LINJU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LINJU_LOG_LEVEL", "WARNING")
    code = main(["digest", *args, "--config", str(DEFAULT_CONFIG)])
    out, err = capsys.readouterr()
    return code, out, err


def test_digest_from_a_console_conversation_writes_three_files_and_sends_once(tmp_path, monkeypatch, capsys):
    script = "\n".join(json.dumps(m, ensure_ascii=False) for m in CONVERSATION) + "\n"
    chat = linju(tmp_path, "chat", "--jsonl", stdin=script)
    assert chat.returncode == 0, chat.stderr
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    db = sqlite3.connect(tmp_path / "data" / "linju.db")
    (tickets,) = db.execute("select count(*) from ticket where status != 'withdrawn'").fetchone()
    assert tickets >= 2

    out = tmp_path / "out"
    code, _, err = digest(tmp_path, monkeypatch, capsys, "--period", month, "--out", str(out))
    assert code == 0, err
    stem = f"digest-{month}-全街道"
    text = (out / f"{stem}.txt").read_text(encoding="utf-8")
    assert text.startswith("【全街道·") and f"收到 {tickets} 件" in text
    assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    wb = load_workbook(out / f"{stem}.xlsx", read_only=True)
    rows = list(wb["工单明细"].iter_rows(values_only=True))
    assert rows[0][0] == "工单号" and len(rows) - 1 == tickets
    numbers = {r[0] for r in rows[1:]}
    assert numbers == {n for (n,) in db.execute("select number from ticket")}
    # The spreadsheet is the committee's (staff): it names the reporter by display name, in its column only.
    # The chat text names no reporter, and a phone is nowhere. (This once read `"李秀英" not in blob` over a
    # json.dumps that wrote 李秀英 as \u674e\u79c0\u82f1, so it could not fail.)
    reporter = rows[0].index("反映人")
    assert "李秀英" in {r[reporter] for r in rows[1:]}
    cells = [
        str(v)
        for ws in wb.worksheets
        for r in ws.iter_rows(values_only=True)
        for i, v in enumerate(r)
        if v is not None and not (ws.title == "工单明细" and i == reporter)
    ]
    wb.close()
    assert "李秀英" not in text and "李秀英" not in "\n".join(cells)
    assert PHONE not in text and PHONE not in "\n".join(cells) and all(PHONE not in str(r) for r in rows)

    # --send through the configured (console) channel: once, then the record says it was sent.
    code, out_text, err = digest(tmp_path, monkeypatch, capsys, "--period", month, "--send")
    assert code == 0, err
    assert "[书院路社区两委群]" in out_text and "书院路社区两委群: sent" in err
    code, out_text, err = digest(tmp_path, monkeypatch, capsys, "--period", month, "--send")
    assert code == 0 and "already_sent" in err and "[书院路社区两委群]" not in out_text
    code, out_text, err = digest(tmp_path, monkeypatch, capsys, "--period", month, "--send", "--force")
    assert code == 0 and "书院路社区两委群: sent" in err
    (recorded,) = db.execute("select count(*) from digest where sent_at is not null").fetchone()
    assert recorded == 1


def test_digest_rejects_a_bad_period_and_an_unknown_community(tmp_path, monkeypatch, capsys):
    code, _, err = digest(tmp_path, monkeypatch, capsys, "--period", "October")
    assert code == 2 and "2026-10" in err
    code, _, err = digest(tmp_path, monkeypatch, capsys, "--period", "2026-10", "--community", "火星社区")
    assert code == 2 and "火星社区" in err


def test_the_spreadsheet_gives_the_clerk_each_ticket_s_people_text_note_and_due_date(tmp_path, monkeypatch, capsys):
    """The tickets sheet of `linju digest`: who reported it, the original words and the 办结 note without the
    resident's phone or room number, the due date, urgent 是/否, the source and group in Chinese; a filter on
    the header row, which stays in view."""
    report = {"id": "g1", "room": "松涛里邻长群", "sender": "王贵宝",
              "text": f"松涛里5栋1203室门口燃气泄漏了，味道很大，快来人，我电话{PHONE}"}
    chat = linju(tmp_path, "chat", "--jsonl", stdin=json.dumps(report, ensure_ascii=False) + "\n")
    assert chat.returncode == 0, chat.stderr
    number = re.search(r"#(\d+)", json.loads(chat.stdout.splitlines()[0])["text"]).group(1)
    resolve = {"id": "g2", "room": "书院路社区两委群", "sender": "刘主任",
               "text": f"办结 {number} 燃气公司已关阀 回复：已修好，住户1203室，电话{PHONE}"}
    chat = linju(tmp_path, "chat", "--jsonl", stdin=json.dumps(resolve, ensure_ascii=False) + "\n")
    assert chat.returncode == 0 and "办结" in chat.stdout, chat.stdout + chat.stderr
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    db = sqlite3.connect(tmp_path / "data" / "linju.db")
    (due_at,) = db.execute("select due_at from ticket where number = ?", (number,)).fetchone()
    due = datetime.fromisoformat(due_at).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Shanghai"))

    out = tmp_path / "out"
    code, _, err = digest(tmp_path, monkeypatch, capsys, "--period", month, "--out", str(out))
    assert code == 0, err
    wb = load_workbook(out / f"digest-{month}-全街道.xlsx")
    sheet = wb["工单明细"]
    header = [c.value for c in sheet[1]]
    for h in ("反映人", "转达邻长", "原话", "办结说明", "办理期限", "紧急", "来源", "群聊"):
        assert h in header, h
    assert sheet.auto_filter.ref == f"A1:W{sheet.max_row}"
    assert sheet.freeze_panes == "A2"
    [row] = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert row["工单号"] == number and row["反映人"] == "王贵宝" and row["转达邻长"] is None
    assert row["原话"] == "松涛里5栋[房号]门口燃气泄漏了,味道很大,快来人,我电话[电话]", row["原话"]
    assert row["办结说明"] == "燃气公司已关阀 回复:已修好,住户[房号],电话[电话]", row["办结说明"]
    assert row["办理期限"] == datetime(due.year, due.month, due.day)
    assert (row["紧急"], row["来源"], row["群聊"], row["类别"]) == ("是", "控制台", "松涛里邻长群", "安全隐患")
    everything = "\n".join(str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r)
    wb.close()
    assert PHONE not in everything and "1203" not in everything
