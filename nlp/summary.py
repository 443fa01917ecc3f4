"""Short ticket titles such as "松涛里8栋 独居老人多日未见", built only from known words so no personal data leaks.

A title is the place (estate, building and unit from the `Location`), one space, and what happened: an object
from summary_objects.txt with the problem from summary_states.txt that fits it, each in its canonical wording.
Only those canonical words and the place reach the title, never the resident's own text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from nlp.normalize import normalize
from nlp.segment import load_lexicon
from nlp.types import Location

MAX_CHARS = 20
ANY = "*"  # a state that fits every object
SPOT = "spot"  # 楼道, 门口...: an object of its own, and the place of a problem that is a whole word (楼道飞线充电)
IGNORE = "-"  # words that contain an object but mean something else (单元门口 is a place, not the door)
READ_CHARS = 400  # how much of a message a title is read from
VAGUE = "问题"  # "电梯问题": the object is known, what is wrong with it is not

# One clause is one thought: a problem after a comma is less likely to belong to the object before it.
_CLAUSE = re.compile(r"[,.!?;:。~…\s]")  # not 、: that joins the items of one list
_AFTER = 14  # how far after its object a problem is looked for
_BEFORE = 6  # and before it ("建议装个减速带", "到处是狗屎")
_BEFORE_COST = 3
_CLAUSE_COST = 8
_WHOLE_COST = 3  # "垃圾两天没清运…臭气熏天": a problem said of its object beats a word that is one on its own
_SPOT_COST = 8  # 门口 is where the rubbish is; the rubbish is what the ticket is about
_COMPOUND = 7  # the longest name made of two objects written together (广场舞音响)
_GAP = r"[^,.!?;:。\s]{0,6}"  # what "*" in a said form stands for


@dataclass(frozen=True, slots=True)
class _Word:
    """A canonical title word and the kinds of thing it is about (or fits)."""

    title: str
    kinds: frozenset[str]
    whole: bool = False  # an object that already says the problem (飞线充电, 停水)
    first: bool = False  # a state written before its object (增设减速带)
    cost: int = 0  # a word that should lose to a closer or plainer one


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    word: _Word


@dataclass(frozen=True, slots=True)
class _Grammar:
    objects: re.Pattern[str]
    object_of: dict[str, _Word]
    states: re.Pattern[str]
    state_of: dict[str, tuple[_Word, ...]]  # the plain forms
    state_forms: tuple[tuple[re.Pattern[str], tuple[_Word, ...]], ...]  # the forms with "*" or "~"
    words: frozenset[str]


def _is_pattern(form: str) -> bool:
    return form.startswith("~") or ANY in form


def _form_pattern(form: str) -> str:
    if form.startswith("~"):
        return f"(?:{form[1:]})"
    return _GAP.join(map(re.escape, form.split(ANY)))


def _parse(line: str) -> tuple[frozenset[str], str, list[str]]:
    head, _, said = line.partition("=")
    kinds, _, title = head.strip().partition(" ")
    title = title.strip()
    forms = said.split() or [title.strip("!^").split("+")[0]]
    return frozenset(kinds.split(",")), title, forms


@functools.lru_cache(maxsize=1)
def _grammar() -> _Grammar:
    object_of: dict[str, _Word] = {}
    words: set[str] = {VAGUE}
    for line in load_lexicon("summary_objects.txt"):
        kinds, title, forms = _parse(line)
        title, _, cost = title.partition("+")
        whole = title.endswith("!")
        word = _Word(title.rstrip("!"), kinds, whole=whole, cost=int(cost or 0))
        if IGNORE not in kinds:
            words.add(word.title)
        for form in forms:
            object_of.setdefault(form, word)
    by_form: dict[str, list[_Word]] = {}
    for line in load_lexicon("summary_states.txt"):
        kinds, title, forms = _parse(line)
        title, _, cost = title.partition("+")
        word = _Word(title.lstrip("^"), kinds, first=title.startswith("^"), cost=int(cost or 0))
        words.add(word.title)
        for form in forms:
            by_form.setdefault(form, []).append(word)
    # The leftmost match wins, and at one position the longest form.
    objects = re.compile("|".join(map(re.escape, sorted(object_of, key=len, reverse=True))))
    longest = sorted(by_form, key=lambda f: len(f.replace(ANY, "")), reverse=True)
    states = re.compile("|".join(_form_pattern(f) for f in longest))
    plain = {f: tuple(ws) for f, ws in by_form.items() if not _is_pattern(f)}
    patterns = tuple((re.compile(_form_pattern(f)), tuple(by_form[f])) for f in longest if _is_pattern(f))
    return _Grammar(objects, object_of, states, plain, patterns, frozenset(words))


def title_words() -> frozenset[str]:
    """Every word a title's problem part can be made of (besides the place)."""
    return _grammar().words


def _objects(g: _Grammar, text: str) -> list[_Hit]:
    hits = []
    for m in g.objects.finditer(text):
        word = g.object_of[m.group(0)]
        # "被车压断": the thing after 被 did it; the ticket is about what it did it to.
        if IGNORE not in word.kinds and not text.endswith("被", 0, m.start()):
            hits.append(_Hit(m.start(), m.end(), word))
    return hits


