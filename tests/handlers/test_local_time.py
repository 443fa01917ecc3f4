"""Dates a person reads are on the subdistrict's calendar (schedule.timezone, Asia/Shanghai), not UTC: at 07:00
in Xiangtan it is still yesterday in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.handlers.clocked import *  # noqa: F403  (app, chat, clock, understanding)

SEVEN_AM_28_NOV = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 2026-11-28 07:00 in Asia/Shanghai


async def test_a_report_at_seven_in_the_morning_is_dated_that_day_and_due_on_local_time(app, chat, clock):
    clock.now = SEVEN_AM_28_NOV
    [ack] = await chat.say("松涛里4栋楼道灯坏了，晚上黑漆漆的", sender="王阿姨", room="松涛里邻长群")
    # 设施报修 is due in 7 days: 12月5日 07:00 local (12月4日 23:00 UTC).
    assert "预计12月5日前" in ack.text, ack.text
    number = re.search(r"#(\d+)", ack.text).group(1)
    [answer] = await chat.say(f"查询 {number}", sender="王阿姨", room="松涛里邻长群")
    assert "11月28日登记" in answer.text and "预计12月5日前办好" in answer.text, answer.text


async def test_a_report_just_before_local_midnight_keeps_its_local_day(app, chat, clock):
    clock.now = datetime(2026, 11, 28, 15, 59, tzinfo=UTC)  # 23:59 on 28 Nov in Xiangtan, 28 Nov in UTC too
    [ack] = await chat.say("松涛里5栋下水道堵了，污水漫出来", sender="李叔", room="松涛里邻长群")
    number = re.search(r"#(\d+)", ack.text).group(1)
    clock.now = datetime(2026, 11, 28, 16, 1, tzinfo=UTC)  # 00:01 on 29 Nov in Xiangtan
    [answer] = await chat.say(f"查询 {number}", sender="李叔", room="松涛里邻长群")
    assert "11月28日登记" in answer.text, answer.text
