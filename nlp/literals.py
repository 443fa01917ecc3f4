"""Literal gates: which of many regular expressions can match a text at all, found in one fast scan."""

from __future__ import annotations

import re
import re._constants as _C  # regex parse trees, read to find the literals a pattern needs
import re._parser as _P
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ahocorasick

_MAX_SET = 256  # cap on enumerated literal sets, so odd patterns cannot blow up the analysis


def _exact(items: Any) -> set[str] | None:
    """The finite set of strings a parsed (sub)pattern matches, or None when not small and literal."""
    out = {""}
    for op, av in items:
        if op == _C.LITERAL:
            alts: set[str] | None = {chr(av)}
        elif op == _C.IN and all(o == _C.LITERAL for o, _ in av):
            alts = {chr(a) for _, a in av}
        elif op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
            continue  # zero-width: consumes nothing
        elif op == _C.SUBPATTERN and not av[1] and not av[2]:
            alts = _exact(av[3])
        elif op == _C.BRANCH:
            alts = set()
            for branch in av[1]:
                sub = _exact(branch)
                if sub is None:
                    return None
                alts |= sub
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] == av[1]:
            sub = _exact(av[2])
            if sub is None or len(sub) ** av[0] > _MAX_SET:
                return None
            alts = {""}
            for _ in range(av[0]):
                alts = {a + b for a in alts for b in sub}
        else:
            return None
        if alts is None or len(out) * len(alts) > _MAX_SET:
            return None
        out = {a + b for a in out for b in alts}
    return out


def _required(items: Any) -> set[str] | None:
    """Literals of which every match contains at least one, or None when there is no such set."""
    whole = _exact(items)
    if whole is not None:
        return whole
    best: set[str] | None = None

    def consider(cand: set[str] | None) -> None:
        nonlocal best
        if not cand or "" in cand:
            return
        key = (min(map(len, cand)), -len(cand))
        if best is None or key > (min(map(len, best)), -len(best)):
            best = cand

    run: list[Any] = []  # consecutive items with an exact set: their concatenation is required
    for item in [*items, None]:
        if item is not None and _exact([item]) is not None:
            run.append(item)
            continue
        if run:
            consider(_exact(run))
            # A long run can exceed the enumeration cap; each of its items alone is still required.
            for r in run:
                consider(_exact([r]))
            run = []
        if item is None:
            break
        op, av = item
        if op == _C.SUBPATTERN and not av[1] and not av[2]:
            consider(_required(av[3]))
        elif op == _C.BRANCH:
            union: set[str] | None
            union = set()  # assigned apart from the declaration, so the type checker knows it is a set here
            for branch in av[1]:
                sub = _required(branch)
                if not sub or "" in sub:
                    union = None
                    break
                union |= sub
            consider(union)
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) and av[0] >= 1:
            consider(_required(av[2]))
    return best


class LiteralGate:
    """Tells, in one regex scan, which of many patterns can match a text at all.

    Each pattern gets a set of literals one of which every match contains ("(进展|进度)" needs 进展 or
    进度); one pass of a word automaton finds every occurrence of every literal, each naming the patterns
    that need it. Patterns without such a set are always run.
    """

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self.always = 0
        needs: dict[str, int] = {}
        for i, pat in enumerate(patterns):
            parsed = _P.parse(pat.pattern, pat.flags)
            lits = None if parsed.state.flags & re.IGNORECASE else _required(list(parsed))
            if not lits:
                self.always |= 1 << i
                continue
            for lit in lits:
                needs[lit] = needs.get(lit, 0) | 1 << i
        self._words = WordFinder(needs)

    def candidates(self, text: str) -> int:
        """Bit i set when pattern i may match `text`; a clear bit means it certainly does not."""
        mask = self.always
        for _, needed_by in self._words.occurrences(text):
            mask |= needed_by
        return mask


class WordFinder:
    """Many literal words found in one pass over a text (an Aho-Corasick automaton, in C).

    It replaced a trie-shaped regular expression that `re` had to try at every position: three to six times
    faster on the benchmark messages (issue 9), with the same results.
    """

    def __init__(self, words: Mapping[str, Any]) -> None:
        """`words`: each word and the value its occurrences report (empty words are ignored)."""
        self._automaton: Any = None
        entries = [(w, v) for w, v in words.items() if w]
        if entries:
            automaton = ahocorasick.Automaton()
            for w, v in entries:
                automaton.add_word(w, (len(w), v))
            automaton.make_automaton()
            self._automaton = automaton

    def occurrences(self, text: str) -> Iterator[tuple[int, Any]]:
        """(start, value) of every occurrence of every word, overlapping ones included, by end position."""
        if self._automaton is None or not text:
            return
        for end, (size, value) in self._automaton.iter(text):
            yield end - size + 1, value

    def longest(self, text: str) -> list[tuple[int, int]]:
        """(start, length) of the leftmost-longest words, not overlapping: from the left, the longest word
        starting at the first position where any starts, then on after it (what a regex alternation of
        the words, longest first, finds with finditer)."""
        if self._automaton is None or not text:
            return []
        at: dict[int, int] = {}
        for end, (size, _) in self._automaton.iter(text):
            start = end - size + 1
            if size > at.get(start, 0):
                at[start] = size
        out = []
        pos = 0
        for start in sorted(at):
            if start >= pos:
                out.append((start, at[start]))
                pos = start + at[start]
        return out
