"""The staff command parser: a pure function from text to a command, a usage error, or nothing."""

from __future__ import annotations

import pytest

from handlers.staff import Command, CommandError, parse_command, ticket_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("派单 0023 物业", Command("assign", number="23", arg="物业")),
        ("派单 #23 物业公司 张师傅", Command("assign", number="23", arg="物业公司 张师傅")),
        ("处理 0023", Command("start", number="23")),
        ("受理 #0023", Command("start", number="23")),
        ("办结 0023 已疏通", Command("resolve", number="23", arg="已疏通")),
        ("办结 123456", Command("resolve", number="123456")),
        ("关闭 0023", Command("close", number="23")),
        ("驳回 0023 不属于社区职责", Command("reject", number="23", arg="不属于社区职责")),
        ("合并 0031 到 0023", Command("merge", number="31", target="23")),
        ("合并 31 #23", Command("merge", number="31", target="23")),
        ("改类 0023 排水", Command("reclassify", number="23", arg="排水")),
        ("工单 未办结", Command("list_open")),
        ("工单", Command("list_open")),
        ("工单 超期", Command("list_overdue")),
        ("工单 未办结 来源:议事会", Command("list_open", source="meeting")),
        ("工单 来源：意见箱", Command("list_open", source="box")),
        ("工单 0023", Command("show", number="23")),
        ("工单 #23", Command("show", number="23")),
        ("工单 帮助", Command("help")),
        ("登记 来源:议事会 金穗小区健身器材需要增设", Command("register", arg="金穗小区健身器材需要增设", source="meeting")),
        ("登记 3栋门口路灯坏了", Command("register", arg="3栋门口路灯坏了", source="shell")),
    ],
)
def test_well_formed_commands_parse(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "action", "problem"),
    [
        ("派单", "assign", "missing"),
        ("派单 0023", "assign", "missing"),
        ("派单 abc 物业", "assign", "number"),
        ("办结 第23号 已疏通", "resolve", "number"),
        ("办结 0000", "resolve", "number"),
        ("驳回 0023", "reject", "missing"),
        ("合并 0031", "merge", "missing"),
        ("合并 0031 到 那个", "merge", "number"),
        ("改类 0023", "reclassify", "missing"),
        ("关闭", "close", "missing"),
        ("登记 来源:议事会", "register", "missing"),
    ],
)
def test_malformed_commands_explain_the_right_form(text, action, problem):
    err = parse_command(text)
    assert err == CommandError(action, problem)
    assert isinstance(err, CommandError) and "例如" in err.usage


@pytest.mark.parametrize(
    "text",
    [
        "4栋楼道灯坏了",
        "处理一下4栋的垃圾",  # a verb inside ordinary speech
        "办结了吗？",
        "工单0023处理完了吗",  # a progress question, for the query handler
        "工单 0023 到哪一步了",
        "查询 0023",
        "登记一下，3栋有人乱停车",
        "",
    ],
)
def test_ordinary_messages_are_not_commands(text):
    assert parse_command(text) is None


def test_ticket_numbers_are_integers_without_leading_zeros():
    assert [ticket_number(x) for x in ("23", "#0023", "＃23", "123456", "00123456")] == ["23", "23", "23", "123456", "123456"]
