"""Several problems in one message: a leader's numbered list, one per line, "；", "还有/另外/再一个".

Only the clear markers of a list split a message; commas never do, since "4栋楼道灯坏了，晚上黑漆漆的" is
one problem told in two clauses. Whether the pieces really are separate problems (each a report, about
different things or places) is the caller's to judge with the classifier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from nlp.types import Classification

# "1." "1、" "1)" "(1)" "（1）" "①" "一、" "第一，" at the start of an item; the number is group "n".
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_CN = "一二三四五六七八九十"
_ITEM = re.compile(
    r"(?:(?:^|(?<=[\s。；;！!？?，,：:]))"
    r"(?:(?P<d>\d{1,2})\s*[.、．)）]|[(（](?P<p>\d{1,2})[)）]|(?P<c>[" + _CN + r"])\s*[、．]|第(?P<o>[" + _CN + r"])\s*[、，,：:]?))"
    r"|(?P<r>[" + _CIRCLED + r"])"
)
# Words that start another problem in running speech.
_NEXT = re.compile(r"(?:[，,。；;\s]|^)(?=(?:还有就是|还有一个|还有|另外|再一个|再就是|再有|此外|其次)[，,：:]?)")
_LINES = re.compile(r"[\r\n]+")
_SEMI = re.compile(r"[；;]")
MIN_PIECE = 3  # characters: shorter pieces ("好的", a lone number) are not problems of their own


def _value(m: re.Match[str]) -> int:
    if m.group("d") or m.group("p"):
        return int(m.group("d") or m.group("p"))
    if m.group("r"):
        return _CIRCLED.index(m.group("r")) + 1
    return _CN.index(m.group("c") or m.group("o")) + 1


def _items(text: str) -> list[str] | None:
    """The items of a numbered list (the text before the first number is a preamble), or None.

    The markers must count up one by one from 1 or 2 ("1.3栋灯坏了 2.5栋…" is a list; "电话1.5万" is not)."""
    marks: list[re.Match[str]] = []
    for m in _ITEM.finditer(text):
        if _value(m) == (_value(marks[-1]) + 1 if marks else 1):
            marks.append(m)
    if len(marks) < 2:
        return None
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [text[m.end() : end] for m, end in zip(marks, ends, strict=True)]


_SENTENCE = re.compile(r"(?<=[。！!？?])")
SPOKEN_MIN = 60  # characters: a spoken summary of several problems ("今天走了一圈，3栋…。5栋…。")


def spoken_sentences(text: str) -> list[str]:
    """The sentences of a longer spoken summary, for the caller to try as separate problems (it keeps the
    split only when they turn out to be about different places)."""
    text = text.strip()
    if len(text) < SPOKEN_MIN:
        return [text]
    out = [p.strip(" \t，,。；;：:、") for p in _SENTENCE.split(text)]
    out = [p for p in out if len(p) >= MIN_PIECE]
    return out if len(out) >= 2 else [text]


def split_problems(text: str) -> list[str]:
    """The pieces of `text` that may each be a problem, in order; [text] when nothing marks a list."""
    text = text.strip()
    if not text:
        return []
    pieces = _items(text)
    if pieces is None:
        lines = [ln for ln in _LINES.split(text) if ln.strip()]
        if len(lines) >= 2:
            pieces = lines
        else:
            pieces = _SEMI.split(text)
            if len(pieces) < 2:
                pieces = _NEXT.split(text)
    out = [p.strip(" \t，,。；;：:、") for p in pieces]
    out = [p for p in out if len(p) >= MIN_PIECE]
    return out if len(out) >= 2 else [text]


def _same_problem(a: Classification, b: Classification) -> bool:
    """Two pieces tell one problem: the same category, and not two different places."""
    if a.category != b.category:
        return False
    pa, pb = a.location, b.location
    if pa.building and pb.building and pa.building != pb.building:
        return False
    return not (pa.estate and pb.estate and pa.estate != pb.estate)


def group_problems(pieces: Sequence[tuple[str, Classification]]) -> list[tuple[str, Classification]]:
    """The separate problems among classified pieces, in order. A piece that is not a report on its own (a
    preamble, "污水冒到路上" after "下水道堵了") joins the problem before it, as does one about the same thing in
    the same place; the first piece's place fills a later one's gaps only when that one names none."""
    groups: list[tuple[str, Classification]] = []
    for text, c in pieces:
        if c.intent != "report":
            if groups:
                groups[-1] = (f"{groups[-1][0]}，{text}", groups[-1][1])
            continue
        if groups and _same_problem(groups[-1][1], c):
            first = groups[-1][1]
            merged = first if first.location.building or not c.location.building else replace(first, location=c.location)
            groups[-1] = (f"{groups[-1][0]}，{text}", merged)
            continue
        groups.append((text, c))
    return groups
