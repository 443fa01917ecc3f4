"""Staff commands in natural words: the verb and the ticket numbers anywhere in the sentence.

"3799派给物业", "把3799派给王师傅", "5106、5201 都办结了：已处理", "3799并入3800". Only staff messages are read
this way (a resident's "3799修好了没" is a question, answered elsewhere); the fixed shapes (派单 3810 物业) are
parsed first by handlers/staff.py. Pure: no database, no sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.entities import ticket_number

# A ticket number: 3 to 8 digits, not part of a longer number and not a place or an amount ("3栋", "502室").
_NUMBER = re.compile(
    r"(?<![\d.])[#＃]?(\d{3,8})(?![\d.]|\s*(?:栋|幢|号楼|号(?!工单|单)|单元|楼|室|层|户|元|块|人|天|个|年|月|日|点|分|米|平|岁|%))"
)
_LIST_SEP = re.compile(r"^[\s、，,和及与跟/]*$")
_PUNCT = " \t\r\n，,。.；;：:!！?？~～、"

# Verb families, tried in this order; each pattern's text after the match is its argument.
_ASSIGN = re.compile(r"(?:已经?)?(?:派单给|派给|派到|派|交给|交由|转给|转交|转|交|指派给|分派给|安排给|安排|让)\s*")
_MERGE = re.compile(r"(?:并入|并到|合到|合并到|合并进|合并入|合并至|归并到)\s*")
_RESOLVE = re.compile(
    r"(?:已经?办结|都?办结了?|结单了?|可以结单|销号|已经?处理(?![中完])|办好了|办完了|办妥|已经?处理完|处理完了|处理好了|已经?解决|解决了|修好了|已修复|搞定|"
    r"弄好了|已经?完成|完成了)"
)
_START = re.compile(r"(?:受理了?|开始处理|正在处理|在处理了?|已受理|在跟进|跟进中)")
_ACCEPT = re.compile(r"(?:签收了?|已签收|收到了?派单|接单了?|已接单)")
_CLOSE = re.compile(r"(?:关闭|归档)")
_REJECT = re.compile(r"(?:驳回|退回)")
_EXTEND = re.compile(r"(?:申请)?(?:延期|延后|推迟|宽限)\s*(\d{1,2})\s*(?:天|日)\s*")
_CHASE = re.compile(r"(?:催办|督办|催一下|催一催|催催)")
_NOT_ASSIGNEES = ("我", "你", "他", "她", "它", "大家", "咱", "谁", "一下", "了")
_QUESTION = re.compile(r"(?:没有?|吗|么|嘛|呢|啥|什么|多久|何时|是否|有没有|[？?])\s*$|有没有|是否|了没|几时|什么时候|能不能|可不可以|可否")
_NOTE = re.compile(r"(?:回复|答复|备注|说明|原因|理由)?\s*[:：]\s*(.+)$", re.S)


@dataclass(frozen=True, slots=True)
class Loose:
    """What a natural-words staff message asks: an action on one or more tickets, with its argument."""

    action: str
    numbers: tuple[str, ...]
    arg: str | None = None  # assignee, or the note / reason
    target: str | None = None  # merge: the ticket that stays


# Any number that may be a ticket's, also a short one ("12派给物业"): read only to ask back, never acted on.
_ANY_NUMBER = re.compile(_NUMBER.pattern.replace(r"(\d{3,8})", r"(\d{1,8})", 1))


def _numbers(text: str, pattern: re.Pattern[str] = _NUMBER) -> list[tuple[str, int, int]]:
    return [(m.group(1), m.start(), m.end()) for m in pattern.finditer(text) if int(m.group(1)) > 0]


def _clean(s: str) -> str:
    return s.strip(_PUNCT).strip()


def _note(rest: str) -> str | None:
    m = _NOTE.search(rest)
    if m:
        return _clean(m.group(1)) or None
    return None


def _run_of_numbers(text: str, found: list[tuple[str, int, int]]) -> list[str]:
    """The first number and those listed right after it ("5106、5201 和 5300")."""
    run = [found[0]]
    for n in found[1:]:
        if _LIST_SEP.match(text[run[-1][2]:n[1]]):
            run.append(n)
        else:
            break
    return [ticket_number(n[0]) for n in run]


def parse_loose(text: str, *, pattern: re.Pattern[str] = _NUMBER) -> Loose | None:
    """The staff command a natural sentence gives, or None when it is not clearly one."""
    text = text.strip()
    found = _numbers(text, pattern)
    if not found or len(text) > 200 or _QUESTION.search(text):
        return None  # "3799修好了没": a question about it, answered as one
    if m := _MERGE.search(text):
        before = [n for n in found if n[2] <= m.start()]
        after = [n for n in found if n[1] >= m.end()]
        if len(before) == 1 and len(after) == 1 and before[0][0] != after[0][0]:
            return Loose("merge", (ticket_number(before[0][0]),), target=ticket_number(after[0][0]))
        return None
    if m := _ASSIGN.search(text):
        head = [n for n in found if n[2] <= m.start()]
        rest = re.split(r"[\s，,；;：:]+", text[m.end():].strip(), maxsplit=1)
        who = re.sub(r"(?:去|来)?(?:处理|负责|跟进|办理|看看|看一下|看|办)?(?:一下)?[了吧啊呀]*$", "", _clean(rest[0]))
        extra = _clean(rest[1]) if len(rest) > 1 else ""
        if not head or not who or len(who) > 12 or _NUMBER.search(who) or who.startswith(_NOT_ASSIGNEES):
            return None
        # "王网格员 尽快上门调解": the assignee, then a note for them (ticket_ops splits it the same way).
        return Loose("assign", tuple(_run_of_numbers(text, head)), arg=f"{who[:100]} {extra}".strip())
    if m := _EXTEND.search(text):
        head = [n for n in found if n[2] <= m.start()]
        if not head:
            return None
        why = _clean(text[m.end():])
        return Loose("extend", tuple(_run_of_numbers(text, head)[:1]), arg=f"{m.group(1)} {why}".strip())
    for action, pattern in (
        ("resolve", _RESOLVE), ("reject", _REJECT), ("close", _CLOSE), ("accept", _ACCEPT), ("start", _START),
        ("chase", _CHASE),
    ):
        m = pattern.search(text)
        if not m:
            continue
        head = [n for n in found if n[2] <= m.start()]
        if not head:
            return None
        numbers = _run_of_numbers(text, head)
        note = _note(text[m.end():])
        if note is None and action == "reject":
            # "退回给社区": to whom, not why
            note = _clean(re.sub(r"^\s*给(?:社区|居委会?|我们|街道|你们)", "", text[m.end():])) or None
        if action == "reject" and not note:
            return None  # 退回 needs its grounds: the fixed form asks for them
        return Loose(action, tuple(numbers), arg=note)
    return None


def guess(text: str, *, assignees: frozenset[str]) -> Loose | None:
    """What a staff message that is almost a command probably means, to ask back ("您是要…吗？") rather than act:
    a short number with a verb ("12派给物业"), or a number and a unit with no verb ("3799 物业")."""
    text = text.strip()
    if len(text) > 60 or _QUESTION.search(text):
        return None
    if (loose := parse_loose(text, pattern=_ANY_NUMBER)) is not None:
        return loose
    found = _numbers(text, _ANY_NUMBER)
    if len(found) != 1:
        return None
    rest = _clean(text[: found[0][1]] + " " + text[found[0][2]:])
    rest = re.sub(r"^(?:给|交|转|让)", "", rest)
    who = next((w for w in sorted(assignees, key=len, reverse=True) if rest.startswith(w)), None)
    if who is None:
        return None
    return Loose("assign", (ticket_number(found[0][0]),), arg=who)


# ---------------------------------------------------------------- list filters: 工单 今天 / 紧急 / 已办结 / 金穗小区

STATUS_WORDS = {
    "新": "new", "新登记": "new", "待派单": "new", "未派单": "new", "待受理": "new",
    "已派单": "assigned", "已派": "assigned", "已指派": "assigned", "待签收": "assigned", "未签收": "assigned",
    "处理中": "in_progress", "办理中": "in_progress", "在处理": "in_progress", "在办理": "in_progress",
    "已办结": "resolved", "办结": "resolved", "已解决": "resolved",
    "已归档": "closed", "已关闭": "closed", "归档": "closed",
    "已驳回": "rejected", "已退回": "rejected", "驳回": "rejected",
    "已合并": "duplicate", "已撤销": "withdrawn", "重新打开": "reopened", "重办": "reopened",
}
SINCE_WORDS = {"今天": "today", "今日": "today", "本周": "week", "这周": "week", "本星期": "week",
               "本月": "month", "这个月": "month", "当月": "month"}
URGENT_WORDS = {"紧急", "加急", "急", "急件"}
OVERDUE_WORDS = {"超期", "逾期", "超时"}
OPEN_WORDS = {"未办结", "未办", "未完成", "在办", "待办"}


@dataclass(frozen=True, slots=True)
class ListWhere:
    """Which tickets a staff list shows. `since`: today | week | month (local calendar)."""

    since: str | None = None
    urgent: bool = False
    overdue: bool = False
    status: str | None = None
    estate: str | None = None
    category: str | None = None  # a category code
    words: tuple[str, ...] = ()  # what the staff member wrote, for the list's header
    assignee: str | None = None  # a unit's name: what was dispatched to it

    @property
    def open_only(self) -> bool:
        # "工单 紧急" or "工单 金穗小区": what is still to do; a day's or a status's list shows every status.
        return self.status is None and self.since is None


def parse_where(
    rest: str, *, estates: frozenset[str], categories: dict[str, str], assignees: dict[str, str] | None = None
) -> ListWhere | None:
    """The filters after 工单 ("今天 紧急", "金穗小区 已办结", "排水", "物业 待签收"), or None if a word is not one
    of them. `assignees`: the words for units, to their names."""
    assignees = assignees or {}
    words = [w for w in re.split(r"[\s，,、·]+", rest.strip()) if w]
    if not words:
        return None
    since = status = estate = category = assignee = None
    urgent = overdue = False
    for w in words:
        if w in SINCE_WORDS and since is None:
            since = SINCE_WORDS[w]
        elif w in URGENT_WORDS:
            urgent = True
        elif w in OVERDUE_WORDS:
            overdue = True
        elif w in OPEN_WORDS:
            continue
        elif w in STATUS_WORDS and status is None:
            status = STATUS_WORDS[w]
        elif w in estates and estate is None:
            estate = w
        elif w in assignees and assignee is None:  # before categories: "物业" is a unit where one is so named
            assignee = assignees[w]
        elif w in categories and category is None:
            category = categories[w]
        else:
            return None
    return ListWhere(since, urgent, overdue, status, estate, category, tuple(words), assignee)
