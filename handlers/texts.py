"""Every sentence the bot says to people, in one place so it can be read and reworded together."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

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
    "accept": "签收",
    "start": "开始处理",
    "resolve": "办结",
    "close": "归档",
    "reject": "答复",
    "merge": "合并",
    "extend": "延期",
    "extend_request": "申请延期",
    "extend_refused": "不同意延期",
    "grant": "同意延期",
    "refuse_extension": "不同意延期",
    "undo": "撤回",
    "unmerge": "撤回合并",
    "return": "退单",
    "follow_up": "回访",
    "chase": "催办",
    "reclassify": "改类",
    "reopen": "重新处理",
    "withdraw": "撤销",
    "support": "又有人反映",
    "satisfied": "回访满意",
    "unsatisfied": "回访不满意",
    "basic": "回访基本满意",
    "supplement": "补充",
    "photo": "补充照片",
    "confirm": "确认登记",
    "false_positive": "标为误报",
}


def md(dt: datetime | None, zone: tzinfo) -> str:
    """A date as people say it, on the calendar of `zone` (the subdistrict's): 12月4日. Timestamps are stored in
    UTC (SQLite hands them back naive); shown in UTC, a report at 07:00 in Xiangtan would read as yesterday's."""
    if dt is None:
        return ""
    day = local(dt, zone)
    return f"{day.month}月{day.day}日"


def local(dt: datetime, zone: tzinfo) -> datetime:
    """A stored timestamp (UTC; naive from SQLite) on the clock of `zone`."""
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(zone)


def stamp(dt: datetime | None, zone: tzinfo, fmt: str = "%m-%d %H:%M") -> str:
    """A stored timestamp as staff read it, in local time: 11-28 07:00."""
    return local(dt, zone).strftime(fmt) if dt else "-"


def missing_place(place: str, summary: str) -> str:
    """The words of `place` ("松涛里 4栋") that the summary ("4栋 楼道灯损坏") does not already say: "松涛里"."""
    return " ".join(w for w in place.split() if w not in summary)


def status_words(status: str, *, assignee: str | None = None, duplicate_of: str | None = None) -> str:
    template = STATUS_WORDS.get(status, status)
    return template.format(assignee=assignee or "工作人员", duplicate_of=duplicate_of or "")


def ack(number: str, category_name: str, place: str, due: datetime | None, zone: tzinfo) -> str:
    where = f"｜{place}" if place else ""
    due_part = f"，预计{md(due, zone)}前给您回音" if due else ""
    return f"收到，已登记为工单 #{number}（{category_name}{where}）。社区会尽快安排人处理{due_part}。发“查询 {number}”可看进度。"


ASK_PLACE = "请问是哪个小区、哪一栋？回一句就行，我补到工单上。"
SUPPLEMENTED = "好的，已补充到工单 #{number}：{what}。"

ACK_ITEM = "#{number}（{category}{where}）"
ACK_ITEM_DUPLICATE = "#{number}（已有人反映，共 {supporters} 人）"


def ack_many(items: list[str]) -> str:
    """One reply for a leader's list: every ticket it became."""
    return f"收到，共登记 {len(items)} 件：" + "；".join(items) + "。发“查询 工单号”可看进度。"


def ack_urgent(number: str, category_name: str, place: str) -> str:
    where = f"｜{place}" if place else ""
    return (
        f"紧急情况已登记为工单 #{number}（{category_name}{where}），已马上通知社区值班人员。"
        "有人身危险请同时拨打 110 / 119 / 120。"
    )


# The steps of a ticket a resident is shown (no notes, no names): 11月27日登记 → 11月28日派单 → ….
HISTORY_ACTIONS = (
    "created", "assign", "accept", "start", "extend", "return", "resolve", "close", "reject", "merge", "reopen", "unsatisfied",
    "satisfied",
)

# A ticket's status in a word, for a member of the room it was filed in who is not behind it.
STATUS_WORD = {
    "new": "已登记",
    "assigned": "已派单",
    "in_progress": "处理中",
    "resolved": "已处理完成",
    "closed": "已办结",
    "rejected": "社区已答复",
    "duplicate": "已合并处理",
    "reopened": "重新处理中",
    "withdrawn": "已撤销",
}


def status_in_a_word(number: str, status: str) -> str:
    return f"工单 #{number}：{STATUS_WORD.get(status, '处理中')}。详情只告诉反映人和社区工作人员。"


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
    place: str = "",
    history: list[tuple[datetime, str]] | None = None,
    zone: tzinfo,
) -> str:
    about = f"{missing_place(place, summary)} {summary}".strip()
    line = f"工单 #{number}（{category_name}｜{about}）：{status_words(status, assignee=assignee, duplicate_of=duplicate_of)}。"
    line += f"{md(created, zone)}登记"
    if due and status in ("new", "assigned", "in_progress", "reopened"):
        line += f"，预计{md(due, zone)}前办好"
    line += "。"
    if history and len(history) > 1:
        line += "经过：" + " → ".join(f"{md(at, zone)}{ACTION_WORDS.get(a, a)}" for at, a in history) + "。"
    if last_note:
        line += f"最新答复：{last_note}"
    return line


