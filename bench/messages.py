"""A reproducible, realistic stream of group messages for benchmarks (fixed seed; our own templates)."""

from __future__ import annotations

import random
from collections.abc import Iterator

ROOMS = ["松涛里邻长群", "建设小区邻长群", "湘钢一村楼栋群", "书院花园邻长群", "书院路社区两委群"]
LEADERS = ["王贵宝", "李建国", "刘桂兰", "彭志强", "谭玉梅", "周国平", "易红霞", "陈爱民", "黄秀英", "罗德明"]
ESTATES = ["建设小区", "湘钢一村", "电机厂宿舍", "书院花园", "金穗小区", "松涛里"]
NUMERALS = "一二三四五六七八九十"

# Short acknowledgements are common, but most group chat is a sentence (dev-set chat: median 18 characters).
CHAT = [
    "收到", "好的", "谢谢{name}", "辛苦了🙏", "[强][强]", "[红包]", "[图片]", "哈哈哈", "大家早上好🌹",
    "明天几点集合？我好跟楼里的人讲一声", "好的，我下午三点之前把表交上来", "今天天气好，大家出来晒被子咯",
    "要得要得，晚上我去通知一下我们楼的", "已接龙，{b}栋{name}两个人", "同意楼上说的，我们楼也是这个意思",
    "【通知】本周六上午在社区广场开展义诊活动，请各位邻长通知到户。", "晓得哒，我等下就去", "吃饭了冒？今天菜场的鱼蛮新鲜",
    "周末的活动我报名，{b}栋{name}", "感谢社区的关心！老人家都蛮高兴", "👍👍👍", "好久不见了，大家都好吧",
    "{name}，你家快递我帮你拿了，放在门卫那里", "刚才那条发错群了，不好意思哈", "今天社区组织的包饺子活动太热闹了[图片]",
    "下午三点在社区二楼开邻长会，请大家准时参加", "那个事已经解决了，谢谢大家关心", "我们楼一切正常，没什么问题",
    "谢谢刘主任帮忙，我妈的补贴已经到账了", "有冇得人一起去买菜，我在{estate}门口等",
]
REPORTS = [
    "{b}栋{u}单元楼道灯坏了，晚上黑漆漆的", "{b}栋门口下水道堵了，污水冒出来了", "{b}栋电梯又卡住了，麻烦叫维保来看下",
    "{estate}垃圾站的垃圾三天没人清了，臭得很", "有人在{b}栋楼道里给电动车充电，飞线拉得到处都是",
    "晚上十一点了{b}栋还有人在装修，电钻吵得睡不着", "{estate}门口停了一台僵尸车，好几个月没动了",
    "{b}栋后面那棵大树枝子伸到窗户里了，要修剪一下", "楼上漏水到我家，找他好几次都不理，麻烦社区调解",
    "物业的保洁半个月没来扫楼道了，物业费白交了", "{b}栋有个独居老人好几天没下楼了，打电话也不接",
    "建议在{estate}加装几个充电桩，现在充电太不方便了", "最近有陌生人在车棚转来转去，蛮可疑的",
    "{b}号楼的单元门禁刷卡刷不开了", "{estate}的路灯坏了好几盏", "停了一天的水了，什么时候来水啊",
    "{b}栋外墙瓷砖往下掉，差点砸到人", "广场舞的音响开太大声了，九点半还没停",
]
QUERIES = [
    "查询 {ticket}", "#{ticket} 进度", "我上次反映的下水道怎么样了", "我的工单", "工单{ticket}处理完了吗",
    "上次报的{b}栋楼道灯，什么时候来修啊", "那个僵尸车的事有回音冇",
]
LONG = (
    "各位领导，我实在是冇得办法哒才在群里说。{estate}{b}栋后面那个垃圾站原来讲好每天早上拉走，现在两三天才来一趟，"
    "夏天一到那个味道隔着两栋楼都闻得到，苍蝇蚊子一团一团的，老鼠大白天在路上跑。我们几个老人家自己拿扫把去扫过，"
    "扫了又堆起来。打环卫电话讲车子坏哒，打物业电话讲不归他们管。到底归哪个管咯？能不能定个时间按时来拉？拜托哒！"
)

MIX = (("chat", 0.70), ("report", 0.20), ("query", 0.07), ("long", 0.03))


def _fill(template: str, rng: random.Random) -> str:
    b = rng.randint(1, 30)
    return template.format(
        b=b if rng.random() < 0.8 else NUMERALS[(b - 1) % 10],
        u=rng.randint(1, 4),
        name=rng.choice(LEADERS),
        estate=rng.choice(ESTATES),
        ticket=f"{rng.randint(0, 9999):04d}",
    )


def generate(n: int, *, seed: int = 20261127) -> Iterator[dict]:
    """`n` messages as {"id","room","sender","text"}: mostly chat, a share of reports and queries, some long."""
    rng = random.Random(seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        pool = {"chat": CHAT, "report": REPORTS, "query": QUERIES, "long": [LONG]}[kind]
        yield {
            "id": f"bench-{seed}-{i}",
            "room": rng.choice(ROOMS[:-1]),
            "sender": rng.choice(LEADERS),
            "text": _fill(rng.choice(pool), rng),
        }
