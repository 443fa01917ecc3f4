"""The literal gate may say "can match" wrongly, never "cannot": a clear bit must mean no match."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.messages import CHAT, LONG, QUERIES, REPORTS
from bot.config import load_settings
from nlp.literals import LiteralGate, WordFinder
from nlp.rules import parse_weighted
from nlp.segment import load_lexicon
from tests.support import DEFAULT_CONFIG


def _shipped_patterns() -> list[re.Pattern[str]]:
    """Every regular expression the classifier gates: the lexicons, urgency, the categories' ~regex keywords."""
    pats = []
    for name in ("intent_query.txt", "intent_chat.txt", "intent_report.txt", "intent_done.txt"):
        pats += [re.compile(parse_weighted(line)[0]) for line in load_lexicon(name)]
    for name in ("urgent.txt", "urgent_cancel.txt"):
        pats += [re.compile(line) for line in load_lexicon(name)]
    for cat in load_settings(DEFAULT_CONFIG).taxonomy.categories:
        for entry in cat.keywords:
            word = parse_weighted(entry)[0]
            if word.startswith("~"):
                pats.append(re.compile(word[1:]))
    return pats


PATTERNS = _shipped_patterns()
GATE = LiteralGate(PATTERNS)
# Pieces likely to complete a pattern: the literal runs inside the patterns themselves, and real messages.
PIECES = sorted({run for p in PATTERNS for run in re.findall(r"[\u4e00-\u9fff]{1,6}", p.pattern)})
TEMPLATES = [t for t in (*REPORTS, *QUERIES, *CHAT, *LONG) if isinstance(t, str)]


def _missed(gate: LiteralGate, patterns: list[re.Pattern[str]], text: str) -> list[str]:
    live = gate.candidates(text)
    return [p.pattern for i, p in enumerate(patterns) if not live >> i & 1 and p.search(text)]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(TEMPLATES), st.text(max_size=4)), max_size=8))
def test_a_pattern_that_matches_is_never_gated_out(parts):
    text = "".join(parts)
    assert _missed(GATE, PATTERNS, text) == [], text


def test_the_gate_skips_patterns_whose_literals_are_absent():
    pats = [re.compile(p) for p in (r"(进展|进度)了?吗", r"\d+号楼", r"漏水", r"(?i)wifi", r".*")]
    gate = LiteralGate(pats)
    assert gate.always == 0b11000  # IGNORECASE and literal-free patterns always run
    assert gate.candidates("今天天气不错") == 0b11000
    assert gate.candidates("有进度吗") & 0b00111 == 0b00001
    assert gate.candidates("3号楼厨房漏水") & 0b00111 == 0b00110
    for text in ("有进度吗", "3号楼厨房漏水", "今天天气不错", "WiFi断了"):
        assert _missed(gate, pats, text) == []


def test_word_finder_finds_what_a_longest_first_alternation_finds():
    finder = WordFinder({w: w for w in ["楼道", "楼道灯", "灯", "电梯", "电"]})
    assert finder.longest("楼道灯坏了电梯停了，电也停了") == [(0, 3), (5, 2), (10, 1)]
    assert sorted(finder.occurrences("楼道灯")) == [(0, "楼道"), (0, "楼道灯"), (2, "灯")]
    assert WordFinder({}).longest("楼道灯") == [] and list(WordFinder({"": 1}).occurrences("x")) == []


@settings(max_examples=400, deadline=None)
@given(
    st.sets(st.text(alphabet="abc", min_size=1, max_size=4), min_size=1, max_size=6),
    st.lists(st.text(alphabet="abcx", max_size=12), min_size=1, max_size=5),
)
def test_word_finder_agrees_with_the_regex_it_replaced(words, texts):
    # Small alphabets make overlaps, shared prefixes and words at the very end common.
    reference = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))
    finder = WordFinder({w: w for w in words})
    for text in texts:
        assert finder.longest(text) == [(m.start(), len(m.group(0))) for m in reference.finditer(text)], text
        every = {(i, w) for w in words for i in range(len(text)) if text.startswith(w, i)}
        assert sorted(finder.occurrences(text)) == sorted(every), text
