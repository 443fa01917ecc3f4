"""Evidence that a message reports a problem: what is wrong, what it is about, where, and who is asked to act.

A message is a report when a problem is *about* something a community handles (a shared facility, a place, a
person it looks after), not when it merely names a topic: "电梯坏了" is about the lift, "唱歌" is a topic
word. The kinds of evidence and their words are data (nlp/data/evidence.txt); this module finds them and
measures how they hang together, and `Evidence.strength` turns them into one number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from nlp.literals import LiteralGate, WordFinder
from nlp.types import Location

KINDS = (
    "problem",
    "issue",
    "facility",
    "object",
    "person",
    "place",
    "request",
    "duration",
    "authority",
    "affected",
    "salutation",
    "chatstyle",
    "chatparticle",
    "hypothetical",
    "negation",
)
_BIT = {k: 1 << i for i, k in enumerate(KINDS)}

# A problem is about a thing when both sit in one sentence, at most this many characters apart.
ABOUT_GAP = 12
_SENTENCE_END = re.compile(r"[。！？!?\n;；]")
# How much a problem about each kind of thing tells: a shared facility most, an ordinary object least.
ABOUT_WEIGHT = {"facility": 2.0, "building": 2.0, "person": 1.5, "place": 1.0, "object": 1.0}


def parse_sections(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """{kind: (words, regexes)} from the evidence file's "[kind]" sections."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and line[1:-1] in KINDS:
            current = out.setdefault(line[1:-1], ([], []))
            continue
        if current is None:
            raise ValueError(f"evidence entry outside a section: {line!r}")
        if line.startswith("~"):
            current[1].append(line[1:])
        else:
            current[0].extend(line.split())
    return out


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was found in one message: counts of distinct words per kind and how they relate."""

    problem: int = 0
    issue: int = 0
    facility: int = 0
    object: int = 0
    person: int = 0
    place: int = 0
    request: int = 0
    duration: int = 0
    authority: int = 0
    affected: int = 0
    salutation: int = 0
    chatstyle: int = 0
    chatparticle: int = 0
    hypothetical: int = 0
    negation: int = 0
    building: bool = False  # a building, unit or estate named (the entity extractor)
    about: float = 0.0  # the best problem-about-thing link (ABOUT_WEIGHT), 0 when there is none
    request_about: bool = False  # a request in the same sentence as a problem or a facility
    length: int = 0

    @property
    def concrete_request(self) -> bool:
        """Asking for something to be done about a shared thing at a named place ("金穗小区增设几个座椅")."""
        return self.request_about and self.facility > 0 and (self.building or self.place > 0)

    @property
    def core(self) -> bool:
        """A problem clearly about something a community handles, or a concrete request about one (and, in a
        short message, not one only feared)."""
        if self.hypothetical and self.length < 60 and not self.request:
            return False
        return self.issue > 0 or self.about >= 1.5 or self.concrete_request

    def strength(self) -> float:
        """How strongly the message reads as a report; topic words alone never add up to much."""
        s = 1.5 * self.about
        s += 2.5 if self.issue else 0.0
        s += 0.6 * min(self.problem, 3)
        s += (1.0 if self.request_about else 0.4) if self.facility else 0.0
        s += 1.0 if self.building else (0.4 if self.place else 0.0)
        s += (1.5 if self.request_about else 0.8) if self.request else 0.0
        s += 0.5 if self.duration else 0.0
        s += 0.7 if self.authority else 0.0
        s += 0.5 if self.affected else 0.0
        s += 1.0 if self.salutation and not self.chatstyle else 0.0
        if self.length >= 60 and (self.problem or self.request) and not self.chatstyle:
            s += 0.5 if self.length < 120 else 1.5
        s -= min(1.0 * self.chatstyle + 0.5 * self.chatparticle, 3.0)
        if self.hypothetical and self.length < 60 and not self.request:
            s -= 1.5  # "万一停电", "要是电梯停了": feared, not happening
        return s

    def as_dict(self) -> dict[str, float | int | bool]:
        return {k: getattr(self, k) for k in (*KINDS, "building", "about", "request_about")} | {
            "strength": round(self.strength(), 2)
        }


class EvidenceFinder:
    """Finds the evidence of nlp/data/evidence.txt (or given sections) in normalised text."""

    def __init__(self, sections: dict[str, tuple[list[str], list[str]]] | None = None) -> None:
        if sections is None:
            text = resources.files("nlp").joinpath("data", "evidence.txt").read_text(encoding="utf-8")
            sections = parse_sections(text)
        words: dict[str, int] = {}
        regexes: list[tuple[re.Pattern[str], int]] = []
        for kind, (ws, rs) in sections.items():
            for w in ws:
                words[w.lower()] = words.get(w.lower(), 0) | _BIT[kind]
            regexes.extend((re.compile(r), _BIT[kind]) for r in rs)
        self._words = WordFinder(words)
        self._kinds = words
        self._regexes = tuple(regexes)
        self._gate = LiteralGate([p for p, _ in regexes])

    def spans(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, kind bits) of every word found (leftmost-longest) and every regex match."""
        lowered = text.lower()
        out = [(s, s + n, self._kinds[lowered[s : s + n]]) for s, n in self._words.longest(lowered)]
        live = self._gate.candidates(lowered)
        for i, (pat, bit) in enumerate(self._regexes):
            if live >> i & 1:
                out.extend((m.start(), m.end(), bit) for m in pat.finditer(lowered) if m.end() > m.start())
        return out

    def find(self, text: str, location: Location | None = None) -> Evidence:
        spans = _drop_negated(self.spans(text), text.lower())
        distinct: dict[str, set[str]] = {k: set() for k in KINDS}
        lowered = text.lower()
        for s, e, bits in spans:
            for k in KINDS:
                if bits & _BIT[k]:
                    distinct[k].add(lowered[s:e])
        building = bool(location and (location.building or location.unit or location.estate))
        about, request_about = _relations(text, spans, building_spans=_building_spans(text, location))
        return Evidence(
            **{k: len(v) for k, v in distinct.items()},
            building=building,
            about=about,
            request_about=request_about,
            length=len(text),
        )


