"""Roster import from CSV and XLSX: upsert without duplicates, bad rows reported by line, the rest loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from storage.models import Community, Member
from storage.roster import RosterError, import_file, read_rows

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "roster.csv"


async def members(sessions) -> list[Member]:
    async with sessions() as s:
        return list((await s.exec(select(Member).order_by(Member.id))).all())


async def test_the_sample_roster_loads_with_roles_and_hierarchy(sessions):
    async with sessions() as s:
        result = await import_file(s, SAMPLE)
        await s.commit()
    assert (result.created, result.errors, result.communities_created) == (8, [], 1)
    by_name = {m.display_name: m for m in await members(sessions)}
    assert by_name["刘主任"].role == "staff" and by_name["小陈"].role == "staff"
    assert by_name["周片长"].role == "area_leader" and by_name["吴组长"].role == "group_leader"
    wang = by_name["王贵宝"]
    assert (wang.role, wang.area, wang.grp, wang.building, wang.households) == ("neighbour_leader", "第一片", "第三组", "4", 12)
    assert wang.rooms == "松涛里邻长群" and wang.phone == "13800000005"
    async with sessions() as s:
        assert [c.name for c in (await s.exec(select(Community))).all()] == ["书院路社区"]


async def test_reimporting_updates_without_duplicating(sessions, tmp_path):
    async with sessions() as s:
        await import_file(s, SAMPLE)
        await s.commit()
    changed = tmp_path / "roster.csv"
    changed.write_text(
        SAMPLE.read_text(encoding="utf-8").replace("王贵宝,wxid_wanggb,13800000005,邻长,松涛里,4,12", "王贵宝,wxid_wanggb,13800000005,邻长,松涛里,4,14"),
        encoding="utf-8",
    )
    async with sessions() as s:
        result = await import_file(s, changed)
        await s.commit()
    assert (result.created, result.updated, result.unchanged) == (0, 1, 7)
    all_members = await members(sessions)
    assert len(all_members) == 8
    assert next(m for m in all_members if m.display_name == "王贵宝").households == 14


async def test_bad_rows_are_reported_by_line_and_the_rest_loads(sessions, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "姓名,角色,电话,楼栋,联系户数,社区\n"
        "张三,邻长,13900000000,3,8,书院路社区\n"
        ",邻长,,,,书院路社区\n"
        "李四,队长,,,,书院路社区\n"
        "王五,邻长,12345,,,书院路社区\n"
        "赵六,邻长,,三楼,,书院路社区\n"
        "钱七,邻长,,,很多,书院路社区\n"
        "孙八,居民,,,,书院路社区\n",
        encoding="utf-8",
    )
    async with sessions() as s:
        result = await import_file(s, f)
        await s.commit()
    assert result.created == 2
    assert [line for line, _ in result.errors] == [3, 4, 5, 6, 7]
    assert "role" in result.errors[1][1] and "phone" in result.errors[2][1]
    assert {m.display_name for m in await members(sessions)} == {"张三", "孙八"}


async def test_xlsx_rosters_load_like_csv(sessions, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["社区", "姓名", "微信号", "角色", "联系户数"])
    ws.append(["书院路社区", "王贵宝", "wxid_wanggb", "邻长", 12])
    ws.append(["书院路社区", "", "", "邻长", None])
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    async with sessions() as s:
        result = await import_file(s, path)
        await s.commit()
    assert result.created == 1 and [line for line, _ in result.errors] == [3]
    [m] = await members(sessions)
    assert (m.wechat_id, m.households, m.role) == ("wxid_wanggb", 12, "neighbour_leader")


def test_a_file_without_a_name_column_is_refused(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("电话,角色\n13900000000,邻长\n", encoding="utf-8")
    with pytest.raises(RosterError, match="name column"):
        read_rows(f)
    with pytest.raises(RosterError, match=".csv or .xlsx"):
        read_rows(tmp_path / "x.txt")
