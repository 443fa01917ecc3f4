"""Rules-and-lexicon classifier: the offline first stage of the cascade (lexicon lean, then nlp.decision)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from nlp.decision import TICKET_CORE, Signals, decide
from nlp.entities import extract_location, extract_ticket_numbers
from nlp.evidence import EvidenceFinder
from nlp.literals import LiteralGate, WordFinder
from nlp.segment import TextProcessor, load_lexicon
from nlp.summary import summarize
from nlp.types import INTENT_OF_DECISION, Category, Classification, Intent, Taxonomy
from nlp.urgency import urgent_reason

# Thresholds on the lexicon scores; tuned on half of the dev set, checked on the other half.
QUERY_MIN = 3.0
REPORT_MIN = 2.0
# Chat wins when its evidence reaches CHAT_MIN and outweighs the evidence of a problem: the generic
# complaint/request words count fully, the category's topic words only in part, since notices, thanks
# and small talk name lifts, drains and dogs too without complaining about them.
CHAT_MIN = 1.5
CHAT_RATIO = 0.8
TOPIC_WEIGHT = 0.4
# Per step of a category's priority (TAXONOMY.md precedence), added when the category has any evidence.
PRIORITY_STEP = 0.15
# A message held for staff review that the lexicons did not take for a report is one the rules are unsure of:
# the later stages (the LLM) are asked about it. (The trained model has a say on every candidate.)
REVIEW_CONFIDENCE = 0.45
_WEIGHT = re.compile(r"^(.*):(\d+(?:\.\d+)?)$", re.S)
# WeChat placeholders ([红包], [图片]), emoji and punctuation carry no problem; what is left decides
# whether a message has any words at all.
_NOISE = re.compile(r"\[[^\[\]]{1,8}\]|[^\w]|_", re.UNICODE)


# "修好了, 但是又坏了": whatever follows a contrast is a new problem, so "already solved" does not hold.
_CONTRAST = re.compile(r"(但是|可是|不过|结果又|又坏|又堵|又漏|又开始|还是不行|还是没|没几天|才修好)")


def parse_weighted(entry: str, default: float = 1.0) -> tuple[str, float]:
    """Split "word:3" into ("word", 3.0); entries without a weight get the default."""
    m = _WEIGHT.match(entry.strip())
    if m:
        return m.group(1).strip(), float(m.group(2))
    return entry.strip(), default


def taxonomy_from_dicts(items: Iterable[dict[str, Any]]) -> Taxonomy:
    """Build a Taxonomy from config dicts (code, name, description, keywords, sla_days, priority)."""
    cats = []
    for item in items:
        cats.append(
            Category(
                code=str(item["code"]),
                name=str(item.get("name") or item["code"]),
                description=str(item.get("description") or ""),
                keywords=tuple(str(k) for k in item.get("keywords") or ()),
                sla_days=int(item.get("sla_days", 7)),
                priority=int(item.get("priority", 0)),
            )
        )
    return Taxonomy(categories=tuple(cats))


class WeightedLexicon:
    """Weighted regular expressions from a data file; each weight counts at most `cap` matches.

    Every pattern is compiled on its own: `re` scans quickly for a pattern's possible first characters,
    which an alternation of many patterns defeats (twice as slow on these lexicons). A literal gate
    first picks the few patterns that can match at all, so most are never run.
    """

    def __init__(self, lines: Iterable[str], cap: int = 2) -> None:
        groups: dict[float, list[re.Pattern[str]]] = {}
        for line in lines:
            pattern, weight = parse_weighted(line)
            groups.setdefault(weight, []).append(re.compile(pattern))
        # Bit i stands for the i-th pattern in group order; each group keeps its patterns' bits.
        self.patterns = tuple(p for ps in groups.values() for p in ps)
        self._gate: LiteralGate | None = None  # built on first use: a lexicon in a shared gate never needs it
        self._shift = 0  # where this lexicon's bits start in a gate shared with others (share_gate)
        bit = 1
        out = []
        for w, ps in groups.items():
            pats = []
            for p in ps:
                pats.append((bit, p))
                bit <<= 1
            out.append((tuple(pats), sum(b for b, _ in pats), w))
        self._groups = tuple(out)
        self._cap = cap

    def score(self, text: str, live: int | None = None) -> float:
        """`live`: the candidates of `text` from the gate of share_gate, to save this lexicon's scan."""
        total = 0.0
        cap = self._cap
        if live is None:
            if self._gate is None:
                self._gate = LiteralGate(self.patterns)
            live = self._gate.candidates(text)
        else:
            live >>= self._shift
        for pats, group_bits, weight in self._groups:
            if not live & group_bits:
                continue  # no pattern of this weight can match: it would add 0
            spans: list[tuple[int, int]] = []
            for bit, pat in pats:
                if not live & bit:
                    continue
                for m in pat.finditer(text):
                    span = m.span()
                    # Two patterns of one weight matching the same words count once.
                    if not any(a < span[1] and span[0] < b for a, b in spans):
                        spans.append(span)
                    if len(spans) >= cap:
                        break
                if len(spans) >= cap:
                    break
            total += weight * len(spans)
        return total