def no_such_ticket(number: str) -> str:
    return f"没有找到工单 #{number}，请核对一下号码。"


def my_tickets_header(n: int) -> str:
    return f"您最近反映的 {n} 件事：" if n else "还没有找到您反映过的事。有问题直接在群里说就行，我会帮您登记。"


def my_ticket_line(
    number: str, summary: str, status: str, assignee: str | None, duplicate_of: str | None = None
) -> str:
    return f"#{number} {summary}：{status_words(status, assignee=assignee, duplicate_of=duplicate_of)}"


WHICH_TICKET = "您有 {n} 件事在办，是问哪一件？发工单号就行，例如“查询 3810”："
NO_MATCH_QUERY = "没找到您反映过的相关工单。可以发工单号查询，例如“查询 3810”，或发“我的工单”看全部。"

UNDO_DONE = "好的，工单 #{number} 已撤销。"
UNDO_TOO_LATE = "工单 #{number} 已登记超过 {minutes} 分钟或已在处理中，不能撤销了，如有误请联系社区工作人员。"
UNDO_USAGE = "撤销请发“撤销 工单号”，例如“撤销 3810”。"

HELP = (
    "我是{bot_name}，帮大家把问题登记下来、跟到办好：\n"
    "· {how}，我会登记并回复工单号；\n"
    "· 查进度：发“查询 3810”，或“我的工单”，或“我上次反映的下水道怎么样了”；\n"
    "· 登记错了：发“撤销 3810”（{undo} 分钟内）。\n"
    "社区工作人员可发“工单 帮助”看处理命令。"
)

HOW_TO_REPORT = "有问题直接在群里说，比如“4栋楼道灯坏了”"
# Where the bot sees only messages that @-mention it (WeCom's smart robot), a report must say its name.
HOW_TO_REPORT_MENTION = "有问题在群里@我说，比如“@{bot_name} 4栋楼道灯坏了”"


def help_text(bot_name: str, undo: int, *, mention_only: bool = False) -> str:
    how = (HOW_TO_REPORT_MENTION if mention_only else HOW_TO_REPORT).format(bot_name=bot_name)
    return HELP.format(bot_name=bot_name, undo=undo, how=how)


EMPTY_TEXT = ""
CANNOT_ANSWER = "这个我答不了，请联系{contact}。要反映问题直接说就行，我会帮您登记。"

MY_ID = "您的ID是：{id}\n请把它交给管理员，填进配置里工作人员的 wechat_id（或名册的“微信号”一栏），之后您发的处理命令才算数。"
MY_ID_PRIVATELY = "请私聊我发“我的ID”，我把您的ID单独告诉您。"


# ---------------------------------------------------------------- staff commands, notices, feedback

STAFF_ONLY = "不好意思，这个命令只有社区工作人员可以用。有问题直接在群里说，我会帮您登记；查进度请发“查询 工单号”。"

