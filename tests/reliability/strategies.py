"""Hostile and malformed text for the property tests: every kind of input a WeChat group can carry, and worse."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from bench.messages import CHAT, LONG, QUERIES, REPORTS

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
CONTROLS = "".join(map(chr, range(32))) + "\x7f\u0085\u2028\u2029"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FRAGMENTS = [
    *REPORTS, *QUERIES, *CHAT,
    "<script>alert(1)</script>", "<b>4栋</b>楼道灯坏了", "[图片]", "<msg><appmsg type=\"57\"/></msg>", "&lt;&amp;&#x4e00;",
    "'; DROP TABLE ticket; --", "\" OR 1=1 --", "Robert'); DELETE FROM inbox;--", "%s%s%n", "{0}{1}{name}",
    '{"id": "x", "room": null, "text": "查询 0001"}', "[1, 2, {\"a\": null}]", "null", "\\u0000\\ud800",
    "@邻聚小助手", "@邻聚小助手\u2005查询 0023", "@所有人 ", "派单 0023 物业", "办结 #0001 已处理", "撤销 0001",
    "工单 超期", "满意", "不满意 0002", "登记 来源:会议 3栋电梯坏了",
    "１２栋楼道灯坏了", "十二栋二单元三〇二", "99999999999999999999999栋", "0-0-0", "#00000000", "查询 " + "9" * 40,
    "Ｆｕｌｌ－ｗｉｄｔｈ", "ﾊﾝｶｸ", "العربية", "עברית", "русский текст", "한국어", "日本語のテキスト", "ελληνικά",
    "🙏🏻👨‍👩‍👧‍👦🏳️‍🌈", "臺灣繁體字樓道燈壞了", "煤气泄漏了！！！", "着火了 快来人", "电话13812345678",
]


def _fill(template: str) -> str:
    try:
        return template.format(b=4, u=2, name="王姐", estate="建设小区", ticket="0023")
    except (IndexError, KeyError, ValueError):
        return template


pieces = st.one_of(
    st.text(max_size=40),  # arbitrary Unicode
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.text(alphabet=ZERO_WIDTH + CONTROLS + BIDI, min_size=1, max_size=8),
    st.sampled_from(FRAGMENTS).map(_fill),
    st.from_regex(r"[0-9０-９一二三四五六七八九十]{1,30}(栋|号楼|单元|室|号)", fullmatch=True),
    st.text(alphabet="0123456789０１２３４５６７８９一二三四五六七八九十百栋单元号楼室-#＃ 查询", max_size=40),
)
texts = st.lists(pieces, max_size=8).map("".join)
# Longer than the 20,000 characters the app reads of one message, and not much more (the classifier is not the subject).
long_texts = st.builds(
    lambda piece, n, tail: (piece * n)[:30_000] + tail, st.sampled_from([LONG, "楼道灯坏了", "𠀀", "\u200b", "a"]),
    st.integers(200, 30_000), texts,
)
any_text = st.one_of(texts, texts, texts, long_texts)
names = st.one_of(st.sampled_from(["王贵宝", "刘主任", "", " "]), st.text(max_size=300), texts)
KINDS = ["text", "image", "voice", "video", "file", "emoticon", "red_packet", "link", "mini_program", "other"]
kinds = st.sampled_from(KINDS)


def nasty_lines(n: int, seed: int) -> list[str]:
    """`n` JSON Lines of hostile input for the console channel, plus lines that are not valid input at all."""
    import json

    rng = random.Random(seed)

    def text() -> str:
        parts = []
        for _ in range(rng.randint(0, 6)):
            r = rng.random()
            if r < 0.4:
                parts.append(_fill(rng.choice(FRAGMENTS)))
            elif r < 0.55:
                parts.append(chr(rng.randint(0xD800, 0xDFFF)))
            elif r < 0.7:
                parts.append("".join(rng.choice(ZERO_WIDTH + CONTROLS + BIDI) for _ in range(rng.randint(1, 5))))
            elif r < 0.9:
                parts.append("".join(chr(rng.randint(32, 0x2FFFF)) for _ in range(rng.randint(1, 20))))
            else:
                parts.append(rng.choice(["楼道灯坏了", LONG]) * rng.randint(100, 800))
        return "".join(parts)

    lines = []
    for i in range(n):
        obj = {"id": f"nasty-{seed}-{i}", "room": rng.choice(["松涛里邻长群", "书院路社区两委群", None, "", text()[:300]]),
               "sender": rng.choice(["王贵宝", "刘主任", text()[:300]]), "text": text()}
        if rng.random() < 0.1:
            obj["kind"] = rng.choice(KINDS + ["x" * 100, 7])
        plain = json.dumps(obj, ensure_ascii=False)
        # Lone surrogates only travel as \\ud800 escapes: valid JSON, which decodes to them again.
        surrogates = any(0xD800 <= ord(c) < 0xE000 for c in plain)
        lines.append(json.dumps(obj) if surrogates or rng.random() < 0.3 else plain)
    junk = ["not json", "[1,2,3]", "42", '{"id": "junk-1"', "\x00\x01", '{"id": {}, "text": 123, "room": []}',
            '{"id": null, "text": null}', '{"text": "' + "无id的消息" + '"}', "\ufeff{}", '{"id": "junk-2", "text": ["a"]}']
    for line in junk:
        lines.insert(rng.randint(0, len(lines)), line)
    return lines
