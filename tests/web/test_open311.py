"""Open311 GeoReport v2 on the real app: a key on every route, the taxonomy as services, tickets as requests
without a phone, room number or person's name, and a key for one community sees that community only."""

from __future__ import annotations

import io
import json

from tests.web.conftest import OTHER
from tests.web.test_overview import file_ticket

PRIVATE = "3栋2单元501李秀英家门口下水道堵了，污水漫出来，电话13812345678"
ROSTER = "姓名,微信昵称,角色,社区\n李秀英,秀英,居民,书院路社区\n"


async def _key(console, communities: list[str] | None = None) -> str:
    return await console.app.web_parts.accounts.add_key("区平台", communities=communities or [])


async def test_every_route_wants_a_key(console, client):
    await file_ticket(console)
    web = await client("管理员")  # a staff session alone opens nothing here
    for path in ("/open311/v2/services.json", "/open311/v2/requests.json", "/open311/v2/requests/0001.json"):
        for params in ({}, {"api_key": "lj_wrong"}):
            r = await web.get(path, params=params)
            assert r.status_code == 401, path
            body = r.json()
            assert body[0]["code"] == 401 and body[0]["description"]
    r = await web.http.get("/open311/v2/services.json", headers={"X-API-Key": "lj_wrong"})
    assert r.status_code == 401


async def test_services_are_the_taxonomy(console, client):
    key = await _key(console)
    web = await client()
    r = await web.http.get("/open311/v2/services.json", headers={"X-API-Key": key})
    assert r.status_code == 200
    services = r.json()
    taxonomy = console.app.web_parts.desk.taxonomy
    assert [s["service_code"] for s in services] == list(taxonomy.codes())
    assert [s["service_name"] for s in services] == [c.name for c in taxonomy.categories]
    assert all(s["metadata"] is False and s["type"] == "realtime" and "group" in s for s in services)


async def test_requests_list_tickets_without_personal_data(console, client):
    admin = await client("管理员")
    await admin.get("/rooms")
    files = {"file": ("roster.csv", io.BytesIO(ROSTER.encode()), "text/csv")}
    r = await admin.http.post("/roster/import", data={"csrf": admin.csrf}, files=files, headers=admin._headers())
    assert "导入 1 行" in r.text
    lamp = await file_ticket(console)
    private = await file_ticket(console, PRIVATE)
    key = await _key(console)
    web = await client()
    r = await web.get("/open311/v2/requests.json", params={"api_key": key})
    assert r.status_code == 200
    raw = r.text
    for secret in ("13812345678", "501", "李秀英", "2单元"):
        assert secret not in raw, secret
    items = r.json()
    assert [i["service_request_id"] for i in items] == [private, lamp]  # newest first
    mine = items[0]
    assert mine["status"] == "open" and mine["address"] and "3栋" in mine["address"]
    for k in ("address_id", "zipcode", "lat", "long", "media_url"):
        assert mine[k] is None
    assert mine["requested_datetime"] and mine["expected_datetime"] and mine["service_name"]
    one = await web.get(f"/open311/v2/requests/{private}.json", params={"api_key": key})
    assert one.status_code == 200 and [i["service_request_id"] for i in one.json()] == [private]
    assert "13812345678" not in one.text and "李秀英" not in one.text
    missing = await web.get("/open311/v2/requests/9999.json", params={"api_key": key})
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_filters_and_status(console, client):
    lamp = await file_ticket(console)
    await console.chat.say(f"办结 {lamp} 已修好", sender="刘主任", room="书院路社区两委群")
    key = await _key(console)
    web = await client()
    get = lambda **p: web.get("/open311/v2/requests.json", params={"api_key": key, **p})  # noqa: E731
    closed = (await get(status="closed")).json()
    assert [i["service_request_id"] for i in closed] == [lamp] and closed[0]["status"] == "closed"
    assert (await get(status="open")).json() == []
    assert [i["service_request_id"] for i in (await get(service_request_id=f"{lamp},9999")).json()] == [lamp]
    assert (await get(start_date="2999-01-01T00:00:00+08:00")).json() == []
    assert (await get(start_date="yesterday")).status_code == 400
    assert (await get(status="maybe")).status_code == 400
    code = closed[0]["service_code"]
    assert [i["service_request_id"] for i in (await get(service_code=code)).json()] == [lamp]


async def test_a_key_for_one_community_sees_only_its_tickets(console, client):
    theirs = await file_ticket(console, "韶峰小区2栋下水道堵了，污水冒出来", room="韶峰邻长群")
    ours = await file_ticket(console)
    key = await _key(console, [OTHER])
    web = await client()
    r = await web.get("/open311/v2/requests.json", params={"api_key": key})
    assert [i["service_request_id"] for i in r.json()] == [theirs]
    assert (await web.get(f"/open311/v2/requests/{ours}.json", params={"api_key": key})).status_code == 404
    assert (await web.get(f"/open311/v2/requests/{theirs}.json", params={"api_key": key})).status_code == 200
    assert json.loads(r.text)[0]["address"].startswith("韶峰小区")