STAFF_USAGE = {
    "assign": "派单请发“派单 工单号 处理人”，例如“派单 3810 物业”。",
    "accept": "签收请发“签收 工单号”，例如“签收 3810”。",
    "start": "开始处理请发“处理 工单号”，例如“处理 3810”。",
    "resolve": "办结请发“办结 工单号 处理情况”；要让反映人看到的话写在“回复：”后面，例如“办结 3810 回复：已疏通”。",
    "close": "归档请发“关闭 工单号”，例如“关闭 3810”。",
    "reject": "答复不受理请发“驳回 工单号 理由”，例如“驳回 3810 回复：不属于社区职责，请联系物业”。",
    "merge": "合并请发“合并 重复的工单号 到 保留的工单号”，例如“合并 3811 到 3810”。",
    "reclassify": "改类请发“改类 工单号 类别”，例如“改类 3810 排水”。",
    "extend": "延期请发“延期 工单号 天数 原因”，例如“延期 3810 7 等配件”（1到90天）；要让反映人看到原因，写在“回复：”后面。",
    "chase": "催办请发“催办 工单号 [说明]”，例如“催办 3810 居民又来问了”。",
    "return": "退单请发“退单 工单号 原因”，例如“退单 3810 不属于物业管”，工单回到待派单。",
    "grant": "处理单位申请延期后，同意请发“同意延期 工单号”，不同意请发“不同意延期 工单号 原因”。",
    "refuse_extension": "不同意延期请发“不同意延期 工单号 原因”，例如“不同意延期 3810 居民等不了”。",
    "undo": "做错了一步，请发“撤回 工单号”撤回自己刚做的那一步，例如“撤回 3810”。",
    "list": "查看工单请发“工单 未办结”“工单 超期”或“工单 3810”；也可按“今天”“本周”“紧急”“待签收”“已办结”、小区、类别或处理单位筛选，如“工单 金穗小区 紧急”“工单 物业 待签收”。",
    "register": "代为登记请发“登记 来源：议事会 问题内容”，例如“登记 来源：议事会 金穗小区健身器材需要增设”。",
    "confirm": "确认待确认的消息请发“确认 编号”，可加类别，例如“确认 3”或“确认 3 排水”；发“工单 待确认”看列表。",
    "ignore": "不是问题的待确认消息请发“忽略 编号”，例如“忽略 3”。",
    "false_positive": "把不是问题的工单标为误报请发“误报 工单号”，例如“误报 3810”（不会通知反映人）。",
}

STAFF_HELP = "社区工作人员处理命令（工单号可写 3810 或 #3810）：\n" + "\n".join(
    f"· {STAFF_USAGE[k]}"
    for k in (
        "assign", "accept", "start", "resolve", "close", "reject", "merge", "reclassify", "extend", "grant", "return",
        "chase", "undo", "list", "register",
        "confirm", "ignore", "false_positive",
    )
) + "\n也可以直接说：“3810派给物业”“3810、3811 都办结了：已处理”“3811并入3810”。"

STAFF_DONE = "好的，工单 #{number}（{summary}）{what}。"
DID_YOU_MEAN = "您是要{what}吗？是的话请发“{fixed}”。"
STAFF_STEP_ONLY = "“{action}”要由社区工作人员来做；您可以签收、办结、退单或申请延期。"
STAFF_NOT_A_UNIT = "{who}不在联系名单里，我没法通知到，请另行转告。"
STAFF_UNDO_NOTHING = "工单 #{number} 的最后一步不是您做的，或不能撤回；只能撤回自己刚做的最后一步。"
STAFF_UNDO_LATE = "工单 #{number} 的这一步已超过 {minutes} 分钟，不能撤回了，请直接做正确的操作。"
STAFF_NO_EXTENSION_ASKED = "工单 #{number} 没有待批的延期申请。要直接延期请发“延期 {number} 天数 原因”。"
STAFF_DONE_NOTIFIED = "已告知反映人。"
STAFF_DONE_ASKED = "已告知反映人并请其评价。"
STAFF_DONE_HELD = "现在是夜间免打扰时段，明早再告知反映人。"
STAFF_ALREADY = "工单 #{number} 已经是“{status}”了。"
STAFF_NOTE_KEPT = "备注只记在工单里，不发给居民；要告诉反映人，请写“回复：……”。"
STAFF_BAD_STATUS = "工单 #{number} 现在是“{status}”，不能{action}。"
STAFF_MERGE_SELF = "不能把工单 #{number} 合并到它自己。"
STAFF_UNKNOWN_CATEGORY = "没有找到类别“{arg}”。可用的类别：{names}。"
STAFF_AMBIGUOUS_CATEGORY = "“{arg}”可能是：{names}，请写得更具体一些。"
STAFF_SAME_CATEGORY = "工单 #{number} 已经是“{name}”类了。"


