"""Personal data out of a message before it leaves the machine: phones, ID cards, plates, rooms, names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from nlp.normalize import normalize

PHONE = "[电话]"
ID_CARD = "[身份证号]"
PLATE = "[车牌]"
ROOM = "[房号]"
NAME = "[姓名]"
NUMBER = "[号码]"
EMAIL = "[邮箱]"

_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Mainland ID cards: 18 characters (the last may be X) or the old 15 digits.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Mobiles with an optional +86 and any spaces or dashes people type ("138-1234-5678", "138 1234 5678"),
# and the half-masked form residents copy from delivery slips ("138****5678").
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
_MOBILE_MASKED = re.compile(r"(?<!\d)1[3-9]\d[*xX]{4}\d{4}(?!\d)")
# Landlines with an area code: "0731-12345678", "(0731)1234567", "0731 1234567".
_LANDLINE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[\s-]?\d{7,8}(?!\d)")
# Anything else that is a long number (QQ, bank card, a phone without its prefix) is nobody's business.
_LONG_DIGITS = re.compile(r"(?<!\d)\d(?: ?\d){6,}(?!\d)")
_LONG_CN_DIGITS = re.compile(r"[零〇一二三四五六七八九幺]{7,}")
# Plates: province, letter, optional dot, 5 (petrol) or 6 (new energy) letters and digits: 湘C12345, 湘C·D12345.
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Za-z]\s?[·•.\s-]?\s?"
    r"(?=[A-Za-z]*\d)[A-Za-z0-9]{5,6}(?![A-Za-z0-9])"
)
# Rooms. "7-1-502" keeps its building and unit (they say where, not who); the room itself goes.
_TRIPLE = re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,2})-\d{3,4}(?![\d-])")
_ROOM_SUFFIX = re.compile(r"(?<!\d)\d{3,4}\s*(?:号房|室|房|号户)")
_ROOM_AFTER_PLACE = re.compile(r"((?:栋|幢|号楼|单元|(?<=\d)#)\s*(?:的)?\s*)\d{3,4}(?![\d年月日号点:.])")
# A bare 3-4 digit number ("我家1102漏水") is a room unless it reads as an amount, a time, a count or a
# ticket number: zero-led numbers are tickets (rooms never start with 0), and so is anything after 查询/#.
_BARE = re.compile(r"(?<![\d#\-:./A-Za-z])[1-9]\d{2,3}(?![\d\-:./A-Za-z])")
_BARE_UNIT_AFTER = re.compile(r"\s*(?:[年月日号点时分秒栋幢楼层单元块元米平斤度个次天岁人户辆台条把只多余来%万千百])")
_BARE_TICKET_BEFORE = re.compile(r"(?:查询|查一下|查下|查查|查|工单|单号|编号|报修单|单子|#)\s*(?:号|编号)?\s*[:是为]?\s*$")
_HOTLINES = {"110", "119", "120", "122", "999"}


def _room_triple(m: re.Match[str]) -> str:
    return f"{m.group(1)}栋{m.group(2)}单元{ROOM}"


def _bare_room(m: re.Match[str]) -> str:
    text = m.string
    num = m.group(0)
    if num in _HOTLINES:
        return num
    if _BARE_UNIT_AFTER.match(text, m.end()):
        return num
    if _BARE_TICKET_BEFORE.search(text[max(0, m.start() - 8) : m.start()]):
        return num
    return ROOM


def redact(text: str, names: Iterable[str] = ()) -> str:
    """The normalised text with personal data replaced by placeholders such as [电话] and [房号].

    `names` are people's names (the roster's display and full names, staff); each occurrence becomes [姓名].
    """
    t = normalize(text)
    t = _EMAIL.sub(EMAIL, t)
    t = _ID_CARD.sub(ID_CARD, t)
    t = _MOBILE_MASKED.sub(PHONE, t)
    t = _MOBILE.sub(PHONE, t)
    t = _LANDLINE.sub(PHONE, t)
    t = _LONG_DIGITS.sub(NUMBER, t)
    t = _LONG_CN_DIGITS.sub(NUMBER, t)
    t = _PLATE.sub(PLATE, t)
    t = _TRIPLE.sub(_room_triple, t)
    t = _ROOM_SUFFIX.sub(ROOM, t)
    t = _ROOM_AFTER_PLACE.sub(lambda m: m.group(1) + ROOM, t)
    t = _BARE.sub(_bare_room, t)
    wanted = {normalize(n) for n in names if n and len(normalize(n)) >= 2}
    for name in sorted(wanted, key=len, reverse=True):
        t = t.replace(name, NAME)
    return t
