"""Urgency: does a message describe danger to people right now?"""

from __future__ import annotations

import functools
import re

from nlp.literals import LiteralGate
from nlp.normalize import normalize
from nlp.segment import load_lexicon

# "闷热到爆炸", "原地爆炸", "气急冒火", "尾随你的步伐": danger words as figures of speech.
_FIGURE_BEFORE = re.compile(r"(到|原地|气急|急得|心里|简直)$")
_FIGURE_AFTER = re.compile(r"^(你|我|他|她)的|^了?(吧|啊|哈)")
_HYPOTHETICAL = re.compile(r"(怕|担心|万一|真|要是|如果|容易|会|不|快|防|小心|以防|前年|去年|上次|差点|险些)")


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], LiteralGate]:
    # One alternation per file: a single C-level scan is much faster than a loop of patterns. The gate
    # tells in a cheaper scan whether either can match at all (most messages name no danger).
    danger = re.compile("|".join(f"(?:{p})" for p in load_lexicon("urgent.txt")))
    cancel = re.compile("|".join(f"(?:{p})" for p in load_lexicon("urgent_cancel.txt")))
    return danger, cancel, LiteralGate([danger, cancel])


def urgent_reason(text: str, *, normalized: bool = False) -> str | None:
    """The words that make the message urgent, or None (also when it says the danger is over)."""
    if not normalized:
        text = normalize(text)
    danger, cancel, gate = _patterns()
    live = gate.candidates(text)
    if not live & 1:
        return None
    if live & 2 and cancel.search(text):
        return None
    for m in danger.finditer(text):
        # "怕起火", "万一着火", "快打起来了", "冒过火花": feared, hypothetical or past, not happening now.
        if _HYPOTHETICAL.search(text, max(0, m.start() - 4), m.start()) or text.startswith("过", m.end()):
            continue
        if _FIGURE_BEFORE.search(text[max(0, m.start() - 3) : m.start()]) or _FIGURE_AFTER.match(text[m.end() :]):
            continue
        return m.group(0)
    return None


def is_urgent(text: str, *, normalized: bool = False) -> bool:
    """True when someone may be hurt now: trapped, gas, fire, flooding, falling things, violence, missing."""
    return urgent_reason(text, normalized=normalized) is not None
