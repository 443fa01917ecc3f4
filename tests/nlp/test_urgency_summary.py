"""Urgency detection and ticket titles."""

from __future__ import annotations

import pytest

from nlp.summary import MAX_CHARS, summarize
from nlp.types import Location
from nlp.urgency import is_urgent


@pytest.mark.parametrize(
    "text",
    [
        "救命 3栋电梯关人了，卡在九楼半",
        "楼道里一股臭鸡蛋味，是不是哪家漏气",
        "配电箱在打火花，噼里啪啦响",
        "车库着火了，浓烟滚滚",
        "总水管爆了，一楼住户家里进水了",
        "外墙瓷砖掉下来了，差点砸到人",
        "两个人在门口打起来了，拿刀的都有",
        "我家娭毑出去买菜走丢了，穿红衣服",
        "楼下的独居老人三天没见到人了，敲门没反应",
    ],
)
def test_urgent(text):
    assert is_urgent(text)


@pytest.mark.parametrize(
    "text",
    [
        "电梯关人那个事，人已经出来了，没事了",
        "闻到煤气味，原来是隔壁在熬糖，虚惊一场",
        "楼道里有人拉线充电，我怕起火",
        "【温馨提示】冬季注意用火安全，防止火灾",
        "路灯坏了好几天了",
        "火已经灭了，大家放心",
    ],
)
def test_not_urgent(text):
    assert not is_urgent(text)


def test_summary_names_place_and_problem():
    assert summarize("王姐，4栋楼下下水道堵了", "供排水", Location(building="4")) == "4栋 下水道堵塞"
    assert summarize("楼道灯又不亮了", "设施报修", Location(building="4")) == "4栋 楼道灯不亮"
    lonely = summarize("8栋有位独居老人好几天没见人了", "民生服务", Location(building="8", estate="松涛里"))
    assert lonely == "松涛里8栋 独居老人多日未见"
    assert summarize("3栋楼道有人拉线充电", "安全隐患", Location(building="3")) == "3栋 楼道飞线充电"
    waste = summarize(
        "书院花园1栋装修垃圾堆在楼下没人清", "环境卫生", Location(building="1", estate="书院花园")
    )
    assert waste == "书院花园1栋 装修垃圾未清运"
    assert summarize("6栋单元门口下水道堵了，水往外冒", "供排水", Location(building="6")) == "6栋 下水道堵塞"


def test_summary_never_leaks_room_phone_or_name():
    title = summarize("刘桂香家502室漏水 电话13912345678", "邻里纠纷", Location("3", "1", "502"))
    assert "502" not in title and "139" not in title and "刘" not in title
    assert title == "3栋1单元 漏水" and len(title) <= MAX_CHARS


def test_summary_without_known_words_is_more_than_the_category_name():
    assert summarize("你们快来看一下吧", "其他", Location(estate="金穗小区")) == "金穗小区 其他问题"
    assert summarize("电梯那个事你们看一下", "设施报修") == "电梯问题"


def test_summary_drops_unit_then_estate_to_stay_short():
    title = summarize(
        "电机厂宿舍12栋3单元有个娭毑好几天没出门了", "民生服务", Location("12", "3", None, "电机厂宿舍")
    )
    assert title == "电机厂宿舍12栋3单元 老人多日未见" and len(title) <= MAX_CHARS
    title = summarize(
        "电机厂宿舍12栋3单元老旧小区改造还没动工", "其他", Location("12", "3", None, "电机厂宿舍")
    )
    assert title == "电机厂宿舍12栋 老旧小区改造未动工"
