"""A stream of DISTINCT group messages for benchmarks: places, people, times and wording vary, so a cache of
short texts (nlp/cascade.py's memo) or jieba's own caches cannot answer most of it from memory.

    .venv/bin/python -m bench.distinct [N]     # prints the stream's distinct share and the repeat shares

Exact repeats are mixed in at the share measured on real chat: the share of LCCC lines
(../shared/data/external/lccc_toy_chat.jsonl) whose exact text appeared earlier in the file. That file was
deduplicated by its maintainers (SOURCES.md: "distinct turns"), so it measures 0 %; a group does say 收到 and
好的 all day, so when the measured share is below ASSUMED_REPEATS the stream uses ASSUMED_REPEATS instead and
says so (`repeat_basis`). Real LCCC lines can be interleaved (`real_share`): read at bench time, never stored.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

LCCC = Path(__file__).resolve().parents[2] / "shared" / "data" / "external" / "lccc_toy_chat.jsonl"
ASSUMED_REPEATS = 0.03  # used only when the measured share is lower (a deduplicated corpus): stated, not measured

ESTATES = [
    "建设小区", "湘钢一村", "电机厂宿舍", "书院花园", "金穗小区", "松涛里", "枫林苑", "望岳新村", "天马公寓",
    "桔园小区", "岳华村", "金盆岭", "湘江苑", "东坪新村", "书院名邸", "韶山路宿舍", "纺织厂宿舍", "铁路新村",
]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蒋蔡余杜叶程魏苏吕丁任沈姚卢"
TITLES = ["娭毑", "爹爹", "师傅", "主任", "阿姨", "叔叔", "老师", "嫂子", "哥", "姐", "书记", "大姐"]
DAYS = ["今天", "昨天", "前天", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "这两天", "上个礼拜"]
PARTS = ["早上", "上午", "中午", "下午", "傍晚", "晚上", "半夜", "凌晨"]
CN = "零一二三四五六七八九十"

OPENERS = ["", "", "", "各位邻居，", "@{person} ", "麻烦问下，", "跟大家讲一声，", "社区的领导，", "{person}，", "打扰了，"]
CLOSERS = ["", "", "", "，谢谢", "，辛苦了🙏", "，拜托哒", "！", "。", "，麻烦看一下", "[抱拳]", "，急！"]
CHAT = [
    "{person}家的快递我帮忙拿了，放在{estate}门卫那里",
    "{when}在{estate}广场跳舞的是哪个楼的？蛮好看",
    "已接龙，{b}栋{u}单元{n}个人",
    "{b}栋{f}楼的{person}说{when}有空，一起去买菜",
    "我们{b}栋一切正常，没什么问题",
    "{when}的邻长会我参加，{b}栋{person}",
    "{person}，{when}{estate}门口那家包子铺开门冒？",
    "感谢{person}帮忙，{b}栋的老人都蛮高兴",
    "{when}去{estate}看了下，修好了，谢谢大家",
    "收到，{when}我去{b}栋通知一下",
    "{estate}{b}栋{person}的孙子考上大学了，恭喜恭喜",
    "{when}社区发的米我帮{b}栋{f}楼{person}领了",
]
REPORTS = [
    "{estate}{b}栋{u}单元{f}楼楼道灯坏了，{when}黑漆漆的",
    "{estate}{b}栋门口下水道堵了，{when}污水冒出来了",
    "{b}栋{u}单元电梯{when}又卡在{f}楼了，麻烦叫维保来看下",
    "{estate}垃圾站的垃圾{n}天没人清了，臭得很",
    "有人在{b}栋{u}单元楼道里给电动车充电，{when}看到飞线拉到{f}楼",
    "{when}十一点了{b}栋{f}楼还有人在装修，电钻吵得睡不着",
    "{estate}{b}栋旁边停了一台僵尸车，{n}个月没动了",
    "{b}栋{f}楼{room}漏水到楼下{person}家，找他好几次都不理",
    "{estate}{b}栋有个独居老人{person}{n}天没下楼了，打电话也不接",
    "{estate}{b}号楼{u}单元门禁{when}刷卡刷不开了",
    "{estate}{b}栋外墙瓷砖往下掉，{when}差点砸到{person}",
    "{estate}{when}停水了，{b}栋{f}楼以上一滴水都没有",
]
QUERIES = [
    "查询 {ticket}", "#{ticket} 进度", "工单{ticket}处理完了吗", "{when}报的{b}栋楼道灯，什么时候来修啊",
    "{estate}{b}栋那个下水道的事有回音冇", "我{when}反映的{b}栋电梯怎么样了",
]
LONG = (
    "各位领导，我实在是冇得办法哒才在群里说。{estate}{b}栋后面那个垃圾站原来讲好每天早上拉走，现在{n}天才来一趟，"
    "{when}那个味道隔着两栋楼都闻得到，苍蝇蚊子一团一团的。我们{b}栋{u}单元几个老人家自己拿扫把去扫过，"
    "扫了又堆起来。打环卫电话讲车子坏哒，打物业电话讲不归他们管。{person}讲找社区，到底归哪个管咯？拜托哒！"
)
# What a group repeats word for word all day.
ACKS = ["收到", "好的", "收到！", "好的好的", "谢谢", "辛苦了", "👍", "[强]", "[抱拳]", "收到，谢谢", "好", "嗯嗯"]

MIX = (("chat", 0.70), ("report", 0.20), ("query", 0.07), ("long", 0.03))


def measure_repeat_share(texts: Sequence[str]) -> float:
    """The share of texts whose exact text appeared earlier in the sequence."""
    seen: set[str] = set()
    repeats = 0
    for t in texts:
        repeats += t in seen
        seen.add(t)
    return repeats / len(texts) if texts else 0.0


def lccc_texts(path: Path = LCCC) -> list[str]:
    """The LCCC lines, read now (never copied into the repo); empty when the file is absent."""
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def repeat_basis() -> dict:
    """The repeat share to mix in, and where it comes from."""
    lines = lccc_texts()
    measured = measure_repeat_share(lines) if lines else None
    if measured is not None and measured >= ASSUMED_REPEATS:
        return {"lccc_repeat_share": measured, "stream_repeat_share": measured, "basis": "measured on LCCC"}
    why = "LCCC absent" if measured is None else f"LCCC measures {measured:.1%} (deduplicated upstream)"
    return {"lccc_repeat_share": measured, "stream_repeat_share": ASSUMED_REPEATS, "basis": f"{why}; assumed {ASSUMED_REPEATS:.0%}"}


def _when(rng: random.Random) -> str:
    hour = rng.randint(1, 12)
    minute = rng.choice(["", "", "半", "一刻", "三刻", f"{CN[rng.randint(1, 5)]}十分", f"{rng.randint(10, 59)}分"])
    return f"{rng.choice(DAYS)}{rng.choice(PARTS)}{CN[hour] if hour <= 10 else '十' + CN[hour - 10]}点{minute}"


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(TITLES)


def fill(template: str, rng: random.Random, estates: Sequence[str] = ESTATES) -> str:
    b = rng.randint(1, 40)
    return template.format(
        estate=rng.choice(estates),
        b=b if rng.random() < 0.85 or b > 10 else CN[b],
        u=rng.randint(1, 6),
        f=rng.randint(1, 18),
        room=f"{rng.randint(1, 18)}0{rng.randint(1, 4)}",
        n=rng.randint(2, 9),
        person=_person(rng),
        when=_when(rng),
        ticket=f"{rng.randint(0, 9999):04d}",
    )


def compose(kind: str, rng: random.Random, estates: Sequence[str] = ESTATES) -> str:
    pool = {"chat": CHAT, "report": REPORTS, "query": QUERIES, "long": [LONG]}[kind]
    body = fill(rng.choice(pool), rng, estates)
    if kind in ("chat", "report"):
        body = fill(rng.choice(OPENERS), rng, estates) + body + rng.choice(CLOSERS)
    return body


def texts(
    n: int, *, seed: int = 20261204, repeat_share: float | None = None, real_share: float = 0.0,
    estates: Sequence[str] = ESTATES, kinds: Sequence[tuple[str, float]] = MIX,
) -> list[str]:
    """`n` texts: composed ones, `repeat_share` exact repeats (acks, or an earlier text), `real_share` LCCC lines."""
    rng = random.Random(seed)
    share = repeat_basis()["stream_repeat_share"] if repeat_share is None else repeat_share
    real = lccc_texts() if real_share > 0 else []
    rng.shuffle(real)
    names, weights = [k for k, _ in kinds], [w for _, w in kinds]
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        r = rng.random()
        if r < share:
            text = rng.choice(ACKS) if rng.random() < 0.7 or not out else rng.choice(out)
        elif real and r < share + real_share:
            text = real.pop()
        else:
            text = compose(rng.choices(names, weights)[0], rng, estates)
            if text in seen:  # keep the stream distinct outside the chosen repeats
                continue
        out.append(text)
        seen.add(text)
    return out


ROOMS = ["松涛里邻长群", "建设小区邻长群", "湘钢一村楼栋群", "书院花园邻长群"]


def generate(n: int, *, seed: int = 20261204, **kw) -> Iterator[dict]:
    """Like bench.messages.generate, as {"id","room","sender","text"}, on distinct texts."""
    rng = random.Random(seed + 1)
    for i, text in enumerate(texts(n, seed=seed, **kw)):
        yield {"id": f"distinct-{seed}-{i}", "room": rng.choice(ROOMS), "sender": _person(rng), "text": text}


def main(argv: list[str] | None = None) -> int:
    n = int((argv if argv is not None else sys.argv[1:] or ["20000"])[0])
    basis = repeat_basis()
    stream = texts(n)
    distinct = len(set(stream)) / len(stream)
    lccc = basis["lccc_repeat_share"]
    print(f"LCCC exact-repeat share: {'absent' if lccc is None else f'{lccc:.2%}'}")
    print(f"stream: {n:,} messages, {distinct:.2%} distinct texts, exact-repeat share {measure_repeat_share(stream):.2%} "
          f"(target {basis['stream_repeat_share']:.2%}: {basis['basis']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