def staff_done_what(action: str, *, assignee: str | None = None, note: str | None = None, other: str | None = None) -> str:
    """What the staff member just did, in a few words, for the confirmation."""
    if action == "assign":
        return f"已派给{assignee}" + (f"（{note}）" if note else "")
    if action == "accept":
        return "已签收" + (f"，请在{other}前办结" if other else "")
    if action == "extend_request":
        return f"延期{other}天的申请已报社区，批了会告诉您"
    if action == "extend_refused":
        return f"已告知{assignee or '处理人'}不同意延期"
    if action == "undo":
        return f"的“{other}”已撤回"
    if action == "start":
        return "已标记为正在处理"
    if action == "resolve":
        return "已办结" + (f"：{note}" if note else "")
    if action == "close":
        return "已归档"
    if action == "reject":
        return f"已答复：{note}"
    if action == "merge":
        return f"已并入工单 #{other}"
    if action == "extend":
        return f"已延期至{other}" + (f"（{note}）" if note else "")
    if action == "chase":
        return f"已催办{assignee}" + (f"（{other}）" if other else "")
    if action == "return":
        return "已退回，待重新派单" + (f"（{note}）" if note else "")
    if action == "reclassify":
        return f"已改为“{other}”类"
    if action == "false_positive":
        return "已标为误报，不再处理，也不会通知反映人"
    return ACTION_WORDS.get(action, action)


def _about(number: str, summary: str) -> str:
    return f"工单 #{number}（{summary}）" if summary else f"工单 #{number}"


def notice(action: str, number: str, summary: str, *, assignee: str | None, note: str | None, other: str | None) -> str | None:
    """The one line a reporter's room gets when their ticket moves on; None where nothing needs saying."""
    about = _about(number, summary)
    if action == "assign":
        return f"您反映的{about}已派给{assignee or '工作人员'}处理，有进展会再告诉您。"
    if action == "start":
        return f"您反映的{about}正在处理中，请再耐心等一等。"
    if action == "resolve":
        done = f"：{note}" if note else ""
        return f"您反映的{about}已处理完成{done}。您对处理结果满意吗？请回复“满意”或“不满意”。"
    if action == "close":
        return f"您反映的{about}已办结归档，谢谢您帮社区发现问题。"
    if action == "reject":
        why = f"：{note}" if note else ""
        return f"您反映的{about}社区已答复{why}。如还需要帮忙，可以联系社区工作人员。"
    if action == "merge":
        return f"您反映的{about}和工单 #{other} 是同一件事，已并在一起处理，发“查询 {other}”可看进度。"
    if action == "reopen":
        return f"您反映的{about}重新处理中，有进展会再告诉您。"
    if action == "follow_up":
        return f"您反映的{about}办结已有{other}天，还没收到您的评价：满意、基本满意还是不满意？直接回复就行。"
    if action == "extend":
        why = f"（{note}）" if note else ""
        return f"您反映的{about}需要多一些时间{why}，预计{other}前办好。"
    if action == "undo":
        return f"更正：刚才关于{about}的消息有误，以此为准：目前{other}。"
    if action == "reply" and note:
        return f"社区工作人员回复您反映的{about}：{note}"
    return None


FEEDBACK_THANKS = "谢谢您的评价！工单 #{number} 已办结归档。"
FEEDBACK_REOPENED = "抱歉没让您满意。工单 #{number} 已重新打开，社区会再跟进，有进展再告诉您。"
FEEDBACK_REASON = "原因：{reason}"
FEEDBACK_TO_STAFF = "【回访不满意】工单 #{number}（{category}｜{summary}）反映人对处理结果不满意，已重新打开，请跟进。"

REGISTERED = "已登记为工单 #{number}（{category}{where}），来源：{source}。"
REGISTERED_ALREADY = "这件事已经登记过了，是工单 #{number}（{status}），不再重复登记。"
REGISTERED_DUPLICATE = "这件事和工单 #{number}（{status}）是同一件事，已给它记上一笔，目前共 {supporters} 人反映。"


def duplicate_report(number: str, status: str, supporters: int, *, counted: bool) -> str:
    if not counted:
        return f"您已经反映过这件事了，是工单 #{number}（{status}）。发“查询 {number}”可看进度。"
    return (
        f"这件事已经有人反映过了，是工单 #{number}（{status}），已给您记上一笔，"
        f"目前共 {supporters} 人反映。发“查询 {number}”可看进度。"
    )


def urgent_alert(number: str, category_name: str, where: str, summary: str, origin: str, reporter: str) -> str:
    what = f"{where} {summary}".strip()
    return f"【紧急】工单 #{number}（{category_name}）{what}。来自“{origin}”的{reporter}，请立即处理。"


