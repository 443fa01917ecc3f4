"""Digest content on a seeded database (SQLite and PostgreSQL): the numbers, the boundaries, the privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.digest import build_digest, render_text
from handlers.digest_render import write_forms
from nlp.privacy import Privacy
from nlp.rules import taxonomy_from_dicts
from storage import digest_queries as q
from storage.models import Ticket
from tests.support import make_settings

PHONE = "13912345678"
REPORTER = "张三丰"


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def taxonomy(tmp_path):
    s = make_settings(tmp_path)
    return taxonomy_from_dicts([c.model_dump() for c in s.taxonomy.categories])


def _t(n: int, created: datetime, **kw) -> Ticket:
    base = dict(
        number=f"{n:04d}",
        category="drainage",
        summary="下水道堵塞",
        text=f"{REPORTER} 电话 {PHONE} 3栋402室 下水道堵了",
        community="书院路社区",
        reporter_id=f"wxid_r{n}",
        reporter_name=REPORTER,
        room_no="402",
        created_at=created,
        updated_at=created,
        due_at=created + timedelta(days=7),
    )
    base.update(kw)
    return Ticket(**base)


def seeded_tickets() -> list[Ticket]:
    """October 2026 in Asia/Shanghai is [2026-09-30 16:00 UTC, 2026-10-31 16:00 UTC)."""
    return [
        # 01:00 on Oct 1 local, though still Sep 30 in UTC: October's. Resolved after 3 days, satisfied.
        _t(
            1,
            utc(2026, 9, 30, 17),
            estate="金穗小区",
            building="4",
            summary="4栋 下水道堵塞",
            supporters=3,
            relay_name="3-2-401王姐",
            relay_id="wxid_wang",
            area="一片",
            grp="三组",
            status="resolved",
            resolved_at=utc(2026, 10, 3, 17),
            satisfaction="satisfied",
        ),
        # 23:00 on Sep 30 local: September's (the previous period); closed the same night.
        _t(
            2,
            utc(2026, 9, 30, 15),
            status="closed",
            resolved_at=utc(2026, 9, 30, 15, 30),
            closed_at=utc(2026, 9, 30, 15, 40),
        ),
        # 23:59 on Oct 31 local: October's, still open, not yet due.
        _t(
            3, utc(2026, 10, 31, 15, 59), category="noise", summary="广场舞噪音", estate="松涛里", area="一片"
        ),
        # 00:30 on Nov 1 local: not October's.
        _t(4, utc(2026, 10, 31, 16, 30), category="noise"),
        # The same problem in another estate: a problem of its own, not part of ticket 1's. Overdue at the end.
        _t(
            5,
            utc(2026, 10, 5, 2),
            estate="湘钢一村",
            building="2",
            summary="2栋 下水道堵塞",
            area="二片",
            due_at=utc(2026, 10, 8),
        ),
        # Received in September, still open and overdue: the oldest open ticket.
        _t(
            6,
            utc(2026, 9, 10, 2),
            category="safety",
            summary="飞线充电",
            estate="建设小区",
            due_at=utc(2026, 9, 20),
            assignee="小陈",
            status="assigned",
        ),
        # Resolved in 2 days, unsatisfied; relayed by a leader whose nickname carries a phone number.
        _t(
            7,
            utc(2026, 10, 10, 2),
            category="sanitation",
            summary="垃圾清运不及时",
            relay_name=f"李四 {PHONE}",
            relay_id="wxid_li",
            status="closed",
            resolved_at=utc(2026, 10, 12, 2),
            closed_at=utc(2026, 10, 13, 2),
            satisfaction="unsatisfied",
        ),
        # Withdrawn by the reporter: never counted.
        _t(8, utc(2026, 10, 11, 2), status="withdrawn", closed_at=utc(2026, 10, 11, 3)),
        # Received in October, resolved only in November: open at October's end.
        _t(
            9,
            utc(2026, 10, 20, 2),
            category="greening",
            summary="树枝挡窗",
            relay_name="王贵宝",
            relay_id="wxid_wgb",
            status="resolved",
            resolved_at=utc(2026, 11, 2, 2),
        ),
        # Another community.
        _t(
            10,
            utc(2026, 10, 15, 2),
            category="parking",
            summary="僵尸车",
            community="东坪社区",
            relay_name="王贵宝",
            relay_id="wxid_wgb2",
        ),
    ]


async def seed(sessions, tickets: list[Ticket] | None = None) -> None:
    async with sessions() as s:
        for t in tickets if tickets is not None else seeded_tickets():
            s.add(t)
        await s.commit()


def test_periods_are_local_calendar_months_and_iso_weeks():
    p = q.parse_period("2026-10", "Asia/Shanghai")
    assert (p.start, p.end) == (utc(2026, 9, 30, 16), utc(2026, 10, 31, 16))
    assert p.previous("Asia/Shanghai").label == "2026-09"
    assert q.parse_period("2026-01").previous("Asia/Shanghai").label == "2025-12"
    w = q.parse_period("2026-w44")
    assert w.label == "2026-W44" and w.kind == "week" and (w.end - w.start) == timedelta(days=7)
    assert q.period_before(datetime(2026, 11, 1).date(), "month").label == "2026-10"
    with pytest.raises(ValueError):
        q.parse_period("October")


async def test_the_numbers_of_a_month_on_a_seeded_database(sessions, tmp_path):
    await seed(sessions)
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path))
    t = c.totals
    assert (t.received, t.resolved, t.open, t.overdue) == (6, 2, 5, 4)
    assert t.resolution_rate == pytest.approx(2 / 6)
    assert t.median_days == pytest.approx(2.5, abs=0.01)
    assert (t.satisfied, t.unsatisfied) == (1, 1)
    assert c.prev_totals.received == 2
    cats = {b.name: (b.now, b.prev) for b in c.by_category}
    assert cats["供排水"] == (2, 1) and cats["安全隐患"] == (0, 1) and cats["噪音扰民"] == (1, 0)
    assert c.by_category[0].name == "供排水"
    assert {b.name: b.now for b in c.by_community} == {"书院路社区": 5, "东坪社区": 1}
    assert {b.name: b.now for b in c.by_estate}["金穗小区"] == 1
    assert {b.name: b.now for b in c.by_area} == {"一片": 2, "二片": 1}
    assert [o.number for o in c.oldest][:2] == ["0006", "0005"] and c.oldest[0].overdue
    assert c.relayers[0] == ("王贵宝", 2) and ("王姐", 1) in c.relayers and ("李四", 1) in c.relayers
    [hot] = c.hot
    # One estate's problem: 湘钢一村's single report of the same words is not part of 金穗小区's hot issue.
    assert hot.problem == "下水道堵塞" and hot.reports == 3 and hot.places == ["金穗小区 4栋"]


async def test_a_community_digest_counts_only_that_community(sessions, tmp_path):
    await seed(sessions)
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path), community="东坪社区")
    assert (c.totals.received, c.totals.open, c.totals.resolved) == (1, 1, 0)
    assert c.scope == "东坪社区" and c.by_community == [] and c.hot == []
    assert c.relayers == [("王贵宝", 1)]


async def test_a_period_with_no_tickets_says_so(sessions, tmp_path):
    await seed(sessions)
    async with sessions() as s:
        c = await build_digest(s, period="2026-07", taxonomy=taxonomy(tmp_path))
    assert (c.totals.received, c.totals.resolved, c.totals.open) == (0, 0, 0)
    assert c.totals.resolution_rate is None and c.totals.median_days is None
    assert "没有收到新的诉求" in render_text(c)


async def test_the_text_puts_headline_numbers_first_and_fits_one_message(sessions, tmp_path):
    await seed(sessions)
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path))
    text = render_text(c)
    lines = text.splitlines()
    assert lines[0] == "【全街道·2026年10月诉求月报】"
    assert "收到 6 件" in lines[1] and "超期 4 件" in lines[2]
    assert "下水道堵塞" in text and "王贵宝" in text
    assert len(render_text(c, limit=300)) <= 300
    assert len(text) <= 2000
    for secret in (PHONE, REPORTER, "402", "401"):
        assert secret not in text


def test_leaders_are_thanked_by_name_without_the_phone_or_room_their_nickname_carries():
    p = Privacy(["王贵宝"])
    assert p.display_name("3-2-401王姐") == "王姐"
    assert p.display_name(f"李四 {PHONE}") == "李四"
    assert p.display_name("王贵宝") == "王贵宝"


async def test_the_digest_text_and_spreadsheet_go_through_the_privacy_module(sessions, tmp_path):
    """A name on the roster and a phone in a summary or an assignee reach neither the text nor the XLSX."""
    from openpyxl import load_workbook

    leaky = _t(
        11, utc(2026, 9, 1, 2), summary=f"9栋 邓春花家门口下水道堵塞 {PHONE}", estate="松涛里", building="9",
        assignee=f"邓春花 {PHONE}", due_at=utc(2026, 9, 5),
    )
    again = _t(12, utc(2026, 10, 6, 2), summary="8栋 邓春花家门口下水道堵塞", estate="松涛里", building="8")
    await seed(sessions, [*seeded_tickets(), leaky, again])
    privacy = Privacy(["邓春花"])
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path), privacy=privacy)
        files = await write_forms(s, c, tmp_path / "out", taxonomy=taxonomy(tmp_path), privacy=privacy)
    assert any("邓某" in o.summary for o in c.oldest) or any("邓某" in h.problem for h in c.hot)
    cells = [
        str(v)
        for sheet in load_workbook(files.xlsx, read_only=True).worksheets
        for row in sheet.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    for where in (files.text, "\n".join(cells)):
        assert "邓春花" not in where and PHONE not in where
