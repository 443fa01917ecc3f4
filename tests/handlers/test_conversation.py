"""Conversation, not single messages: the transcripts of issue 16 through the real app (fake channel at the edge)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from storage.models import Attachment, Ticket, TicketEvent
from tests.handlers.clocked import *  # noqa: F403  (the app on a settable clock: app, chat, clock, understanding)
from tests.handlers.test_ticket_life import COMMITTEE, LEADERS_ID

NUMBER = re.compile(r"#(\d{4,})")


async def tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket).order_by(Ticket.id))).all())


async def events(app, action: str) -> list[TicketEvent]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(TicketEvent).where(TicketEvent.action == action))).all())


async def file(chat, text: str, sender: str = "王贵宝") -> str:
    replies = await chat.say(text, sender=sender)
    return NUMBER.search(replies[0].text).group(1)


def staff(chat, text):
    return chat.say(text, sender="刘主任", room=COMMITTEE)


async def test_it_asks_where_once_and_the_answer_fills_the_place(app, chat):
    [ack] = await chat.say("路灯不亮了，晚上黑漆漆的")
    assert "请问是哪个小区、哪一栋" in ack.text
    number = NUMBER.search(ack.text).group(1)
    [done] = await chat.say("就是5栋门口那根")
    assert done.text == f"好的，已补充到工单 #{number}：5栋。"
    [t] = await tickets(app)
    assert (t.building, t.summary) == ("5", "5栋 路灯不亮")
    assert [e.note for e in await events(app, "supplement")] == ["就是5栋门口那根"]


async def test_a_follow_up_with_two_buildings_fills_the_first_and_files_nothing_new(app, chat):
    await chat.say("路灯不亮了，晚上黑漆漆的")
    [done] = await chat.say("就是4栋和5栋的")
    assert "4栋" in done.text
    [t] = await tickets(app)
    assert t.building == "4"


async def test_a_detail_added_soon_after_fills_the_unit_and_later_it_is_a_message_of_its_own(app, chat, clock):
    number = await file(chat, "3栋楼道灯坏了好几天了")
    [done] = await chat.say("就是2单元那个")
    assert done.text == f"好的，已补充到工单 #{number}：2单元。"
    [t] = await tickets(app)
    assert (t.building, t.unit) == ("3", "2")
    clock.now += timedelta(minutes=30)
    assert await chat.say("就是1单元那个") == []  # past the window: no longer taken as a follow-up
    assert (await tickets(app))[0].unit == "2"


async def test_no_question_where_the_place_was_said(app, chat):
    [ack] = await chat.say("5栋楼道灯坏了好几天了")
    assert "请问" not in ack.text


async def test_progress_questions_in_loose_words_are_answered_from_the_askers_tickets(app, chat):
    lamp = await file(chat, "3栋楼道灯坏了好几天了")
    lift = await file(chat, "5栋电梯坏了，关不上门")
    for text, number in [
        (f"{lamp}修好了没", lamp),
        (f"{lift}有进展吗", lift),
        (f"{lamp} 进度", lamp),
        ("灯的事有进展吗", lamp),
        ("电梯的事处理了吗", lift),
    ]:
        [answer] = await chat.say(text)
        assert answer.text.startswith(f"工单 #{number}"), (text, answer.text)
    [mine] = await chat.say("查询")
    assert f"#{lamp}" in mine.text and f"#{lift}" in mine.text
    [which] = await chat.say("有进展吗")
    assert "是问哪一件" in which.text
    [none] = await chat.say("5594有进展吗" if "5594" not in (lamp, lift) else "5595有进展吗")
    assert "没有找到工单" in none.text
    for text in ("下水道的事呢？", "那个垃圾桶的事怎么说"):
        [answer] = await chat.say(text)
        assert "没找到您反映过的相关工单" in answer.text
    assert len(await tickets(app)) == 2  # no question became a ticket


async def test_the_only_open_ticket_answers_a_question_that_names_nothing(app, chat):
    number = await file(chat, "3栋楼道灯坏了好几天了")
    [answer] = await chat.say("修好了没")
    assert answer.text.startswith(f"工单 #{number}")


async def test_unsatisfied_with_a_reason_reopens_and_tells_staff_why(app, chat):
    number = await file(chat, "2栋下水道冒水了，一楼门口全是污水")
    await staff(chat, f"办结 {number} 回复：已疏通")
    replies = await chat.say("不满意，还是在冒水，根本没人来过")
    assert any("已重新打开" in r.text for r in replies)
    to_staff = [r for r in replies if r.room_id and r.room_id.startswith(COMMITTEE)]
    assert to_staff and "还是在冒水" in to_staff[0].text
    [t] = await tickets(app)
    assert (t.status, t.satisfaction) == ("reopened", "unsatisfied")
    assert [e.note for e in await events(app, "unsatisfied")] == ["还是在冒水,根本没人来过"]


async def test_satisfied_with_an_emoji_or_words_closes_and_so_does_good_enough(app, chat):
    for i, (rating, value) in enumerate([("满意👍", "satisfied"), ("挺好的，谢谢", "satisfied"), ("还行", "basic")]):
        number = await file(chat, f"{i + 2}栋楼道灯坏了好几天了")
        await staff(chat, f"办结 {number} 回复：已换灯泡")
        [thanks] = await chat.say(rating)
        assert "谢谢您的评价" in thanks.text
        t = next(t for t in await tickets(app) if t.number == number)
        assert (t.status, t.satisfaction) == ("closed", value)


async def test_the_same_problem_twice_without_a_place_is_one_ticket(app, chat):
    first = await file(chat, "下水道堵死了，一直往上冒")
    [again] = await chat.say("下水道堵死了，一直往上冒")
    assert "您已经反映过" in again.text and first in again.text
    [other] = await chat.say("下水道堵死了，一直往上冒", sender="李建国")
    assert "已有人反映" in other.text or "已经有人反映过了" in other.text
    [t] = await tickets(app)
    assert t.supporters == 2


async def test_supporters_are_told_of_dispatch_and_resolution(app, chat):
    number = await file(chat, "下水道堵死了，一直往上冒")
    await chat.say("下水道堵死了，一直往上冒", sender="李建国")
    replies = await staff(chat, f"派单 {number} 物业")
    notice = [r for r in replies if r.room_id == LEADERS_ID]
    assert {m.name for m in notice[0].mentions} == {"王贵宝", "李建国"}


async def test_a_photo_just_before_or_after_a_report_is_attached_to_it(app, chat):
    assert await chat.say("[图片]", kind="image") == []
    number = await file(chat, "3栋楼道灯坏了好几天了")
    assert await chat.say("[图片]", kind="image") == []
    async with app.dispatcher.sessions() as s:
        rows = (await s.exec(select(Attachment))).all()
    [t] = await tickets(app)
    assert t.number == number and len(rows) == 2 and {r.ticket_id for r in rows} == {t.id}
    from bot.wiring import build_ticket_ops
    from storage.digest_queries import parse_period
    from storage.digest_rows import period_tickets

    async with app.dispatcher.sessions() as s:
        shown = await build_ticket_ops(app.settings, app.understanding).history(s, t, now=app.clock())
        period = parse_period(app.clock().strftime("%Y-%m"), "Asia/Shanghai")
        [row] = [r async for r in period_tickets(s, period)]
    assert shown.count("（未能下载）") == 2  # the fake channel downloads nothing: the kind is recorded
    assert row["photos"] == 2  # the digest's spreadsheet column


async def test_talking_to_the_bot_gets_help_an_faq_answer_or_who_to_ask(app, chat):
    name = app.settings.bot.name
    [hello] = await chat.say(f"@{name} 你好")
    [can] = await chat.say(f"@{name} 你能做什么")
    assert hello.text == can.text and "帮大家把问题登记下来" in hello.text
    [faq] = await chat.say(f"@{name} 物业费在哪交")
    assert "物业服务中心" in faq.text
    [unknown] = await chat.say(f"@{name} 明天会下雨吗")
    assert "这个我答不了" in unknown.text
    assert await chat.say("物业费在哪交") == []  # not said to the bot: chat



async def test_the_answer_in_the_same_batch_as_the_report_still_fills_the_place(app, chat):
    """The dispatcher reads a batch's conversations in one statement before routing; a report earlier in the
    batch changes its sender's state, and the answer right behind it must see that, not the batch's first read."""
    from handlers.types import IncomingMessage

    def msg(n: int, text: str, sender: str = "王贵宝") -> IncomingMessage:
        return IncomingMessage(
            message_id=f"batch-{n}", sender_id=f"wxid_{sender}", sender_name=sender, text=text,
            room_id="松涛里邻长群@chatroom", room_topic="松涛里邻长群",
        )

    jobs = [app.dispatcher.submit(m) for m in (msg(1, "路灯不亮了，晚上黑漆漆的"), msg(2, "收到", "李建国"),
                                                   msg(3, "就是5栋门口那根"))]
    await app.dispatcher.drain()
    [ack], _, [done] = [await j.handled for j in jobs]
    number = NUMBER.search(ack.text).group(1)
    assert done.text == f"好的，已补充到工单 #{number}：5栋。"
    [t] = await tickets(app)
    assert t.building == "5"
