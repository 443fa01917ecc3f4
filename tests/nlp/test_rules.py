"""The rules classifier on invented messages, and its speed."""

from __future__ import annotations

import pytest

from nlp.rules import RuleClassifier, parse_weighted, taxonomy_from_dicts
from nlp.types import Classification


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("王大姐，4栋楼下下水道堵了，污水冒到路上", "drainage"),
        ("我们单元的声控灯坏了半个月，晚上上楼摸黑", "repair"),
        ("垃圾站三天没清运，臭得不得了，苍蝇到处飞", "sanitation"),
        ("有人把电瓶车推到楼道里飞线充电，太危险了", "safety"),
        ("昨晚车库里好几台车被撬了", "order"),
        ("楼上半夜还在电钻装修，吵得睡不着", "noise"),
        ("楼上卫生间漏水到楼下我家，跟他说了好几次不肯修", "dispute"),
        ("物业费年年涨，服务一点没改善，公共收益也不公示", "property"),
        ("僵尸车占着车位一年多了，没人管", "parking"),
        ("小区门口那棵大树的枝子太长，挡住了路灯，要修剪一下", "greening"),
        ("5栋有个独居的爹爹腿脚不便，想申请助餐送餐", "livelihood"),
        ("建议在小区里增设几张长椅，老人散步累了可以歇脚", "suggestion"),
        ("咯几天冇得水哒，么子情况，高层一滴水都冇", "drainage"),
        ("又停水了？什么时候来水", "drainage"),
        ("残疾证怎么办理啊，我家老头子腿断了", "livelihood"),
        ("外墙的瓷砖松了，刮风就往下掉，电梯口那块", "safety"),
    ],
)
def test_reports_get_their_category(classifier, text, category):
    c = classifier.classify(text)
    assert c.intent == "report"
    assert c.category == category
    assert c.stage == "rules"
    assert c.summary


@pytest.mark.parametrize(
    "text",
    [
        "我上次反映的路灯怎么样了",
        "查询 #0023",
        "0045号工单到哪一步了",
        "化粪池那个事有回音冇",
        "上个礼拜报的井盖有下文冒",
        "单子排上日程了吗",
        "工单0110为什么显示已关闭？问题还没解决啊",
        "之前反映的狗叫问题有结果没",
        "师傅还来不来修啊，上次说好的",
    ],
)
def test_progress_questions_are_queries(classifier, text):
    c = classifier.classify(text)
    assert c.intent == "query"
    assert c.category is None


@pytest.mark.parametrize(
    "text",
    [
        "收到",
        "好的王姐",
        "要得，晓得哒",
        "[红包]",
        "🌹🌹🌹",
        "[图片]",
        "谢谢社区的同志们，辛苦了🙏",
        "【通知】本周六上午社区卫生服务站义诊，请大家相互转告",
        "元宵节快乐，祝大家身体健康",
        "路灯已经修好了，谢谢！",
        "那个下水道的事已经报上去了，我就不重复报了",
        "刚才说的烧焦味是邻居家炒菜，虚惊一场",
        "物业费在哪里交啊",
        "明天上午九点社区门口集合，莫迟到",
        "接龙：1. 李桂英 2. 张建华",
        "哈哈哈 你们看这个视频",
    ],
)
def test_chat(classifier, text):
    c = classifier.classify(text)
    assert c.intent == "chat"
    assert c.category is None
    assert not c.urgent


def test_urgent_report_is_flagged(classifier):
    c = classifier.classify("3栋二单元电梯关人了，里面有个老人，快来")
    assert c.intent == "report" and c.urgent
    assert c.building == "3"


def test_ticket_numbers_and_location_are_filled(classifier):
    c = classifier.classify("查询 #0023，湘钢一村7栋的")
    assert c.ticket_numbers == ("23",)
    assert c.location.estate == "湘钢一村"


def test_confidence_is_lower_when_unsure(classifier):
    sure = classifier.classify("4栋下水道堵了，化粪池也满了，污水冒出来")
    vague = classifier.classify("你们来看一下咯个事情")
    assert 0 <= vague.confidence < sure.confidence <= 1


def test_classification_type(classifier):
    assert isinstance(classifier.classify("好"), Classification)


def test_weighted_keyword_parsing():
    assert parse_weighted("化粪池:3") == ("化粪池", 3.0)
    assert parse_weighted("下水道") == ("下水道", 1.0)
    assert parse_weighted("~(a|b):2.5") == ("~(a|b)", 2.5)


def test_replaced_taxonomy_works_from_its_keywords(processor):
    tax = taxonomy_from_dicts(
        [
            {"code": "pets", "name": "宠物", "keywords": ["狗:2", "猫:2", "~遛狗.{0,4}不牵:3"]},
            {"code": "lights", "name": "照明", "keywords": ["灯:2", "不亮:2"], "priority": 1},
            {"code": "misc", "name": "杂项", "keywords": []},
        ]
    )
    clf = RuleClassifier(tax, processor)
    assert clf.classify("有人遛狗不牵绳，吓到小孩了").category == "pets"
    assert clf.classify("楼道的灯坏了好几天，一直不亮").category == "lights"
    assert clf.classify("这个事情太过分了，没人管，麻烦处理一下").category == "misc"

