"""工单 on the web: the list filtered, counted, sorted, paged and exported; one ticket's page, its steps and a
reply to the reporter; another community's staff neither see nor change a ticket."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from storage import repo
from storage.models import Ticket
from tests.web.conftest import OTHER

NUMBER = re.compile(r"#(\d+)")
ROW = re.compile(r'<tr id="ticket-(\d+)"')
LAMP = "4栋楼道灯坏了好几天了，晚上黑漆漆的"
DRAIN = "金穗小区2栋下水道堵了，污水都漫到楼道里了"
SHAOFENG = "韶峰小区3栋楼道灯坏了，晚上看不见路"
ROOM = "松涛里邻长群@chatroom"


async def _report(console, text: str, *, sender: str = "王贵宝", room: str = "松涛里邻长群") -> str:
    replies = await console.chat.say(text, sender=sender, room=room)
    for r in replies:
        if m := NUMBER.search(r.text):
            return m.group(1)
    raise AssertionError(f"no ticket filed for {text!r}: {[r.text for r in replies]}")


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


async def _ticket(console, number: str) -> Ticket:
    async with console.app.dispatcher.sessions() as session:
        t = await repo.get_ticket(session, number)
        assert t is not None
        return t


async def _make_late(console, number: str) -> None:
    async with console.app.dispatcher.sessions() as session:
        t = await repo.get_ticket(session, number)
        assert t is not None
        t.due_at = datetime.now(UTC) - timedelta(days=3)
        session.add(t)
        await session.commit()


async def test_filters_narrow_the_list_and_the_counts_follow(console, client):
    lamp = await _report(console, LAMP)
    drain = await _report(console, DRAIN, sender="李秀英")
    await _make_late(console, drain)
    web = await client("刘主任")

    page = await web.get("/tickets")
    assert page.status_code == 200
    assert sorted(_rows(page.text)) == sorted([lamp, drain])
    assert re.search(r'id="count-open"[^>]*>未办结 <b>2</b>', page.text)
    assert re.search(r'id="count-done"[^>]*>已办结 <b>0</b>', page.text)
    assert re.search(r'id="count-overdue"[^>]*>超期 <b>1</b>', page.text)
    assert re.search(r'id="count-overdue"[^>]*>超期 <b>0</b>', (await web.get("/tickets?category=repair")).text)

    assert _rows((await web.get("/tickets", params={"category": "repair"})).text) == [lamp]
    assert _rows((await web.get("/tickets", params={"estate": "金穗小区"})).text) == [drain]
    assert _rows((await web.get("/tickets", params={"q": "黑漆漆"})).text) == [lamp]
    assert _rows((await web.get("/tickets", params={"q": f"#{drain}"})).text) == [drain]
    for wild in ("%", "_", "!", "\\"):  # LIKE's own characters, taken literally: nothing has them
        assert _rows((await web.get("/tickets", params={"q": wild})).text) == []
    late = await web.get("/tickets", params={"overdue": "1"})
    assert _rows(late.text) == [drain] and "超期" in late.text
    assert _rows((await web.get("/tickets", params={"status": "done"})).text) == []

    # A status filter narrows the rows; the counts stay those of the other filters, for switching between them.
    await web.post(f"/tickets/{lamp}/act", {"action": "close"})
    page = await web.get("/tickets", params={"status": "open"})
    assert _rows(page.text) == [drain]
    assert re.search(r'id="count-done"[^>]*>已办结 <b>1</b>', page.text)
    assert re.search(r'id="count-open"[^>]*aria-current="true">未办结 <b>1</b>', page.text)
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    assert _rows((await web.get("/tickets", params={"date_from": future})).text) == []


async def _many(console, n: int) -> list[str]:
    """`n` tickets straight in the database (chat's limits would stop one reporter filing so many)."""
    numbers = []
    start = datetime.now(UTC) - timedelta(hours=n)
    async with console.app.dispatcher.sessions() as session:
        for i in range(n):
            row = await repo.insert_ticket(
                session, category="sanitation", summary=f"垃圾没清运 {i}", text=f"第{i}次：垃圾桶满了没人清",
                estate="湘钢一村", building=str(i % 9 + 1), community="书院路社区", reporter_id=f"wxid_r{i}",
                reporter_name=f"居民{i}", source="wechat", created_at=start + timedelta(hours=i),
            )
            numbers.append(row.number)
        await session.commit()
    return numbers


async def test_the_list_pages_by_fifty_and_sorts_by_a_column(console, client):
    numbers = await _many(console, 55)
    web = await client("刘主任")
    first = await web.get("/tickets")
    assert _rows(first.text) == list(reversed(numbers))[:50]  # newest first
    assert "第 1 / 2 页" in first.text and 'id="page-next"' in first.text
    second = await web.get("/tickets", params={"page": "2"})
    assert _rows(second.text) == list(reversed(numbers))[50:]
    by_number = _rows((await web.get("/tickets", params={"sort": "number", "order": "asc"})).text)
    assert by_number == sorted(numbers, key=int)[:50]
    oldest = _rows((await web.get("/tickets", params={"sort": "created", "order": "asc"})).text)
    assert oldest == numbers[:50]


async def test_exports_hold_the_rows_the_list_shows(console, client):
    lamp = await _report(console, LAMP)
    drain = await _report(console, DRAIN, sender="李秀英")
    web = await client("刘主任")
    r = await web.get("/tickets/export.csv", params={"category": "repair"})
    assert r.status_code == 200
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in r.headers["content-disposition"] and ".csv" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][0] == "工单号" and [row[0] for row in table[1:]] == [lamp]
    assert "松涛里 4栋" in table[1]

    r = await web.get("/tickets/export.xlsx")
    assert r.status_code == 200 and ".xlsx" in r.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    numbers = [str(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(numbers) == sorted([lamp, drain])


async def test_another_communitys_staff_neither_see_nor_change_a_ticket(console, client):
    lamp = await _report(console, LAMP)
    theirs = await _report(console, SHAOFENG, sender="赵大妈", room="韶峰邻长群")
    other = await client(OTHER + "张干事")

    page = await other.get(f"/tickets/{lamp}")
    assert page.status_code == 404 and "没有这张工单" in page.text and "楼道灯" not in page.text
    missing = await other.get("/tickets/99999999")
    assert missing.status_code == 404 and "没有这张工单" in missing.text  # the same as one that does not exist
    assert _rows((await other.get("/tickets")).text) == [theirs]
    assert _rows((await other.get("/tickets", params={"community": "书院路社区"})).text) == []
    exported = (await other.get("/tickets/export.csv")).content.decode("utf-8-sig")
    assert theirs in exported and lamp not in exported

    r = await other.post(f"/tickets/{lamp}/act", {"action": "assign", "arg": "物业"})
    assert r.status_code == 303
    r = await other.post(f"/tickets/{lamp}/reply", {"text": "别管了"})
    assert r.status_code == 303
    t = await _ticket(console, lamp)
    assert t.status == "new" and t.assignee is None
    assert all("别管了" not in m.text for m in console.chat.sent)

    mine = await client("刘主任")
    assert (await mine.get(f"/tickets/{theirs}")).status_code == 404
    admin = await client("管理员")
    assert sorted(_rows((await admin.get("/tickets")).text)) == sorted([lamp, theirs])


async def test_assign_then_resolve_tells_the_reporter_and_shows_in_the_history(console, client):
    lamp = await _report(console, LAMP)
    web = await client("刘主任")
    page = await web.get(f"/tickets/{lamp}")
    assert page.status_code == 200
    assert LAMP in page.text and "王贵宝" in page.text and 'id="act-assign"' in page.text
    assert 'id="act-reopen"' not in page.text

    r = await web.post(f"/tickets/{lamp}/act", {"action": "assign", "arg": "物业", "ask": "今天换灯"})
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{lamp}"
    page = await web.get(f"/tickets/{lamp}")
    assert 'class="said"' in page.text and "已派给物业" in page.text
    assert "派单给物业：今天换灯" in page.text
    assert (await _ticket(console, lamp)).status == "assigned"

    sent_before = len(console.chat.sent)
    r = await web.post(f"/tickets/{lamp}/act", {"action": "resolve", "arg": "电工已上门", "told": "楼道灯已换好"})
    assert r.status_code == 303
    page = await web.get(f"/tickets/{lamp}")
    t = await _ticket(console, lamp)
    assert t.status == "resolved" and t.resolved_at is not None
    history = page.text.split('id="history"', 1)[1]
    assert "办结" in history and "电工已上门" in history
    assert 'id="act-resolve"' not in page.text and 'id="act-close"' in page.text  # only what its status allows
    await console.app.dispatcher.drain()
    told = [m for m in console.chat.sent[sent_before:] if m.room_id == ROOM]
    assert told and any("楼道灯已换好" in m.text for m in told)
    assert all("电工已上门" not in m.text for m in told)  # the staff note stays with staff


async def test_a_refused_step_says_why_in_chinese(console, client):
    lamp = await _report(console, LAMP)
    web = await client("刘主任")
    await web.post(f"/tickets/{lamp}/act", {"action": "close"})
    assert (await _ticket(console, lamp)).status == "closed"
    r = await web.post(f"/tickets/{lamp}/act", {"action": "resolve", "arg": "再办一次"})
    assert r.status_code == 303
    page = await web.get(f"/tickets/{lamp}")
    said = re.search(r'<div class="said" role="status">([^<]*)</div>', page.text)
    assert said is not None and "不能办结" in said.group(1), page.text
    assert (await _ticket(console, lamp)).status == "closed"
    r = await web.post(f"/tickets/{lamp}/act", {"action": "assign", "arg": ""})
    page = await web.get(f"/tickets/{lamp}")
    assert "请填写派给谁" in page.text
    r = await web.post("/tickets/abc/act", {"action": "close"})
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
    assert "没有这张工单" in (await web.get("/tickets")).text


async def test_a_reply_reaches_the_reporters_room(console, client):
    lamp = await _report(console, LAMP)
    web = await client("刘主任")
    sent_before = len(console.chat.sent)
    r = await web.post(f"/tickets/{lamp}/reply", {"text": "明天上午电工上门"})
    assert r.status_code == 303
    await console.app.dispatcher.drain()
    told = [m for m in console.chat.sent[sent_before:] if m.room_id == ROOM]
    assert any("明天上午电工上门" in m.text for m in told)
    assert "明天上午电工上门" in (await web.get(f"/tickets/{lamp}")).text.split('id="history"', 1)[1]


async def test_a_photo_is_served_only_from_inside_the_data_directory(console, client, tmp_path_factory):
    from storage import conversations

    lamp = await _report(console, LAMP)
    data_dir = console.app.settings.data_dir
    (data_dir / "media").mkdir(exist_ok=True)
    (data_dir / "media" / "lamp.jpg").write_bytes(b"\xff\xd8\xff\xe0photo")
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.jpg"
    outside.write_bytes(b"secret")
    t = await _ticket(console, lamp)
    assert t.id is not None
    async with console.app.dispatcher.sessions() as session:
        now = datetime.now(UTC)
        await conversations.attach(session, ticket_id=t.id, message_id="m1", kind="image", path="media/lamp.jpg", now=now)
        await conversations.attach(session, ticket_id=t.id, message_id="m2", kind="image", path=str(outside), now=now)
        await conversations.attach(session, ticket_id=t.id, message_id="m3", kind="image", path="../x.jpg", now=now)
        await session.commit()
    web = await client("刘主任")
    page = await web.get(f"/tickets/{lamp}")
    ids = re.findall(rf'src="/tickets/{lamp}/photos/(\d+)"', page.text)
    assert len(ids) == 3
    inside = await web.get(f"/tickets/{lamp}/photos/{ids[0]}")
    assert inside.status_code == 200 and inside.content.endswith(b"photo")
    assert inside.headers["content-type"] == "image/jpeg"
    assert (await web.get(f"/tickets/{lamp}/photos/{ids[1]}")).status_code == 404
    assert (await web.get(f"/tickets/{lamp}/photos/{ids[2]}")).status_code == 404
    other = await client(OTHER + "张干事")
    assert (await other.get(f"/tickets/{lamp}/photos/{ids[0]}")).status_code == 404
