"""Whole-flow behaviour through the real app (config → router → storage → replies) on a fake channel."""

from __future__ import annotations

import re

from sqlmodel import select

from handlers.types import IncomingMessage
from storage.models import Inbox, Ticket

NUMBER = re.compile(r"#(\d{4,})")


async def tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket))).all())


async def inbox(app) -> list[Inbox]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Inbox))).all())


async def report(chat, text: str, **kw) -> str:
    replies = await chat.say(text, **kw)
    assert replies, f"no ack for {text!r}"
    m = NUMBER.search(replies[0].text)
    assert m, replies[0].text
    return m.group(1)


async def test_a_report_is_filed_and_acknowledged_with_number_category_and_place(app, chat):
    replies = await chat.say("4栋楼道灯坏了好几天了", sender="王贵宝")
    assert len(replies) == 1
    ack = replies[0]
    assert ack.room_id == "松涛里邻长群@chatroom"
    assert [m.name for m in ack.mentions] == ["王贵宝"]
    assert "设施报修" in ack.text and "4栋" in ack.text
    number = NUMBER.search(ack.text).group(1)
    [t] = await tickets(app)
    assert (t.number, t.category, t.building, t.status) == (number, "repair", "4", "new")
    assert t.reporter_name == "王贵宝" and t.due_at is not None and t.summary


async def test_query_by_number_gives_status_without_personal_details(app, chat):
    number = await report(chat, "7-1-502门口的楼道窗户关不上了，电话13812345678")
    for q in (f"查询 {number}", f"#{number} 进度", f"工单{number}处理完了吗"):
        [answer] = await chat.say(q, sender="李建国")
        assert f"#{number}" in answer.text and "已登记" in answer.text, q
        rest = answer.text.replace(number, "#")  # a random ticket number may contain 502
        assert "13812345678" not in rest and "502" not in rest and "王贵宝" not in rest


async def test_unknown_number_is_said_plainly(chat):
    [answer] = await chat.say("查询 9999")
    assert "没有找到工单 #9999" in answer.text


async def test_my_tickets_and_query_by_content_find_the_askers_own_reports(app, chat):
    drain = await report(chat, "4栋楼下下水道堵了，得马上找人疏通")
    await report(chat, "2栋门口路灯不亮了")
    [mine] = await chat.say("我的工单")
    assert drain in mine.text and mine.text.count("#") == 2
    [answer] = await chat.say("我上次反映的下水道怎么样了")
    assert f"#{drain}" in answer.text
    [other] = await chat.say("我上次反映的下水道怎么样了", sender="路人甲")
    assert drain not in other.text


async def test_chat_gets_no_reply_but_is_recorded(app, chat):
    for text in ("收到", "谢谢王姐", "【通知】周六上午社区义诊", "[红包]", "哈哈哈"):
        assert await chat.say(text) == [], text
    rows = await inbox(app)
    assert len(rows) == 5 and all(r.status == "done" and r.intent == "chat" for r in rows)
    assert await tickets(app) == []


async def test_a_redelivered_message_is_handled_once(app, chat):
    first = await chat.say("5栋电梯坏了", message_id="wx-1")
    again = await chat.say("5栋电梯坏了", message_id="wx-1")
    assert len(first) == 1 and again == []
    assert len(await tickets(app)) == 1 and len(await inbox(app)) == 1


async def test_reporter_can_undo_within_the_window_and_others_cannot(app, chat):
    number = await report(chat, "3栋单元门闭门器坏了")
    [refused] = await chat.say(f"撤销 {number}", sender="李建国")
    [unknown] = await chat.say("撤销 9999", sender="李建国")
    assert refused.text.replace(number, "N") == unknown.text.replace("9999", "N"), "a number tells nothing"
    [done] = await chat.say(f"撤销 {number}")
    assert "已撤销" in done.text
    [t] = await tickets(app)
    assert t.status == "withdrawn"
    [mine] = await chat.say("我的工单")
    assert number not in mine.text


async def test_help_is_given_on_request_and_on_a_bare_mention(chat):
    [h] = await chat.say("帮助")
    assert "查询" in h.text and "撤销" in h.text
    [h2] = await chat.say("@邻聚小助手")
    assert h2.text == h.text


