"""Staff commands in natural words, batches, an assignee's instructions and list filters (issue: staff work).
Phrases are the ones staff were seen to write; a resident writing the same changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from handlers.staff_words import parse_loose
from storage.models import Ticket
from tests.handlers.clocked import *  # noqa: F403  (app, chat, clock, understanding)

COMMITTEE = "书院路社区两委群"
LEADERS = "松涛里邻长群"


async def _report(chat, text: str, sender: str = "王阿姨") -> str:
    ack, *_ = await chat.say(text, sender=sender, room=LEADERS)  # an urgent one is also pushed to the committee
    return re.search(r"#(\d+)", ack.text).group(1)


async def _tickets(app) -> dict[str, Ticket]:
    async with app.dispatcher.sessions() as s:
        return {t.number: t for t in (await s.exec(select(Ticket))).all()}


async def test_a_number_and_a_verb_anywhere_are_a_command_not_a_new_ticket(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    b = await _report(chat, "6栋下水道堵了，污水冒出来", sender="李叔")
    replies = await chat.say(f"{a}派给物业", sender="刘主任", room=COMMITTEE)
    assert f"#{a}" in replies[0].text and "已派给物业" in replies[0].text, [r.text for r in replies]
    await chat.say(f"把{b}派给王师傅", sender="刘主任", room=COMMITTEE)
    tickets = await _tickets(app)
    assert len(tickets) == 2, "a staff command was filed as a new ticket"
    assert (tickets[a].status, tickets[a].assignee) == ("assigned", "物业")
    assert (tickets[b].status, tickets[b].assignee) == ("assigned", "王师傅")


async def test_one_verb_for_several_tickets(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    b = await _report(chat, "6栋下水道堵了，污水冒出来", sender="李叔")
    c = await _report(chat, "8栋门口垃圾没人清", sender="赵姐")
    [confirm, *notices] = await chat.say(f"{a}、{b} 都办结了：已处理", sender="刘主任", room=COMMITTEE)
    assert confirm.text.count("已办结") == 2, confirm.text
    assert len(notices) == 2  # each reporter asked how it went
    await chat.say(f"办结 {c}，{a} 已清运", sender="刘主任", room=COMMITTEE)  # the fixed form, batched
    tickets = await _tickets(app)
    assert {n: t.status for n, t in tickets.items()} == {a: "resolved", b: "resolved", c: "resolved"}


async def test_an_assignees_instructions_are_kept_apart_from_the_assignee(app, chat):
    a = await _report(chat, "3栋两家人吵架，声音很大")
    [confirm, *_] = await chat.say(f"派单 {a} 王网格员 尽快上门调解", sender="刘主任", room=COMMITTEE)
    assert "已派给王网格员（尽快上门调解）" in confirm.text, confirm.text
    assert (await _tickets(app))[a].assignee == "王网格员"


async def test_a_question_from_staff_is_not_taken_as_a_command(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"{a}修好了没", sender="刘主任", room=COMMITTEE)
    await chat.say(f"{a}是否已经处理完了？", sender="刘主任", room=COMMITTEE)
    assert (await _tickets(app))[a].status == "new"


async def test_the_same_words_from_a_resident_change_nothing(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"{a}派给物业", sender="冒充的人", room=LEADERS)
    await chat.say(f"{a}办结了：已处理", sender="冒充的人", room=LEADERS)
    t = (await _tickets(app))[a]
    assert (t.status, t.assignee) == ("new", None)


async def test_staff_talk_in_their_own_room_is_never_filed(app, chat):
    assert await chat.say("5栋那边的路灯也坏了，明天让物业一起看看", sender="刘主任", room=COMMITTEE) == []
    assert await _tickets(app) == {}
    [ack] = await chat.say("登记 5栋门口路灯坏了", sender="刘主任", room=COMMITTEE)  # unless they file it
    assert "#" in ack.text and len(await _tickets(app)) == 1


async def test_lists_filter_by_day_urgency_status_estate_and_category(app, chat, clock):
    lamp = await _report(chat, "金穗小区3栋楼道灯坏了，晚上看不见")
    fire = await _report(chat, "松涛里6栋楼道里着火了，冒烟了，快来人", sender="李叔")
    drain = await _report(chat, "书院花园2栋下水道堵了，污水冒出来", sender="赵姐")
    await chat.say(f"办结 {drain} 已疏通", sender="刘主任", room=COMMITTEE)

    async def listing(words: str) -> str:
        [r] = await chat.say(f"工单 {words}", sender="刘主任", room=COMMITTEE)
        return r.text

    today = await listing("今天")
    assert all(f"#{n}" in today for n in (lamp, fire, drain)), today
    week = await listing("本周")
    assert all(f"#{n}" in week for n in (lamp, fire, drain)), week
    urgent = await listing("紧急")
    assert f"#{fire}" in urgent and f"#{lamp}" not in urgent, urgent
    done = await listing("已办结")
    assert f"#{drain}" in done and f"#{lamp}" not in done, done
    estate = await listing("金穗小区")
    assert f"#{lamp}" in estate and f"#{fire}" not in estate, estate
    category = await listing("排水 已办结")
    assert f"#{drain}" in category and f"#{lamp}" not in category, category
    assert (await listing("金穗小区 已办结")).startswith("没有符合条件的工单")


async def test_merging_says_what_happened_and_refuses_an_archived_target(app, chat):
    keep = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    dup = await _report(chat, "9栋门口的路灯坏了好几天了", sender="李叔")
    old = await _report(chat, "6栋下水道堵了，污水冒出来", sender="赵姐")
    await chat.say(f"办结 {old} 已疏通", sender="刘主任", room=COMMITTEE)
    await chat.say(f"关闭 {old}", sender="刘主任", room=COMMITTEE)
    [again] = await chat.say(f"关闭 {old}", sender="刘主任", room=COMMITTEE)
    assert again.text.startswith(f"工单 #{old} 已经是"), again.text
    [refused] = await chat.say(f"合并 {dup} 到 {old}", sender="刘主任", room=COMMITTEE)
    assert "不能" in refused.text and (await _tickets(app))[dup].status == "new", refused.text
    await chat.say(f"合并 {dup} 到 {keep}", sender="刘主任", room=COMMITTEE)
    async with app.dispatcher.sessions() as s:
        from storage import repo

        t = await repo.get_ticket(s, keep)
        notes = [e.note for e in await repo.ticket_events(s, t)]
    assert f"#{dup} 并入本单（1 人反映）" in notes, notes
    [mine] = await chat.say("我的工单", sender="李叔", room=LEADERS)
    assert f"已并入工单 #{keep} 一起处理" in mine.text, mine.text


async def test_the_confirmation_says_when_the_reporter_is_told_only_in_the_morning(app, chat, clock):
    from datetime import UTC, datetime

    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    clock.now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 in Xiangtan: quiet hours
    [confirm] = await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    assert "明早再告知反映人" in confirm.text and "已告知" not in confirm.text, confirm.text


async def test_a_staff_reply_reaches_the_reporter_in_chinese_punctuation(app, chat):
    a = await _report(chat, "6栋下水道堵了，污水冒出来")
    [_, notice] = await chat.say(f"办结 {a} 回复:已疏通,明天再来复查(物业)", sender="刘主任", room=COMMITTEE)
    assert "已疏通，明天再来复查（物业）" in notice.text, notice.text


async def test_an_extension_moves_the_due_date_and_tells_the_reporter_the_new_one(app, chat, clock):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")  # 设施报修: 7 days, due 3月9日 (the clock: 3月2日)
    [confirm, notice] = await chat.say(f"延期 {a} 5 回复：灯具要等厂家配件", sender="刘主任", room=COMMITTEE)
    assert "已延期至3月14日" in confirm.text, confirm.text
    assert "预计3月14日前办好" in notice.text and "等厂家配件" in notice.text and notice.room_id, notice.text
    [bad] = await chat.say(f"延期 {a} 两周", sender="刘主任", room=COMMITTEE)
    assert "延期 工单号 天数" in bad.text
    [answer] = await chat.say(f"查询 {a}", sender="王阿姨", room=LEADERS)
    assert "预计3月14日前办好" in answer.text, answer.text


async def test_a_returned_ticket_waits_to_be_dispatched_again_with_the_grounds_kept(app, chat):
    a = await _report(chat, "小区门口的路面坏了一个大坑")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    [confirm] = await chat.say(f"退单 {a} 市政道路不归物业管", sender="刘主任", room=COMMITTEE)
    assert "已退回，待重新派单（市政道路不归物业管）" in confirm.text, confirm.text
    t = (await _tickets(app))[a]
    assert (t.status, t.assignee) == ("new", None)
    [history] = await chat.say(f"工单 {a}", sender="刘主任", room=COMMITTEE)
    assert "退单：市政道路不归物业管（原派给物业）" in history.text, history.text
    [again] = await chat.say(f"退单 {a} 再退一次", sender="刘主任", room=COMMITTEE)
    assert "不能" in again.text  # nothing to hand back: it is not assigned


async def test_a_reporter_who_has_not_rated_is_asked_once_three_days_after_and_can_answer(app, chat, clock):
    from datetime import timedelta

    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"办结 {a} 回复：已换灯", sender="刘主任", room=COMMITTEE)
    clock.now += timedelta(days=1)
    assert await app.follow_up() == 0  # too soon
    clock.now += timedelta(days=2, minutes=1)
    before = len(chat.sent)
    assert await app.follow_up() == 1
    [asked] = chat.sent[before:]
    assert asked.room_id == f"{LEADERS}@chatroom" and "办结已有3天" in asked.text and "基本满意" in asked.text
    assert await app.follow_up() == 0  # once a day, and once per ticket
    clock.now += timedelta(days=1)
    assert await app.follow_up() == 0
    await chat.say("基本满意", sender="王阿姨", room=LEADERS)
    assert (await _tickets(app))[a].satisfaction == "basic"


# ---------------------------------------------------------------- the parser's own cases (pure)


@pytest.mark.parametrize(
    ("text", "action", "numbers", "arg"),
    [
        ("3799派给物业", "assign", ("3799",), "物业"),
        ("3799让物业去处理", "assign", ("3799",), "物业"),
        ("3799号工单派给物业", "assign", ("3799",), "物业"),
        ("3799的事派给物业了", "assign", ("3799",), "物业"),
        ("3799已处理", "resolve", ("3799",), None),
        ("3799可以结单了", "resolve", ("3799",), None),
        ("3799号单子办结了", "resolve", ("3799",), None),
        ("把3800并到3799", "merge", ("3800",), None),
        ("3799延期3天，材料没到", "extend", ("3799",), "3 材料没到"),
        ("3799申请延期5天 等配件", "extend", ("3799",), "5 等配件"),
        ("把3799派给王师傅", "assign", ("3799",), "王师傅"),
        ("3799已派物业", "assign", ("3799",), "物业"),
        ("3799交物业处理一下", "assign", ("3799",), "物业"),
        ("3799安排王师傅去看看", "assign", ("3799",), "王师傅"),
        ("5106、5201 都办结了：已处理", "resolve", ("5106", "5201"), "已处理"),
        ("5106和5201办结了 回复：已疏通", "resolve", ("5106", "5201"), "已疏通"),
        ("3799已经修好了", "resolve", ("3799",), None),
        ("3799搞定", "resolve", ("3799",), None),
        ("3799签收了", "accept", ("3799",), None),
        ("3799退回：不属于社区管", "reject", ("3799",), "不属于社区管"),
        ("3799 归档", "close", ("3799",), None),
    ],
)
def test_natural_phrasings(text, action, numbers, arg):
    got = parse_loose(text)
    assert got is not None and (got.action, got.numbers, got.arg) == (action, numbers, arg), got


@pytest.mark.parametrize(
    "text",
    ["3799修好了没", "3799是否已经处理完了？", "3799已经派给物业了吗", "3799让我想想", "3799转给我", "3栋楼道灯坏了",
     "4栋502室漏水", "13812345678派给物业", "3799退回", "工单 今天", "3799能不能延期3天", "3799退回给社区",
     "3799号楼漏水", "3799 已处理中", "12号派给物业"],
)
def test_what_is_not_a_command(text):
    assert parse_loose(text) is None


async def test_a_chase_is_recorded_and_the_morning_reminder_lists_what_is_due_today(app, chat, clock):
    from datetime import timedelta

    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")  # 设施报修: due in 7 days
    b = await _report(chat, "6栋下水道堵了，污水冒出来", sender="李叔")  # 供排水: due in 3 days
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    clock.now += timedelta(days=6, hours=12)  # a is due within the day; b is late
    [confirm] = await chat.say(f"{a}、{b} 催办", sender="刘主任", room=COMMITTEE)
    assert confirm.text.count("已催办") == 2 and "已催办物业" in confirm.text and "已超期" in confirm.text, confirm.text
    before = len(chat.sent)
    assert await app.remind_overdue() == 1
    [reminder] = chat.sent[before:]
    late, due = reminder.text.split("今天到期")
    assert f"#{b}" in late and f"#{a}" in due, reminder.text