def new_ticket(number: str, category_name: str, where: str, summary: str, origin: str, reporter: str) -> str:
    what = f"{where} {summary}".strip()
    return f"【新工单】#{number}（{category_name}）{what}。来自“{origin}”的{reporter}。"


_WINDOWS = {"hour": "一小时", "day": "一天"}


def limit_notice(what: str, scope: str, window: str, count: int, name: str, room: str) -> str:
    """Staff told, once, that a sender or a room went past a limit and what the bot now does with it."""
    who = f"“{room}”的{name}" if scope == "sender" else f"“{room}”"
    span = _WINDOWS.get(window, window)
    if what == "urgent":
        return f"【提醒】{who}{span}内已报紧急情况 {count} 次，之后的紧急情况照常登记，但先不推送到本群，请留意工单列表。"
    return f"【提醒】{who}{span}内已登记 {count} 件工单，之后的消息先不自动登记（消息都已保存），请工作人员看一下。"


LIST_EMPTY = {"open": "目前没有未办结的工单。", "overdue": "目前没有超期的工单。"}
LIST_HEADER = {"open": "未办结工单 {n} 件：", "overdue": "超期工单 {n} 件："}
LIST_MORE = "……还有 {n} 件没列出，可加上条件缩小范围（如“工单 今天 紧急”）。"
LIST_WHERE_HEADER = "工单（{words}）{n} 件："
LIST_WHERE_EMPTY = "没有符合条件的工单（{words}）。"
OVERDUE_REMINDER = "【超期提醒】{community}有 {n} 件工单已过办理期限，请抓紧处理："
DUE_SOON_REMINDER = "今天到期 {n} 件，请抓紧："
UNSIGNED_REMINDER = "派单超过一天还没签收 {n} 件，已催处理单位："
CANDIDATES_WAITING = "另有 {n} 条群消息待确认是不是要处理的问题，发“工单 待确认”查看。"

# ---------------------------------------------------------------- messages held for review (待确认)

CANDIDATES_EMPTY = "目前没有待确认的消息。"
CANDIDATES_HEADER = "待确认 {n} 条（是问题请发“确认 编号”，可加类别；不是请发“忽略 编号”）："
CANDIDATES_MORE = "……还有 {n} 条，处理完上面的再发“工单 待确认”。"
CANDIDATE_NOT_FOUND = "没有找到待确认 {number}，请发“工单 待确认”核对编号。"
CANDIDATE_SETTLED = "待确认 {number} 已经{what}（{by}）{ticket}。"
CANDIDATE_STATUS_WORDS = {"confirmed": "确认登记", "ignored": "忽略", "expired": "过期作废"}
CANDIDATE_CONFIRMED = "好的，待确认 {number} 已登记为工单 #{ticket}（{category}）。"
CANDIDATE_IGNORED = "好的，待确认 {number} 已忽略。"
# A voice message nobody transcribed (no speech-to-text endpoint, or it failed): held with its recording.
VOICE_PENDING = "[语音] 待转写"
VOICE_RECORDING = "（录音：{path}）"
ROLE_NAMES = {
    "staff": "工作人员",
    "area_leader": "片长",
    "group_leader": "组长",
    "neighbour_leader": "邻长",
    "resident": "居民",
    "unknown": "群成员",
}

# Where a ticket came from: stored as a short code, shown and typed in Chinese.
SOURCE_NAMES = {
    "wechat": "微信群",
    "wecom": "企业微信",
    "console": "控制台",
    "box": "意见箱",
    "notebook": "民情日记",
    "meeting": "议事会",
    "phone": "电话",
    "visit": "走访",
    "shell": "后台登记",
}
SOURCE_ALIASES = {"意见箱": "box", "信箱": "box", "民情日记": "notebook", "日记": "notebook", "笔记": "notebook",
                  "议事会": "meeting", "会议": "meeting", "居民议事会": "meeting", "电话": "phone", "来电": "phone",
                  "走访": "visit", "上门": "visit", "入户": "visit", "微信": "wechat", "微信群": "wechat",
                  "企业微信": "wecom", "企微": "wecom", "控制台": "console"}


# The sources whose tickets come from a chat the bot is in (each channel's Capabilities.source is one): their
# reporter can be told of progress there. The others are offline (意见箱, 议事会 …): nobody to tell in a chat.
CHAT_SOURCES = frozenset({"wechat", "wecom", "console"})


def source_name(code: str) -> str:
    return SOURCE_NAMES.get(code, code)