def share_gate(lexicons: Sequence[WeightedLexicon]) -> LiteralGate:
    """One gate for several lexicons: a text is then scanned once for all of them."""
    patterns: list[re.Pattern[str]] = []
    for lex in lexicons:
        lex._shift = len(patterns)
        patterns.extend(lex.patterns)
    return LiteralGate(patterns)


class _CategoryMatcher:
    """Scores each category from its configured keywords: longest literal first, plus "~regex" entries."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.codes = taxonomy.codes()
        self.priority = tuple(c.priority for c in taxonomy.categories)
        literal: dict[str, list[tuple[int, float]]] = {}
        regexes: list[tuple[re.Pattern[str], int, float]] = []
        for i, cat in enumerate(taxonomy.categories):
            for entry in cat.keywords:
                word, weight = parse_weighted(entry)
                if not word:
                    continue
                if word.startswith("~"):
                    regexes.append((re.compile(word[1:]), i, weight))
                else:
                    entries = literal.setdefault(word.lower(), [])
                    # A word listed twice in one category counts once, at its larger weight.
                    entries[:] = [(j, w) for j, w in entries if j != i] + [
                        (i, max([weight] + [w for j, w in entries if j == i]))
                    ]
        self._literal = literal
        self._regexes = tuple(regexes)
        self._regex_gate = LiteralGate([pat for pat, _, _ in regexes])
        self._words = WordFinder(literal)

    def scores(self, text: str) -> list[float]:
        out = [0.0] * len(self.codes)
        if not self._literal and not self._regexes:
            return out
        lowered = text.lower()
        size = max(len(lowered), 1)
        seen: set[str] = set()
        touched: set[int] = set()  # categories given any weight; only they can get the priority step
        for start, length in self._words.longest(lowered):
            word = lowered[start : start + length]
            if word in seen:  # "狗屎狗屎狗屎" is one complaint about dog mess, not three
                continue
            seen.add(word)
            # The first problem mentioned decides (TAXONOMY.md): earlier words weigh a little more.
            boost = 1.0 + 0.3 * (1.0 - start / size)
            for i, w in self._literal[word]:
                out[i] += w * boost
                touched.add(i)
        live = self._regex_gate.candidates(lowered)
        bit = 1
        for pat, i, w in self._regexes:
            if live & bit and pat.search(lowered):
                out[i] += w
                touched.add(i)
            bit <<= 1
        for i in touched:
            if out[i] > 0:
                out[i] += PRIORITY_STEP * self.priority[i]
        return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class RuleClassifier:
    """Decides intent, category, urgency, place and ticket numbers from lexicons; says how sure it is."""

    stage = "rules"

    def __init__(self, taxonomy: Taxonomy, processor: TextProcessor, estates: Sequence[str] = ()) -> None:
        self.taxonomy = taxonomy
        self.processor = processor
        self.estates = tuple(estates)
        self._categories = _CategoryMatcher(taxonomy)
        self._query = WeightedLexicon(load_lexicon("intent_query.txt"))
        self._chat = WeightedLexicon(load_lexicon("intent_chat.txt"))
        self._report = WeightedLexicon(load_lexicon("intent_report.txt"))
        self._done = WeightedLexicon(load_lexicon("intent_done.txt"))
        self._gate = share_gate((self._query, self._chat, self._report, self._done))
        self._evidence = EvidenceFinder()
        codes = taxonomy.codes()
        self._fallback = "other" if "other" in codes else (codes[-1] if codes else None)

    def explain(self, text: str) -> dict[str, Any]:
        """The raw scores behind a decision, for tuning and for the operator's debug command."""
        t = self.processor.normalize(text)
        cats = self._categories.scores(t)
        return {
            "text": t,
            "query": self._query.score(t),
            "chat": self._chat.score(t),
            "report": self._report.score(t),
            "categories": {c: round(s, 2) for c, s in zip(self._categories.codes, cats, strict=True) if s},
            "tickets": extract_ticket_numbers(t),
            "evidence": self._evidence.find(t, extract_location(t, self.estates)).as_dict(),
        }

    def classify(self, text: str) -> Classification:
        t = self.processor.normalize(text)
        location = extract_location(t, self.estates)
        tickets = extract_ticket_numbers(t)
        core = _NOISE.sub("", t)
        if not core:
            # Only emoji, stickers, [红包] or [图片].
            return Classification(intent="chat", confidence=0.97, stage=self.stage, location=location)

        live = self._gate.candidates(t)
        q = self._query.score(t, live)
        if tickets:
            # A ticket number is a strong sign of a query; a bare number with 查询/进度 settles it.
            q += 2.5 if len(core) <= 12 else 1.5
        c = self._chat.score(t, live)
        cats = self._categories.scores(t)
        order = sorted(range(len(cats)), key=lambda i: cats[i], reverse=True)
        top = cats[order[0]] if order else 0.0
        second = cats[order[1]] if len(order) > 1 else 0.0
        rep = self._report.score(t, live)
        r = top + rep
        urgent = urgent_reason(t, normalized=True) is not None

        done = self._done.score(t, live)
        lean: Intent
        if q >= QUERY_MIN and q >= c - 1:
            lean = "query"
            conf = min(0.97, 0.45 + 0.08 * q)
        elif done and not _CONTRAST.search(t):
            lean = "chat"
            conf = 0.85
            c += done
        elif urgent and r >= REPORT_MIN:
            lean = "report"
            conf = 0.9
        elif c >= CHAT_MIN and c >= CHAT_RATIO * (rep + TOPIC_WEIGHT * top):
            lean = "chat"
            conf = min(0.95, _sigmoid(c - CHAT_RATIO * (rep + TOPIC_WEIGHT * top)))
        elif r >= REPORT_MIN + 1:
            lean = "report"
            conf = _sigmoid(0.8 * (r - c) - 1.5)
            if rep < 1:
                # Category words without any complaint or request words: often a notice or small talk.
                conf *= 0.7
        elif r >= REPORT_MIN and len(core) >= 6:
            lean = "report"
            conf = 0.5
        else:
            lean = "chat"
            conf = 0.55 if r > 0 else 0.75

        evidence = self._evidence.find(t, location)
        decision = decide(
            Signals(
                lean=lean,
                evidence=evidence,
                query=q,
                chat=c,
                done=bool(done) and not _CONTRAST.search(t),
                topic=top,
                urgent=urgent,
                has_ticket_number=bool(tickets),
                text=t,
            )
        )
        intent = INTENT_OF_DECISION[decision]
        strength = evidence.strength()
        if decision == "ticket":
            conf = min(0.97, max(conf, 0.7 + 0.04 * (strength - TICKET_CORE)))
        elif decision == "review" and lean != "report":
            # The lexicons did not see a report here: the later stages are worth asking.
            conf = min(conf, REVIEW_CONFIDENCE)
        elif intent != lean:  # silence on a message the lexicons took for a report or query
            conf = 0.6

        category = None
        alternatives: tuple[str, ...] = ()
        summary = ""
        if intent == "report":
            if top > 0:
                category = self._categories.codes[order[0]]
                alternatives = tuple(
                    self._categories.codes[i] for i in order[1:4] if cats[i] > 0 and cats[i] >= top * 0.5
                )
                cat_conf = min(1.0, top / 4.0) * (top / (top + second))
            else:
                category = self._fallback
                cat_conf = 0.2
            conf = conf * (0.4 + 0.6 * cat_conf)
            summary = summarize(t, self.taxonomy.name_of(category), location)
        else:
            urgent = False
        return Classification(
            intent=intent,
            category=category,
            confidence=round(max(0.0, min(1.0, conf)), 3),
            stage=self.stage,
            urgent=urgent,
            location=location,
            ticket_numbers=tickets,
            summary=summary,
            alternatives=alternatives,
            decision=decision,
            strength=round(strength, 2),
            core=evidence.core,
        )
