"""The cascade remembers the rules' answer for short texts, and only for them."""

from __future__ import annotations

from nlp.cascade import SHORT, Cascade
from nlp.types import Classification


class CountingRules:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def classify(self, text: str) -> Classification:
        self.calls.append(text)
        return Classification(intent="report" if "坏" in text else "chat", confidence=0.9)


async def test_short_texts_are_classified_once_and_long_ones_every_time():
    rules = CountingRules()
    cascade = Cascade(rules, memo_size=2)
    long_text = "4栋楼道灯坏了" * 5
    assert len(long_text) > SHORT
    answers = [await cascade.classify(t) for t in ["收到", "收到", "灯坏了", "收到", long_text, long_text]]
    assert [a.intent for a in answers] == ["chat", "chat", "report", "chat", "report", "report"]
    assert answers[0] is answers[1]  # the same (immutable) answer
    assert rules.calls == ["收到", "灯坏了", long_text, long_text]


async def test_the_memory_is_bounded_and_forgets_the_least_recent():
    rules = CountingRules()
    cascade = Cascade(rules, memo_size=2)
    for t in ["甲", "乙", "甲", "丙", "乙", "甲"]:
        await cascade.classify(t)
    # 甲 was used just before 丙 came in, so 乙 was forgotten; then 乙 pushed out 甲.
    assert rules.calls == ["甲", "乙", "丙", "乙", "甲"]
    assert len(cascade._memo) == 2


async def test_memo_off_classifies_every_time():
    rules = CountingRules()
    cascade = Cascade(rules, memo_size=0)
    for _ in range(3):
        await cascade.classify("收到")
    assert rules.calls == ["收到"] * 3
