"""A step on the web console reaches WeChat: a report made through the real Wechaty puppet software, 派单 and
办结 on the console (over HTTP, with a staff member's session), and the reporter's group receives each notice,
mentioning them, through the puppet."""

from __future__ import annotations

import re

from tests.e2e.test_app_over_wechat import report
from tests.e2e.wechat_harness import running_wechat_app
from tests.support import daytime_clock
from tests.web.conftest import PASSWORD, Browserless


async def test_dispatch_and_resolve_on_the_console_tell_the_reporter_on_wechat(harness, wechat_settings):
    wechat_settings.web.enabled, wechat_settings.web.port = True, 0
    # Daytime in Xiangtan: at night the notices are held for the morning (quiet hours), as in chat.
    async with running_wechat_app(wechat_settings, clock=daytime_clock()) as app:
        staff_id = harness.contacts["liuzhuren"]["id"]
        await app.web_parts.accounts.add_user(
            "刘主任", actor_id=staff_id, communities=["书院路社区"], admin=False, password=PASSWORD
        )
        number, _ = await report(harness, "4栋楼道灯坏了好几天了")
        reporter = harness.contacts["wangdajie"]["id"]
        web = Browserless(f"http://127.0.0.1:{app.web.port}")
        try:
            assert (await web.sign_in("刘主任")).status_code == 303
            await web.get(f"/tickets/{number}")
            for action, arg, said in (("assign", "物业", "已派给物业"), ("resolve", "已换灯泡", "已处理完成")):
                mark = await harness.mark()
                r = await web.post(f"/tickets/{number}/act", {"action": action, "arg": arg})
                assert r.status_code == 303
                [notice] = await harness.wait_sent(since=mark)
                assert notice["roomId"] == harness.rooms["leaders"]["id"], notice
                assert reporter in notice["mentionIds"] and f"#{number}" in notice["text"] and said in notice["text"]
            page = await web.get(f"/tickets/{number}")
            assert re.search(r"已办结|已处理", page.text)
        finally:
            await web.aclose()