async def test_a_mention_of_the_bot_is_stripped_before_understanding(app, chat):
    number = await report(chat, "@邻聚小助手 6栋化粪池满了往外冒")
    [t] = await tickets(app)
    assert t.number == number and t.category == "drainage" and t.building == "6"


async def test_private_chat_queries_work(app, chat):
    number = await report(chat, "8栋电梯又坏了")
    [answer] = await chat.say(f"查询 {number}", room=None)
    assert answer.contact_id == "wxid_王贵宝" and answer.room_id is None and number in answer.text


async def test_bad_input_is_recorded_and_never_raises(app, chat):
    nasty = [
        "",
        "   ",
        "😀😀😀🎉",
        "\x00\x01\x02\u200b\u200d",
        "'; DROP TABLE ticket; --",
        "<script>alert(1)</script>",
        '{"intent": "report", "category": "repair"}',
        "楼" * 100_000,
        "\ud800 lone surrogate 楼道灯坏了",
    ]
    for i, text in enumerate(nasty):
        await chat.say(text, message_id=f"bad-{i}")
    assert await chat.say("[图片]", kind="image", message_id="img-1") == []  # a photo is never answered
    rows = {r.message_id: r for r in await inbox(app)}
    assert len(rows) == len(nasty) + 1
    assert all(r.status in ("done", "ignored") for r in rows.values()), [(r.message_id, r.error) for r in rows.values()]
    assert (rows["img-1"].status, rows["img-1"].intent) == ("done", "image")  # kept for the report it may show
    assert len(rows["bad-7"].text) == 100_000


async def test_a_reply_that_fails_to_send_is_kept_and_sent_later(app, chat, monkeypatch):
    monkeypatch.setattr("bot.app.RETRY_FIRST", 3600.0)  # the app's own retry (tests/bot/test_outbox_retry.py) waits
    chat.fail_sends = 1
    assert await chat.say("9栋路灯坏了") == []
    assert await app.dispatcher.flush_outbox() == 1
    assert "已登记" in chat.sent[-1].text


async def test_my_id_is_told_in_a_private_chat_and_only_there(chat):
    """Staff learn the id to put in the config by sending 我的ID privately; in a group it is not said aloud."""
    [private] = await chat.say("我的ID", sender="网格员小周", room=None)
    assert private.contact_id == "wxid_网格员小周" and "wxid_网格员小周" in private.text
    [in_room] = await chat.say("我的id", sender="网格员小周")
    assert in_room.room_id is not None and "wxid_" not in in_room.text and "私聊" in in_room.text


async def test_staff_from_the_roster_act_by_their_wechat_id_with_their_scope(app, chat):
    from storage.roster import import_rows

    async with app.dispatcher.sessions() as s:
        result = await import_rows(s, [
            (2, {"display_name": "网格员小周", "wechat_id": "wxid_网格员小周", "role": "网格员", "community": "书院路社区"}),
            (3, {"display_name": "街道老张", "wechat_id": "wxid_街道老张", "role": "工作人员", "scope": "全街道"}),
        ])
        await s.commit()
    assert result.loaded == 2
    number = await report(chat, "4栋楼道灯坏了好几天了")
    confirm, _ = await chat.say(f"派单 {number} 物业", sender="网格员小周", room=None)
    assert "已派给物业" in confirm.text
    async with app.dispatcher.sessions() as s:
        from sqlmodel import select as sel

        from storage.models import Member

        people = {m.display_name: m for m in (await s.exec(sel(Member))).all()}
    assert people["街道老张"].subdistrict_wide and not people["网格员小周"].subdistrict_wide
    # A display name alone is nobody: someone else calling themselves 网格员小周 in the group is refused.
    msg = IncomingMessage(message_id="spoof", sender_id="wxid_other", sender_name="网格员小周",
                          text=f"关闭 {number}", room_id="松涛里邻长群@chatroom", room_topic="松涛里邻长群")
    [refused] = await (await app.on_message(msg))
    assert "只有社区工作人员" in refused.text
    assert [t.status for t in await tickets(app)] == ["assigned"]
