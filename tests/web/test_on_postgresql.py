"""The console's own rows (accounts, sessions) and a step through it, on SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.web.conftest import Browserless

HELD = "楼下那个井盖好像有点松"


async def test_sign_in_confirm_and_sign_out_on_each_database(console_any_db):
    console = console_any_db
    await console.chat.say(HELD, sender="王贵宝", room="松涛里邻长群")
    web = Browserless(console.url)
    try:
        assert (await web.sign_in("刘主任")).status_code == 303
        page = await web.get("/review")
        assert HELD in page.text
        number = int(page.text.split('id="candidate-', 1)[1].split('"', 1)[0])
        assert (await web.post(f"/review/{number}/confirm", {"category": ""})).status_code == 303
        assert HELD not in (await web.get("/review")).text
        assert (await web.post("/logout")).status_code == 303
        assert (await web.get("/review")).status_code == 303
    finally:
        await web.aclose()
