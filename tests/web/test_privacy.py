"""What a staff member of another community can reach holds nothing of a resident's: every page, list, export
and file of the console, fetched as 韶山社区's staff, carries no phone number, room number or full name from a
书院路社区 ticket (and none of its text); the same ticket's own staff do see it, so the check can fail."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import openpyxl

from tests.web.conftest import OTHER
from tests.web.test_overview import file_ticket
from tests.web.test_security import _routes

PRIVATE = "3栋2单元501李秀英家门口下水道堵了，污水漫出来，电话13812345678"
SECRETS = ("13812345678", "501", "李秀英")
ROSTER = "姓名,微信昵称,角色,社区\n李秀英,秀英,居民,书院路社区\n"


def _text(r) -> str:
    kind = r.headers.get("content-type", "")
    if "spreadsheetml" in kind:
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        return "\n".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row if c.value is not None)
    if kind.startswith("image/"):
        return ""  # a chart: bars and category names
    return r.content.decode("utf-8-sig", errors="replace")


async def _reachable(web, console, number: str) -> dict[str, str]:
    """Every GET route, its path parameters filled with this ticket (and its first photo, this month)."""
    pages: dict[str, str] = {}
    for method, path in _routes(console):
        if method != "GET" or path.startswith("/open311/") or path in ("/", "/login"):
            continue
        url = path.replace("{number}", number).replace("{attachment_id}", "1")
        url = url.replace("{period}.{kind}", "2026-12.xlsx").replace("{period}", "2026-12")
        for q in (None, "13812345678", "李秀英"):
            r = await web.get(url, params={"q": q, "status": "all"} if q else None)
            text = _text(r)
            if q:  # the page says back what the viewer searched for (box, links): theirs, not the ticket's
                text = text.replace(q, "").replace(quote(q), "")
            pages[f"{url}?q={q or ''}"] = f"{r.status_code} {text}"
    return pages


async def test_another_communitys_staff_reach_nothing_personal(console, client):
    admin = await client("管理员")
    await admin.get("/rooms")
    files = {"file": ("roster.csv", io.BytesIO(ROSTER.encode()), "text/csv")}
    r = await admin.http.post("/roster/import", data={"csrf": admin.csrf}, files=files, headers=admin._headers())
    assert r.status_code in (200, 303)
    number = await file_ticket(console, PRIVATE)
    await file_ticket(console, "韶峰小区2栋电梯坏了，老人下不了楼", room="韶峰邻长群")

    own = await client("刘主任")
    seen = await _reachable(own, console, number)
    assert any(s in text for text in seen.values() for s in SECRETS), "its own staff see the message: a real check"

    other = await client(OTHER + "张干事")
    pages = await _reachable(other, console, number)
    assert len(pages) >= 10, sorted(pages)
    for url, text in pages.items():
        for secret in SECRETS:
            assert secret not in text, (url, secret)
        assert not re.search(r"下水道堵了", text), url
        if not url.endswith("?q="):  # a search for the phone or the name finds nothing of theirs
            assert f"#{number}" not in text and f"ticket-{number}" not in text, url