_ABSENT = ("没有", "没", "冇", "冇得", "没得", "缺少", "缺乏", "无", "缺")


def _drop_negated(spans: list[tuple[int, int, int]], text: str) -> list[tuple[int, int, int]]:
    """Problems right after a negation ("没坏", "没有问题", "不脏") are not problems; the negation goes too.
    A shared thing right after a word of absence ("没有路灯", "缺少座椅") is a problem: it is missing."""
    neg = {e: text[s:e] for s, e, b in spans if b & _BIT["negation"]}
    if not neg:
        return spans
    problem = _BIT["problem"] | _BIT["issue"]
    out = []
    for s, e, b in spans:
        before = neg.get(s) or neg.get(s - 1)
        if before is not None:
            if b & problem:
                b &= ~problem
            elif b & _BIT["facility"] and before in _ABSENT:
                b |= _BIT["problem"]
        if b:
            out.append((s, e, b))
    return out


def _building_spans(text: str, location: Location | None) -> list[tuple[int, int]]:
    """Where the extracted building or estate sits in the text, for the about-link."""
    if location is None:
        return []
    out = []
    for token in (location.estate, f"{location.building}栋" if location.building else None):
        if token:
            i = text.find(token)
            if i >= 0:
                out.append((i, i + len(token)))
    if location.building and not out:
        i = text.find(location.building)
        if i >= 0:
            out.append((i, i + len(location.building)))
    return out


def _sentence_ids(text: str) -> list[int]:
    ids, n = [], 0
    for ch in text:
        ids.append(n)
        if _SENTENCE_END.match(ch):
            n += 1
    return ids


def _relations(
    text: str, spans: list[tuple[int, int, int]], *, building_spans: list[tuple[int, int]]
) -> tuple[float, bool]:
    """The best problem-about-thing link, and whether a request shares a sentence with a problem or facility."""
    problems = [(s, e) for s, e, b in spans if b & (_BIT["problem"] | _BIT["issue"])]
    requests = [(s, e) for s, e, b in spans if b & _BIT["request"]]
    if not problems and not requests:
        return 0.0, False
    sid = _sentence_ids(text) if text else []
    things: list[tuple[int, int, float]] = [(s, e, ABOUT_WEIGHT["building"]) for s, e in building_spans]
    for s, e, b in spans:
        w = max(
            (ABOUT_WEIGHT[k] for k in ("facility", "person", "place", "object") if b & _BIT[k]),
            default=0.0,
        )
        if w:
            things.append((s, e, w))
    about = 0.0
    for ps, pe in problems:
        for ts, te, w in things:
            if w <= about or (ts < pe and ps < te):
                continue  # weaker than what we have, or the same words (an issue names its own object)
            gap = ts - pe if ts >= pe else ps - te
            if gap <= ABOUT_GAP and sid[min(ps, ts)] == sid[max(pe, te) - 1]:
                about = w
    request_about = False
    anchors = problems + [(s, e) for s, e, b in spans if b & _BIT["facility"]]
    for rs, _re in requests:
        if any(sid[rs] == sid[a] for a, _ in anchors):
            request_about = True
            break
    return about, request_about
