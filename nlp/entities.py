"""Entity extraction: where a problem is (building, unit, room, estate) and which tickets are named."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nlp.normalize import normalize
from nlp.types import Location

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百"
_NUM = rf"(?:\d{{1,3}}|[{_CN}]{{1,4}}|[A-Za-z])"


def chinese_to_int(s: str) -> int | None:
    """Parse "12", "十二", "二十三", "一百零五", "两" to an int; None when it is not a number."""
    s = s.strip()
    if not s:
        return None
    if s.isdigit():
        return int(s)
    total, current = 0, 0
    for ch in s:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        elif ch in _UNITS:
            total += (current or 1) * _UNITS[ch]
            current = 0
        else:
            return None
    return total + current


def _num(s: str) -> str | None:
    if len(s) == 1 and s.isascii() and s.isalpha():
        return s.upper()
    n = chinese_to_int(s)
    return str(n) if n is not None and 0 < n < 1000 else None


# "7-1-502": building-unit-room; the room must be 3-4 digits so dates like 2024-5-1 do not match.
_TRIPLE = re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,2})-(\d{3,4})(?![\d-])")
# Building words; a bare 楼 is a floor ("三楼"), so 楼 only counts after 号 or #.
_BUILDING = re.compile(rf"(?<![{_CN}\dA-Za-z#])(?:第)?({_NUM})\s*(?:号楼|号栋|栋|幢|#楼|#(?!\d))")
_UNIT = re.compile(rf"({_NUM})\s*单元")
_ROOM = re.compile(r"(?<!\d)(\d{3,4})\s*(?:室|房|号房)")
_ROOM_AFTER = re.compile(r"^\s*(?:\d{1,2}\s*单元)?\s*(?:的)?\s*(\d{3,4})(?![\d年月日号点:.])")


# "管八栋楼", "有三栋楼", "一栋楼都没网": a count of buildings, not building 8, 3 or 1.
_COUNT_BEFORE = "管有共总整好几多这那每"


def _is_count(text: str, b: re.Match[str]) -> bool:
    raw = b.group(1)
    if raw in ("两", "几"):
        return True
    if text[b.end() : b.end() + 1] != "楼":
        return False
    return raw == "一" or (b.start() > 0 and text[b.start() - 1] in _COUNT_BEFORE)


# Cheap tests that skip patterns which cannot match: most chat messages name no place.
_ANY_DIGIT = re.compile(r"\d")  # the same \d as in _TRIPLE, _ROOM and _TICKET_PATTERNS
_BUILDING_WORDS = ("栋", "幢", "号楼", "#")  # each _BUILDING match contains one of these


def extract_location(text: str, estates: Sequence[str] = ()) -> Location:
    """The first building, its unit and room, and a known estate name mentioned in the text."""
    text = normalize(text)
    building = unit = room = None
    digits = _ANY_DIGIT.search(text) is not None
    m = _TRIPLE.search(text) if digits else None
    b = None
    if any(w in text for w in _BUILDING_WORDS):
        b = next((x for x in _BUILDING.finditer(text) if not _is_count(text, x)), None)
    if m and (b is None or m.start() <= b.start()):
        building, unit, room = str(int(m.group(1))), str(int(m.group(2))), m.group(3)
    elif b:
        building = _num(b.group(1))
        rest = text[b.end() : b.end() + 12]
        r = _ROOM_AFTER.match(rest)
        if r:
            room = r.group(1)
    if unit is None and "单元" in text:
        u = _UNIT.search(text)
        if u:
            unit = _num(u.group(1))
    if room is None and digits:
        r = _ROOM.search(text)
        if r:
            room = r.group(1)
    estate = None
    for name in estates:
        if name and name in text:
            estate = name
            break
    return Location(building=building, unit=unit, room=room, estate=estate)


_TICKET_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"(?<![\d#])#\s?(\d{1,6})(?![\d.:-])",  # "#0023", "# 23"
        r"(?<![\d-])(\d{1,6})\s*号?\s*(?:的|那个|这个)?\s*(?:工单|单子|报修单)",  # "0045号工单", "0203号那个单子"
        r"(?:工单|单号|编号|工单号|报修单|单子)\s*(?:号|编号)?\s*[:是为]?\s*#?\s*(\d{1,6})(?![\d.:-])",
        r"(?:查询|查一下|查下|查查|查)\s*[:]?\s*#?\s*(\d{1,6})(?![\d.:-])",
        # A bare zero-led number: rooms, years and phones do not start with 0 unless an area code (0731-).
        r"(?<![\d\-:./])(0\d{2,5})(?![\d\-:./年月日号点栋楼元块])",
    )
)


def ticket_number(raw: str) -> str:
    """A ticket number as stored and shown: the integer, without leading zeros ("#0023", "0023" and "23" are 23).

    Numbers are compared as integers, so "0123" typed from an old notice and "123" are one ticket, and a
    number never means two tickets as new numbers grow longer.
    """
    return str(int(raw.strip().lstrip("#＃").strip()))


def extract_ticket_numbers(text: str) -> tuple[str, ...]:
    """Ticket numbers named in the text, as integers without leading zeros, in order of mention."""
    text = normalize(text)
    if not _ANY_DIGIT.search(text):
        return ()  # every ticket pattern captures digits
    found: list[tuple[int, str]] = []
    for pat in _TICKET_PATTERNS:
        for m in pat.finditer(text):
            found.append((m.start(1), ticket_number(m.group(1))))
    out: list[str] = []
    for _, num in sorted(found):
        if num not in out and int(num) > 0:
            out.append(num)
    return tuple(out)
