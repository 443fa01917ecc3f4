"""Short ticket titles such as "4栋 下水道堵塞", built only from known words so no personal data leaks."""

from __future__ import annotations

import functools
import re

from nlp.normalize import normalize
from nlp.segment import load_lexicon
from nlp.types import Location

MAX_CHARS = 16


@functools.lru_cache(maxsize=1)
def _lexicons() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str]]:
    # One alternation each: the leftmost match wins, and at one position the first alternative, so the
    # longest object (sorted first) and the state listed first in the file.
    objects = sorted(load_lexicon("summary_objects.txt"), key=len, reverse=True)
    states: dict[str, str] = {}
    for line in load_lexicon("summary_states.txt"):
        said, _, title = line.partition("=")
        states.setdefault(said, title or said)
    obj_re = re.compile("|".join(map(re.escape, objects)))
    state_re = re.compile("|".join(map(re.escape, states)))
    return obj_re, state_re, states


def _problem(text: str) -> str | None:
    obj_re, state_re, states = _lexicons()
    m = obj_re.search(text)
    if m is None:
        return None
    obj = m.group(0)
    s = state_re.search(text, m.end(), m.end() + 14)
    state = states[s.group(0)] if s else None
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
