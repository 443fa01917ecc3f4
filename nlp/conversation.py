"""Short replies that only make sense after an earlier message: a rating with its reason, a place added.

Pure text understanding; whether a ticket is waiting for the rating, or which report the place belongs to, is
the conversation layer's to know.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nlp.entities import extract_location
from nlp.normalize import normalize
from nlp.types import Location

Verdict = Literal["satisfied", "basic", "unsatisfied"]

_NUM = r"(?:(?:工单)?\s*[#＃]?\s*(?P<n>\d{1,8})\s*号?)?"
# The verdict opens the reply (a number may come first: "3810 满意"); what follows is its reason.
_UNSATISFIED = re.compile(
    r"^\s*" + _NUM + r"\s*(?P<v>非常不满意|很不满意|不太满意|不满意|不满(?!意)|一点都不满意|不行|没解决|没有解决|冇解决|没修好|冇修好)(?![的度])"
)
_BASIC = re.compile(r"^\s*" + _NUM + r"\s*(?P<v>基本满意|还行|还可以|一般般|一般|马马虎虎|凑合|过得去)(?![的度])")
_SATISFIED = re.compile(
    r"^\s*" + _NUM + r"\s*(?P<v>非常满意|很满意|满意|挺满意|蛮满意|挺好的?|很好|蛮好|好的?谢谢|修好了|解决了|弄好了|搞好了|可以了|没问题了)(?![的度])"
)
# A rating without the word: the problem is still there.
_STILL = re.compile(r"^\s*(还是|依然|仍然|照样|又)(在|没|冇|不)?[^,.!?，。！？]{0,6}(冒|漏|坏|堵|吵|臭|滴|不亮|没水|冇水|没人)")
_REASON_TRIM = re.compile(r"^[\s,，.。!！~～、:：吧啦哈的呀]+|[\s,，.。!！~～]+$")
MAX_RATING = 80  # characters: a longer message is a new report or a conversation, not a rating


@dataclass(frozen=True, slots=True)
class Rating:
    """A reporter's answer to "您对处理结果满意吗？"."""

    verdict: Verdict
    reason: str = ""
    number: str | None = None  # a ticket number said with it, as written (digits)


def parse_rating(text: str) -> Rating | None:
    """The verdict and reason of a satisfaction reply ("不满意，还是在冒水", "满意👍", "还行"), or None."""
    t = normalize(text)
    if not t or len(t) > MAX_RATING:
        return None
    for verdict, pat in (("unsatisfied", _UNSATISFIED), ("basic", _BASIC), ("satisfied", _SATISFIED)):
        m = pat.match(t)
        if m:
            reason = _REASON_TRIM.sub("", t[m.end() :])
            if verdict == "satisfied" and _STILL.match(reason):
                verdict = "unsatisfied"  # "好的，但是还是在漏" is not praise
            return Rating(verdict, reason, m.group("n"))  # type: ignore[arg-type]
    if _STILL.match(t):
        return Rating("unsatisfied", _REASON_TRIM.sub("", t))
    return None


# "就是5栋门口那根", "在松涛里7栋后面", "是2单元的", "地点：书院花园", "图片上这个".
_DETAIL_OPEN = re.compile(r"^\s*(就是|就在|是在|在|是|地点[是:：]?|位置[是:：]?|具体(是|在)|说的是|我说的是|补充[一下:：]*)")
_PICTURE = re.compile(r"(图片|照片|图上|照片上|图里|相片|上图|下图|这张图)")
_PROBLEM_WORDS = re.compile(r"(坏|堵|漏|吵|臭|脏|乱|没人|冇人|不亮|不通|停水|停电|危险|投诉|举报)")
_POINTING = re.compile(r"(这个|那个|这里|那里|这张|这边|那边|上面|这处|那处)")
MAX_DETAIL = 40


@dataclass(frozen=True, slots=True)
class Detail:
    """What a follow-up adds to the sender's last report: a place, and the words themselves."""

    location: Location
    text: str
    picture: bool = False  # "图片上这个": refers to a photo sent with it


def follow_up_detail(text: str, estates: Sequence[str] = ()) -> Detail | None:
    """A short message that only adds a place or detail to an earlier report ("就是2单元那个"), or None when it
    says something of its own (a new problem, a question)."""
    t = normalize(text)
    if not t or len(t) > MAX_DETAIL or t.endswith(("?", "？", "吗", "么")):
        return None
    loc = extract_location(t, estates)
    has_place = bool(loc.building or loc.unit or loc.estate or loc.room)
    picture = bool(_PICTURE.search(t))
    opened = bool(_DETAIL_OPEN.match(t))
    if _PROBLEM_WORDS.search(t) and not opened:
        return None  # "5栋灯也坏了" is a report of its own
    if has_place and (opened or len(t) <= 12):
        return Detail(loc, t, picture)
    if picture and (opened or (len(t) <= 12 and _POINTING.search(t))):
        return Detail(loc, t, True)
    return None
