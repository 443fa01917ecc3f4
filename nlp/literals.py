"""Literal gates: which of many regular expressions can match a text at all, found in one fast scan."""

from __future__ import annotations

import re
import re._constants as _C  # regex parse trees, read to find the literals a pattern needs
import re._parser as _P
from collections.abc import Iterable, Sequence
from typing import Any

_MAX_SET = 256  # cap on enumerated literal sets, so odd patterns cannot blow up the analysis


def _exact(items: Any) -> set[str] | None:
    """The finite set of strings a parsed (sub)pattern matches, or None when not small and literal."""
    out = {""}
    for op, av in items:
        if op == _C.LITERAL:
            alts = {chr(av)}
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
            union: set[str] | None = set()
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
    进度). One trie regex inside a lookahead finds, at every position, the longest literal starting
    there; the shorter literals starting there are its prefixes, so a precomputed bit mask per longest
    literal names every pattern whose literal occurs. Patterns without such a set are always run.
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
        self._masks: dict[str, int] = {}
        for word in needs:
            self._masks[word] = 0
            for k in range(1, len(word) + 1):
                self._masks[word] |= needs.get(word[:k], 0)
        # The leading class of first characters rejects most positions before the trie is tried.
        firsts = "".join(sorted({w[0] for w in needs}))
        self._scan = re.compile(f"(?=[{re.escape(firsts)}])(?=({trie_regex(needs)}))") if needs else None

    def candidates(self, text: str) -> int:
        """Bit i set when pattern i may match `text`; a clear bit means it certainly does not."""
        mask = self.always
        if self._scan is not None:
            masks = self._masks
            for word in self._scan.findall(text):
                mask |= masks[word]
        return mask


def trie_regex(words: Iterable[str]) -> str:
    """One regex for many literal words, shaped as a trie: same result as the longest-first alternation
    (leftmost match, longest word there) but several times faster, since each position is tried once
    per distinct next character instead of once per word."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        parts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not parts:
            return ""
        body = parts[0] if len(parts) == 1 and len(parts[0]) == 1 else "(?:" + "|".join(parts) + ")"
        return f"(?:{body})?" if "" in node else body

    return "|".join(re.escape(ch) + build(sub) for ch, sub in sorted(trie.items()) if ch)
