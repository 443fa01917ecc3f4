"""A ticket's life through the real app: duplicates, staff commands, notices, feedback, urgency, deadlines."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app import App
from bot.config import StaffSettings
from storage.models import Member, Outbox, Ticket, TicketEvent
from tests.support import FakeChannel, make_settings

NUMBER = re.compile(r"#(\d{4,})")
LEADERS = "松涛里邻长群"
COMMITTEE = "书院路社区两委群"
LEADERS_ID = f"{LEADERS}@chatroom"
COMMITTEE_ID = f"{COMMITTEE}@chatroom"


class Clock:
    """A settable clock: 10:00 in Shanghai unless a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Chat(FakeChannel):
    """The fake channel (configured rooms carry their ids in config, as make_settings gives them)."""


async def _no_close() -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def understanding(tmp_path_factory):
    """Built once for the module: the dictionary load is the slow part of starting the app."""
    from bot.understanding import build_understanding

    return asyncio.run(build_understanding(make_settings(tmp_path_factory.mktemp("u")), use_llm=False))


@pytest.fixture
async def life(tmp_path, clock, understanding, monkeypatch):
    async def shared(settings, **kw):
        return understanding

    monkeypatch.setattr("bot.app.build_understanding", shared)
    monkeypatch.setattr(understanding, "close", _no_close)
    settings = make_settings(tmp_path)
    # Staff also work from private chats and leaders' rooms, where only a WeChat id identifies them (a display
    # name can be copied by anyone).
    settings.staff.append(StaffSettings(name="小陈", wechat_id="wxid_小陈"))
    settings.staff.append(StaffSettings(name="刘主任", wechat_id="wxid_刘主任"))
    app = App(settings, channel=Chat(), clock=clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
def chat(life) -> Chat:
    return life.channel


async def ticket(app, number: str) -> Ticket:
    async with app.dispatcher.sessions() as s:
        return (await s.exec(select(Ticket).where(Ticket.number == number))).one()


async def events(app, number: str) -> list[TicketEvent]:
    t = await ticket(app, number)
    async with app.dispatcher.sessions() as s:
        rows = await s.exec(select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id))
        return list(rows.all())


async def report(chat, text: str, sender: str = "王贵宝", room: str = LEADERS) -> str:
    replies = await chat.say(text, sender=sender, room=room)
    m = NUMBER.search(replies[0].text)
    assert m, replies[0].text
    return m.group(1)


async def test_a_second_report_of_the_same_problem_is_counted_not_filed(life, chat):
    number = await report(chat, "王大姐说，4栋楼下下水道堵了，污水都冒出来了")
    [dup] = await chat.say("4栋下水道又堵了，臭得很", sender="李建国", room=LEADERS)
    assert f"#{number}" in dup.text and "已经有人反映过了" in dup.text and "2 人" in dup.text
    [again] = await chat.say("4栋的下水道堵了还没人来", sender="李建国", room=LEADERS)
    assert f"#{number}" in again.text and "您已经反映过" in again.text
    t = await ticket(life, number)
    assert t.supporters == 2
    async with life.dispatcher.sessions() as s:
        assert len((await s.exec(select(Ticket))).all()) == 1
    assert [e.action for e in await events(life, number)] == ["created", "support"]


async def test_other_place_or_category_is_a_new_ticket(life, chat):
    first = await report(chat, "4栋楼下下水道堵了")
    other_building = await report(chat, "6栋楼下下水道堵了", sender="李建国")
    other_category = await report(chat, "4栋楼道灯坏了", sender="李建国")
    assert len({first, other_building, other_category}) == 3


async def test_staff_assign_and_resolve_tell_the_reporters_room(life, chat):
    number = await report(chat, "4栋楼下下水道堵了，污水都冒出来了")
    replies = await chat.say(f"派单 {number} 物业", sender="刘主任", room=COMMITTEE)
    confirm, notice = replies
    assert confirm.room_id == COMMITTEE_ID and "已派给物业" in confirm.text
    assert notice.room_id == LEADERS_ID and [m.name for m in notice.mentions] == ["王贵宝"]
    assert f"#{number}" in notice.text and "已派给物业处理" in notice.text

    replies = await chat.say(f"办结 #{int(number)} 找了疏通队 回复：已疏通", sender="刘主任", room=COMMITTEE)
    notice = replies[-1]
    assert notice.room_id == LEADERS_ID and "已处理完成：已疏通" in notice.text and "满意" in notice.text
    assert "疏通队" not in notice.text  # the note before "回复：" stays with staff
    t = await ticket(life, number)
    assert (t.status, t.assignee) == ("resolved", "物业") and t.resolved_at is not None
    evs = await events(life, number)
    assert [(e.action, e.from_status, e.to_status, e.actor_name, e.note) for e in evs[1:]] == [
        ("assign", "new", "assigned", "刘主任", "物业"),
        ("resolve", "assigned", "resolved", "刘主任", "找了疏通队 回复:已疏通"),
    ]


