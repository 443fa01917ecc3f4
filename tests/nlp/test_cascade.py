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


class _Pred:
    def __init__(self, intent: str, p: float, category: str | None = None, cp: float = 0.0) -> None:
        self.intent, self.intent_prob, self.category, self.category_prob = intent, p, category, cp


def test_a_model_sure_of_chat_holds_a_ticket_back_and_drops_a_candidate_when_very_sure():
    from nlp.cascade import CascadeThresholds, combine

    t = CascadeThresholds(rules_confident=0.7, model_confident=0.8)
    ticket = Classification(intent="report", category="repair", confidence=0.9, decision="ticket")
    assert combine(ticket, _Pred("chat", 0.85), thresholds=t).decision == "review"
    dropped = combine(ticket, _Pred("chat", 0.95), thresholds=t)
    assert (dropped.decision, dropped.intent, dropped.category, dropped.stage) == ("none", "chat", None, "model")
    assert combine(ticket, _Pred("chat", 0.6), thresholds=t) is ticket  # not sure enough: the rules stand


def test_a_model_sure_of_a_report_files_a_candidate_but_only_holds_what_the_rules_called_chat():
    from nlp.cascade import CascadeThresholds, combine

    t = CascadeThresholds(rules_confident=0.7, model_confident=0.8)
    review = Classification(intent="report", category="repair", confidence=0.5, decision="review")
    assert combine(review, _Pred("report", 0.95, "drainage", 0.9), thresholds=t).decision == "ticket"
    assert combine(review, _Pred("report", 0.85, "drainage", 0.9), thresholds=t).decision == "review"
    unsure_chat = Classification(intent="chat", confidence=0.5)
    held = combine(unsure_chat, _Pred("report", 0.99, "drainage", 0.9), thresholds=t)
    assert (held.decision, held.category) == ("review", "drainage")  # never a ticket on the model alone
    sure_chat = Classification(intent="chat", confidence=0.9)
    assert combine(sure_chat, _Pred("report", 0.99, "drainage", 0.9), thresholds=t) is sure_chat


def test_the_late_stage_confirms_or_drops_a_candidate_and_only_holds_what_it_adds():
    from nlp.cascade import after_late

    review = Classification(intent="report", category="repair", confidence=0.4, decision="review")
    llm_report = Classification(intent="report", category="repair", confidence=0.9, stage="llm")
    llm_chat = Classification(intent="chat", confidence=0.9, stage="llm")
    assert after_late(review, llm_report).decision == "ticket"
    assert after_late(review, llm_chat).decision == "none"
    unsure_chat = Classification(intent="chat", confidence=0.3)
    assert after_late(unsure_chat, llm_report).decision == "review"
    ticket = Classification(intent="report", category="repair", confidence=0.4, decision="ticket")
    assert after_late(ticket, llm_chat).decision == "review"


def test_a_decision_must_go_with_its_intent():
    import pytest

    assert Classification(intent="report").decision == "ticket"
    assert Classification(intent="query").decision == "reply"
    with pytest.raises(ValueError):
        Classification(intent="chat", decision="ticket")


class _Model:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def predict(self, texts):
        self.asked.extend(texts)
        return [_Pred("chat", 0.99) for _ in texts]


class _SureTicket:
    def classify(self, text: str) -> Classification:
        return Classification(intent="report", category="repair", confidence=0.95, decision="ticket")


def test_a_model_trained_on_staff_decisions_reviews_every_ticket_one_from_a_file_only_unsure_ones():
    from nlp.cascade import Cascade

    staff_taught, file_taught = _Model(), _Model()
    assert Cascade(_SureTicket(), model=staff_taught, model_reviews_tickets=True).classify_sync("x").decision == "none"
    assert Cascade(_SureTicket(), model=file_taught).classify_sync("x").decision == "ticket"
    assert staff_taught.asked == ["x"] and file_taught.asked == []
