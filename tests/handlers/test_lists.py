"""A leader's list of what she collected becomes one ticket per problem, and one reply listing them."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from nlp.split import split_problems
from storage.models import Ticket

NUMBER = re.compile(r"#(\d{4,})")
LIST = "这是我收集的居民意见：1.3栋楼道灯坏了 2.5栋门口垃圾没人清 3.8栋楼上装修天天吵到晚上十点 4.活动室能不能装个空调"


async def tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket).order_by(Ticket.id))).all())


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        (LIST, ["3栋楼道灯坏了", "5栋门口垃圾没人清", "8栋楼上装修天天吵到晚上十点", "活动室能不能装个空调"]),
        ("①3栋灯坏了②下水道堵了", ["3栋灯坏了", "下水道堵了"]),
        ("第一，灯坏了；第二，门锁坏了", ["灯坏了", "门锁坏了"]),
        ("今天收集到几个问题：\n6栋的灯坏了\n7栋门口有积水", ["今天收集到几个问题", "6栋的灯坏了", "7栋门口有积水"]),
        ("3栋楼道灯坏了，还有5栋门口的垃圾好几天没人收", ["3栋楼道灯坏了", "还有5栋门口的垃圾好几天没人收"]),
        ("4栋楼道灯坏了，晚上黑漆漆的，老人上下楼不方便", ["4栋楼道灯坏了，晚上黑漆漆的，老人上下楼不方便"]),
        ("电话1.5万，2024年1月2日停水", ["电话1.5万，2024年1月2日停水"]),
        ("3.5栋灯坏了", ["3.5栋灯坏了"]),
    ],
)
def test_only_the_clear_marks_of_a_list_split_a_message(text, pieces):
    assert split_problems(text) == pieces


async def test_a_numbered_list_files_one_ticket_per_problem_with_one_reply(app, chat):
    [reply] = await chat.say(LIST)
    numbers = NUMBER.findall(reply.text)
    assert len(numbers) == 4 and "共登记 4 件" in reply.text
    got = [(t.number, t.category, t.building) for t in await tickets(app)]
    assert [(c, b) for _, c, b in got] == [("repair", "3"), ("sanitation", "5"), ("noise", "8"), ("suggestion", None)]
    assert [n for n, _, _ in got] == numbers


async def test_one_problem_told_in_pieces_stays_one_ticket(app, chat):
    [reply] = await chat.say("下水道堵了；污水冒到路上，臭得很")
    assert "已登记为工单" in reply.text
    [ticket] = await tickets(app)
    assert ticket.category == "drainage"


async def test_a_list_item_already_reported_counts_as_support(app, chat):
    [first] = await chat.say("5栋门口垃圾好几天没人清，臭得很", sender="李建国")
    existing = NUMBER.search(first.text).group(1)
    [reply] = await chat.say("今天收集到几个问题：\n3栋楼道灯坏了\n5栋门口垃圾没人清")
    assert f"#{existing}（已有人反映，共 2 人）" in reply.text
    assert len(await tickets(app)) == 2