async def test_a_staff_note_without_a_reply_mark_stays_with_staff_and_staff_are_told_so(life, chat):
    number = await report(chat, "4栋楼下下水道堵了，污水都冒出来了")
    confirm, notice = await chat.say(f"办结 {number} 已联系王贵宝138-1234-5678，明天上门", sender="刘主任", room=COMMITTEE)
    assert "已处理完成。" in notice.text and "上门" not in notice.text and "1234" not in notice.text
    assert "回复：" in confirm.text  # staff learn how to say something to the reporter


async def test_unsatisfied_reporter_reopens_and_staff_are_told(life, chat):
    number = await report(chat, "4栋楼下下水道堵了")
    await chat.say(f"办结 {number} 已疏通", sender="小陈", room=None)  # staff in a private chat
    [ignored] = await chat.say("不满意", sender="李建国", room=LEADERS) or [None]
    assert ignored is None or f"#{number}" not in ignored.text  # not theirs to rate
    replies = await chat.say("不满意", sender="王贵宝", room=LEADERS)
    to_reporter, to_staff = replies
    assert to_reporter.room_id == LEADERS_ID and "重新打开" in to_reporter.text
    assert to_staff.room_id == COMMITTEE_ID and f"#{number}" in to_staff.text and "不满意" in to_staff.text
    t = await ticket(life, number)
    assert (t.status, t.satisfaction, t.resolved_at) == ("reopened", "unsatisfied", None)
    assert [e.action for e in await events(life, number)][-1] == "unsatisfied"
    # resolved again, then the reporter is happy: closed
    await chat.say(f"办结 {number} 换了新管子", sender="小陈", room=None)
    [thanks] = await chat.say("满意", sender="王贵宝", room=LEADERS)
    assert f"#{number}" in thanks.text
    t = await ticket(life, number)
    assert (t.status, t.satisfaction) == ("closed", "satisfied")


async def test_non_staff_commands_are_refused_and_change_nothing(life, chat):
    number = await report(chat, "4栋楼下下水道堵了")
    for text in (f"办结 {number} 已疏通", f"派单 {number} 物业", "工单 未办结", f"合并 {number} 到 0001"):
        [refusal] = await chat.say(text, sender="李建国", room=LEADERS)
        assert "只有社区工作人员" in refusal.text, text
    t = await ticket(life, number)
    assert (t.status, t.assignee) == ("new", None)
    assert [e.action for e in await events(life, number)] == ["created"]


async def test_staff_from_the_roster_may_run_commands(life, chat):
    async with life.dispatcher.sessions() as s:
        s.add(Member(display_name="网格员小周", wechat_id="wxid_网格员小周", role="staff", community="书院路社区"))
        await s.commit()
    number = await report(chat, "4栋楼下下水道堵了")
    [confirm, _] = await chat.say(f"处理 {number}", sender="网格员小周", room=COMMITTEE)
    assert "正在处理" in confirm.text
    assert (await ticket(life, number)).status == "in_progress"


async def test_bad_number_or_missing_argument_gets_the_right_form(life, chat):
    [a] = await chat.say("派单 0023", sender="刘主任", room=COMMITTEE)
    assert "派单 工单号 处理人" in a.text
    [b] = await chat.say("办结 abc", sender="刘主任", room=COMMITTEE)
    assert "办结 工单号" in b.text
    [c] = await chat.say("办结 9999 好了", sender="刘主任", room=COMMITTEE)
    assert "没有找到工单 #9999" in c.text


async def test_a_wrong_transition_is_explained(life, chat):
    number = await report(chat, "4栋楼下下水道堵了")
    await chat.say(f"关闭 {number}", sender="刘主任", room=COMMITTEE)
    [answer] = await chat.say(f"派单 {number} 物业", sender="刘主任", room=COMMITTEE)
    assert "不能派单" in answer.text
    assert (await ticket(life, number)).status == "closed"


async def test_merge_and_reclassify_by_hand(life, chat):
    keep = await report(chat, "4栋楼下下水道堵了")
    dup = await report(chat, "金穗小区3栋水管漏了", sender="李建国")
    replies = await chat.say(f"合并 {dup} 到 {keep}", sender="刘主任", room=COMMITTEE)
    assert f"已并入工单 #{keep}" in replies[0].text
    assert any(r.room_id == LEADERS_ID and f"#{keep}" in r.text for r in replies[1:])
    d, k = await ticket(life, dup), await ticket(life, keep)
    assert (d.status, d.duplicate_of, k.supporters) == ("duplicate", keep, 2)

    lamp = await report(chat, "5栋楼道灯坏了")
    [ok] = await chat.say(f"改类 {lamp} 排水", sender="刘主任", room=COMMITTEE)
    assert "供排水" in ok.text
    t = await ticket(life, lamp)
    assert t.category == "drainage"
    assert (await events(life, lamp))[-1].note == "设施报修 → 供排水"  # names, not codes, in the history
    [unknown] = await chat.say(f"改类 {lamp} 天气", sender="刘主任", room=COMMITTEE)
    assert "没有找到类别" in unknown.text


