"""Redaction before anything leaves the machine, and the strict reading of the model's answer."""

from __future__ import annotations

import pytest

from nlp.llm import InvalidAnswer, parse_answer
from nlp.redact import redact

CODES = ("repair", "drainage", "other")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4栋下水道堵了，电话13812345678", "4栋下水道堵了,电话[电话]"),
        ("联系138-1234-5678或+86 138 1234 5678", "联系[电话]或[电话]"),
        ("座机0731-52345678", "座机[电话]"),
        ("快递单上是138****5678", "快递单上是[电话]"),
        ("身份证430302199001011234", "身份证[身份证号]"),
        ("身份证43030219900101123X", "身份证[身份证号]"),
        ("湘C12345堵了消防通道", "[车牌]堵了消防通道"),
        ("湘C·D12345又停在那", "[车牌]又停在那"),
        ("7-1-502楼上漏水", "7栋1单元[房号]楼上漏水"),
        ("502室天花板掉灰", "[房号]天花板掉灰"),
        ("4栋2单元502的水管爆了", "4栋2单元[房号]的水管爆了"),
        ("我家1102漏水", "我家[房号]漏水"),
        ("QQ 123456789", "QQ [号码]"),
        ("找王贵宝", "找[姓名]"),
    ],
)
def test_personal_data_becomes_placeholders(text, expected):
    """Phones, ID cards, plates, rooms, long numbers and roster names are replaced."""
    assert redact(text, ["王贵宝"]) == expected


@pytest.mark.parametrize(
    "text",
    ["查询 0023", "#1023 怎么样了", "0045号工单到哪了", "等了100多天", "2024年的事", "3楼灯坏了", "打120", "交了300元"],
)
def test_ticket_numbers_amounts_and_floors_are_kept(text):
    """What says which ticket, how much or which floor is not personal and stays."""
    assert redact(text) == text


GOOD = '{"intent": "report", "category": "drainage", "summary": "4栋 下水道堵塞", "building": "4", "urgent": false}'


def test_a_good_answer_is_read():
    a = parse_answer(GOOD, CODES)
    assert (a.intent, a.category, a.building, a.urgent) == ("report", "drainage", "4", False)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("", "empty reply"),
        ("好的：" + GOOD, "text around the JSON"),
        (GOOD + " 希望有帮助", "text around the JSON"),
        ("```json\n" + GOOD + "\n```", "text around the JSON"),
        ('{"intent": "report", ', "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        (GOOD.replace('"drainage"', '"plumbing"'), "unknown category"),
        (GOOD.replace("false", '"false"'), "wrong keys or types"),
        (GOOD.replace('"4"', "4"), "wrong keys or types"),
        (GOOD.replace('"report"', '"complaint"'), "wrong keys or types"),
        (GOOD.replace(', "urgent": false', ""), "wrong keys or types"),
        (GOOD.replace("}", ', "action": "resolve_all"}'), "wrong keys or types"),
        (GOOD.replace('"drainage"', "null"), "report without a category"),
    ],
)
def test_a_bad_answer_is_refused(content, kind):
    """Prose, a fence, invalid JSON, an unknown category, a wrong type, a missing or extra key: refused."""
    with pytest.raises(InvalidAnswer) as err:
        parse_answer(content, CODES)
    assert err.value.kind == kind
