"""Staff commands in plain Chinese with a fixed shape (派单 3810 物业, 办结 3810 已疏通, 工单 超期 ...)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

from handlers import texts
from handlers.candidates import Candidates
from handlers.context import Context, Outcome, RoomInfo
from handlers.report import Intake
from handlers.staff_words import ListWhere, Loose, guess, parse_loose, parse_where
from handlers.ticket_ops import OpError, TicketOps
from handlers.types import Reply
from nlp.entities import ticket_number as canonical_number

log = logging.getLogger(__name__)

# The first word decides the command; synonyms staff actually use map to the same action.
VERBS = {
    "派单": "assign",
    "签收": "accept",
    "接单": "accept",
    "同意延期": "grant",
    "不同意延期": "refuse_extension",
    "申请延期": "extend",
    "指派": "assign",
    "处理": "start",
    "受理": "start",
    "办结": "resolve",
    "关闭": "close",
    "归档": "close",
    "驳回": "reject",
    "退回": "reject",
    "合并": "merge",
    "延期": "extend",
    "催办": "chase",
    "督办": "chase",
    "退单": "return",
    "改类": "reclassify",
    "工单": "list",
    "登记": "register",
    "确认": "confirm",
    "忽略": "ignore",
    "误报": "false_positive",
}
# Commands on a candidate (待确认 K), whose short number is not a ticket number.
ON_CANDIDATE = {"confirm", "ignore"}
# Commands that change a ticket: a non-staff sender who writes one gets a refusal.
MUTATING = {
    "assign", "start", "resolve", "close", "reject", "merge", "reclassify", "register", "confirm", "ignore",
    "false_positive", "extend", "return", "chase", "accept", "grant", "refuse_extension",
}
NEEDS_ARG = {"assign", "reject", "reclassify", "extend", "return"}
BATCHED = {"assign", "accept", "start", "resolve", "close", "reject", "false_positive", "chase"}
# What someone acting for a unit (物业, 水务) may do, on the tickets dispatched to it; lists show only those.
FOR_UNITS = {"accept", "start", "resolve", "return", "extend", "show", "list_open", "list_overdue", "list_where", "help"}
# The fixed form of each action, to say back what a loose sentence was probably meant as.
FIXED = {
    "assign": "派单", "accept": "签收", "start": "处理", "resolve": "办结", "close": "归档", "reject": "驳回",
    "chase": "催办", "merge": "合并",
}  # one verb, several tickets

_HEAD = re.compile(r"^\s*[/／]?(" + "|".join(VERBS) + r")(?=$|[\s#＃:：\d])[\s:：]*(.*)$", re.S)
_NUMBER = re.compile(r"^[#＃]?\s*(\d{1,8})(?=$|[\s、，,和及/:：])\s*(.*)$", re.S)
_MERGE_INTO = re.compile(r"^(?:到|至|进|入|并入|->|→)?\s*[#＃]?\s*(\d{1,8})\s*$")
_MORE_NUMBERS = re.compile(r"^((?:\s*[、，,和及/]\s*[#＃]?\d{1,8}(?!\d))+)(.*)$", re.S)
_NOTE_MARK = re.compile(r"^(?:都|均|全部)?(?:已经?|了)?\s*(?=[:：])[:：]\s*")
_SOURCE = re.compile(r"^来源\s*[:：]\s*(\S+)\s*(.*)$", re.S)
_OPEN_WORDS = {"未办结", "未办", "未完成", "在办", "待办", "open", ""}
_OVERDUE_WORDS = {"超期", "逾期", "超时", "overdue"}
_CANDIDATE_WORDS = {"待确认", "候选", "待审", "待审核"}
_HELP_WORDS = {"帮助", "help", "命令", "说明"}


@dataclass(frozen=True, slots=True)
class Command:
    """A well-formed staff command."""

    # assign start resolve close reject merge reclassify false_positive list_open list_overdue list_candidates
    # show help register confirm ignore
    action: str
    number: str | None = None
    arg: str | None = None  # assignee, note, reason, category, or the text to register
    target: str | None = None  # merge: the ticket that stays
    source: str | None = None  # lists and 登记: where tickets came from (a code such as "meeting")
    more: tuple[str, ...] = ()  # a batch ("办结 5106、5201 已处理"): the same action on these tickets too
    where: ListWhere | None = None  # lists: 今天, 紧急, 已办结, an estate or a category


@dataclass(frozen=True, slots=True)
class CommandError:
    """A command word with the wrong shape: `usage` says the right form in one line."""

    action: str
    problem: str  # "number" | "missing"

    @property
    def usage(self) -> str:
        key = "list" if self.action in ("list_open", "list_overdue", "show") else self.action
        return texts.STAFF_USAGE[key]


def ticket_number(raw: str) -> str:
    """'23', '0023' and '#0023' are the same ticket, 23: numbers are compared as integers."""
    return canonical_number(raw)


def source_code(raw: str) -> str:
    raw = raw.strip()
    if raw in texts.SOURCE_NAMES:
        return raw
    return texts.SOURCE_ALIASES.get(raw, raw[:20])


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words lists may filter by besides the fixed ones: estate names, and category names to codes."""

    estates: frozenset[str] = frozenset()
    categories: dict[str, str] = field(default_factory=dict)
    assignees: dict[str, str] = field(default_factory=dict)  # the words for units → their names