def _states(
    g: _Grammar, text: str, objects: list[_Hit]
) -> list[tuple[int, int, tuple[tuple[_Word, ...], ...]]]:
    """Each problem said, with its readings, longest form first: "堵死了" is also "堵死", which fits a fire lane.

    A problem that starts inside an object is a misreading ("垃圾堆着火": not 堆着), looked for again after it."""
    out = []
    pos = 0
    while (m := g.states.search(text, pos)) is not None:
        inside = next((o for o in objects if o.start < m.start() < o.end), None)
        if inside is not None:
            pos = inside.end
            continue
        pos = m.end()
        said = m.group(0)
        readings = [ws for ws in (g.state_of.get(said[:n]) for n in range(len(said), 0, -1)) if ws]
        readings += [ws for pattern, ws in g.state_forms if pattern.match(text, m.start(), m.end())]
        out.append((m.start(), m.end(), tuple(readings)))
    return out


def _reading(readings: tuple[tuple[_Word, ...], ...], obj: _Word) -> tuple[int, _Word | None]:
    """The longest form's reading that fits the object, of its own kind if there is one."""
    for words in readings:
        fit, state = max(((_fits(w, obj), w) for w in words), key=lambda p: p[0])
        if fit:
            return fit, state
    return 0, None


def _fits(state: _Word, obj: _Word) -> int:
    """2 when the state is about this kind of thing, 1 when it fits anything, 0 when it does not fit."""
    if state.kinds & obj.kinds:
        return 2
    return 1 if ANY in state.kinds else 0


def _distance(text: str, obj: _Hit, start: int, end: int, state: _Word) -> int | None:
    if start >= obj.end and start - obj.end <= _AFTER:
        between = text[obj.end : start]
        return len(between) + (_CLAUSE_COST if _CLAUSE.search(between) else 0)
    if end <= obj.start and obj.start - end <= _BEFORE:
        between = text[end : obj.start]
        if _CLAUSE.search(between):
            return None
        # "装个减速带": a verb written before its object is the usual order, not a stretch.
        return len(between) + (0 if state.first else _BEFORE_COST)
    return None


def _spot(text: str, obj: _Hit, spots: list[_Hit]) -> str:
    """The place word just before a whole-problem object in the same clause: 楼道 in "楼道里有人飞线充电"."""
    for s in reversed(spots):  # the nearest
        if s.end <= obj.start and obj.start - s.end <= 6 and not _CLAUSE.search(text[s.end : obj.start]):
            return "" if s.word.title in obj.word.title else s.word.title
    return ""


def _name(before: _Hit | None, obj: _Hit) -> str:
    """The object's title, with the one written right against it: 广场舞音响, 外墙瓷砖, 电动车电瓶."""
    if before is None or before.end != obj.start or before.word.whole or SPOT in before.word.kinds:
        return obj.word.title
    if before.word.title in obj.word.title or obj.word.title in before.word.title:
        return obj.word.title
    name = before.word.title + obj.word.title
    return name if len(name) <= _COMPOUND else obj.word.title


def _problem(text: str) -> str | None:
    g = _grammar()
    objects = _objects(g, text)
    states = _states(g, text, objects)
    if not objects:  # "502室漏水": what happened, if not to what
        return states[0][2][0][0].title if states else None
    spots = [o for o in objects if SPOT in o.word.kinds]
    # (fit, -distance, -position): the best-fitting problem nearest its object, then the first object.
    best: tuple[tuple[int, int, int], str] | None = None
    for i, o in enumerate(objects):
        name = _name(objects[i - 1] if i else None, o)
        if o.word.whole:
            title = _spot(text, o, spots) + o.word.title
            rank = (2, -(_WHOLE_COST + o.word.cost), -o.start)
            if best is None or rank > best[0]:
                best = (rank, title)
        for start, end, readings in states:
            fit, state = _reading(readings, o.word)
            if state is None or state.title in o.word.title:
                continue
            d = _distance(text, o, start, end, state)
            if d is None:
                continue
            cost = d + state.cost + (_SPOT_COST if SPOT in o.word.kinds else 0)
            rank = (fit, -cost, -o.start)
            if o.word.title in state.title:  # "工地…通宵施工": the problem already names the thing
                title = state.title
            else:
                title = state.title + name if state.first else name + state.title
            if best is None or rank > best[0]:
                best = (rank, title)
    if best is not None:
        return best[1]
    plain = next((o for o in objects if SPOT not in o.word.kinds), objects[0])
    return plain.word.title + VAGUE


def _place(location: Location, room: int) -> str:
    """Estate, building and unit, dropping the unit and then the estate until the title fits."""
    building = f"{location.building}栋" if location.building else ""
    unit = f"{location.unit}单元" if location.building and location.unit else ""
    estate = location.estate or ""
    for parts in ((estate, building, unit), (estate, building), (building,) if building else (estate,)):
        place = "".join(parts)
        if len(place) <= room:
            return place
    return ""


def summarize(text: str, category_name: str, location: Location | None = None) -> str:
    """A title of at most MAX_CHARS characters: the place, then the thing and what is wrong with it."""
    location = location or Location()
    # The lexicons are written in Mandarin; 冇 is how half the groups here write 没.
    # A title comes from what the message opens with; reading all of a 20,000-character paste would cost
    # seconds (objects × problems), for nothing a title can hold.
    clean = normalize(text[:READ_CHARS]).replace("冇", "没")
    if location.estate:  # "书院花园" is a place, not a flower bed
        clean = clean.replace(location.estate, "\0" * len(location.estate))
    what = _problem(clean) or (category_name + VAGUE if category_name else VAGUE)
    what = what[:MAX_CHARS]
    place = _place(location, MAX_CHARS - len(what) - 1)
    return f"{place} {what}" if place else what