async def test_urgent_report_reaches_a_configured_committee_room_not_yet_seen(life, chat):
    replies = await chat.say("7栋3单元有很重的煤气味，快来人", sender="赵秀英", room=LEADERS)
    ack, alert = replies
    number = NUMBER.search(ack.text).group(1)
    assert alert.room_id == COMMITTEE_ID and alert.urgent
    assert f"#{number}" in alert.text and "7栋" in alert.text and "赵秀英" in alert.text and LEADERS in alert.text
    t = await ticket(life, number)
    assert t.urgent and t.due_at - t.created_at <= timedelta(hours=24)


async def test_notices_wait_for_the_end_of_quiet_hours(life, chat, clock):
    number = await report(chat, "4栋楼下下水道堵了")
    clock.now = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    replies = await chat.say(f"办结 {number} 已疏通", sender="刘主任", room=COMMITTEE)
    assert [r.room_id for r in replies] == [COMMITTEE_ID]  # the confirmation only; the notice waits
    async with life.dispatcher.sessions() as s:
        held = (await s.exec(select(Outbox).where(Outbox.sent_at.is_(None)))).all()
    [row] = held
    assert row.room_id == LEADERS_ID
    assert row.not_before.replace(tzinfo=UTC) == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 07:00 local
    clock.now = datetime(2026, 3, 2, 23, 1, tzinfo=UTC)
    assert await life.dispatcher.flush_outbox() == 1
    assert chat.sent[-1].room_id == LEADERS_ID and "已处理完成" in chat.sent[-1].text


async def test_overdue_tickets_are_listed_and_reminded_daily(life, chat, clock):
    late = await report(chat, "4栋楼下下水道堵了")  # drainage: 3 days
    fresh = await report(chat, "金穗小区要是能增设几个休息座椅就好了", sender="李建国")  # suggestion: 15 days
    clock.now += timedelta(days=5)
    [listing] = await chat.say("工单 超期", sender="刘主任", room=COMMITTEE)
    assert f"#{late}" in listing.text and f"#{fresh}" not in listing.text and "超期" in listing.text
    assert ("overdue-reminder", "0 9 * * *") in [(n, c) for n, c, _ in life.scheduled_jobs()]
    before = len(chat.sent)
    assert await life.remind_overdue() == 1
    [reminder] = chat.sent[before:]
    assert reminder.room_id == COMMITTEE_ID and f"#{late}" in reminder.text and f"#{fresh}" not in reminder.text


async def test_staff_lists_asked_in_a_leaders_room_are_answered_privately(life, chat):
    await report(chat, "7-1-502门口的楼道窗户关不上了")
    [listing] = await chat.say("工单 未办结", sender="刘主任", room=LEADERS)
    assert listing.room_id is None and listing.contact_id == "wxid_刘主任"


async def test_resident_notices_never_show_phones_or_room_numbers(life, chat):
    number = await report(chat, "7-1-502门口的楼道窗户关不上了")
    replies = await chat.say(f"办结 {number} 已联系502室业主，电话13812345678", sender="刘主任", room=COMMITTEE)
    notice = replies[-1]
    assert notice.room_id == LEADERS_ID
    # Without the ticket number itself: a random number may contain 502.
    assert "13812345678" not in notice.text and "502" not in notice.text.replace(number, "#")


async def test_staff_register_from_another_source(life, chat):
    [ok] = await chat.say("登记 来源:议事会 金穗小区健身器材需要增设", sender="刘主任", room=COMMITTEE)
    number = NUMBER.search(ok.text).group(1)
    assert "议事会" in ok.text
    t = await ticket(life, number)
    assert (t.source, t.estate) == ("meeting", "金穗小区")
    [dup] = await chat.say("登记 来源:意见箱 金穗小区健身器材需要增设一些", sender="小陈", room=COMMITTEE)
    assert f"#{number}" in dup.text
    [listing] = await chat.say("工单 未办结 来源:议事会", sender="刘主任", room=COMMITTEE)
    assert f"#{number}" in listing.text
    [none] = await chat.say("工单 未办结 来源:意见箱", sender="刘主任", room=COMMITTEE)
    assert "没有" in none.text
