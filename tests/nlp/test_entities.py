"""Buildings, units, rooms, estates and ticket numbers."""

from __future__ import annotations

import pytest

from nlp.entities import chinese_to_int, extract_location, extract_ticket_numbers


@pytest.mark.parametrize(
    ("text", "building"),
    [
        ("4栋门口路灯坏了", "4"),
        ("四栋后面有积水", "4"),
        ("4号楼的电梯停了", "4"),
        ("4#楼道灯不亮", "4"),
        ("4幢楼顶漏雨", "4"),
        ("十二栋门禁坏了", "12"),
        ("二十三栋的狗天天叫", "23"),
        ("5#楼外面的管子断了", "5"),
        ("第8栋前面停满了车", "8"),
        ("三楼有人在楼道里充电", None),
        ("我家住5楼，水压太低", None),
        ("隔壁栋的灯一直不亮", None),
        ("这栋楼的垃圾没人收", None),
        ("两栋楼中间的路灯坏了", None),
        ("11月28日8:00停水", None),
        ("电话13812345678", None),
    ],
)
def test_building(text, building):
    assert extract_location(text).building == building


def test_building_unit_room_triplet():
    loc = extract_location("9-2-301门口的灯坏了")
    assert (loc.building, loc.unit, loc.room) == ("9", "2", "301")


def test_room_after_building():
    loc = extract_location("3栋1204天天半夜剁东西")
    assert (loc.building, loc.room) == ("3", "1204")


def test_unit_and_room_words():
    loc = extract_location("松涛里6栋三单元502室漏水", estates=["金穗小区", "松涛里"])
    assert (loc.estate, loc.building, loc.unit, loc.room) == ("松涛里", "6", "3", "502")


def test_first_building_wins():
    assert extract_location("2栋和3栋之间的路灯").building == "2"


def test_describe_hides_room():
    loc = extract_location("金穗小区1栋2单元301", estates=["金穗小区"])
    assert loc.describe() == "金穗小区 1栋2单元"


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("#0023", ("23",)),
        ("0045号工单到哪一步了", ("45",)),
        ("工单0089有人管没", ("89",)),
        ("查询 0099", ("99",)),
        ("单号0061现在什么状态", ("61",)),
        ("#23 进度", ("23",)),
        ("工单号：0107 和 #0110", ("107", "110")),
        ("6栋1102又在装修", ()),
        ("打13912345678找王师傅", ()),
        ("0731-88886666是物业电话", ()),
        ("11月28日8:00-18:00停水", ()),
        ("物业费交了1200元", ()),
        ("7-1-502门口", ()),
    ],
)
def test_ticket_numbers(text, numbers):
    assert extract_ticket_numbers(text) == numbers


@pytest.mark.parametrize(
    ("s", "n"),
    [("十二", 12), ("二十", 20), ("二十三", 23), ("两", 2), ("一百零五", 105), ("12", 12), ("栋", None)],
)
def test_chinese_to_int(s, n):
    assert chinese_to_int(s) == n


def test_a_count_of_buildings_is_not_a_building():
    from nlp.entities import extract_location

    assert extract_location("物业招的保洁一个人管八栋楼，根本扫不过来").building is None
    assert extract_location("我们小区有三栋楼没网，5栋最严重").building == "5"
    assert extract_location("8栋楼下的垃圾桶满了").building == "8"
    assert extract_location("我们8栋楼道灯坏了").building == "8"
