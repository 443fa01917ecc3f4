"""The classifier cascade: rules first, a trained model when the rules are unsure, a late (LLM) stage last."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from nlp.types import INTENT_OF_DECISION, Classification, Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CascadeThresholds:
    """When each stage's answer is trusted; below `late_below` the late (LLM) stage is asked."""

    rules_confident: float = 0.6
    model_confident: float = 0.55
    late_below: float = 0.5


class RulesStage(Protocol):
    def classify(self, text: str) -> Classification: ...


class LateStage(Protocol):
    """A stage consulted only for unsure messages; returns None to keep the current answer."""

    async def refine(self, text: str, current: Classification) -> Classification | None: ...


def _as(rule: Classification, decision: Decision, **changes: Any) -> Classification:
    intent = INTENT_OF_DECISION[decision]
    if intent != "report":
        changes.update(category=None, alternatives=(), summary="", urgent=False)
    return replace(rule, decision=decision, intent=intent, stage="model", **changes)


def combine(rule: Classification, pred: Any | None, *, thresholds: CascadeThresholds) -> Classification:
    """The trained model's say on the rules' decision.

    The model is trained on what staff decided (误报 and 忽略 as chat, confirmed and handled tickets as reports),
    so it may hold back what the rules would file: a ticket it is sure is chat is held for review, or dropped
    when it is very sure; a candidate it is very sure of becomes a ticket. Where the rules are unsure of
    chat, a report the model is sure of is held for review, never filed at once. Its category replaces the
    rules' when it is more sure. The rules' location, urgency and ticket numbers are kept: those are
    extraction, not classification.
    """
    if pred is None:
        return rule
    t = thresholds.model_confident
    very = (1.0 + t) / 2.0
    intent_p = float(pred.intent_prob or 0.0)
    cat_p = float(pred.category_prob or 0.0)
    d = rule.decision
    unsure = rule.confidence < thresholds.rules_confident
    if d in ("ticket", "review") and pred.intent == "chat" and intent_p >= t:
        held: Decision = "review" if d == "ticket" and intent_p < very else "none"
        return _as(rule, held, confidence=round(intent_p, 4))
    if pred.intent == "report" and intent_p >= t:
        category = pred.category if pred.category and cat_p >= t else (rule.category or pred.category or "other")
        if d == "none" and unsure:
            return _as(rule, "review", category=category, confidence=round(min(intent_p, 0.5), 4))
        if d == "review" and intent_p >= very:
            return _as(rule, "ticket", category=category, confidence=round(intent_p * cat_p**0.5, 4))
    if d == "none" and unsure and pred.intent == "query" and intent_p >= t and intent_p > rule.confidence:
        return _as(rule, "reply", confidence=round(intent_p, 4))
    if (
        rule.intent == "report"
        and pred.category
        and cat_p >= t
        and cat_p > rule.confidence
        and pred.category != rule.category
    ):
        return replace(rule, category=pred.category, confidence=round(cat_p * rule.confidence**0.5, 4), stage="model")
    return rule


def after_late(current: Classification, refined: Classification) -> Classification:
    """The late (LLM) stage's answer, with the decision precision asks for: it confirms a held candidate as
    a ticket or drops it; a ticket it calls chat, or a report the earlier stages did not see, is held for
    staff review rather than acted on."""
    if refined.intent == "report":
        decision: Decision = "ticket" if current.decision in ("ticket", "review") else "review"
    elif refined.intent == "chat" and current.decision == "ticket":
        return replace(current, decision="review", stage=refined.stage, confidence=refined.confidence)
    else:
        decision = "reply" if refined.intent == "query" else "none"
    return replace(refined, decision=decision)


SHORT = 20  # characters: the messages a group repeats ("收到", "好的", "谢谢刘主任", "[强][强]")


class Cascade:
    """Runs the stages in order of cost; each decision keeps its stage and confidence.

    The rules and the model are pure functions of the text, so `classify` remembers their answer for the
    last `memo_size` distinct short texts: a group says "收到" and "好的" all day. (`classify_sync` and
    `classify_many_sync` always compute, which is what the classify benchmark measures.)
    """

    def __init__(
        self,
        rules: RulesStage,
        *,
        model: Any | None = None,
        model_reviews_tickets: bool = False,
        late: LateStage | None = None,
        thresholds: CascadeThresholds = CascadeThresholds(),
        memo_size: int = 4096,
    ) -> None:
        self.rules = rules
        self.model = model
        self.model_reviews_tickets = model_reviews_tickets
        self.late = late
        self.thresholds = thresholds
        self.memo_size = memo_size
        self._memo: OrderedDict[str, Classification] = OrderedDict()

    def early(self, text: str) -> Classification:
        """Rules and model (no LLM), remembered for short texts (Classification is immutable, so sharing is safe)."""
        if len(text) > SHORT or self.memo_size <= 0:
            return self.classify_sync(text)
        hit = self._memo.get(text)
        if hit is not None:
            self._memo.move_to_end(text)
            return hit
        answer = self.classify_sync(text)
        self._memo[text] = answer
        if len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return answer

    def _asks_model(self, rule: Classification) -> bool:
        """The model has a say on every candidate and wherever the rules are unsure, tickets included. A model
        trained on staff's decisions (`model_reviews_tickets`: it knows what they marked 误报 here) is asked
        about every ticket; one trained from a file only where the rules are unsure, since its jieba pass
        costs more than the rules themselves on a report-heavy stream."""
        if rule.decision == "review" or rule.confidence < self.thresholds.rules_confident:
            return True
        return self.model_reviews_tickets and rule.decision == "ticket"

    def classify_sync(self, text: str) -> Classification:
        rule = self.rules.classify(text)
        if self.model is None or not self._asks_model(rule):
            return rule
        [pred] = self.model.predict([text])
        return combine(rule, pred, thresholds=self.thresholds)

    def classify_many_sync(self, texts: Sequence[str]) -> list[Classification]:
        rules = [self.rules.classify(t) for t in texts]
        if self.model is None:
            return rules
        unsure = [i for i, r in enumerate(rules) if self._asks_model(r)]
        if unsure:
            preds = self.model.predict([texts[i] for i in unsure])
            for i, p in zip(unsure, preds, strict=True):
                rules[i] = combine(rules[i], p, thresholds=self.thresholds)
        return rules

    async def classify(self, text: str) -> Classification:
        current = self.early(text)
        return await self.refine(text, current) if self.wants_late(current) else current

    def wants_late(self, current: Classification) -> bool:
        """Whether the late (LLM) stage is to be asked about this earlier answer."""
        return self.late is not None and current.confidence < self.thresholds.late_below

    async def refine(self, text: str, current: Classification) -> Classification:
        """The late stage's say on an earlier answer (the earlier answer if it has none, or fails)."""
        assert self.late is not None
        try:
            refined = await self.late.refine(text, current)
        except Exception:  # the late stage is optional help; a bug there must not lose the message
            log.exception("late classifier stage failed; keeping the earlier answer")
            return current
        return current if refined is None else after_late(current, refined)
