"""Every sentence the bot says to people, in one place so it can be read and reworded together."""

from __future__ import annotations

from datetime import datetime

# Status in words residents read as help on the way, not as a brush-off.
STATUS_WORDS = {
    "new": "已登记，正在安排",
    "assigned": "已派给{assignee}处理",
    "in_progress": "正在处理中",
    "resolved": "已处理完成",
    "closed": "已办结归档",
    "rejected": "社区已答复",
    "duplicate": "已并入工单 #{duplicate_of} 一起处理",
    "reopened": "重新处理中",
    "withdrawn": "已撤销",
}

ACTION_WORDS = {
    "created": "登记",
    "assign": "派单",
    "start": "开始处理",
    "resolve": "办结",
    "close": "归档",
    "reject": "答复",
    "merge": "合并",
    "reclassify": "改类",
    "reopen": "重新处理",
    "withdraw": "撤销",
    "support": "又有人反映",
    "satisfied": "回访满意",
    "unsatisfied": "回访不满意",
}


def md(dt: datetime | None) -> str:
    """A date as people say it: 12月4日."""
    return f"{dt.month}月{dt.day}日" if dt else ""


def status_words(status: str, *, assignee: str | None = None, duplicate_of: str | None = None) -> str:
    template = STATUS_WORDS.get(status, status)
    return template.format(assignee=assignee or "工作人员", duplicate_of=duplicate_of or "")


def ack(number: str, category_name: str, place: str, due: datetime | None) -> str:
    where = f"｜{place}" if place else ""
    due_part = f"，预计{md(due)}前给您回音" if due else ""
    return f"收到，已登记为工单 #{number}（{category_name}{where}）。社区会尽快安排人处理{due_part}。发“查询 {number}”可看进度。"


def ack_urgent(number: str, category_name: str, place: str) -> str:
    where = f"｜{place}" if place else ""
    return (
        f"紧急情况已登记为工单 #{number}（{category_name}{where}），已马上通知社区值班人员。"
        "有人身危险请同时拨打 110 / 119 / 120。"
    )


def ticket_status(
    number: str,
    category_name: str,
    summary: str,
    status: str,
    *,
    assignee: str | None,
    duplicate_of: str | None,
    created: datetime,
    due: datetime | None,
    last_note: str | None,
) -> str:
    line = f"工单 #{number}（{category_name}｜{summary}）：{status_words(status, assignee=assignee, duplicate_of=duplicate_of)}。"
    line += f"{md(created)}登记"
    if due and status in ("new", "assigned", "in_progress", "reopened"):
        line += f"，预计{md(due)}前办好"
    line += "。"
    if last_note:
        line += f"最新进展：{last_note}"
    return line


def no_such_ticket(number: str) -> str:
    return f"没有找到工单 #{number}，请核对一下号码。"


def my_tickets_header(n: int) -> str:
    return f"您最近反映的 {n} 件事：" if n else "还没有找到您反映过的事。有问题直接在群里说就行，我会帮您登记。"


def my_ticket_line(number: str, summary: str, status: str, assignee: str | None) -> str:
    return f"#{number} {summary}：{status_words(status, assignee=assignee)}"


NO_MATCH_QUERY = "没找到您反映过的相关工单。可以发工单号查询，例如“查询 0023”，或发“我的工单”看全部。"

UNDO_DONE = "好的，工单 #{number} 已撤销。"
UNDO_NOT_YOURS = "工单 #{number} 不是您登记的，不能撤销。"
UNDO_TOO_LATE = "工单 #{number} 已登记超过 {minutes} 分钟或已在处理中，不能撤销了，如有误请联系社区工作人员。"
UNDO_USAGE = "撤销请发“撤销 工单号”，例如“撤销 0023”。"

HELP = (
    "我是{bot_name}，帮大家把问题登记下来、跟到办好：\n"
    "· 有问题直接在群里说，比如“4栋楼道灯坏了”，我会登记并回复工单号；\n"
    "· 查进度：发“查询 0023”，或“我的工单”，或“我上次反映的下水道怎么样了”；\n"
    "· 登记错了：发“撤销 0023”（{undo} 分钟内）。\n"
    "社区工作人员可发“工单 帮助”看处理命令。"
)

EMPTY_TEXT = ""
