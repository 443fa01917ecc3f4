"""概览 on the real app: its numbers move when a ticket is filed and when it is resolved, each staff member sees
their own communities only, the rates carry their definitions, and last month's digest files download."""

from __future__ import annotations

import re

from handlers.desk_overview import RATE_DEFINITIONS
from tests.web.conftest import OTHER

LAMP = "4栋楼道灯坏了好几天了，晚上黑漆漆的"


def number(page: str, name: str) -> int:
    m = re.search(rf'id="n-{name}">(\d+)<', page)
    assert m, f"no {name} card on the page"
    return int(m.group(1))


async def file_ticket(console, text: str = LAMP, room: str = "松涛里邻长群") -> str:
    return (await filed(console, text, room))[0]


async def filed(console, text: str = LAMP, room: str = "松涛里邻长群") -> tuple[str, str]:
    """(ticket number, category name) from the bot's acknowledgement."""
    replies = await console.chat.say(text, sender="王贵宝", room=room)
    found = [m.groups() for r in replies if (m := re.search(r"工单 #(\d+)（([^｜）]+)", r.text))]
    assert found, [r.text for r in replies]
    return found[0]


async def test_numbers_move_when_a_ticket_is_filed_and_resolved(console, client):
    web = await client("刘主任")
    page = (await web.get("/overview")).text
    before = number(page, "received"), number(page, "open"), number(page, "resolved")
    ticket, category = await filed(console)
    page = (await web.get("/overview")).text
    assert (number(page, "received"), number(page, "open")) == (before[0] + 1, before[1] + 1)
    table = page.split('id="by-category"', 1)[1].split("</table>", 1)[0]
    assert f"<td>{category}</td>" in table
    assert f">{category}</text>" in page  # and a bar in the chart
    await console.chat.say(f"办结 {ticket} 已修好", sender="刘主任", room="书院路社区两委群")
    page = (await web.get("/overview")).text
    assert number(page, "resolved") == before[2] + 1
    assert number(page, "open") == before[1]
    assert 'id="category-chart"' in page and "<rect" in page and "style=" not in page  # CSP: no inline styles


async def test_each_staff_member_sees_only_their_communities(console, client):
    await file_ticket(console)  # 书院路社区
    await file_ticket(console, "韶峰小区2栋下水道堵了，污水冒出来", room="韶峰邻长群")
    mine = (await (await client("刘主任")).get("/overview")).text
    theirs = (await (await client(OTHER + "张干事")).get("/overview")).text
    everyone = (await (await client("管理员")).get("/overview")).text
    assert number(mine, "received") == 1 and number(theirs, "received") == 1
    assert number(everyone, "received") == 2
    assert "韶峰小区" in theirs and "韶峰小区" not in mine and "松涛里" not in theirs
    admin = await client("管理员")
    picked = (await admin.get("/overview", params={"community": OTHER})).text
    assert number(picked, "received") == 1 and "韶峰小区" in picked
    other = await client(OTHER + "张干事")
    r = await other.get("/overview", params={"community": "书院路社区"})
    assert r.status_code == 403
    r = await other.get("/overview/digest/2026-01.xlsx", params={"community": "书院路社区"})
    assert r.status_code == 403


async def test_rates_are_shown_with_their_definitions(console, client):
    await file_ticket(console)
    page = (await (await client("刘主任")).get("/overview")).text
    for name, definition in RATE_DEFINITIONS.items():
        assert name in page and definition in page
    assert 'id="rates"' in page


async def test_the_heat_table_and_the_overdue_list(console, client):
    ticket = await file_ticket(console)
    page = (await (await client("刘主任")).get("/overview")).text
    heat = page.split('id="heat"', 1)[1].split("</table>", 1)[0]
    assert "<th>松涛里</th>" in heat and '<td class="heat-4">1</td>' in heat  # the one ticket: the darkest cell
    desk = console.app.web_parts.desk
    from datetime import timedelta

    later = desk.clock() + timedelta(days=40)
    desk.clock = lambda: later  # forty days on: the ticket is overdue (but still this month's or the next)
    page = (await (await client("刘主任")).get("/overview", params={"month": later.astimezone(desk.tz).strftime("%Y-%m")})).text
    assert f'href="/tickets/{ticket}"' in page
    assert re.search(r"overdue\">\d+ 天", page)


async def test_last_months_digest_files_download(console, client):
    web = await client("刘主任")
    page = (await web.get("/overview")).text
    m = re.search(r'href="/overview/digest/(\d{4}-\d{2})\.png', page)
    assert m
    png = await web.get(f"/overview/digest/{m.group(1)}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    xlsx = await web.get(f"/overview/digest/{m.group(1)}.xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert (await web.get("/overview/digest/nonsense.xlsx")).status_code == 400
    assert (await web.get("/overview", params={"month": "2026-13"})).status_code == 400


async def test_signed_out_the_overview_asks_to_sign_in(console, client):
    anon = await client()
    r = await anon.get("/overview")
    assert r.status_code == 303 and "/login" in r.headers["location"]
