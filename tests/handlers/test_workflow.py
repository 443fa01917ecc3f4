"""The 12345-style steps around a dispatched ticket, with units from config (issue: staff work).

派单 reaches the unit's room; 签收 by someone who acts for it stops the response clock; 退单 and 申请延期 go to the
committee; 同意延期 tells the reporter the new date and the unit; 催办 reaches the unit, by hand and every morning
once due; staff take back their own last step (撤回) within the window; almost-commands are asked back."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.config import UnitSettings
from storage.models import Ticket, TicketEvent, as_utc
from tests.handlers.test_ticket_life import Chat, Clock
from tests.support import make_settings

COMMITTEE = "书院路社区两委群"
LEADERS = "松涛里邻长群"
UNIT_ROOM = "松涛里物业群"


@pytest.fixture(scope="module")
def understanding(tmp_path_factory):
    from bot.understanding import build_understanding

    return asyncio.run(build_understanding(make_settings(tmp_path_factory.mktemp("u")), use_llm=False))


async def _no_close() -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(tmp_path, clock, understanding, monkeypatch):
    async def shared(settings, **kw):
        return understanding

    monkeypatch.setattr("bot.app.build_understanding", shared)
    monkeypatch.setattr(understanding, "close", _no_close)
    settings = make_settings(tmp_path)
    settings.units = [
        UnitSettings(name="物业", aliases=["物业公司"], room_id=f"{UNIT_ROOM}@chatroom", members=["wxid_物业小张"]),
        UnitSettings(name="水务", wechat_id="wxid_水务老李"),
    ]
    application = App(settings, channel=Chat(), clock=clock)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest.fixture
def chat(app) -> Chat:
    return app.channel


async def _report(chat, text: str, sender: str = "王阿姨") -> str:
    ack, *_ = await chat.say(text, sender=sender, room=LEADERS)
    return re.search(r"#(\d+)", ack.text).group(1)


async def _ticket(app, number: str) -> Ticket:
    async with app.dispatcher.sessions() as s:
        return (await s.exec(select(Ticket).where(Ticket.number == number))).one()


async def _events(app, number: str) -> list[TicketEvent]:
    async with app.dispatcher.sessions() as s:
        t = (await s.exec(select(Ticket).where(Ticket.number == number))).one()
        return list((await s.exec(select(TicketEvent).where(TicketEvent.ticket_id == t.id))).all())


def _to(replies, room: str | None = None, contact: str | None = None):
    return [r for r in replies if (room and r.room_id == f"{room}@chatroom") or (contact and r.contact_id == contact)]


async def test_dispatch_reaches_the_unit_and_its_acceptance_stops_the_response_clock(app, chat, clock):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    replies = await chat.say(f"派单 {a} 物业公司 今天去看", sender="刘主任", room=COMMITTEE)
    confirm = replies[0]
    assert "已派给物业（今天去看）" in confirm.text and "已告知反映人" in confirm.text, confirm.text
    [reporter] = _to(replies, room=LEADERS)
    assert "已派给物业处理" in reporter.text and "今天去看" not in reporter.text  # instructions are for the unit
    [unit] = _to(replies, room=UNIT_ROOM)
    assert unit.text.startswith(f"【派单】#{a}") and "要求：今天去看" in unit.text and f"签收 {a}" in unit.text
    assert "王阿姨" not in unit.text  # the reporter's name is not sent to the unit
    assert (await _ticket(app, a)).assignee == "物业"  # an alias is stored as the unit's name

    [listed] = await chat.say("工单 待签收", sender="刘主任", room=COMMITTEE)
    assert f"#{a}" in listed.text and "待签收" in listed.text, listed.text

    clock.now += timedelta(hours=2)
    accepted = await chat.say(f"签收 {a}", sender="物业小张", room=UNIT_ROOM)
    assert len(accepted) == 1 and "已签收，请在" in accepted[0].text, [r.text for r in accepted]  # no one else told
    t = await _ticket(app, a)
    assert t.status == "in_progress"
    [event] = [e for e in await _events(app, a) if e.action == "accept"]
    assert event.actor_id == "wxid_物业小张" and as_utc(event.at) == clock.now

    [listed] = await chat.say("工单 物业", sender="刘主任", room=COMMITTEE)
    assert f"#{a}" in listed.text and "待签收" not in listed.text, listed.text


async def test_only_those_acting_for_the_unit_take_its_steps_and_only_its_own(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    b = await _report(chat, "6栋下水道堵了，污水冒出来", sender="李叔")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    await chat.say(f"派单 {b} 水务", sender="刘主任", room=COMMITTEE)

    [refused] = await chat.say(f"签收 {a}", sender="路人甲", room=UNIT_ROOM)  # in the unit's room, not a member
    assert "只有社区工作人员" in refused.text
    [not_theirs] = await chat.say(f"签收 {b}", sender="物业小张", room=UNIT_ROOM)  # dispatched to 水务
    assert "没有找到" in not_theirs.text or "不存在" in not_theirs.text, not_theirs.text
    [staff_step] = await chat.say(f"派单 {a} 水务", sender="物业小张", room=UNIT_ROOM)
    assert "要由社区工作人员来做" in staff_step.text, staff_step.text
    assert ((await _ticket(app, a)).status, (await _ticket(app, b)).status) == ("assigned", "assigned")

    # The unit's own list holds only what was dispatched to it.
    [mine] = await chat.say("工单 未办结", sender="物业小张", room=UNIT_ROOM)
    assert f"#{a}" in mine.text and f"#{b}" not in mine.text, mine.text
    # A unit's people talking in their room are not filed as reports.
    assert await chat.say("6栋下水道堵了，我们明天带工具过去", sender="物业小张", room=UNIT_ROOM) == []
    # 水务 works from its contact's private chat: that is where its dispatch went, and where it accepts.
    [ok] = await chat.say(f"{b}签收了", sender="水务老李", room=None)
    assert "已签收" in ok.text and (await _ticket(app, b)).status == "in_progress"


async def test_the_unit_hands_a_ticket_back_with_grounds_and_the_committee_hears(app, chat):
    a = await _report(chat, "小区门口的市政路面塌了个坑")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    replies = await chat.say(f"退单 {a} 市政道路不归物业管", sender="物业小张", room=UNIT_ROOM)
    assert "已退回，待重新派单（市政道路不归物业管）" in replies[0].text, replies[0].text
    [told] = _to(replies, room=COMMITTEE)
    assert told.text.startswith(f"【退单】#{a}") and "物业退回：市政道路不归物业管" in told.text
    assert f"派单 {a}" in told.text
    t = await _ticket(app, a)
    assert (t.status, t.assignee) == ("new", None)


async def test_an_extension_is_asked_by_the_unit_and_granted_or_refused_by_staff(app, chat, clock):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    due = as_utc((await _ticket(app, a)).due_at)

    replies = await chat.say(f"延期 {a} 3天 灯具要订货", sender="物业小张", room=UNIT_ROOM)
    assert "延期3天的申请已报社区" in replies[0].text, replies[0].text
    [asked] = _to(replies, room=COMMITTEE)
    assert "【延期申请】" in asked.text and "物业申请延期3天：灯具要订货" in asked.text and f"同意延期 {a}" in asked.text
    assert not _to(replies, room=LEADERS)  # the reporter hears only when it is granted
    assert as_utc((await _ticket(app, a)).due_at) == due  # asking changes nothing

    replies = await chat.say(f"同意延期 {a}", sender="刘主任", room=COMMITTEE)
    assert as_utc((await _ticket(app, a)).due_at) == due + timedelta(days=3)
    [reporter] = _to(replies, room=LEADERS)
    assert "需要多一些时间" in reporter.text and "前办好" in reporter.text, reporter.text
    [unit] = _to(replies, room=UNIT_ROOM)
    assert "延期申请已同意" in unit.text

    [nothing] = await chat.say(f"同意延期 {a}", sender="刘主任", room=COMMITTEE)  # answered already
    assert "没有待批的延期申请" in nothing.text

    await chat.say(f"延期 {a} 5天 还要等", sender="物业小张", room=UNIT_ROOM)
    replies = await chat.say(f"不同意延期 {a} 居民等不了", sender="刘主任", room=COMMITTEE)
    [unit] = _to(replies, room=UNIT_ROOM)
    assert "没有同意：居民等不了" in unit.text and not _to(replies, room=LEADERS)
    assert as_utc((await _ticket(app, a)).due_at) == due + timedelta(days=3)


async def test_a_chase_reaches_the_unit_by_hand_and_every_morning_once_due(app, chat, clock):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    replies = await chat.say(f"催办 {a} 居民又来问了", sender="刘主任", room=COMMITTEE)
    [unit] = _to(replies, room=UNIT_ROOM)
    assert unit.text.startswith(f"【催办】#{a}") and "居民又来问了" in unit.text and "到期" in unit.text

    t = await _ticket(app, a)
    clock.now = as_utc(t.due_at) + timedelta(days=1, hours=1)
    before = len(chat.sent)
    await app.remind_overdue()
    chased = _to(chat.sent[before:], room=UNIT_ROOM)
    assert len(chased) == 1 and "已超期2天" in chased[0].text, [r.text for r in chat.sent[before:]]
    auto = [e for e in await _events(app, a) if e.action == "chase" and e.actor_name == "系统"]
    assert len(auto) == 1 and "自动催办物业" in (auto[0].note or "")
    assert _to(chat.sent[before:], room=COMMITTEE)  # the committee still gets its overdue list


async def test_the_unit_reports_done_the_reporter_is_asked_and_the_committee_hears(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    await chat.say(f"签收 {a}", sender="物业小张", room=UNIT_ROOM)
    replies = await chat.say(f"办结 {a} 回复：已换新灯", sender="物业小张", room=UNIT_ROOM)
    [reporter] = _to(replies, room=LEADERS)
    assert "已换新灯" in reporter.text and "满意" in reporter.text
    [committee] = _to(replies, room=COMMITTEE)
    assert committee.text.startswith(f"【已办结】#{a}"), committee.text
    assert (await _ticket(app, a)).status == "resolved"


async def test_staff_take_back_their_own_last_step_within_the_window(app, chat, clock):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    await chat.say(f"办结 {a} 回复：已换灯", sender="刘主任", room=COMMITTEE)  # a slip: it was not done

    [other] = await chat.say(f"撤回 {a}", sender="小陈", room=COMMITTEE)  # not their step
    assert "不是您做的" in other.text
    replies = await chat.say(f"撤回 {a}", sender="刘主任", room=COMMITTEE)
    assert "的“办结”已撤回" in replies[0].text, replies[0].text
    t = await _ticket(app, a)
    assert (t.status, t.assignee, t.resolved_at) == ("assigned", "物业", None)
    [correction] = _to(replies, room=LEADERS)
    assert correction.text.startswith("更正：") and "已派给物业处理" in correction.text
    [status] = await chat.say(f"查询 {a}", sender="王阿姨", room=LEADERS)
    assert "已派给物业处理" in status.text and "办结" not in status.text, status.text  # a step taken back is gone

    # One step further back: the dispatch itself; the unit hears that it was taken back.
    replies = await chat.say(f"撤回 {a}", sender="刘主任", room=COMMITTEE)
    assert "已撤回" in replies[0].text
    [unit] = _to(replies, room=UNIT_ROOM)
    assert "刚才的“派单”已撤回" in unit.text
    t = await _ticket(app, a)
    assert (t.status, t.assignee) == ("new", None)

    await chat.say(f"派单 {a} 水务", sender="刘主任", room=COMMITTEE)
    clock.now += timedelta(minutes=31)
    [late] = await chat.say(f"撤回 {a}", sender="刘主任", room=COMMITTEE)
    assert "超过 30 分钟" in late.text and (await _ticket(app, a)).assignee == "水务"


async def test_a_merge_taken_back_gives_the_other_ticket_its_supporters_back(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    b = await _report(chat, "8栋门口垃圾没人清", sender="李叔")
    await chat.say(f"合并 {b} 到 {a}", sender="刘主任", room=COMMITTEE)
    assert (await _ticket(app, a)).supporters == 2
    await chat.say(f"撤回 {b}", sender="刘主任", room=COMMITTEE)
    kept, back = await _ticket(app, a), await _ticket(app, b)
    assert kept.supporters == 1 and (back.status, back.duplicate_of) == ("new", None)


async def test_almost_a_command_is_asked_back_in_one_line_and_changes_nothing(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    [asked] = await chat.say(f"{a} 物业", sender="刘主任", room=COMMITTEE)
    assert asked.text == f"您是要把 #{a} 派给物业吗？是的话请发“派单 {a} 物业”。"
    [asked] = await chat.say("12派给物业", sender="刘主任", room=COMMITTEE)  # a short number: maybe a count
    assert asked.text == "您是要把 #12 派给物业吗？是的话请发“派单 12 物业”。"
    assert (await _ticket(app, a)).status == "new"


async def test_a_dispatch_to_someone_the_bot_cannot_reach_says_so(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    [confirm, *_] = await chat.say(f"派单 {a} 王师傅", sender="刘主任", room=COMMITTEE)
    assert "已派给王师傅" in confirm.text and "王师傅不在联系名单里" in confirm.text, confirm.text


async def test_a_title_that_was_only_the_category_is_rebuilt_on_reclassify(app, chat):
    a = await _report(chat, "4栋楼道灯坏了，晚上看不见")
    async with app.dispatcher.sessions() as s:
        t = (await s.exec(select(Ticket).where(Ticket.number == a))).one()
        t.summary = "4栋 设施报修"  # as a title built from nothing but the category read
        s.add(t)
        await s.commit()
    await chat.say(f"改类 {a} 安全", sender="刘主任", room=COMMITTEE)
    t = await _ticket(app, a)
    assert t.category == "safety" and "设施报修" not in t.summary and t.summary.startswith("4栋"), t.summary


async def test_a_units_words_mean_its_own_steps(app, chat):
    a = await _report(chat, "小区门口的市政路面塌了个坑")
    await chat.say(f"{a}派给物业", sender="刘主任", room=COMMITTEE)
    [ok] = await chat.say(f"{a}已签收", sender="物业小张", room=UNIT_ROOM)
    assert "已签收" in ok.text
    replies = await chat.say(f"{a}退回：不归物业管", sender="物业小张", room=UNIT_ROOM)  # a unit's 退回 is 退单
    assert "已退回，待重新派单" in replies[0].text, replies[0].text
    assert not _to(replies, room=LEADERS)  # the reporter is not "answered" by a unit handing it back
    assert ((await _ticket(app, a)).status, (await _ticket(app, a)).assignee) == ("new", None)

    await chat.say(f"{a}派给水务", sender="刘主任", room=COMMITTEE)
    replies = await chat.say(f"{a}撤回", sender="刘主任", room=COMMITTEE)  # the number first
    assert "的“派单”已撤回" in replies[0].text, replies[0].text
    [unit] = _to(replies, contact="wxid_水务老李")
    assert "已撤回" in unit.text


async def test_a_dispatch_not_accepted_within_a_day_is_chased_and_listed_for_the_committee(app, chat, clock):
    a = await _report(chat, "9栋门口的路灯坏了好几天了")  # 设施报修: due in 7 days
    await chat.say(f"派单 {a} 物业", sender="刘主任", room=COMMITTEE)
    clock.now += timedelta(hours=20)
    before = len(chat.sent)
    await app.remind_overdue()
    assert not _to(chat.sent[before:], room=UNIT_ROOM)  # under a day: nobody chased
    clock.now += timedelta(days=1)
    before = len(chat.sent)
    await app.remind_overdue()
    [unit] = _to(chat.sent[before:], room=UNIT_ROOM)
    assert "还没有签收" in unit.text and "签收" in unit.text, unit.text
    [committee] = _to(chat.sent[before:], room=COMMITTEE)
    assert "派单超过一天还没签收 1 件" in committee.text and f"#{a}" in committee.text, committee.text
