"""Digest content on a seeded database (SQLite and PostgreSQL): the numbers, the boundaries, the privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

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


def _cells(path) -> dict[str, list[list[object]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def _blob(rows: list[list[object]]) -> str:
    return "\n".join(str(v) for r in rows for v in r if v is not None)


async def test_the_digest_text_and_spreadsheet_go_through_the_privacy_module(sessions, tmp_path):
    """The committee's spreadsheet is for staff: it names the reporter (display name, without what a nickname
    carries) and the relaying leader. Everything else goes through the privacy module: a roster name and a phone
    in a summary, an assignee, the original text or a note, and a resident's room number, reach neither the text
    nor the XLSX; the chat text names no reporter at all."""
    from storage.models import TicketEvent

    leaky = _t(
        11, utc(2026, 9, 1, 2), summary=f"9栋 邓春花家门口下水道堵塞 {PHONE}", estate="松涛里", building="9",
        assignee=f"邓春花 {PHONE}", due_at=utc(2026, 9, 5),
    )
    again = _t(12, utc(2026, 10, 6, 2), summary="8栋 邓春花家门口下水道堵塞", estate="松涛里", building="8")
    await seed(sessions, [*seeded_tickets(), leaky, again])
    async with sessions() as s:
        [t1] = (await s.exec(select(Ticket).where(Ticket.number == "0001"))).all()
        s.add(TicketEvent(ticket_id=t1.id, action="resolve", at=utc(2026, 10, 3, 17),
                          note=f"已疏通 回复：已请邓春花配合，有事打{PHONE}，她住5栋1203室"))
        await s.commit()
    privacy = Privacy(["邓春花"])
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path), privacy=privacy)
        files = await write_forms(s, c, tmp_path / "out", taxonomy=taxonomy(tmp_path), privacy=privacy)
    assert any("邓某" in o.summary for o in c.oldest) or any("邓某" in h.problem for h in c.hot)
    sheets = _cells(files.xlsx)
    header, *rows = sheets["工单明细"]
    reporter, relay, said, note = (header.index(h) for h in ("反映人", "转达邻长", "原话", "办结说明"))
    assert {r[reporter] for r in rows} == {REPORTER}  # named for staff, as the WeChat display name
    [first] = [r for r in rows if r[0] == "0001"]
    assert first[relay] == "王姐"  # "3-2-401王姐": the leader, not her room
    assert first[said] == "张某 电话 [电话] 3栋[房号] 下水道堵了", first[said]
    assert "邓某配合" in first[note] and "[电话]" in first[note] and "[房号]" in first[note], first[note]
    others = [[v for i, v in enumerate(r) if i != reporter] for r in rows]
    workbook = _blob([v for rs in sheets.values() for v in rs])
    for where in (files.text, workbook):
        assert "邓春花" not in where and PHONE not in where
        for room in ("402", "401", "1203"):
            assert room not in where, room
    # The reporter's name is in the reporter column only: not in the chat text, not in the original text.
    for where in (files.text, _blob(others), _blob(sheets["汇总"])):
        assert REPORTER not in where


async def test_the_tickets_sheet_has_what_the_committee_clerk_needs(sessions, tmp_path):
    """Due date (a local date), urgent 是/否, source and group in Chinese, the reporter and who relayed it, the
    original text, the last 办结/归档 note that says something, a filter on the header and the header frozen;
    本月一题 and the rates' definitions stay."""
    from openpyxl import load_workbook

    from handlers.digest_render import RATE_NOTES, TICKET_HEADERS
    from storage.models import Room, TicketEvent

    urgent = _t(
        13, utc(2026, 10, 21, 2), category="safety", summary="5栋 燃气泄漏", estate="松涛里", building="5",
        urgent=True, source="box", room_id="songtao@chatroom", due_at=utc(2026, 10, 21, 17),  # 01:00 on the 22nd
        status="closed", resolved_at=utc(2026, 10, 21, 6), closed_at=utc(2026, 10, 22, 2),
        text="5栋门口燃气泄漏\x0b味道很大\x07",  # pasted with control characters, which no worksheet may hold
        # A leader reporting herself: she is the reporter, and nobody relayed it.
        reporter_id="wxid_zhao", reporter_name=f"赵组长 {PHONE}", relay_id="wxid_zhao", relay_name=f"赵组长 {PHONE}",
    )
    await seed(sessions, [*seeded_tickets(), urgent])
    async with sessions() as s:
        s.add(Room(platform_id="songtao@chatroom", topic="松涛里邻长群", community="书院路社区"))
        [t] = (await s.exec(select(Ticket).where(Ticket.number == "0013"))).all()
        for at, action, note in (
            (utc(2026, 10, 21, 3), "resolve", "初步处理"),
            (utc(2026, 10, 21, 6), "resolve", "燃气公司已关阀检修 回复：已修好"),  # the last that says something
            (utc(2026, 10, 22, 2), "close", None),
            (utc(2026, 10, 22, 3), "reclassify", "不是这条"),
        ):
            s.add(TicketEvent(ticket_id=t.id, action=action, at=at, note=note))
        await s.commit()
    async with sessions() as s:
        c = await build_digest(s, period="2026-10", taxonomy=taxonomy(tmp_path))
        files = await write_forms(s, c, tmp_path / "out", taxonomy=taxonomy(tmp_path))
    wb = load_workbook(files.xlsx)  # not read-only: the sheet's filter and panes are read back too
    sheet = wb["工单明细"]
    header = [cell.value for cell in sheet[1]]
    assert header == list(TICKET_HEADERS)
    for h in ("反映人", "转达邻长", "原话", "办结说明", "办理期限", "紧急", "来源", "群聊", "组"):
        assert h in header, h
    assert sheet.auto_filter.ref == f"A1:W{sheet.max_row}" and sheet.max_row == 1 + c.totals.received
    assert sheet.freeze_panes == "A2"
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    row = rows["0013"]
    assert row["办理期限"] == datetime(2026, 10, 22)  # the local date (Excel keeps dates as midnight)
    assert sheet.cell(row=list(rows).index("0013") + 2, column=header.index("办理期限") + 1).number_format == "yyyy-mm-dd"
    assert (row["紧急"], row["来源"], row["群聊"]) == ("是", "意见箱", "松涛里邻长群")
    assert row["办结说明"] == "燃气公司已关阀检修 回复：已修好"
    assert (row["反映人"], row["转达邻长"]) == ("赵组长", None)
    assert row["原话"] == "5栋门口燃气泄漏味道很大"
    first = rows["0001"]
    assert (first["紧急"], first["来源"], first["群聊"], first["组"]) == ("否", "微信群", "私聊", "三组")
    assert first["办理期限"] == datetime(2026, 10, 8) and first["办结说明"] is None
    assert first["反映人"] == REPORTER and first["转达邻长"] == "王姐"
    assert first["原话"] == "张某 电话 [电话] 3栋[房号] 下水道堵了"
    summary = [[v for v in r if v is not None] for r in wb["汇总"].iter_rows(values_only=True)]
    notes = {r[0]: r[-1] for r in summary if r and r[0] in RATE_NOTES}
    assert notes == RATE_NOTES
    assert any(r and r[0] == "本月一题" for r in summary)
    wb.close()
