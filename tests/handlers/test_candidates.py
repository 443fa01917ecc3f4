"""Doubtful reports are held silently for staff (待确认); 确认 files one, 忽略 drops one, 误报 withdraws a ticket."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from storage.models import Candidate, Inbox, Ticket, TicketEvent
from tests.handlers.clocked import *  # noqa: F403  (the app on a settable clock: app, chat, clock, understanding)
from tests.handlers.test_ticket_life import COMMITTEE, LEADERS, LEADERS_ID

DOUBTFUL = "楼下那几棵树的叶子掉得到处都是"  # a problem, but nothing in it is clearly someone's to fix
DOUBTFUL_2 = "垃圾桶旁边有点味道"
CLEAR = "5栋楼道灯坏了好几天了"
NUMBER = re.compile(r"#(\d{4,})")


def staff(chat, text):
    return chat.say(text, sender="刘主任", room=COMMITTEE)


async def rows(app, model):
    async with app.dispatcher.sessions() as s:
        return (await s.exec(select(model))).all()


def test_the_test_messages_are_what_they_claim(understanding):
    assert understanding.classify_sync(DOUBTFUL).decision == "review"
    assert understanding.classify_sync(DOUBTFUL_2).decision == "review"
    assert understanding.classify_sync(CLEAR).decision == "ticket"


async def test_a_doubtful_report_gets_no_reply_and_waits_for_staff(app, chat):
    assert await chat.say(DOUBTFUL) == []
    assert await rows(app, Ticket) == []
    [cand] = await rows(app, Candidate)
    assert (cand.number, cand.status, cand.sender_name, cand.room_id) == (1, "pending", "王贵宝", LEADERS_ID)
    assert cand.category == "greening"
    [row] = await rows(app, Inbox)
    assert row.intent == "review" and row.status == "done"

    [listing] = await staff(chat, "工单 待确认")
    assert listing.room_id.startswith(COMMITTEE)
    assert "待确认 1 条" in listing.text and "[1]" in listing.text
    assert "群成员王贵宝" in listing.text and LEADERS in listing.text and DOUBTFUL in listing.text


async def test_confirming_files_the_ticket_and_tells_the_reporter_where_they_wrote(app, chat):
    await chat.say(DOUBTFUL)
    replies = await staff(chat, "确认 1")
    to_staff, to_reporter = replies
    number = NUMBER.search(to_staff.text).group(1)
    assert "待确认 1 已登记为工单" in to_staff.text and "绿化养护" in to_staff.text
    assert to_staff.text.endswith("已告知反映人。"), to_staff.text  # the ack went out now (daytime)
    assert to_reporter.room_id == LEADERS_ID and to_reporter.mentions[0].name == "王贵宝"
    assert f"#{number}" in to_reporter.text
    [ticket] = await rows(app, Ticket)
    assert (ticket.number, ticket.reporter_name, ticket.room_id, ticket.category) == (number, "王贵宝", LEADERS_ID, "greening")
    actions = [e.action for e in await rows(app, TicketEvent)]
    assert actions == ["created", "confirm"]
    [cand] = await rows(app, Candidate)
    assert (cand.status, cand.ticket_number, cand.decided_by_name) == ("confirmed", number, "刘主任")
    [again] = await staff(chat, "确认 1")
    assert "已经确认登记" in again.text and number in again.text
    assert len(await rows(app, Ticket)) == 1


async def test_staff_may_name_the_category_when_confirming(app, chat):
    await chat.say(DOUBTFUL_2)
    await staff(chat, "确认 1 物业")
    [ticket] = await rows(app, Ticket)
    assert ticket.category == "property"


async def test_ignoring_drops_the_candidate_and_frees_nothing_else(app, chat):
    await chat.say(DOUBTFUL)
    await chat.say(DOUBTFUL_2, sender="李建国")
    [done] = await staff(chat, "忽略 1")
    assert "待确认 1 已忽略" in done.text
    [listing] = await staff(chat, "工单 待确认")
    assert "待确认 1 条" in listing.text and "[2]" in listing.text and "[1]" not in listing.text
    assert await rows(app, Ticket) == []
    assert sorted(c.status for c in await rows(app, Candidate)) == ["ignored", "pending"]


async def test_only_staff_can_confirm_or_ignore(app, chat):
    await chat.say(DOUBTFUL)
    for text in ("确认 1", "忽略 1"):
        [refused] = await chat.say(text, sender="路人甲")
        assert "只有社区工作人员" in refused.text
    [cand] = await rows(app, Candidate)
    assert cand.status == "pending" and await rows(app, Ticket) == []


async def test_a_message_addressed_to_the_bot_or_said_privately_is_filed_at_once(app, chat):
    [ack] = await chat.say(f"@{app.settings.bot.name} {DOUBTFUL}")
    assert "已登记为工单" in ack.text
    [ack] = await chat.say(DOUBTFUL_2, room=None)
    assert "已登记为工单" in ack.text and ack.contact_id == "wxid_王贵宝"
    assert len(await rows(app, Ticket)) == 2 and await rows(app, Candidate) == []


async def test_an_explicit_report_to_the_bot_is_filed_even_without_a_problem_word(app, chat):
    [ack] = await chat.say(f"@{app.settings.bot.name} 反映一下 3栋门口那个柱子")
    assert "已登记为工单" in ack.text
    [ticket] = await rows(app, Ticket)
    assert ticket.building == "3"


async def test_old_candidates_drop_and_the_daily_reminder_says_how_many_wait(app, chat, clock):
    await chat.say(DOUBTFUL)
    clock.now += timedelta(days=5)
    await chat.say(DOUBTFUL_2, sender="李建国")
    clock.now += timedelta(days=3)  # the first is 8 days old, past classifier.candidate_days (7)
    before = len(chat.sent)
    assert await app.remind_overdue() == 1
    [reminder] = chat.sent[before:]
    assert reminder.room_id.startswith(COMMITTEE) and "另有 1 条群消息待确认" in reminder.text
    statuses = {c.number or 0: c.status for c in await rows(app, Candidate)}
    assert sorted(statuses.values()) == ["expired", "pending"]
    [listing] = await staff(chat, "工单 待确认")
    assert "待确认 1 条" in listing.text and DOUBTFUL_2 in listing.text and DOUBTFUL not in listing.text


async def test_short_numbers_are_reused_once_a_settled_candidate_is_a_day_old(app, chat, clock):
    await chat.say(DOUBTFUL)
    await staff(chat, "忽略 1")
    await chat.say(DOUBTFUL_2, sender="李建国")
    assert sorted(c.number for c in await rows(app, Candidate)) == [1, 2]  # 1 still names the ignored one
    clock.now += timedelta(days=2)
    await app.remind_overdue()
    await chat.say("那边垃圾桶旁边还是有点味道", sender="张三")
    numbers = {c.status: c.number for c in await rows(app, Candidate) if c.sender_name != "李建国"}
    assert numbers == {"ignored": None, "pending": 1}


async def test_a_false_ticket_is_withdrawn_quietly_and_labelled(app, chat):
    [ack] = await chat.say(CLEAR)
    number = NUMBER.search(ack.text).group(1)
    replies = await staff(chat, f"误报 {number}")
    assert len(replies) == 1 and "误报" in replies[0].text  # the reporter is not told
    [ticket] = await rows(app, Ticket)
    assert ticket.status == "rejected"
    fp = [e for e in await rows(app, TicketEvent) if e.action == "false_positive"]
    assert len(fp) == 1 and fp[0].note == "误报" and fp[0].actor_name == "刘主任"
    [again] = await staff(chat, f"误报 {number}")
    assert "不能" in again.text


async def test_a_leader_relaying_a_clear_problem_is_filed_at_once_and_a_vague_one_is_held(app, chat):
    from storage.models import Member

    async with app.dispatcher.sessions() as s:
        s.add(Member(display_name="王贵宝", wechat_id="wxid_王贵宝", role="neighbour_leader", community="书院路社区"))
        await s.commit()
    [ack] = await chat.say(DOUBTFUL)  # a problem about something (the trees), said by a neighbour leader
    assert "已登记为工单" in ack.text
    assert await chat.say(DOUBTFUL_2) == []  # "有点味道": still not clearly anyone's to fix
    [ticket] = await rows(app, Ticket)
    assert ticket.relay_name == "王贵宝"
    [cand] = await rows(app, Candidate)
    assert cand.sender_role == "neighbour_leader"


async def test_an_urgent_report_is_never_left_waiting(app, chat, understanding):
    text = "那边冒烟了"
    c = understanding.classify_sync(text)
    assert c.urgent and c.decision == "review"  # little evidence, but danger now
    replies = await chat.say(text)
    assert any("紧急" in r.text for r in replies)
    assert await rows(app, Candidate) == []