def parse_command(text: str, vocabulary: Vocabulary | None = None) -> Command | CommandError | None:
    """Parse a staff command; None when the text is not one (then it is an ordinary message).

    Pure: no database, no sender. Who may run it is decided by the handler.
    """
    m = _HEAD.match(text.strip())
    if not m:
        return None
    action, rest = VERBS[m.group(1)], m.group(2).strip()
    if action == "list":
        return _parse_list(rest, vocabulary or Vocabulary())
    if action == "register":
        return _parse_register(rest)
    if not rest:
        return CommandError(action, "missing")
    n = _NUMBER.match(rest)
    if not n:
        return CommandError(action, "number")
    raw, arg = n.group(1), n.group(2).strip()
    if not _MORE_NUMBERS.match(arg):
        arg = arg.lstrip("，,、").strip()
    if int(raw) == 0:
        return CommandError(action, "number")
    more: tuple[str, ...] = ()
    if action in BATCHED and (listed := _MORE_NUMBERS.match(arg)):
        more = tuple(ticket_number(x) for x in re.findall(r"\d{1,8}", listed.group(1)) if int(x) > 0)
        arg = listed.group(2).strip()
    if action in ON_CANDIDATE:
        return Command(action, number=str(int(raw)), arg=arg or None)
    number = ticket_number(raw)
    if action == "merge":
        into = _MERGE_INTO.match(arg)
        if not arg:
            return CommandError(action, "missing")
        if not into or int(into.group(1)) == 0:
            return CommandError(action, "number")
        return Command("merge", number=number, target=ticket_number(into.group(1)))
    if action in NEEDS_ARG and not arg:
        return CommandError(action, "missing")
    arg = _NOTE_MARK.sub("", arg) if action in ("resolve", "close", "start", "reject") else arg
    return Command(action, number=number, arg=arg or None, more=more)


def from_words(text: str) -> Command | None:
    """A staff member's command in natural words (handlers/staff_words.py), as a Command."""
    loose = parse_loose(text)
    return None if loose is None else _command(loose)


def _command(loose: Loose) -> Command:
    first, *rest = loose.numbers
    return Command(loose.action, number=first, arg=loose.arg, target=loose.target, more=tuple(rest))


