"""The classifier cascade: rules first, a trained model when the rules are unsure, a late (LLM) stage last."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from nlp.types import Classification

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


def combine(rule: Classification, pred: Any | None, *, thresholds: CascadeThresholds) -> Classification:
    """Rules when they are confident; otherwise what the model is more sure of: its intent, its category, both.

    The rules' location, urgency and ticket numbers are kept: those are extraction, not classification.
    """
    if pred is None or rule.confidence >= thresholds.rules_confident:
        return rule
    t = thresholds.model_confident
    intent_p = float(pred.intent_prob or 0.0)
    cat_p = float(pred.category_prob or 0.0)
    took_intent = intent_p >= t and intent_p > rule.confidence and pred.intent != rule.intent
    intent = pred.intent if took_intent else rule.intent
    if intent != "report":
        if not took_intent:
            return rule
        return replace(rule, intent=intent, category=None, confidence=round(intent_p, 4), stage="model")
    if took_intent:  # the rules did not think it a report: the model's category is all there is
        category = pred.category or "other"
        confidence = intent_p * cat_p**0.5
    elif pred.category and cat_p >= t and cat_p > rule.confidence and pred.category != rule.category:
        category, confidence = pred.category, cat_p * max(intent_p, rule.confidence) ** 0.5
    else:
        return rule
    return replace(rule, intent=intent, category=category, confidence=round(confidence, 4), stage="model")


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
        late: LateStage | None = None,
        thresholds: CascadeThresholds = CascadeThresholds(),
        memo_size: int = 4096,
    ) -> None:
        self.rules = rules
        self.model = model
        self.late = late
        self.thresholds = thresholds
        self.memo_size = memo_size
        self._memo: OrderedDict[str, Classification] = OrderedDict()

    def _early(self, text: str) -> Classification:
        """Rules and model, remembered for short texts (Classification is immutable, so sharing it is safe)."""
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

    def classify_sync(self, text: str) -> Classification:
        rule = self.rules.classify(text)
        if self.model is None or rule.confidence >= self.thresholds.rules_confident:
            return rule
        [pred] = self.model.predict([text])
        return combine(rule, pred, thresholds=self.thresholds)

    def classify_many_sync(self, texts: Sequence[str]) -> list[Classification]:
        rules = [self.rules.classify(t) for t in texts]
        if self.model is None:
            return rules
        unsure = [i for i, r in enumerate(rules) if r.confidence < self.thresholds.rules_confident]
        if unsure:
            preds = self.model.predict([texts[i] for i in unsure])
            for i, p in zip(unsure, preds, strict=True):
                rules[i] = combine(rules[i], p, thresholds=self.thresholds)
        return rules

    async def classify(self, text: str) -> Classification:
        current = self._early(text)
        if self.late is None or current.confidence >= self.thresholds.late_below:
            return current
        try:
            refined = await self.late.refine(text, current)
        except Exception:  # the late stage is optional help; a bug there must not lose the message
            log.exception("late classifier stage failed; keeping the earlier answer")
            return current
        return refined if refined is not None else current
