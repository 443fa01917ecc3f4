"""群与名册 on the real app: admins only; a room bound on the page is bound as `linju rooms bind` binds it (and
unbound likewise); a roster uploaded is imported as `linju roster import` imports it, and exported back."""

from __future__ import annotations

import io

from handlers.desk_rooms import BY_HAND
from tests.web.conftest import OTHER

NEW_ROOM = "书院花园居民群"


async def _room(console, platform_id: str):
    from storage import repo

    async with console.app.web_parts.desk.sessions() as session:
        return await repo.get_room(session, platform_id)


async def test_rooms_and_roster_are_for_admins_only(console, client):
    web = await client("刘主任")
    assert (await web.get("/rooms")).status_code == 403
    assert (await web.get("/roster/export.csv")).status_code == 403
    await web.get("/review")  # a form token of this session
    r = await web.post("/rooms/bind", {"room_id": "x@chatroom", "kind": "committee", "community": "书院路社区"})
    assert r.status_code == 403
    assert await _room(console, "x@chatroom") is None
    other = await client(OTHER + "张干事")
    assert (await other.get("/rooms")).status_code == 403
    anon = await client()
    assert (await anon.get("/rooms")).status_code == 303


async def test_a_room_seen_is_listed_and_bound_and_unbound_on_the_page(console, client):
    await console.chat.say("大家好", sender="王贵宝", room=NEW_ROOM)
    admin = await client("管理员")
    page = await admin.get("/rooms")
    assert page.status_code == 200 and f"{NEW_ROOM}@chatroom" in page.text and "普通群" in page.text
    r = await admin.post("/rooms/bind", {"room_id": f"{NEW_ROOM}@chatroom", "kind": "committee", "community": "书院路社区"})
    assert r.status_code == 303
    room = await _room(console, f"{NEW_ROOM}@chatroom")
    assert (room.kind, room.community, room.bound_by) == ("committee", "书院路社区", BY_HAND)
    page = await admin.get("/rooms")
    assert "两委群" in page.text and "设为书院路社区的两委群" in page.text  # the flash line
    r = await admin.post("/rooms/unbind", {"room_id": f"{NEW_ROOM}@chatroom"})
    assert r.status_code == 303
    room = await _room(console, f"{NEW_ROOM}@chatroom")
    assert room.bound_by is None and room.kind == "leaders"


async def test_binding_refuses_what_the_shell_refuses(console, client):
    admin = await client("管理员")
    await admin.get("/rooms")
    await admin.post("/rooms/bind", {"room_id": "y@chatroom", "kind": "committee", "community": "没有的社区"})
    assert await _room(console, "y@chatroom") is None
    assert "没有“没有的社区”这个社区" in (await admin.get("/rooms")).text
    await admin.post("/rooms/bind", {"room_id": "松涛里邻长群@chatroom", "kind": "committee", "community": "书院路社区"})
    room = await _room(console, "松涛里邻长群@chatroom")
    assert room.kind == "leaders" and room.bound_by == "config"  # configured rooms are changed in config.yaml
    r = await admin.post("/rooms/bind", {"room_id": "z@chatroom", "kind": "committee", "community": "书院路社区", "csrf": "x"})
    assert r.status_code == 403 and await _room(console, "z@chatroom") is None


ROSTER = "姓名,微信昵称,微信号,电话,角色,社区,小区,楼栋\n李秀英,秀英,wxid_lixiuying,13912345678,邻长,书院路社区,松涛里,4\n,,,,,,,\n无名,坏人,wxid_bad,12345,外星人,书院路社区,松涛里,4\n"


async def test_a_roster_uploaded_is_imported_and_exported(console, client):
    admin = await client("管理员")
    await admin.get("/rooms")
    files = {"file": ("roster.csv", io.BytesIO(ROSTER.encode("utf-8-sig")), "text/csv")}
    r = await admin.http.post("/roster/import", data={"csrf": admin.csrf}, files=files, headers=admin._headers())
    assert r.status_code == 200, r.text
    assert "导入 1 行" in r.text and "跳过 1 行" in r.text and "第 4 行" in r.text
    export = await admin.get("/roster/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith("\ufeff".encode())
    body = export.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("社区,片区,组,姓名")
    assert "李秀英" in body and "13912345678" in body and "邻长" in body
    assert "李秀英" in console.app.web_parts.desk.privacy.names  # taken out of what leaves the bot at once


async def test_a_roster_file_of_the_wrong_kind_is_refused(console, client):
    admin = await client("管理员")
    await admin.get("/rooms")
    files = {"file": ("roster.txt", io.BytesIO(b"hello"), "text/plain")}
    r = await admin.http.post("/roster/import", data={"csrf": admin.csrf}, files=files, headers=admin._headers())
    assert r.status_code == 400 and ".csv 或 .xlsx" in r.text
    files = {"file": ("roster.csv", io.BytesIO("电话\n13912345678\n".encode()), "text/csv")}
    r = await admin.http.post("/roster/import", data={"csrf": admin.csrf}, files=files, headers=admin._headers())
    assert r.status_code == 400 and "名册读不了" in r.text