def did_you_mean(cmd: Command) -> str:
    """The one-line question for a sentence that is almost a command: what it was read as, in the fixed form."""
    numbers = "、".join((cmd.number or "", *cmd.more))
    if cmd.action == "merge":
        return texts.DID_YOU_MEAN.format(
            what=f"把 #{cmd.number} 并入 #{cmd.target}", fixed=f"合并 {cmd.number} 到 {cmd.target}"
        )
    verb = FIXED.get(cmd.action, texts.ACTION_WORDS.get(cmd.action, cmd.action))
    who, _, ask = (cmd.arg or "").partition(" ")
    what = f"把 #{numbers} 派给{who}" + (f"（{ask.strip()}）" if ask.strip() else "") if cmd.action == "assign" else f"{verb} #{numbers}"
    fixed = " ".join(p for p in (verb, numbers, cmd.arg or "") if p)
    return texts.DID_YOU_MEAN.format(what=what, fixed=fixed)


def _parse_list(rest: str, vocabulary: Vocabulary) -> Command | None:
    # "工单" is also an ordinary word ("工单3810处理完了吗"): anything but the exact shapes is not a command.
    source = None
    s = _SOURCE.search(rest)
    if s:
        source, rest = source_code(s.group(1)), s.group(2).strip()
    else:
        m = re.match(r"^(.*?)\s*来源\s*[:：]\s*(\S+)\s*$", rest)
        if m:
            rest, source = m.group(1).strip(), source_code(m.group(2))
    if rest in _HELP_WORDS and source is None:
        return Command("help")
    if rest in _OPEN_WORDS:
        return Command("list_open", source=source)
    if rest in _OVERDUE_WORDS:
        return Command("list_overdue", source=source)
    if rest in _CANDIDATE_WORDS and source is None:
        return Command("list_candidates")
    n = _NUMBER.match(rest)
    if n and not n.group(2) and source is None and int(n.group(1)) > 0:
        return Command("show", number=ticket_number(n.group(1)))
    where = parse_where(
        rest, estates=vocabulary.estates, categories=vocabulary.categories, assignees=vocabulary.assignees
    )
    if where is not None:
        return Command("list_where", source=source, where=where)
    return None


def _parse_register(rest: str) -> Command | CommandError:
    source = "shell"
    s = _SOURCE.match(rest)
    if s:
        source, rest = source_code(s.group(1)), s.group(2).strip()
    if not rest:
        return CommandError("register", "missing")
    return Command("register", arg=rest, source=source)


