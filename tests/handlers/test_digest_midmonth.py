"""A digest of the month still running is right on any day: waiting and overdue are counted to now, not to the
month's end (a ticket filed today has waited 0 days and is not overdue)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from handlers.digest import build_digest, render_text
from tests.handlers.clocked import *  # noqa: F403  (app, chat, clock, understanding)
from tests.support import REPO

MID_NOVEMBER = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)  # 10:00 on 15 Nov in Xiangtan


async def _digest(app, now):
    async with app.dispatcher.sessions() as s:
        return await build_digest(s, period="2026-11", taxonomy=app.understanding.taxonomy, now=now)


async def test_tickets_filed_today_are_neither_overdue_nor_waiting_a_month(app, chat, clock):
    clock.now = MID_NOVEMBER
    for text in ("4栋楼道灯坏了，晚上看不见", "6栋下水道堵了，污水冒出来", "8栋门口垃圾没人清"):
        await chat.say(text, sender="王阿姨")
    c = await _digest(app, clock.now + timedelta(minutes=5))
    assert (c.totals.received, c.totals.open, c.totals.overdue) == (3, 3, 0)
    assert [o.days_open for o in c.oldest] == [0, 0, 0] and not any(o.overdue for o in c.oldest)
    text = render_text(c)
    assert "其中超期 0 件" in text and "已超期" not in text and "已等 0 天" in text, text
    # Ten days on, the 设施报修 ticket (7 days) is overdue; 环境卫生 and 供排水 (3 days) too.
    later = await _digest(app, clock.now + timedelta(days=10))
    assert later.totals.overdue == 3 and {o.days_open for o in later.oldest} == {10}


def test_linju_digest_for_this_month_on_tickets_filed_today_says_nothing_is_overdue(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text((REPO / "config.yaml").read_text(encoding="utf-8").replace("data_dir: ./data", f"data_dir: {tmp_path}"))
    linju = [sys.executable, "-m", "bot.cli"]
    lines = "".join(
        f'{{"id": "m{i}", "room": "松涛里邻长群", "sender": "王阿姨", "text": "{i + 3}栋楼道灯坏了，晚上看不见"}}\n'
        for i in range(3)
    )
    subprocess.run([*linju, "chat", "--jsonl", "--config", str(cfg)], input=lines, text=True, check=True,
                   capture_output=True, cwd=REPO, timeout=120)
    this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    out = subprocess.run([*linju, "digest", "--period", this_month, "--config", str(cfg)], text=True, check=True,
                         capture_output=True, cwd=REPO, timeout=120)
    text = next((tmp_path / "digests" / this_month).glob("*.txt")).read_text(encoding="utf-8")
    assert "3 received" in out.stdout, out.stdout
    assert "其中超期 0 件" in text and "已超期" not in text, text
    # Every oldest-open line says 0 days: none is counted to the month's end (29 days and more).
    assert re.findall(r"已等 (\d+) 天", text) == ["0", "0", "0"], text
    wb = load_workbook(next((tmp_path / "digests" / this_month).glob("*.xlsx")), read_only=True)
    header, *rows = list(wb["工单明细"].iter_rows(values_only=True))
    wb.close()
    waited = [r[header.index("已等/用时（天）")] for r in rows]
    assert len(waited) == 3 and all(w < 1 for w in waited), waited


async def test_the_three_rates_print_their_numerators_and_denominators(app, chat, clock, tmp_path):
    clock.now = MID_NOVEMBER
    numbers = []
    for text, who in (("4栋楼道灯坏了，晚上看不见", "王阿姨"), ("5栋下水道堵了，污水冒出来", "李叔"),
                      ("9栋门口的路灯坏了好几天了", "赵姐"), ("8栋门口垃圾没人清", "孙伯")):
        ack, *_ = await chat.say(text, sender=who)
        numbers.append(re.search(r"#(\d+)", ack.text).group(1))
    a, b, c, d = numbers
    committee = "书院路社区两委群"
    clock.now += timedelta(hours=1)
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=committee)  # answered within a day
    await chat.say(f"驳回 {b} 回复：不属于社区职责", sender="刘主任", room=committee)
    await chat.say(f"合并 {c} 到 {a}", sender="刘主任", room=committee)
    clock.now += timedelta(days=2)
    await chat.say(f"办结 {a} 回复：已换灯", sender="刘主任", room=committee)  # d: nobody answered it
    digest = await _digest(app, clock.now + timedelta(minutes=5))
    t = digest.totals
    assert (t.received, t.responded, t.solved, t.rejected, t.merged, t.to_solve) == (4, 3, 1, 1, 1, 2)
    text = render_text(digest)
    assert "响应率 75%（3/4）" in text and "解决率 50%（1/2，驳回 1、合并 1 不计）" in text, text
    assert sum(row.now for row in digest.by_category) == t.received
    assert d in "".join(f"#{o.number}" for o in digest.oldest)
    # The text's category lines add up to what was received, rejected and merged ones included.
    section = text.split("【分类】", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert sum(int(re.match(r"· \S+ (\d+)（", line).group(1)) for line in section) == t.received == 4, section
    # The spreadsheet's summary says the same: numerators/denominators, rejected and merged on rows of their own.
    from handlers.digest_render import write_forms

    async with app.dispatcher.sessions() as s:
        files = await write_forms(s, digest, tmp_path / "out", taxonomy=app.understanding.taxonomy)
    wb = load_workbook(files.xlsx, read_only=True)
    rows = [list(r) for r in wb["汇总"].iter_rows(values_only=True)]
    wb.close()
    by_name = {r[0]: r for r in rows if r and r[0]}
    assert by_name["响应率"][1:4] == ["75%", "—", "3/4"]
    assert by_name["解决率"][1:4] == ["50%", "—", "1/2"]
    assert by_name["其中驳回"][1] == 1 and by_name["其中合并"][1] == 1
    start = next(i for i, r in enumerate(rows) if r and r[0] == "分类")
    categories = [r for r in rows[start + 1 :] if r and r[0]][: len(digest.by_category)]
    assert sum(r[1] for r in categories) == by_name["收到"][1] == 4


async def test_the_month_s_top_issue_is_one_estate_s_with_its_places_and_progress(app, chat, clock):
    clock.now = MID_NOVEMBER
    numbers = []
    for text, who in (("4栋楼道灯坏了，晚上看不见", "王阿姨"), ("6栋楼道灯坏了，黑漆漆的", "李叔"),
                      ("4栋楼道灯坏了好几天了", "赵姐"), ("建设小区4栋楼道灯坏了", "孙伯")):
        ack, *_ = await chat.say(text, sender=who)
        numbers.append(re.search(r"#(\d+)", ack.text).group(1))
    await chat.say(f"办结 {numbers[1]} 回复：已换灯", sender="刘主任", room="书院路社区两委群")
    digest = await _digest(app, clock.now + timedelta(hours=1))
    top = digest.top
    assert top is not None and top.problem == "楼道灯不亮", top
    assert top.places == ["松涛里 4栋", "松涛里 6栋"] and top.reports == 3 and (top.tickets, top.open) == (2, 1)
    text = render_text(digest)
    assert "【本月一题】楼道灯不亮（设施报修）：松涛里 4栋、松涛里 6栋，共3次反映；1 件已办结，1 件在办。" in text, text
