"""Who learns what about a ticket: staff notes reach no stranger, trying numbers reveals nothing, and staff of
one community neither see nor change another's tickets (the real app on a channel whose ids are real)."""

from __future__ import annotations

import random
import re

from sqlmodel import select

from bot.config import StaffSettings
from handlers import texts
from storage.models import Ticket, TicketEvent

NUMBER = re.compile(r"#(\d{4,})")
LEADERS = "松涛里邻长群"
OTHER = "幸福里楼栋长群"  # a room the bot is in that has nothing to do with these tickets
COMMITTEE = "书院路社区两委群"
STAFF = "刘主任"
NOTE_SECRETS = ("王贵宝", "1381234", "5678", "上门", "钥匙")


async def file(chat, text: str, sender: str = "王贵宝", room: str = LEADERS) -> str:
    [ack] = await chat.say(text, sender=sender, room=room)
    return NUMBER.search(ack.text).group(1)


async def test_a_staff_note_reaches_no_stranger_and_the_marked_reply_reaches_the_reporter_redacted(chat):
    number = await file(chat, "4栋楼下下水道堵了，污水都冒出来了")
    confirm, notice = await chat.say(
        f"办结 {number} 已联系王贵宝 138-1234-5678，明天上门，钥匙在门卫", sender=STAFF, room=COMMITTEE
    )
    assert "回复：" in confirm.text  # staff are told the note stayed with them
    for reply in (notice, *await chat.say(f"查询 {number}", sender="王贵宝", room=LEADERS)):
        assert f"#{number}" in reply.text and "已处理完成" in reply.text
        assert not [s for s in NOTE_SECRETS if s in reply.text], reply.text
    [neighbour] = await chat.say(f"查询 {number}", sender="李建国", room=LEADERS)
    assert neighbour.text.endswith(texts.status_in_a_word(number, "resolved"))
    for room in (OTHER, None):
        [stranger] = await chat.say(f"查询 {number}", sender="路人甲", room=room)
        assert stranger.text.endswith(texts.no_such_ticket(number))
    # What staff mark as the reply reaches the reporter, through the privacy module.
    other = await file(chat, "6栋楼道灯坏了", sender="王贵宝")
    _, notice = await chat.say(
        f"办结 {other} 电工老周修的 回复：已换灯泡，有问题找物业13912345678", sender=STAFF, room=COMMITTEE
    )
    assert "已换灯泡" in notice.text and "13912345678" not in notice.text and "老周" not in notice.text
    [answer] = await chat.say(f"查询 {other}", sender="王贵宝", room=None)
    assert "最新答复：已换灯泡" in answer.text and "13912345678" not in answer.text
    [stranger] = await chat.say(f"查询 {other}", sender="路人甲", room=None)
    assert stranger.text.endswith(texts.no_such_ticket(other))


async def test_trying_ticket_numbers_reveals_nothing(app, chat):
    filed = [await file(chat, f"{b}栋楼道灯坏了", sender=who) for b, who in ((1, "王贵宝"), (2, "李建国"), (3, "刘桂兰"))]
    filed.append(await file(chat, "5栋门口路灯不亮", sender="赵秀英", room=OTHER))
    await chat.say(f"派单 {filed[0]} 物业", sender=STAFF, room=COMMITTEE)
    await chat.say(f"办结 {filed[1]} 回复：已修好", sender=STAFF, room=COMMITTEE)
    async with app.dispatcher.sessions() as s:
        existing = {t.number for t in (await s.exec(select(Ticket))).all()}
    rng = random.Random(15)
    absent = [str(n) for n in rng.sample(range(1000, 10000), 40) if str(n) not in existing][:8]
    answers: set[str] = set()
    tried = [n for n in (*filed[:3], *absent)]
    for room in (OTHER, None, COMMITTEE):  # another room, a private chat, even the committee room
        for i in range(0, len(tried), 5):
            [reply] = await chat.say("查询 " + " ".join(tried[i : i + 5]), sender="路人甲", room=room)
            answers |= {NUMBER.sub("#N", line) for line in reply.text.replace("@路人甲 ", "").splitlines()}
    assert answers == {texts.no_such_ticket("N")}, "an existing number is answered as one that does not exist"
    # The member who reported in OTHER may ask about their own ticket there; nobody there learns about LEADERS'.
    [own] = await chat.say(f"查询 {filed[3]}", sender="赵秀英", room=OTHER)
    assert "路灯" in own.text


async def test_staff_see_and_change_only_their_own_communitys_tickets(app, chat):
    app.settings.staff.append(StaffSettings(name="东坪小王", wechat_id="wxid_东坪小王", communities=["东坪社区"]))
    app.settings.staff.append(StaffSettings(name="街道老张", wechat_id="wxid_街道老张", subdistrict_wide=True))
    from bot.rooms import organisation_from

    app.dispatcher.identities.org = organisation_from(app.settings, app.capabilities)
    number = await file(chat, "4栋楼下下水道堵了")  # 书院路社区's
    async with app.dispatcher.sessions() as s:
        before = [(e.id, e.action) for e in (await s.exec(select(TicketEvent))).all()]
    [refused] = await chat.say(f"驳回 {number} 不归我们管", sender="东坪小王", room=None)
    assert refused.text == texts.no_such_ticket(number)
    [listed] = await chat.say("工单 未办结", sender="东坪小王", room=None)
    assert f"#{number}" not in listed.text
    [shown] = await chat.say(f"工单 {number}", sender="东坪小王", room=None)
    assert "王贵宝" not in shown.text
    async with app.dispatcher.sessions() as s:
        assert [(e.id, e.action) for e in (await s.exec(select(TicketEvent))).all()] == before
    confirm, _ = await chat.say(f"派单 {number} 物业", sender="街道老张", room=None)
    assert "已派给物业" in confirm.text
    [own] = await chat.say("工单 未办结", sender=STAFF, room=None)
    assert f"#{number}" in own.text


async def test_staff_see_and_settle_only_their_own_communitys_held_messages(app, chat):
    """待确认 is scoped like tickets: another community's staff neither see a held message nor settle it."""
    app.settings.staff.append(StaffSettings(name="东坪小王", wechat_id="wxid_东坪小王", communities=["东坪社区"]))
    from bot.rooms import organisation_from

    app.dispatcher.identities.org = organisation_from(app.settings, app.capabilities)
    assert await chat.say("垃圾桶旁边有点味道") == []  # held for review, in 书院路社区
    [listed] = await chat.say("工单 待确认", sender="东坪小王", room=None)
    assert "垃圾桶" not in listed.text
    for command in ("确认 1", "忽略 1"):
        [refused] = await chat.say(command, sender="东坪小王", room=None)
        assert "没有找到待确认 1" in refused.text
    [own] = await chat.say("工单 待确认", sender=STAFF, room=None)
    assert "垃圾桶" in own.text