class StaffHandler:
    """Runs staff commands; anyone else who writes one gets a polite refusal and nothing changes."""

    name = "staff"

    def __init__(
        self, *, ops: TicketOps, intake: Intake, candidates: Candidates, estates: frozenset[str] = frozenset()
    ) -> None:
        units = {w: u.name for u in ops.units.all for w in u.words}
        self.ops = ops
        self.intake = intake
        self.candidates = candidates
        categories = {c.name: c.code for c in intake.taxonomy.categories}
        for c in intake.taxonomy.categories:  # the short names staff say: 排水 for 供排水, 报修 for 设施报修
            for short in (c.name[-2:], c.name[:2]):
                categories.setdefault(short, c.code)
        self.vocabulary = Vocabulary(estates=estates, categories=categories, assignees=units)

    async def __call__(self, ctx: Context) -> Outcome | None:
        if not ctx.msg.is_text:
            return None
        parsed = parse_command(ctx.text, self.vocabulary)
        if parsed is None and ctx.actor.works_tickets:
            parsed = from_words(ctx.text)  # "3799派给物业", "5106、5201 都办结了：已处理"
            if parsed is None and (almost := guess(ctx.text, assignees=frozenset(self.vocabulary.assignees))):
                # "12派给物业", "3799 物业": probably a command; asked back in one line, nothing done
                return Outcome(replies=[Reply.to(ctx.msg, did_you_mean(_command(almost)))], intent="command")
        if parsed is None:
            return None
        if not ctx.actor.is_staff and ctx.actor.units and isinstance(parsed, Command) and parsed.action == "reject":
            parsed = replace(parsed, action="return")  # a unit's 退回 hands the ticket back (退单), it answers no one
        if not ctx.actor.is_staff and ctx.actor.units and isinstance(parsed, Command) and parsed.action not in FOR_UNITS:
            words = texts.ACTION_WORDS.get(parsed.action, FIXED.get(parsed.action, "这个操作"))
            return Outcome(replies=[Reply.to(ctx.msg, texts.STAFF_STEP_ONLY.format(action=words))], intent="command")
        if not ctx.actor.works_tickets:
            if isinstance(parsed, CommandError) or parsed.action in ("show", "help"):
                return None  # an ordinary message after all, or a status query: later handlers answer it
            log.info("refused %s from non-staff %s", parsed.action, ctx.actor.id)
            return Outcome(replies=[Reply.to(ctx.msg, texts.STAFF_ONLY)], intent="command")
        if isinstance(parsed, CommandError):
            return Outcome(replies=[Reply.to(ctx.msg, parsed.usage)], intent="command")
        try:
            replies = await self._run(ctx, parsed)
        except OpError as exc:
            replies = [Reply.to(ctx.msg, str(exc))]
        return Outcome(replies=replies, intent="command", ticket_number=parsed.number)

    async def _run(self, ctx: Context, cmd: Command) -> list[Reply]:
        if cmd.action == "help":
            return [self._private_to_staff(ctx, texts.STAFF_HELP)]
        if cmd.action in ("list_open", "list_overdue", "list_where", "show"):
            text = await self.ops.describe(ctx.session, cmd, now=ctx.now, community=None, actor=ctx.actor)
            return [self._private_to_staff(ctx, text)]
        if cmd.action == "list_candidates":
            listing = await self.candidates.listing(
                ctx.session, now=ctx.now, communities=None if ctx.actor.communities is None else sorted(ctx.actor.communities)
            )
            return [self._private_to_staff(ctx, listing)]
        if cmd.action == "register":
            return await self._register(ctx, cmd)
        if cmd.action == "confirm":
            assert cmd.number is not None
            return await self.candidates.confirm(ctx, int(cmd.number), category_word=cmd.arg)
        if cmd.action == "ignore":
            assert cmd.number is not None
            return await self.candidates.ignore(ctx, int(cmd.number))
        if not cmd.more:
            change = await self.ops.apply(ctx.session, cmd, actor=ctx.actor, now=ctx.now)
            return [Reply.to(ctx.msg, change.confirmation), *change.notices]
        # A batch: each ticket on its own (one refused does not stop the others), one confirmation for all.
        lines: list[str] = []
        notices: list[Reply] = []
        for number in (cmd.number, *cmd.more):
            try:
                change = await self.ops.apply(
                    ctx.session, replace(cmd, number=number, more=()), actor=ctx.actor, now=ctx.now
                )
            except OpError as exc:
                lines.append(str(exc))
                continue
            lines.append(change.confirmation)
            notices.extend(change.notices)
        return [Reply.to(ctx.msg, "\n".join(lines)), *notices]

    def _private_to_staff(self, ctx: Context, text: str) -> Reply:
        # Lists show places and names: said in a committee room or privately, never in a residents' room.
        if ctx.room.is_committee or ctx.msg.is_private:
            return Reply.to(ctx.msg, text, mention=False)
        return Reply(text=text, contact_id=ctx.msg.sender_id)

    async def _register(self, ctx: Context, cmd: Command) -> list[Reply]:
        assert cmd.arg is not None
        text = cmd.arg
        c = await ctx.classify_fn(text)
        filed = await self.intake.intake(
            ctx.session,
            c=c,
            text=text,
            raw_text=text,
            actor=ctx.actor,
            room=RoomInfo(community=ctx.room.community, kind=ctx.room.kind),
            room_id=None,
            source=cmd.source or "shell",
            now=ctx.now,
            inbox_message_id=ctx.msg.message_id,
        )
        return [Reply.to(ctx.msg, self.ops.filed_text(filed, c))]
