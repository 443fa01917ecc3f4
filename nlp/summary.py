"""Short ticket titles such as "4栋 下水道堵塞", built only from known words so no personal data leaks."""

from __future__ import annotations

import functools

from nlp.normalize import normalize
from nlp.segment import load_lexicon
from nlp.types import Location

MAX_CHARS = 16


@functools.lru_cache(maxsize=1)
def _lexicons() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    objects = tuple(sorted(load_lexicon("summary_objects.txt"), key=len, reverse=True))
    states = []
    for line in load_lexicon("summary_states.txt"):
        said, _, title = line.partition("=")
        states.append((said, title or said))
    return objects, tuple(states)


def _problem(text: str) -> str | None:
    objects, states = _lexicons()
    best: tuple[int, str] | None = None
    for obj in objects:
        i = text.find(obj)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, obj)
    if best is None:
        return None
    pos, obj = best
    window = text[pos + len(obj) : pos + len(obj) + 14]
    state = None
    state_pos = len(window) + 1
    for said, title in states:
        j = window.find(said)
        if 0 <= j < state_pos:
            state, state_pos = title, j
    if state and state not in obj and obj not in state:
        return obj + state
    return obj


def summarize(text: str, category_name: str, location: Location | None = None) -> str:
    """A title of at most about 16 characters: place, then the thing and what is wrong with it."""
    location = location or Location()
    place = ""
    if location.building:
        place = f"{location.building}栋"
        if location.unit:
            place += f"{location.unit}单元"
    elif location.estate:
        place = location.estate
    what = _problem(normalize(text)) or category_name or "问题反映"
    title = f"{place} {what}".strip()
    return title[:MAX_CHARS]
