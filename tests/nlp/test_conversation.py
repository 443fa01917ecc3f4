"""Ratings with their reasons, and follow-ups that only add a place, understood from the text alone."""

from __future__ import annotations

import pytest

from nlp.conversation import follow_up_detail, parse_rating
from nlp.normalize import normalize

ESTATES = ["建设小区", "湘钢一村", "电机厂宿舍", "书院花园", "金穗小区", "松涛里"]


@pytest.mark.parametrize(
    ("text", "verdict", "reason", "number"),
    [
        ("不满意，还是在冒水，根本没人来过", "unsatisfied", "还是在冒水，根本没人来过", None),
        ("不满意", "unsatisfied", "", None),
        ("3810 不满意 师傅看了一眼就走了", "unsatisfied", "师傅看了一眼就走了", "3810"),
        ("满意👍", "satisfied", "👍", None),
        ("满意", "satisfied", "", None),
        ("挺好的，谢谢", "satisfied", "谢谢", None),
        ("很满意，师傅很负责", "satisfied", "师傅很负责", None),
        ("还行", "basic", "", None),
        ("一般般吧，慢了点", "basic", "慢了点", None),
        ("还是在漏", "unsatisfied", "还是在漏", None),
        ("修好了，但是还是不亮", "satisfied", "但是还是不亮", None),
    ],
)
def test_a_rating_and_its_reason(text, verdict, reason, number):
    r = parse_rating(text)
    assert r is not None and (r.verdict, r.reason, r.number) == (verdict, normalize(reason), number)


@pytest.mark.parametrize(
    "text", ["满意度调查明天开始，请大家参与", "4栋楼道灯坏了", "你好", "不满意的可以去社区反映", "满意" + "的" * 100]
)
def test_other_messages_are_not_ratings(text):
    assert parse_rating(text) is None


@pytest.mark.parametrize(
    ("text", "building", "unit", "estate", "picture"),
    [
        ("就是5栋门口那根", "5", None, None, False),
        ("就是2单元那个", None, "2", None, False),
        ("在松涛里7栋后面", "7", None, "松涛里", False),
        ("就是4栋和5栋的", "4", None, None, False),
        ("书院花园3栋", "3", None, "书院花园", False),
        ("图片上这个", None, None, None, True),
    ],
)
def test_a_follow_up_that_only_adds_a_place(text, building, unit, estate, picture):
    d = follow_up_detail(text, ESTATES)
    assert d is not None
    assert (d.location.building, d.location.unit, d.location.estate, d.picture) == (building, unit, estate, picture)


@pytest.mark.parametrize("text", ["5栋灯也坏了", "是哪一栋？", "好的", "收到，谢谢", "4栋那个修好了吗", "明天上午十点开会"])
def test_a_message_with_something_of_its_own_is_not_a_follow_up(text):
    assert follow_up_detail(text, ESTATES) is None


def test_a_message_that_only_mentions_a_photo_is_not_a_follow_up():
    assert follow_up_detail("看看照片不说话", ESTATES) is None
